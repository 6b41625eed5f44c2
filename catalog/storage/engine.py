"""Engines for the catalogue: URL handling and SQLite connection setup.

SQLite needs three things the defaults do not give, all set per connection:

- WAL journaling, so readers (the portal, exports) do not block publishers;
- ``foreign_keys=ON``, which SQLite leaves off for compatibility;
- a busy timeout, so a writer waits for another instead of failing at once.

And one thing about transactions: Python's ``sqlite3`` (3.11) starts
transactions lazily and as DEFERRED, so two publishers can both read "no such
version" and then both try to write; in WAL mode the loser fails with "database
is locked" rather than waiting. The store marks its write transactions with
:data:`WRITE_OPTION` and they begin with ``BEGIN IMMEDIATE``, which takes the
write lock up front: SQLite publishers queue on the busy timeout instead.
PostgreSQL needs none of this; there the store locks the asset row and retries
on unique-constraint races.

A reader (``export``, ``get``, ``graph``) asks for ``read_only=True``: SQLite
then opens the file as the URI ``file:PATH?mode=ro``, so a mistyped path is an
error instead of a new empty file and any write fails, and no pragma that
writes (``journal_mode``) is issued. SQLite's WAL readers still keep their
shared-memory index beside the file (``-shm``, with an empty ``-wal``), which
they create when missing (sqlite.org/wal.html, "Read-Only Databases"); the
catalogue file itself is never written. PostgreSQL sessions start with
``default_transaction_read_only``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from catalog.errors import StoreError

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_OPTION",
    "create_catalog_engine",
    "prepare_engine",
]

#: Execution option that marks a write transaction (``BEGIN IMMEDIATE`` on SQLite).
WRITE_OPTION: Final = "catalog_write"
#: How long a SQLite writer waits for the lock before failing.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000

_POSTGRES_NAMES: Final = frozenset({"postgresql", "postgres"})


def create_catalog_engine(url: str, *, read_only: bool = False) -> Engine:
    """Create an engine for a catalogue URL.

    Args:
        url: ``sqlite:///path.db`` or ``postgresql://user:pass@host/db``.
            A bare ``postgresql://`` (or ``postgres://``) uses psycopg 3; an
            explicit driver (``postgresql+psycopg2://``) is kept.
        read_only: Open for reading only: a SQLite file that does not exist
            is not created (connecting fails), and nothing can be written.

    Returns:
        An engine, prepared with :func:`prepare_engine`.

    Raises:
        StoreError: The URL cannot be parsed, names another database, or its
            driver is not installed.
    """
    parsed = _parse(url)
    options: dict[str, Any] = {}
    if read_only and parsed.get_backend_name() == "sqlite":
        parsed = _read_only_sqlite(parsed)
    elif read_only and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        options["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"cannot create an engine for {shown}: {exc}") from exc
    if read_only and engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_read_only_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    prepare_engine(engine)
    return engine


def _read_only_sqlite(parsed: URL) -> URL:
    """The URL opening ``parsed``'s file as ``file:PATH?mode=ro`` (never creating it)."""
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StoreError(f"catalogue URL {parsed} names no file to read")
    # pysqlite hands a file: URI with uri=true to sqlite3; the path is %-quoted there.
    path = quote(str(Path(database).absolute()))
    return parsed.set(database=f"file:{path}", query={**parsed.query, "mode": "ro", "uri": "true"})


def prepare_engine(engine: Engine) -> None:
    """Install the SQLite connection setup on ``engine``; no-op elsewhere.

    Idempotent. If the setup had to be installed, the engine's pool is replaced
    (connections already checked out are left alone) so that no connection made
    before lacks the pragmas.
    """
    if engine.dialect.name != "sqlite" or event.contains(engine, "connect", _on_sqlite_connect):
        return
    if event.contains(engine, "connect", _on_sqlite_read_only_connect):
        return
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    engine.dispose(close=False)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"catalogue URL {url!r} cannot be parsed") from exc
    if parsed.drivername in _POSTGRES_NAMES:
        return parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"catalogue URL {shown} is not sqlite:/// or postgresql://")
    return parsed


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module so _on_sqlite_begin decides it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        # In WAL mode NORMAL still survives a killed process (commits are in the
        # WAL before they return); only an OS crash may lose the last commits.
        # FULL would fsync every publish, the dominant cost of a warm crawl.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_read_only_connect(dbapi_connection: Any, _record: Any) -> None:
    # As _on_sqlite_connect, without the pragmas that write; query_only refuses
    # writes even where the file itself could be written.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``journal_mode = WAL`` on a new file, waiting out another connection doing the same.

    Switching needs an exclusive lock and SQLite's busy timeout does not wait
    for it, so two crawls opening a brand-new catalogue at once would see
    "database is locked".
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _on_sqlite_begin(connection: Connection) -> None:
    write = bool(connection.get_execution_options().get(WRITE_OPTION, False))
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
