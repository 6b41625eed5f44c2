"""Stale instances: each instance's missed sightings, and when a run found it stale.

A run that reads a Service completely and does not see one of its instances
counts one missed sighting; enough in a row and the instance is stale (see
:mod:`catalog.storage.runs`). Runs count the instances they found stale.

Only ``catalog_instances`` and ``catalog_runs`` change: ``catalog_assets``
(whose SQLite triggers revision 0005 made) is left alone.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_instances") as batch:
        batch.add_column(
            sa.Column("missed_sightings", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("stale_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("catalog_runs") as batch:
        batch.add_column(sa.Column("stale", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("catalog_runs") as batch:
        batch.drop_column("stale")
    with op.batch_alter_table("catalog_instances") as batch:
        batch.drop_column("stale_since")
        batch.drop_column("missed_sightings")
