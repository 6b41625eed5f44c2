"""Tables of the catalogue (SQLAlchemy 2 declarative), for SQLite and PostgreSQL.

Rows are private to :mod:`catalog.storage.store`; everything outside reads the frozen
dataclasses of :mod:`catalog.model`.

Integrity lives in the database, not only in the store, because several
publishers (threads, processes, clusters) write at once:

- ``(group_id, asset_id)`` is unique, and per asset so are the version string
  and the content key, so a lost race surfaces as an IntegrityError the store
  retries rather than as a duplicate version.
- An instance (cluster, namespace, service, port) is unique per asset and its
  foreign key names ``(version, asset)`` together, so it points at exactly one
  version of its own asset.

Table names carry a ``catalog_`` prefix so the catalogue can share a PostgreSQL
database with other tools; constraint names follow a naming convention so
later migrations can refer to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AssetRow",
    "Base",
    "DependencyRow",
    "FileRow",
    "InstanceRow",
    "OperationRow",
    "QuietPortRow",
    "RunGraphRow",
    "RunRow",
    "SpecCheckRow",
    "TagRow",
    "UtcDateTime",
    "VersionRow",
    "metadata",
]

_ID = String(128)
_DIGEST = String(64)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no timestamp type and drops offsets, so values are normalised
    to naive UTC on the way in and tagged as UTC on the way out; PostgreSQL
    gets a ``timestamptz`` and the same UTC values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the catalogue's tables."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UtcDateTime}


metadata = Base.metadata


class AssetRow(Base):
    """An asset: the fields that follow the latest publish."""

    __tablename__ = "catalog_assets"
    __table_args__ = (UniqueConstraint("group_id", "asset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[str] = mapped_column(_ID)
    asset_id: Mapped[str] = mapped_column(_ID)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    lifecycle: Mapped[str] = mapped_column(String(16))
    # The lifecycle a publisher last asked for; a request is applied only when
    # it changes, so a person's set_lifecycle is not undone by the next scan.
    lifecycle_requested: Mapped[str | None] = mapped_column(String(16))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # Consecutive counted runs of its group that did not see the asset.
    missed_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when a crawl deprecated the asset for being missing: the status to
    # restore if it comes back. A person's deprecation leaves it None.
    lifecycle_before_missing: Mapped[str | None] = mapped_column(String(16))
    # What a free-text search looks in: name, asset id, description, tags and
    # every version's operations, joined by catalog.storage.listing.SEPARATOR and
    # lowercased by the database. Publish keeps it (catalog.publishing.writeback).
    search_text: Mapped[str] = mapped_column(Text, server_default="")

    versions: Mapped[list[VersionRow]] = relationship(back_populates="asset")
    tags: Mapped[list[TagRow]] = relationship(order_by="TagRow.tag")


class TagRow(Base):
    """One tag of an asset."""

    __tablename__ = "catalog_tags"

    asset_pk: Mapped[int] = mapped_column(ForeignKey("catalog_assets.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(Text, primary_key=True)


class VersionRow(Base):
    """An immutable version: its number, content key and why it was created."""

    __tablename__ = "catalog_versions"
    __table_args__ = (
        UniqueConstraint("asset_pk", "version"),
        UniqueConstraint("asset_pk", "content_key"),
        # Target of the instances' composite foreign key.
        UniqueConstraint("id", "asset_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_pk: Mapped[int] = mapped_column(ForeignKey("catalog_assets.id"))
    version: Mapped[str] = mapped_column(Text)
    content_key: Mapped[str] = mapped_column(_DIGEST)
    # The asset type the content was published as; part of a spec-less identity.
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    provenance_method: Mapped[str] = mapped_column(Text)
    provenance_detail: Mapped[str] = mapped_column(Text)

    asset: Mapped[AssetRow] = relationship(back_populates="versions")
    files: Mapped[list[FileRow]] = relationship(order_by="FileRow.position")
    operations: Mapped[list[OperationRow]] = relationship(order_by="OperationRow.operation")
    dependencies: Mapped[list[DependencyRow]] = relationship()
    # Read-only: the store writes instances by their columns, because an
    # instance moves between versions and a collection on both sides would fight.
    instances: Mapped[list[InstanceRow]] = relationship(
        primaryjoin="and_(VersionRow.id == foreign(InstanceRow.version_pk),"
        " VersionRow.asset_pk == foreign(InstanceRow.asset_pk))",
        viewonly=True,
    )


class FileRow(Base):
    """A file of a version; written once, never updated."""

    __tablename__ = "catalog_files"

    version_pk: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    classifier: Mapped[str] = mapped_column(String(16))
    packaging: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(_DIGEST)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class OperationRow(Base):
    """An operation signature of a version."""

    __tablename__ = "catalog_operations"

    version_pk: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), primary_key=True)
    operation: Mapped[str] = mapped_column(Text, primary_key=True)


class DependencyRow(Base):
    """A ``group:asset`` that a version calls; resolved to a version on read."""

    __tablename__ = "catalog_dependencies"

    version_pk: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    asset_id: Mapped[str] = mapped_column(_ID, primary_key=True)


class InstanceRow(Base):
    """Where a version runs; moves to whichever version it serves now."""

    __tablename__ = "catalog_instances"
    __table_args__ = (
        UniqueConstraint("asset_pk", "cluster", "namespace", "service", "port"),
        ForeignKeyConstraint(
            ["version_pk", "asset_pk"], ["catalog_versions.id", "catalog_versions.asset_pk"]
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_pk: Mapped[int] = mapped_column(ForeignKey("catalog_assets.id"))
    version_pk: Mapped[int] = mapped_column(index=True)
    # Indexed for the namespace and cluster filters (revision 0005).
    cluster: Mapped[str] = mapped_column(Text, index=True)
    namespace: Mapped[str] = mapped_column(Text, index=True)
    service: Mapped[str] = mapped_column(Text)
    port: Mapped[int] = mapped_column(Integer)
    endpoint_uri: Mapped[str] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # Complete sightings of its Service in a row that did not see it (catalog.storage.runs).
    missed_sightings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by the run that found it stale; it is stale while not published since.
    stale_since: Mapped[datetime | None]
    # Where it is reachable from outside: a JSON array of InstanceExposure objects,
    # written by every publish ("[]": mesh-internal). Revision 0007.
    exposure: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # Its Service's DestinationRule subsets: a JSON array of InstanceSubset objects. Revision 0007.
    subsets: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class RunRow(Base):
    """One discovery run that published into a group, and what it found missing."""

    __tablename__ = "catalog_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[str] = mapped_column(_ID, index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    # False when the run could count nothing it did not see (an old-style partial run).
    counted: Mapped[bool] = mapped_column(Boolean)
    seen: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    deprecated: Mapped[int] = mapped_column(Integer)
    # Instances the run found stale (revision 0006).
    stale: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class QuietPortRow(Base):
    """A port that gave no answer in time when last probed (see :mod:`catalog.storage.probes`)."""

    __tablename__ = "catalog_quiet_ports"

    cluster: Mapped[str] = mapped_column(Text, primary_key=True)
    namespace: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text, primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[datetime]
    last_at: Mapped[datetime]
    # Re-checks with the short deadline since the last one with the full deadline.
    short_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunGraphRow(Base):
    """One run's service graph in one cluster (see :mod:`catalog.storage.graphs`, revision 0008)."""

    __tablename__ = "catalog_run_graphs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster: Mapped[str] = mapped_column(Text, index=True)
    taken_at: Mapped[datetime]
    window: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer)
    node_count: Mapped[int] = mapped_column(Integer)
    edge_count: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(_DIGEST)
    # The graph's JSON (catalog.graphmodel.graph_json), zlib-compressed.
    body: Mapped[bytes] = mapped_column(LargeBinary)


class SpecCheckRow(Base):
    """A description's validation outcome by check key (see :mod:`catalog.storage.probes`)."""

    __tablename__ = "catalog_spec_checks"

    check_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The validator's messages as a JSON list; empty for a valid description.
    errors: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(index=True)
