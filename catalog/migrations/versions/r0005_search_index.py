"""Indexes for searching: a trigram index on the search text, and instances by place.

A free-text search looked at every asset's ``search_text`` with ``LIKE``,
twice (count and page): at ten thousand assets, most of a search's time.

- PostgreSQL: a GIN trigram index (``pg_trgm``) on ``search_text``, which
  ``LIKE '%...%'`` uses directly. Where the extension cannot be created (a
  role without the right), the search works as before, unindexed, and a
  warning says so.
- SQLite: an FTS5 table with the trigram tokenizer over ``search_text``
  (external content, kept by triggers), which a search uses to find the
  candidates that ``LIKE`` then decides (see :mod:`catalog.storage.listing`).
  Needs SQLite 3.34 or newer with FTS5, as every supported Python has.
- Both: ``catalog_instances`` by namespace and by cluster, for the filters.

A later revision that recreates ``catalog_assets`` in SQLite batch mode must
recreate the triggers too.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

_LOG = logging.getLogger("catalog.migrations")
_TRIGGERS = {
    "catalog_assets_search_ai": (
        "AFTER INSERT ON catalog_assets BEGIN"
        " INSERT INTO catalog_search(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
    "catalog_assets_search_ad": (
        "AFTER DELETE ON catalog_assets BEGIN"
        " INSERT INTO catalog_search(catalog_search, rowid, search_text)"
        " VALUES ('delete', old.id, old.search_text); END"
    ),
    "catalog_assets_search_au": (
        "AFTER UPDATE OF search_text ON catalog_assets BEGIN"
        " INSERT INTO catalog_search(catalog_search, rowid, search_text)"
        " VALUES ('delete', old.id, old.search_text);"
        " INSERT INTO catalog_search(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
}


def upgrade() -> None:
    op.create_index("ix_catalog_instances_namespace", "catalog_instances", ["namespace"])
    op.create_index("ix_catalog_instances_cluster", "catalog_instances", ["cluster"])
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE catalog_search USING fts5(search_text,"
            " content='catalog_assets', content_rowid='id', tokenize='trigram')"
        )
        for name, body in _TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        op.execute("INSERT INTO catalog_search(catalog_search) VALUES ('rebuild')")
    elif connection.dialect.name == "postgresql":
        # In a savepoint: a refused CREATE EXTENSION must not abort the migration.
        try:
            with connection.begin_nested():
                connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                connection.execute(
                    sa.text(
                        "CREATE INDEX ix_catalog_assets_search_trgm ON catalog_assets"
                        " USING gin (search_text gin_trgm_ops)"
                    )
                )
        except sa.exc.DBAPIError as exc:
            _LOG.warning("free-text search stays unindexed: pg_trgm is unavailable (%s)", exc)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS catalog_search")
    elif connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_assets_search_trgm")
    op.drop_index("ix_catalog_instances_cluster", "catalog_instances")
    op.drop_index("ix_catalog_instances_namespace", "catalog_instances")
