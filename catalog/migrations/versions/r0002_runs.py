"""Runs, and the per-asset count of runs that missed it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_assets") as batch:
        batch.add_column(sa.Column("missed_runs", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lifecycle_before_missing", sa.String(16), nullable=True))
    op.create_table(
        "catalog_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("group_id", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False),
        sa.Column("seen", sa.Integer, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),
        sa.Column("deprecated", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_runs"),
    )
    op.create_index("ix_catalog_runs_group_id", "catalog_runs", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_catalog_runs_group_id", table_name="catalog_runs")
    op.drop_table("catalog_runs")
    with op.batch_alter_table("catalog_assets") as batch:
        batch.drop_column("lifecycle_before_missing")
        batch.drop_column("missed_runs")
