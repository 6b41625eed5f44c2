"""Instance exposure and subsets: where each instance is reachable from outside
the mesh, and which versions of its Service DestinationRules name.

Every publish writes the gateways (Gateway API or Istio ``Gateway``), hosts,
ports and path matches that route outside traffic to the instance, as a JSON
array in ``catalog_instances.exposure``; ``[]`` is mesh-internal, which is
what every instance published before this revision reads as until its next
publish. ``catalog_instances.subsets`` holds the DestinationRule subsets of
the instance's Service the same way (``[]``: none).

Only ``catalog_instances`` changes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_instances") as batch:
        batch.add_column(sa.Column("exposure", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("subsets", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("catalog_instances") as batch:
        batch.drop_column("subsets")
        batch.drop_column("exposure")
