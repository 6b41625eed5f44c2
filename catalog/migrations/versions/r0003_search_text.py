"""A per-asset search text, so a free-text search scans one column.

Backfilled here from what the store already holds; from now on publish keeps
it (see :mod:`catalog.storage.listing` for the format). The function that builds it
is copied, not imported, so this revision stays what it was when the store
changes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

_SEPARATOR = "\x1f"


def _document(
    name: str,
    asset_id: str,
    description: str | None,
    tags: Iterable[str],
    operations: Iterable[str],
) -> str:
    return _SEPARATOR.join(
        [name, asset_id, description or "", *sorted(set(tags)), *sorted(set(operations))]
    )


def upgrade() -> None:
    with op.batch_alter_table("catalog_assets") as batch:
        batch.add_column(sa.Column("search_text", sa.Text, nullable=False, server_default=""))
    connection = op.get_bind()
    tags: dict[int, list[str]] = {}
    for asset_pk, tag in connection.execute(sa.text("SELECT asset_pk, tag FROM catalog_tags")):
        tags.setdefault(asset_pk, []).append(tag)
    operations: dict[int, list[str]] = {}
    for asset_pk, operation in connection.execute(
        sa.text(
            "SELECT v.asset_pk, o.operation FROM catalog_operations o"
            " JOIN catalog_versions v ON v.id = o.version_pk"
        )
    ):
        operations.setdefault(asset_pk, []).append(operation)
    documents = [
        {
            "pk": pk,
            "doc": _document(name, asset_id, description, tags.get(pk, ()), operations.get(pk, ())),
        }
        for pk, name, asset_id, description in connection.execute(
            sa.text("SELECT id, name, asset_id, description FROM catalog_assets")
        )
    ]
    if documents:
        # lower() of the database, the one a search applies to what it looks for.
        connection.execute(
            sa.text("UPDATE catalog_assets SET search_text = lower(:doc) WHERE id = :pk"),
            documents,
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than batch mode's copy of
    # the table: dropping the copied table fails while foreign keys point at it.
    with op.batch_alter_table("catalog_assets", recreate="never") as batch:
        batch.drop_column("search_text")
