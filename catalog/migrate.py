"""Bring a catalogue database to the current schema with Alembic.

:func:`upgrade` is what :func:`catalog.open_store` runs. It handles three
kinds of database:

- empty: every revision is applied, from ``0001`` on;
- made by the first release, before migrations existed (tables present, no
  version table): stamped ``0001`` — that revision creates exactly those
  tables — and upgraded from there;
- already migrated: upgraded to :data:`HEAD`, or left alone when it is there.

Everything happens in one write transaction (``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL), so several processes opening one catalogue at
once migrate it exactly once, and a failed migration leaves nothing half done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from catalog import engine as engine_setup
from catalog.errors import StoreError

__all__ = ["BASE", "HEAD", "VERSION_TABLE", "current_revision", "upgrade"]

#: Alembic's bookkeeping table, prefixed like the catalogue's own tables.
VERSION_TABLE: Final = "catalog_alembic_version"
#: The revision that creates the first release's tables.
BASE: Final = "0001"
#: The newest revision; a test checks it against the scripts.
HEAD: Final = "0004"

_SCRIPTS: Final = Path(__file__).parent / "migrations"
# Any fixed 64-bit number; names the PostgreSQL advisory lock of migrations.
_PG_LOCK_KEY: Final = 0x6D65736861746C61


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest).

    Raises:
        StoreError: The database refused or a migration failed; nothing changed.
    """
    writer = engine.execution_options(**{engine_setup.WRITE_OPTION: True})
    try:
        with writer.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            current = _current(connection)
            if current == HEAD and revision in ("head", HEAD):
                return
            config = _config(connection)
            if current is None and inspect(connection).has_table("catalog_assets"):
                command.stamp(config, BASE)
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the catalogue schema: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated.

    Raises:
        StoreError: The database cannot be read.
    """
    try:
        with engine.connect() as connection:
            return _current(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the catalogue schema revision: {exc}") from exc


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config
