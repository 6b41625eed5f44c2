"""Alembic environment: migrations run on the connection the store hands in.

The store opens a write transaction (and, on PostgreSQL, takes an advisory
lock) before calling Alembic, so concurrent openers of one catalogue migrate it
once. There is no offline (SQL script) mode and no ``alembic.ini``: the store
is the only caller, through :func:`catalog.storage.migrate.upgrade`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from catalog.storage.migrate import VERSION_TABLE
from catalog.storage.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("catalogue migrations run through catalog.storage.migrate.upgrade only")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
