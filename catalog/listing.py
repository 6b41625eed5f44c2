"""Search: which assets match, and a page of them as light summaries.

Free text matches an asset's name, asset id, description, a tag or an
operation of any version, case-insensitively. Looking in every one of those
columns and tables made each search scan tens of thousands of values twice
(count and page), so every asset carries ``search_text``: those values joined
by :data:`SEPARATOR` and lowercased by the database (:func:`document` builds
it, publish keeps it). Text that does not contain the separator is found in
``search_text`` exactly where it is found in one of the values, since a match
cannot span two of them; text that does is looked for value by value, as
before.

A page is read as :class:`~catalog.model.AssetSummary` values: the asset's
columns, its tags, every version's header, and the latest version's files
(without their bytes), operations, instances and dependencies, each with one
query for the whole page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from sqlalchemy import ColumnElement, Connection, func, literal, or_, select

from catalog import rows, validation, versioning
from catalog.model import (
    AssetPage,
    AssetSummary,
    AssetType,
    Classifier,
    FileSummary,
    Instance,
    Lifecycle,
    Packaging,
    Provenance,
    VersionHeader,
    VersionSummary,
)
from catalog.schema import (
    AssetRow,
    DependencyRow,
    FileRow,
    InstanceRow,
    OperationRow,
    TagRow,
    VersionRow,
)

__all__ = ["SEPARATOR", "document", "filters", "page"]

#: Joins the values of ``search_text``; a control character no one types.
SEPARATOR: Final = "\x1f"
# The LIKE escape character, and what it escapes.
_ESCAPE: Final = "/"
_ESCAPED: Final = str.maketrans({"/": "//", "%": "/%", "_": "/_"})


def document(
    *,
    name: str,
    asset_id: str,
    description: str | None,
    tags: Iterable[str],
    operations: Iterable[str],
) -> str:
    """The text a free-text search looks in, before the database lowercases it."""
    return SEPARATOR.join(
        [name, asset_id, description or "", *sorted(set(tags)), *sorted(set(operations))]
    )


def filters(
    *,
    type: str | None,
    query: str | None,
    lifecycle: str | None,
    group_id: str | None,
    namespace: str | None,
    cluster: str | None,
) -> list[ColumnElement[bool]]:
    """Conditions on :class:`~catalog.schema.AssetRow` for a search's filters.

    Raises:
        InvalidAsset: ``type`` or ``lifecycle`` is not a known value.
    """
    where: list[ColumnElement[bool]] = []
    if type is not None:
        where.append(AssetRow.type == validation.check_asset_type("type", type))
    if lifecycle is not None:
        where.append(AssetRow.lifecycle == validation.check_lifecycle("lifecycle", lifecycle))
    if group_id is not None:
        where.append(AssetRow.group_id == group_id)
    # IN (subquery), not EXISTS: SQLite runs the subquery once instead of once per asset.
    if namespace is not None:
        placed = select(InstanceRow.asset_pk).where(InstanceRow.namespace == namespace)
        where.append(AssetRow.id.in_(placed))
    if cluster is not None:
        placed = select(InstanceRow.asset_pk).where(InstanceRow.cluster == cluster)
        where.append(AssetRow.id.in_(placed))
    if query is not None and query.strip():
        where.append(_text_filter(query.strip()))
    return where


def _text_filter(needle: str) -> ColumnElement[bool]:
    if SEPARATOR in needle:
        return _text_filter_by_value(needle)
    # lower() on both sides, by the database: what ILIKE (PostgreSQL) and
    # lower() LIKE lower() (SQLite) did on each value.
    escaped = literal(needle.translate(_ESCAPED))
    return AssetRow.search_text.contains(func.lower(escaped), escape=_ESCAPE)


def _text_filter_by_value(needle: str) -> ColumnElement[bool]:
    return or_(
        AssetRow.name.icontains(needle, autoescape=True),
        AssetRow.asset_id.icontains(needle, autoescape=True),
        AssetRow.description.icontains(needle, autoescape=True),
        AssetRow.tags.any(TagRow.tag.icontains(needle, autoescape=True)),
        AssetRow.versions.any(
            VersionRow.operations.any(OperationRow.operation.icontains(needle, autoescape=True))
        ),
    )


# -- a page of summaries ------------------------------------------------------------


def page(
    connection: Connection, where: Sequence[ColumnElement[bool]], *, offset: int, limit: int
) -> AssetPage:
    """Count the assets matching ``where`` and list one page of them, by group and asset id."""
    total = connection.scalar(select(func.count()).select_from(AssetRow).where(*where)) or 0
    found = connection.execute(
        select(
            AssetRow.id,
            AssetRow.group_id,
            AssetRow.asset_id,
            AssetRow.name,
            AssetRow.type,
            AssetRow.description,
            AssetRow.owner,
            AssetRow.lifecycle,
            AssetRow.first_seen,
            AssetRow.last_seen,
        )
        .where(*where)
        .order_by(AssetRow.group_id, AssetRow.asset_id)
        .offset(offset)
        .limit(limit)
    ).all()
    pks = [row.id for row in found]
    tags = _tags(connection, pks)
    versions = _versions(connection, pks)
    latest = {pk: versions[pk][-1] for pk in pks}
    details = _details(connection, list(latest.values()))
    return AssetPage(
        total=total,
        offset=offset,
        limit=limit,
        assets=tuple(
            AssetSummary(
                group_id=row.group_id,
                asset_id=row.asset_id,
                name=row.name,
                type=cast(AssetType, row.type),
                description=row.description,
                owner=row.owner,
                lifecycle=cast(Lifecycle, row.lifecycle),
                tags=tags.get(row.id, ()),
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                versions=tuple(v.header for v in versions[row.id]),
                latest=details[latest[row.id].pk],
            )
            for row in found
        ),
    )


@dataclass(frozen=True, slots=True)
class _Stored:
    """A version row of a listed asset."""

    pk: int
    header: VersionHeader
    provenance: Provenance


def _tags(connection: Connection, pks: Sequence[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    query = (
        select(TagRow.asset_pk, TagRow.tag)
        .where(TagRow.asset_pk.in_(pks))
        .order_by(TagRow.asset_pk, TagRow.tag)
    )
    for asset_pk, tag in connection.execute(query):
        found.setdefault(asset_pk, []).append(tag)
    return {pk: tuple(values) for pk, values in found.items()}


def _versions(connection: Connection, pks: Sequence[int]) -> dict[int, list[_Stored]]:
    """Each asset's versions in ascending precedence."""
    found: dict[int, list[_Stored]] = {pk: [] for pk in pks}
    query = select(
        VersionRow.id,
        VersionRow.asset_pk,
        VersionRow.version,
        VersionRow.created_at,
        VersionRow.reason,
        VersionRow.provenance_method,
        VersionRow.provenance_detail,
    ).where(VersionRow.asset_pk.in_(pks))
    for pk, asset_pk, version, created_at, reason, method, detail in connection.execute(query):
        found[asset_pk].append(
            _Stored(
                pk=pk,
                header=VersionHeader(version=version, created_at=created_at, reason=reason),
                provenance=Provenance(method=method, detail=detail),
            )
        )
    for stored in found.values():
        stored.sort(key=lambda v: versioning.parse(v.header.version).precedence())
    return found


def _details(connection: Connection, versions: Sequence[_Stored]) -> dict[int, VersionSummary]:
    """The given versions in full, their files without bytes, by primary key."""
    pks = [v.pk for v in versions]
    files = _files(connection, pks)
    operations = _operations(connection, pks)
    instances = _instances(connection, pks)
    dependencies = _dependencies(connection, pks)
    resolved = rows.latest_of(
        connection, (pair for pairs in dependencies.values() for pair in pairs)
    )
    return {
        v.pk: VersionSummary(
            version=v.header.version,
            created_at=v.header.created_at,
            files=files.get(v.pk, ()),
            operations=operations.get(v.pk, ()),
            instances=instances.get(v.pk, ()),
            dependencies=rows.resolve_dependencies(dependencies.get(v.pk, ()), resolved),
            reason=v.header.reason,
            provenance=v.provenance,
        )
        for v in versions
    }


def _files(
    connection: Connection, version_pks: Sequence[int]
) -> dict[int, tuple[FileSummary, ...]]:
    found: dict[int, list[FileSummary]] = {}
    query = (
        select(
            FileRow.version_pk,
            FileRow.classifier,
            FileRow.packaging,
            FileRow.sha256,
            func.length(FileRow.content),
        )
        .where(FileRow.version_pk.in_(version_pks))
        .order_by(FileRow.version_pk, FileRow.position)
    )
    for version_pk, classifier, packaging, sha256, size in connection.execute(query):
        found.setdefault(version_pk, []).append(
            FileSummary(
                classifier=cast(Classifier, classifier),
                packaging=cast(Packaging, packaging),
                sha256=sha256,
                size=size,
            )
        )
    return {pk: tuple(values) for pk, values in found.items()}


def _operations(connection: Connection, version_pks: Sequence[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    query = (
        select(OperationRow.version_pk, OperationRow.operation)
        .where(OperationRow.version_pk.in_(version_pks))
        .order_by(OperationRow.version_pk, OperationRow.operation)
    )
    for version_pk, operation in connection.execute(query):
        found.setdefault(version_pk, []).append(operation)
    return {pk: tuple(values) for pk, values in found.items()}


def _instances(
    connection: Connection, version_pks: Sequence[int]
) -> dict[int, tuple[Instance, ...]]:
    found: dict[int, list[Instance]] = {}
    query = select(
        InstanceRow.version_pk,
        InstanceRow.cluster,
        InstanceRow.namespace,
        InstanceRow.service,
        InstanceRow.port,
        InstanceRow.endpoint_uri,
        InstanceRow.environment,
    ).where(InstanceRow.version_pk.in_(version_pks))
    for version_pk, cluster, namespace, service, port, uri, env in connection.execute(query):
        found.setdefault(version_pk, []).append(
            Instance(
                cluster=cluster,
                namespace=namespace,
                service=service,
                port=port,
                endpoint_uri=uri,
                environment=env,
            )
        )
    return {pk: tuple(sorted(values, key=rows.instance_order)) for pk, values in found.items()}


def _dependencies(
    connection: Connection, version_pks: Sequence[int]
) -> Mapping[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    query = select(DependencyRow.version_pk, DependencyRow.group_id, DependencyRow.asset_id).where(
        DependencyRow.version_pk.in_(version_pks)
    )
    for version_pk, group_id, asset_id in connection.execute(query):
        found.setdefault(version_pk, []).append((group_id, asset_id))
    return found
