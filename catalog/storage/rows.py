"""Reading the catalogue's rows and turning them into :mod:`catalog.model` values.

Only :mod:`catalog.storage.store` and :mod:`catalog.publishing.publish` use this; rows never leave
the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Connection, and_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.base import ExecutableOption

from catalog.errors import NotFound
from catalog.model import (
    Asset,
    AssetFile,
    AssetType,
    AssetVersion,
    Classifier,
    ExposureSource,
    Instance,
    InstanceExposure,
    InstanceSubset,
    Lifecycle,
    Packaging,
    Provenance,
)
from catalog.publishing import versioning
from catalog.storage import runs
from catalog.storage.schema import AssetRow, FileRow, VersionRow

__all__ = [
    "FULL_ASSET",
    "VERSION_DETAIL",
    "exposure_from_text",
    "exposure_text",
    "subsets_from_text",
    "subsets_text",
    "instance_order",
    "is_asset",
    "latest_of",
    "latest_versions",
    "resolve_dependencies",
    "to_asset",
    "to_file",
    "to_version",
    "version_row",
]

# Keeps tuple IN lists well under every backend's bound-parameter limit.
_IN_CHUNK: Final = 400
# Eager loads for turning rows into dataclasses: a few IN queries, no N+1.
VERSION_DETAIL: Final = (
    selectinload(VersionRow.files),
    selectinload(VersionRow.operations),
    selectinload(VersionRow.dependencies),
    selectinload(VersionRow.instances),
)
FULL_ASSET: Final = (
    selectinload(AssetRow.tags),
    selectinload(AssetRow.versions).options(*VERSION_DETAIL),
)


def is_asset(group_id: str, asset_id: str) -> ColumnElement[bool]:
    """Condition selecting one asset by its ids."""
    return and_(AssetRow.group_id == group_id, AssetRow.asset_id == asset_id)


def version_row(
    session: Session, group_id: str, asset_id: str, version: str, *options: ExecutableOption
) -> VersionRow:
    """Load one version row, with ``options`` (eager loads) applied.

    Raises:
        NotFound: The asset, or that version of it, does not exist; ``version``
            on the error tells which.
    """
    row = session.scalars(
        select(VersionRow)
        .join(AssetRow)
        .where(is_asset(group_id, asset_id), VersionRow.version == version)
        .options(*options)
    ).first()
    if row is None:
        if session.scalars(select(AssetRow.id).where(is_asset(group_id, asset_id))).first() is None:
            raise NotFound(group_id=group_id, asset_id=asset_id)
        raise NotFound(group_id=group_id, asset_id=asset_id, version=version)
    return row


def latest_versions(session: Session, versions: Iterable[VersionRow]) -> dict[tuple[str, str], str]:
    """Latest version of every asset that the given versions depend on."""
    return latest_of(
        session.connection(),
        {(dep.group_id, dep.asset_id) for version in versions for dep in version.dependencies},
    )


def latest_of(
    connection: Connection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Latest version of each catalogued asset among ``(group_id, asset_id)`` pairs."""
    # One IN list per group: SQLite uses no index for a (group_id, asset_id) IN list.
    by_group: dict[str, list[str]] = {}
    for group_id, asset_id in sorted(set(pairs)):
        by_group.setdefault(group_id, []).append(asset_id)
    found: dict[tuple[str, str], list[str]] = {}
    for group_id, asset_ids in by_group.items():
        for start in range(0, len(asset_ids), _IN_CHUNK):
            rows = connection.execute(
                select(AssetRow.asset_id, VersionRow.version)
                .join(VersionRow)
                .where(
                    AssetRow.group_id == group_id,
                    AssetRow.asset_id.in_(asset_ids[start : start + _IN_CHUNK]),
                )
            )
            for asset_id, version in rows:
                found.setdefault((group_id, asset_id), []).append(version)
    return {pair: cast(str, versioning.latest(numbers)) for pair, numbers in found.items()}


def resolve_dependencies(
    pairs: Iterable[tuple[str, str]], latest: Mapping[tuple[str, str], str]
) -> tuple[str, ...]:
    """Dependencies as ``group:asset:version``, sorted; ``group:asset`` where not catalogued.

    Args:
        pairs: ``(group_id, asset_id)`` of the called assets.
        latest: From :func:`latest_of`.
    """
    resolved = []
    for pair in sorted(pairs):
        base = f"{pair[0]}:{pair[1]}"
        version = latest.get(pair)
        resolved.append(base if version is None else f"{base}:{version}")
    return tuple(resolved)


def instance_order(instance: Instance) -> tuple[str, str, str, int]:
    """Sort key of a version's instances."""
    return (instance.cluster, instance.namespace, instance.service, instance.port)


def to_asset(row: AssetRow, latest: dict[tuple[str, str], str]) -> Asset:
    """Convert an eagerly loaded asset row; versions in ascending precedence.

    Args:
        row: Loaded with :data:`FULL_ASSET`.
        latest: From :func:`latest_versions`, to resolve dependencies.
    """
    versions = sorted(row.versions, key=lambda v: versioning.parse(v.version).precedence())
    return Asset(
        group_id=row.group_id,
        asset_id=row.asset_id,
        name=row.name,
        type=cast(AssetType, row.type),
        description=row.description,
        owner=row.owner,
        lifecycle=cast(Lifecycle, row.lifecycle),
        tags=tuple(tag.tag for tag in row.tags),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        versions=tuple(to_version(v, latest) for v in versions),
    )


def to_version(row: VersionRow, latest: dict[tuple[str, str], str]) -> AssetVersion:
    """Convert a version row loaded with :data:`VERSION_DETAIL`.

    Dependencies become ``group:asset:version`` where ``latest`` knows the
    called asset, and stay ``group:asset`` where it is not catalogued yet.
    """
    instances = (
        Instance(
            cluster=i.cluster,
            namespace=i.namespace,
            service=i.service,
            port=i.port,
            endpoint_uri=i.endpoint_uri,
            environment=i.environment,
            last_seen=i.last_seen,
            stale=runs.is_stale(i.last_seen, i.stale_since),
            exposure=exposure_from_text(i.exposure),
            subsets=subsets_from_text(i.subsets),
        )
        for i in row.instances
    )
    return AssetVersion(
        version=row.version,
        created_at=row.created_at,
        files=tuple(to_file(f) for f in row.files),
        operations=tuple(op.operation for op in row.operations),
        instances=tuple(sorted(instances, key=instance_order)),
        dependencies=resolve_dependencies(
            ((d.group_id, d.asset_id) for d in row.dependencies), latest
        ),
        reason=row.reason,
        provenance=Provenance(method=row.provenance_method, detail=row.provenance_detail),
    )


def to_file(row: FileRow) -> AssetFile:
    """Convert a file row; the bytes are returned as stored."""
    return AssetFile(
        classifier=cast(Classifier, row.classifier),
        packaging=cast(Packaging, row.packaging),
        content=row.content,
    )


#: ``InstanceExposure`` field -> its key in the stored JSON.
_EXPOSURE_KEYS: Final = {
    "gateway": "gateway",
    "source": "source",
    "host": "host",
    "port": "port",
    "path": "path",
    "path_match": "pathMatch",
    "protocol": "protocol",
    "route": "route",
}
#: ``InstanceSubset`` field -> its key in the stored JSON.
_SUBSET_KEYS: Final = {"name": "name", "version": "version", "rule": "rule"}


def _stable_text(values: Iterable[object], keys: Mapping[str, str]) -> str:
    """A JSON array of ``values`` as objects, sorted and without repeats, so a
    republish of the same values writes the same text and the row is left alone."""
    items = sorted(
        {tuple((key, getattr(v, name)) for name, key in keys.items()) for v in values},
        key=lambda pairs: json.dumps(pairs),
    )
    return json.dumps([dict(pairs) for pairs in items], separators=(",", ":"))


def _objects(text: str | None, keys: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects of a stored array, by field name; anything unreadable is none."""
    try:
        raw: Any = json.loads(text or "[]")
    except ValueError:
        return []
    if not isinstance(raw, list):
        return []
    return [
        {name: item.get(key) for name, key in keys.items()}
        for item in raw
        if isinstance(item, dict)
    ]


def exposure_text(exposure: Iterable[InstanceExposure]) -> str:
    """The ``catalog_instances.exposure`` value: a JSON array, in a stable order."""
    return _stable_text(exposure, _EXPOSURE_KEYS)


def exposure_from_text(text: str | None) -> tuple[InstanceExposure, ...]:
    """Read back :func:`exposure_text`; anything unreadable counts as mesh-internal."""
    return tuple(
        InstanceExposure(
            gateway=values["gateway"],
            source=cast(ExposureSource, values["source"]),
            host=values["host"],
            port=values["port"] if isinstance(values["port"], int) else None,
            path=_text_or_none(values["path"]),
            path_match=_text_or_none(values["path_match"]),
            protocol=_text_or_none(values["protocol"]),
            route=_text_or_none(values["route"]),
        )
        for values in _objects(text, _EXPOSURE_KEYS)
        if isinstance(values["gateway"], str) and isinstance(values["host"], str)
    )


def subsets_text(subsets: Iterable[InstanceSubset]) -> str:
    """The ``catalog_instances.subsets`` value: a JSON array, in a stable order."""
    return _stable_text(subsets, _SUBSET_KEYS)


def subsets_from_text(text: str | None) -> tuple[InstanceSubset, ...]:
    """Read back :func:`subsets_text`; anything unreadable counts as no subsets."""
    return tuple(
        InstanceSubset(
            name=values["name"],
            version=_text_or_none(values["version"]),
            rule=_text_or_none(values["rule"]),
        )
        for values in _objects(text, _SUBSET_KEYS)
        if isinstance(values["name"], str)
    )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
