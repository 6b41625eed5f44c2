"""Run graphs: each run's service graph per cluster, the last few kept.

One row per (cluster, run): the header the portal lists (when, telemetry
window, counts, digest) and the graph itself as zlib-compressed JSON (see
:mod:`catalog.storage.graphs`). No other table changes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_run_graphs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("cluster", sa.Text, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window", sa.Text, nullable=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("node_count", sa.Integer, nullable=False),
        sa.Column("edge_count", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_run_graphs"),
    )
    op.create_index("ix_catalog_run_graphs_cluster", "catalog_run_graphs", ["cluster"])


def downgrade() -> None:
    op.drop_index("ix_catalog_run_graphs_cluster", table_name="catalog_run_graphs")
    op.drop_table("catalog_run_graphs")
