"""The first catalogue schema: assets, tags, versions, files, operations,
dependencies, instances.

Written out rather than generated from :mod:`catalog.storage.schema`, which moves on:
this revision must create exactly what the first release created, so that
catalogues made by it (and stamped by :func:`catalog.storage.migrate.upgrade`) and
catalogues made here are the same.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

_ID = sa.String(128)
_DIGEST = sa.String(64)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_assets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("owner", sa.Text, nullable=True),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("lifecycle_requested", sa.String(16), nullable=True),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_assets"),
        sa.UniqueConstraint("group_id", "asset_id", name="uq_catalog_assets_group_id_asset_id"),
    )
    op.create_table(
        "catalog_tags",
        sa.Column("asset_pk", sa.Integer, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("asset_pk", "tag", name="pk_catalog_tags"),
        sa.ForeignKeyConstraint(
            ["asset_pk"], ["catalog_assets.id"], name="fk_catalog_tags_asset_pk_catalog_assets"
        ),
    )
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("asset_pk", sa.Integer, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("content_key", _DIGEST, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("provenance_method", sa.Text, nullable=False),
        sa.Column("provenance_detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_versions"),
        sa.ForeignKeyConstraint(
            ["asset_pk"],
            ["catalog_assets.id"],
            name="fk_catalog_versions_asset_pk_catalog_assets",
        ),
        sa.UniqueConstraint("asset_pk", "version", name="uq_catalog_versions_asset_pk_version"),
        sa.UniqueConstraint(
            "asset_pk", "content_key", name="uq_catalog_versions_asset_pk_content_key"
        ),
        sa.UniqueConstraint("id", "asset_pk", name="uq_catalog_versions_id_asset_pk"),
    )
    for table, column, kind in (
        ("catalog_files", "position", sa.Integer),
        ("catalog_operations", "operation", sa.Text),
    ):
        extra: list[sa.Column[object]] = []
        if table == "catalog_files":
            extra = [
                sa.Column("classifier", sa.String(16), nullable=False),
                sa.Column("packaging", sa.String(16), nullable=False),
                sa.Column("sha256", _DIGEST, nullable=False),
                sa.Column("content", sa.LargeBinary, nullable=False),
            ]
        op.create_table(
            table,
            sa.Column("version_pk", sa.Integer, nullable=False),
            sa.Column(column, kind, nullable=False),
            *extra,
            sa.PrimaryKeyConstraint("version_pk", column, name=f"pk_{table}"),
            sa.ForeignKeyConstraint(
                ["version_pk"],
                ["catalog_versions.id"],
                name=f"fk_{table}_version_pk_catalog_versions",
            ),
        )
    op.create_table(
        "catalog_dependencies",
        sa.Column("version_pk", sa.Integer, nullable=False),
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint(
            "version_pk", "group_id", "asset_id", name="pk_catalog_dependencies"
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["catalog_versions.id"],
            name="fk_catalog_dependencies_version_pk_catalog_versions",
        ),
    )
    op.create_table(
        "catalog_instances",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("asset_pk", sa.Integer, nullable=False),
        sa.Column("version_pk", sa.Integer, nullable=False),
        sa.Column("cluster", sa.Text, nullable=False),
        sa.Column("namespace", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("endpoint_uri", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=True),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_instances"),
        sa.ForeignKeyConstraint(
            ["asset_pk"],
            ["catalog_assets.id"],
            name="fk_catalog_instances_asset_pk_catalog_assets",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk", "asset_pk"],
            ["catalog_versions.id", "catalog_versions.asset_pk"],
            name="fk_catalog_instances_version_pk_asset_pk_catalog_versions",
        ),
        sa.UniqueConstraint(
            "asset_pk",
            "cluster",
            "namespace",
            "service",
            "port",
            name="uq_catalog_instances_asset_pk_cluster_namespace_service_port",
        ),
    )
    op.create_index("ix_catalog_instances_version_pk", "catalog_instances", ["version_pk"])


def downgrade() -> None:
    op.drop_index("ix_catalog_instances_version_pk", table_name="catalog_instances")
    for table in (
        "catalog_instances",
        "catalog_dependencies",
        "catalog_operations",
        "catalog_files",
        "catalog_versions",
        "catalog_tags",
        "catalog_assets",
    ):
        op.drop_table(table)
