"""Bring a catalogue database to the current schema with Alembic.

:func:`upgrade` is what :func:`catalog.open_store` runs. It handles three
kinds of database:

- empty: every revision is applied, from ``0001`` on;
- made by the first release, before migrations existed (tables present, no
  version table): stamped ``0001`` — that revision creates exactly those
  tables — and upgraded from there;
- already migrated: upgraded to :data:`HEAD`, or left alone when it is there.

A database already at :data:`HEAD` (every run but the first after an upgrade)
is recognised with one plain query; Alembic is imported only when the schema
must change, or its revision be read the Alembic way.

Everything happens in one write transaction (``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL), so several processes opening one catalogue at
once migrate it exactly once, and a failed migration leaves nothing half done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import StoreError
from catalog.storage import engine as engine_setup

__all__ = ["BASE", "HEAD", "VERSION_TABLE", "current_revision", "modelled", "upgrade"]

#: Alembic's bookkeeping table, prefixed like the catalogue's own tables.
VERSION_TABLE: Final = "catalog_alembic_version"
#: The revision that creates the first release's tables.
BASE: Final = "0001"
#: The newest revision; a test checks it against the scripts.
HEAD: Final = "0008"

# Made by revision 0005 outside the models: SQLite's FTS5 table (and the
# shadow tables FTS5 keeps beside it), PostgreSQL's trigram index.
_SEARCH_INDEX_TABLE: Final = "catalog_search"
_SEARCH_INDEX: Final = "ix_catalog_assets_search_trgm"
SCRIPTS: Final = Path(__file__).parent.parent / "migrations"
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
            if revision in ("head", HEAD) and _recorded(connection) == [HEAD]:
                return
            _migrate(connection, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the catalogue schema: {exc}") from exc


def modelled(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Whether Alembic should compare a schema object with the models.

    An ``include_object`` hook: the search index objects of revision 0005
    live only in the database (the models cannot declare an FTS5 table or an
    index that may be missing where ``pg_trgm`` is), so they are left out.
    """
    if type_ == "table" and name is not None and name.startswith(_SEARCH_INDEX_TABLE):
        return False
    return not (type_ == "index" and name == _SEARCH_INDEX)


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


def _recorded(connection: Connection) -> list[str]:
    """The revisions in the version table, read without Alembic; none without the table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    return list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _migrate(connection: Connection, revision: str) -> None:
    # Alembic takes ~0.1 s to import; only a schema change needs it.
    from alembic import command
    from alembic.config import Config

    current = _current(connection)
    if current == HEAD and revision in ("head", HEAD):
        return
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    if current is None and inspect(connection).has_table("catalog_assets"):
        command.stamp(config, BASE)
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    # Alembic takes ~0.1 s to import; reading a revision its own way needs it.
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
