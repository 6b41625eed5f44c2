"""The rows a publish transaction works on, read in a few set-based queries.

A crawl publishes thousands of drafts, most of them unchanged since the last
run. Going through the ORM one draft at a time cost a dozen statements and
several flushes per draft. Instead, :func:`load` reads every row a batch of
drafts can touch in a handful of queries, :mod:`catalog.publishing.publish` applies the
drafts to these in-memory rows one after the other (so a batch means exactly
what publishing its drafts one by one means), and
:func:`catalog.publishing.writeback.write` sends back only what changed, a few bulk
statements per table. A batch of unchanged drafts costs two UPDATEs:
``last_seen`` of its assets and of their instances.

The asset rows are read ``FOR UPDATE`` in ``(group_id, asset_id)`` order, and
new ones inserted in that order, so publishers of the same assets queue behind
each other (SQLite already holds the write lock) and two batches never wait on
each other in a cycle. A race on a new asset, version or instance surfaces as
an IntegrityError when it is inserted, and the store retries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar, cast

from sqlalchemy import Connection, select

from catalog.model import AssetFile, Classifier, Packaging, Provenance
from catalog.publishing import versioning
from catalog.storage.schema import (
    AssetRow,
    DependencyRow,
    FileRow,
    InstanceRow,
    OperationRow,
    TagRow,
    VersionRow,
)

__all__ = [
    "ASSET_COLUMNS",
    "INSTANCE_COLUMNS",
    "AssetState",
    "Batch",
    "InstanceKey",
    "InstanceState",
    "NewVersion",
    "Pair",
    "VersionState",
    "chunks",
    "load",
    "top",
]

#: ``(group_id, asset_id)``.
Pair = tuple[str, str]
#: ``(cluster, namespace, service, port)``: an instance's identity within its asset.
InstanceKey = tuple[str, str, str, int]

#: The asset columns a publish writes, in the order of :meth:`AssetState.columns`.
ASSET_COLUMNS: Final = (
    "name",
    "type",
    "description",
    "owner",
    "lifecycle",
    "lifecycle_requested",
    "first_seen",
    "last_seen",
)
#: The instance columns a publish updates, in the order of ``InstanceState.stored``.
INSTANCE_COLUMNS: Final = (
    "version_pk",
    "endpoint_uri",
    "environment",
    "last_seen",
    "exposure",
    "subsets",
)
# Keeps IN lists well under every backend's bound-parameter limit.
_IN_CHUNK: Final = 400
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a version made in this transaction stores besides its number and content."""

    created_at: datetime
    reason: str
    provenance: Provenance


@dataclass(slots=True, eq=False)
class VersionState:
    """A version of an asset; ``pk`` is None until a new one is written.

    ``files`` and ``operations`` are None for a stored version unless
    :func:`load` was asked for them (they feed the version numbering).
    """

    version: str
    content_key: str
    type: str
    pk: int | None = None
    new: NewVersion | None = None
    files: tuple[AssetFile, ...] | None = None
    operations: tuple[str, ...] | None = None
    dependencies: set[Pair] = field(default_factory=set)


@dataclass(slots=True, eq=False)
class InstanceState:
    """Where a version runs; ``pk`` is None for an instance not yet written."""

    version: VersionState
    endpoint_uri: str
    environment: str | None
    first_seen: datetime
    last_seen: datetime
    pk: int | None = None
    stored: tuple[int, str, str | None, datetime, str, str] | None = None
    #: Where it is reachable from outside, as stored (:func:`catalog.storage.rows.exposure_text`).
    exposure: str = "[]"
    #: Its Service's subsets, as stored (:func:`catalog.storage.rows.subsets_text`).
    subsets: str = "[]"


@dataclass(slots=True, eq=False)
class AssetState:
    """An asset with the rows of it a batch can touch.

    ``stored`` holds the column values as read, so :func:`write` updates only
    assets that changed; it is None for an asset new in this batch.
    """

    group_id: str
    asset_id: str
    name: str
    type: str
    description: str | None
    owner: str | None
    lifecycle: str
    lifecycle_requested: str | None
    first_seen: datetime
    last_seen: datetime
    pk: int | None = None
    stored: tuple[object, ...] | None = None
    versions: list[VersionState] = field(default_factory=list)
    tags: dict[str, None] = field(default_factory=dict)
    stored_tags: frozenset[str] = frozenset()
    instances: dict[InstanceKey, InstanceState] = field(default_factory=dict)

    def columns(self) -> tuple[object, ...]:
        """The values of the columns a publish may change, in a fixed order."""
        return (
            self.name,
            self.type,
            self.description,
            self.owner,
            self.lifecycle,
            self.lifecycle_requested,
            self.first_seen,
            self.last_seen,
        )


@dataclass(slots=True)
class Batch:
    """The assets of one transaction, and what it created, in the order it did."""

    assets: dict[Pair, AssetState]
    new_assets: list[AssetState] = field(default_factory=list)
    new_versions: list[tuple[AssetState, VersionState]] = field(default_factory=list)
    new_dependencies: list[tuple[VersionState, Pair]] = field(default_factory=list)
    new_instances: list[tuple[AssetState, InstanceKey, InstanceState]] = field(default_factory=list)


def load(connection: Connection, wanted: Mapping[Pair, Collection[str]]) -> Batch:
    """Read (and lock) the stored assets among ``wanted`` with what a publish needs.

    That is each asset's columns, tags, instances and versions; the
    dependencies of the versions whose content is wanted again; and, where
    some wanted content is new to an asset, the files and operations of its
    highest version, to number the new one by what changed.

    Args:
        wanted: The content keys the batch publishes, per asset.
    """
    assets = _load_assets(connection, sorted(wanted))
    by_pk = {asset.pk: asset for asset in assets.values() if asset.pk is not None}
    if not by_pk:
        return Batch(assets)
    versions = _load_versions(connection, by_pk)
    _load_tags(connection, by_pk)
    _load_instances(connection, by_pk, versions)
    served = [
        v for pair, asset in assets.items() for v in asset.versions if v.content_key in wanted[pair]
    ]
    _load_dependencies(connection, served)
    tops = [
        top(asset.versions)
        for pair, asset in assets.items()
        if asset.versions and not set(wanted[pair]) <= {v.content_key for v in asset.versions}
    ]
    _load_contracts(connection, tops)
    return Batch(assets)


# -- reading ---------------------------------------------------------------------


def chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """``items`` in slices short enough for an IN list."""
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def top(versions: Sequence[VersionState]) -> VersionState:
    """The version with the highest semver precedence (``versions`` not empty)."""
    return max(versions, key=lambda v: versioning.parse(v.version).precedence())


def _load_assets(connection: Connection, pairs: Sequence[Pair]) -> dict[Pair, AssetState]:
    # One query per group and chunk, with plain IN lists: SQLite does not use
    # an index for a (group_id, asset_id) IN list. Rows are locked in
    # (group_id, asset_id) order, the same order in every transaction.
    by_group: dict[str, list[str]] = {}
    for group_id, asset_id in pairs:
        by_group.setdefault(group_id, []).append(asset_id)
    found: dict[Pair, AssetState] = {}
    for group_id, asset_ids in sorted(by_group.items()):
        for chunk in chunks(sorted(asset_ids)):
            rows = connection.execute(
                select(
                    AssetRow.id,
                    AssetRow.group_id,
                    AssetRow.asset_id,
                    AssetRow.name,
                    AssetRow.type,
                    AssetRow.description,
                    AssetRow.owner,
                    AssetRow.lifecycle,
                    AssetRow.lifecycle_requested,
                    AssetRow.first_seen,
                    AssetRow.last_seen,
                )
                .where(AssetRow.group_id == group_id, AssetRow.asset_id.in_(chunk))
                .order_by(AssetRow.asset_id)
                .with_for_update()
            )
            for row in rows:
                asset = AssetState(*row[1:], pk=row[0])
                asset.stored = asset.columns()
                found[(asset.group_id, asset.asset_id)] = asset
    return found


def _load_versions(
    connection: Connection, assets: Mapping[int, AssetState]
) -> dict[int, VersionState]:
    versions: dict[int, VersionState] = {}
    for chunk in chunks(list(assets)):
        rows = connection.execute(
            select(
                VersionRow.id,
                VersionRow.asset_pk,
                VersionRow.version,
                VersionRow.content_key,
                VersionRow.type,
            ).where(VersionRow.asset_pk.in_(chunk))
        )
        for pk, asset_pk, number, key, asset_type in rows:
            version = VersionState(number, key, asset_type, pk=pk)
            versions[pk] = version
            assets[asset_pk].versions.append(version)
    return versions


def _load_tags(connection: Connection, assets: Mapping[int, AssetState]) -> None:
    for chunk in chunks(list(assets)):
        rows = connection.execute(
            select(TagRow.asset_pk, TagRow.tag).where(TagRow.asset_pk.in_(chunk))
        )
        for asset_pk, tag in rows:
            assets[asset_pk].tags[tag] = None
    for asset in assets.values():
        asset.stored_tags = frozenset(asset.tags)


def _load_instances(
    connection: Connection, assets: Mapping[int, AssetState], versions: Mapping[int, VersionState]
) -> None:
    for chunk in chunks(list(assets)):
        rows = connection.execute(
            select(
                InstanceRow.id,
                InstanceRow.asset_pk,
                InstanceRow.version_pk,
                InstanceRow.cluster,
                InstanceRow.namespace,
                InstanceRow.service,
                InstanceRow.port,
                InstanceRow.endpoint_uri,
                InstanceRow.environment,
                InstanceRow.first_seen,
                InstanceRow.last_seen,
                InstanceRow.exposure,
                InstanceRow.subsets,
            ).where(InstanceRow.asset_pk.in_(chunk))
        )
        for row in rows:
            pk, asset_pk, version_pk, cluster, ns, service, port = row[:7]
            uri, env, first, last, at, subsets = row[7:]
            assets[asset_pk].instances[(cluster, ns, service, port)] = InstanceState(
                version=versions[version_pk],
                endpoint_uri=uri,
                environment=env,
                first_seen=first,
                last_seen=last,
                pk=pk,
                stored=(version_pk, uri, env, last, at, subsets),
                exposure=at,
                subsets=subsets,
            )


def _load_dependencies(connection: Connection, versions: Sequence[VersionState]) -> None:
    by_pk = {v.pk: v for v in versions if v.pk is not None}
    for chunk in chunks(list(by_pk)):
        rows = connection.execute(
            select(DependencyRow.version_pk, DependencyRow.group_id, DependencyRow.asset_id).where(
                DependencyRow.version_pk.in_(chunk)
            )
        )
        for version_pk, group_id, asset_id in rows:
            by_pk[version_pk].dependencies.add((group_id, asset_id))


def _load_contracts(connection: Connection, versions: Sequence[VersionState]) -> None:
    by_pk = {v.pk: v for v in versions if v.pk is not None}
    files: dict[int, list[AssetFile]] = {pk: [] for pk in by_pk}
    operations: dict[int, list[str]] = {pk: [] for pk in by_pk}
    for chunk in chunks(list(by_pk)):
        for version_pk, classifier, packaging, content in connection.execute(
            select(FileRow.version_pk, FileRow.classifier, FileRow.packaging, FileRow.content)
            .where(FileRow.version_pk.in_(chunk))
            .order_by(FileRow.version_pk, FileRow.position)
        ):
            files[version_pk].append(
                AssetFile(cast(Classifier, classifier), cast(Packaging, packaging), bytes(content))
            )
        for version_pk, operation in connection.execute(
            select(OperationRow.version_pk, OperationRow.operation)
            .where(OperationRow.version_pk.in_(chunk))
            .order_by(OperationRow.version_pk, OperationRow.operation)
        ):
            operations[version_pk].append(operation)
    for pk, version in by_pk.items():
        version.files = tuple(files[pk])
        version.operations = tuple(operations[pk])
