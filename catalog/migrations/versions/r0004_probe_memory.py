"""What crawls learnt about probing: quiet ports and validation outcomes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_quiet_ports",
        sa.Column("cluster", sa.Text, nullable=False),
        sa.Column("namespace", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("short_checks", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(
            "cluster", "namespace", "service", "port", name="pk_catalog_quiet_ports"
        ),
    )
    op.create_table(
        "catalog_spec_checks",
        sa.Column("check_key", sa.String(256), nullable=False),
        sa.Column("errors", sa.Text, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("check_key", name="pk_catalog_spec_checks"),
    )
    op.create_index("ix_catalog_spec_checks_checked_at", "catalog_spec_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_catalog_spec_checks_checked_at", table_name="catalog_spec_checks")
    op.drop_table("catalog_spec_checks")
    op.drop_table("catalog_quiet_ports")
