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
from typing import Any, Final, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    and_,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    table,
)

from catalog.errors import NotFound
from catalog.model import (
    AssetFile,
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
from catalog.publishing import validation, versioning
from catalog.storage import rows
from catalog.storage.prepared import Prepared
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
    "SEPARATOR",
    "Described",
    "callers",
    "describe",
    "document",
    "facets",
    "file",
    "filters",
    "page",
]

# SQLite's FTS5 trigram table over search_text (migration 0005), and the
# shortest needle it can look up.
_SEARCH: Final = table("catalog_search", column("rowid"), column("catalog_search"))
_TRIGRAM: Final = 3
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
    words: Sequence[str] = (),
    fts: bool = False,
) -> list[ColumnElement[bool]]:
    """Conditions on :class:`~catalog.storage.schema.AssetRow` for a search's filters.

    ``query`` is one needle; each of ``words`` must be found too (a portal's
    "every word" search). ``fts``: the database is SQLite, with the trigram
    table of migration 0005 to find candidates in.

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
        where.append(_text_filter(query.strip(), fts=fts))
    for word in words:
        if word.strip():
            where.append(_text_filter(word.strip(), fts=fts))
    return where


def _text_filter(needle: str, *, fts: bool) -> ColumnElement[bool]:
    if SEPARATOR in needle:
        return _text_filter_by_value(needle)
    # lower() on both sides, by the database: what ILIKE (PostgreSQL) and
    # lower() LIKE lower() (SQLite) did on each value.
    escaped = literal(needle.translate(_ESCAPED))
    found = AssetRow.search_text.contains(func.lower(escaped), escape=_ESCAPE)
    if not fts or len(needle) < _TRIGRAM:
        return found  # PostgreSQL's trigram index serves LIKE itself
    # SQLite: the trigram table names the candidates, LIKE decides, as before.
    phrase = '"' + needle.replace('"', '""') + '"'
    candidates = select(_SEARCH.c.rowid).where(_SEARCH.c.catalog_search.op("MATCH")(phrase))
    return and_(AssetRow.id.in_(candidates), found)


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
#
# Each statement is built once: SQLAlchemy then finds its compiled form by the
# statement's memoised cache key instead of walking a new tree per request.

_PKS: Final[BindParameter[Any]] = bindparam("pks", expanding=True)
_ASSET: Final[BindParameter[int]] = bindparam("asset_pk")
_VERSION: Final[BindParameter[int]] = bindparam("version_pk")
_ASSET_COLUMNS: Final = (
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
_VERSION_COLUMNS: Final = (
    VersionRow.id,
    VersionRow.asset_pk,
    VersionRow.version,
    VersionRow.created_at,
    VersionRow.reason,
    VersionRow.provenance_method,
    VersionRow.provenance_detail,
)
_TAGS: Final = select(TagRow.asset_pk, TagRow.tag).order_by(TagRow.asset_pk, TagRow.tag)
# What a version holds; each starts with the version's primary key.
_FILES: Final = select(
    FileRow.version_pk,
    FileRow.classifier,
    FileRow.packaging,
    FileRow.sha256,
    func.length(FileRow.content),
).order_by(FileRow.version_pk, FileRow.position)
_OPERATIONS: Final = select(OperationRow.version_pk, OperationRow.operation).order_by(
    OperationRow.version_pk, OperationRow.operation
)
_INSTANCES: Final = select(
    InstanceRow.version_pk,
    InstanceRow.cluster,
    InstanceRow.namespace,
    InstanceRow.service,
    InstanceRow.port,
    InstanceRow.endpoint_uri,
    InstanceRow.environment,
    InstanceRow.last_seen,
    InstanceRow.stale_since,
    InstanceRow.exposure,
    InstanceRow.subsets,
)
_DEPENDENCIES: Final = select(
    DependencyRow.version_pk, DependencyRow.group_id, DependencyRow.asset_id
)


@dataclass(frozen=True, slots=True)
class _Reads:
    """The statements that read assets' versions, for one way of choosing them."""

    versions: Executable
    tags: Executable
    files: Executable
    operations: Executable
    instances: Executable
    dependencies: Executable


# A page: everything by IN lists of primary keys, through SQLAlchemy.
_PAGE: Final = _Reads(
    versions=select(*_VERSION_COLUMNS).where(VersionRow.asset_pk.in_(_PKS)),
    tags=_TAGS.where(TagRow.asset_pk.in_(_PKS)),
    files=_FILES.where(FileRow.version_pk.in_(_PKS)),
    operations=_OPERATIONS.where(OperationRow.version_pk.in_(_PKS)),
    instances=_INSTANCES.where(InstanceRow.version_pk.in_(_PKS)),
    dependencies=_DEPENDENCIES.where(DependencyRow.version_pk.in_(_PKS)),
)
# One asset: scalar parameters only, so each runs prepared on the cursor.
_ONE_ASSET: Final = Prepared(
    select(*_ASSET_COLUMNS).where(
        AssetRow.group_id == bindparam("group_id"), AssetRow.asset_id == bindparam("asset_id")
    )
)
_ONE_ASSET_VERSIONS: Final = Prepared(
    select(*_VERSION_COLUMNS).where(VersionRow.asset_pk == _ASSET)
)
_ONE_ASSET_TAGS: Final = Prepared(_TAGS.where(TagRow.asset_pk == _ASSET))
# ... and of it, one version,
_ONE_VERSION: Final = (
    Prepared(_FILES.where(FileRow.version_pk == _VERSION)),
    Prepared(_OPERATIONS.where(OperationRow.version_pk == _VERSION)),
    Prepared(_INSTANCES.where(InstanceRow.version_pk == _VERSION)),
    Prepared(_DEPENDENCIES.where(DependencyRow.version_pk == _VERSION)),
)
# ... or every version.
_OF_ASSET: Final = VersionRow.asset_pk == _ASSET
_EVERY_VERSION: Final = (
    Prepared(_FILES.join(VersionRow, VersionRow.id == FileRow.version_pk).where(_OF_ASSET)),
    Prepared(
        _OPERATIONS.join(VersionRow, VersionRow.id == OperationRow.version_pk).where(_OF_ASSET)
    ),
    Prepared(_INSTANCES.where(InstanceRow.asset_pk == _ASSET)),
    Prepared(
        _DEPENDENCIES.join(VersionRow, VersionRow.id == DependencyRow.version_pk).where(_OF_ASSET)
    ),
)
_FILE: Final = Prepared(
    select(FileRow.classifier, FileRow.packaging, FileRow.content)
    .join(VersionRow, VersionRow.id == FileRow.version_pk)
    .join(AssetRow, AssetRow.id == VersionRow.asset_pk)
    .where(
        AssetRow.group_id == bindparam("group_id"),
        AssetRow.asset_id == bindparam("asset_id"),
        VersionRow.version == bindparam("version"),
    )
    .order_by(FileRow.position)
)

_Rows = Iterable[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Described:
    """One asset as a listing shows it, with some of its versions in full (no bytes).

    Attributes:
        asset: The asset; its ``latest`` is the latest version.
        versions: The versions asked for, in ascending precedence.
    """

    asset: AssetSummary
    versions: tuple[VersionSummary, ...]


def page(
    connection: Connection, where: Sequence[ColumnElement[bool]], *, offset: int, limit: int
) -> AssetPage:
    """Count the assets matching ``where`` and list one page of them, by group and asset id."""
    total = connection.scalar(select(func.count()).select_from(AssetRow).where(*where)) or 0
    found = connection.execute(
        select(*_ASSET_COLUMNS)
        .where(*where)
        .order_by(AssetRow.group_id, AssetRow.asset_id)
        .offset(offset)
        .limit(limit)
    ).all()
    asset_pks = {"pks": [row[0] for row in found]}
    versions = _versions(connection.execute(_PAGE.versions, asset_pks), asset_pks["pks"])
    latest = [versions[row[0]][-1] for row in found]
    version_pks = {"pks": [v.pk for v in latest]}
    details = _details(
        connection,
        latest,
        *(
            connection.execute(statement, version_pks)
            for statement in (_PAGE.files, _PAGE.operations, _PAGE.instances, _PAGE.dependencies)
        ),
    )
    tags = _tags(connection.execute(_PAGE.tags, asset_pks))
    summaries = [_summary(row, tags, versions, details) for row in found]
    return AssetPage(total=total, offset=offset, limit=limit, assets=tuple(summaries))


def describe(
    connection: Connection,
    group_id: str,
    asset_id: str,
    *,
    version: str | None = None,
    every: bool = False,
) -> Described:
    """One asset with its latest version, or with ``version``, or with ``every`` version.

    Raises:
        NotFound: No such asset, or it has no ``version``.
    """
    found = _ONE_ASSET.rows(connection, {"group_id": group_id, "asset_id": asset_id})
    if not found:
        raise NotFound(group_id=group_id, asset_id=asset_id)
    asset_pk = found[0][0]
    versions = _versions(_ONE_ASSET_VERSIONS.rows(connection, {"asset_pk": asset_pk}), [asset_pk])
    stored = versions[asset_pk]
    if every:
        wanted = stored
    elif version is not None:
        wanted = [v for v in stored if v.header.version == version]
        if not wanted:
            raise NotFound(group_id=group_id, asset_id=asset_id, version=version)
    else:
        wanted = stored[-1:]
    latest = stored[-1]
    if every:
        reads = [r.rows(connection, {"asset_pk": asset_pk}) for r in _EVERY_VERSION]
        details = _details(connection, stored, *reads)
    else:
        details = {}
        for chosen in {latest.pk: latest, wanted[0].pk: wanted[0]}.values():
            reads = [r.rows(connection, {"version_pk": chosen.pk}) for r in _ONE_VERSION]
            details |= _details(connection, [chosen], *reads)
    tags = _tags(_ONE_ASSET_TAGS.rows(connection, {"asset_pk": asset_pk}))
    summary = _summary(found[0], tags, versions, details)
    return Described(asset=summary, versions=tuple(details[v.pk] for v in wanted))


def file(
    connection: Connection,
    group_id: str,
    asset_id: str,
    *,
    version: str,
    classifier: str | None = None,
    packaging: str | None = None,
) -> AssetFile | None:
    """A version's file with this classifier and packaging, or its first file (None: none).

    Raises:
        NotFound: No such asset or version (only looked for when no file matched).
    """
    params = {"group_id": group_id, "asset_id": asset_id, "version": version}
    for found_classifier, found_packaging, content in _FILE.rows(connection, params):
        if classifier in (None, found_classifier) and packaging in (None, found_packaging):
            return AssetFile(
                classifier=cast(Classifier, found_classifier),
                packaging=cast(Packaging, found_packaging),
                content=content,
            )
    describe(connection, group_id, asset_id, version=version)  # NotFound when missing
    return None


_CALLERS: Final = Prepared(
    select(AssetRow.group_id, AssetRow.asset_id, VersionRow.version)
    .join(VersionRow, VersionRow.asset_pk == AssetRow.id)
    .join(DependencyRow, DependencyRow.version_pk == VersionRow.id)
    .where(
        DependencyRow.group_id == bindparam("group_id"),
        DependencyRow.asset_id == bindparam("asset_id"),
    )
)


def callers(connection: Connection, group_id: str, asset_id: str) -> list[AssetSummary]:
    """Assets whose latest version calls ``group_id:asset_id``, by group and asset id."""
    candidates: dict[tuple[str, str], set[str]] = {}
    for caller_group, caller_asset, version in _CALLERS.rows(
        connection, {"group_id": group_id, "asset_id": asset_id}
    ):
        candidates.setdefault((caller_group, caller_asset), set()).add(version)
    found = []
    for (caller_group, caller_asset), versions in sorted(candidates.items()):
        summary = describe(connection, caller_group, caller_asset).asset
        if summary.latest.version in versions:
            found.append(summary)
    return found


def facets(connection: Connection) -> tuple[list[str], list[str], list[str]]:
    """The types, lifecycle statuses and namespaces the catalogue holds, sorted."""
    return (
        sorted(connection.scalars(select(AssetRow.type).distinct())),
        sorted(connection.scalars(select(AssetRow.lifecycle).distinct())),
        sorted(connection.scalars(select(InstanceRow.namespace).distinct())),
    )


def _summary(
    row: Sequence[Any],
    tags: Mapping[int, tuple[str, ...]],
    versions: Mapping[int, list[_Stored]],
    details: Mapping[int, VersionSummary],
) -> AssetSummary:
    pk, group_id, asset_id, name, type_, description, owner, lifecycle, first, last = row
    return AssetSummary(
        group_id=group_id,
        asset_id=asset_id,
        name=name,
        type=cast(AssetType, type_),
        description=description,
        owner=owner,
        lifecycle=cast(Lifecycle, lifecycle),
        tags=tags.get(pk, ()),
        first_seen=first,
        last_seen=last,
        versions=tuple(v.header for v in versions[pk]),
        latest=details[versions[pk][-1].pk],
    )


@dataclass(frozen=True, slots=True)
class _Stored:
    """A version row of a listed asset."""

    pk: int
    header: VersionHeader
    provenance: Provenance


def _tags(found: _Rows) -> dict[int, tuple[str, ...]]:
    tags: dict[int, list[str]] = {}
    for asset_pk, tag in found:
        tags.setdefault(asset_pk, []).append(tag)
    return {pk: tuple(values) for pk, values in tags.items()}


def _versions(found: _Rows, asset_pks: Sequence[int]) -> dict[int, list[_Stored]]:
    """Each asset's versions in ascending precedence."""
    versions: dict[int, list[_Stored]] = {pk: [] for pk in asset_pks}
    for pk, asset_pk, version, created_at, reason, method, detail in found:
        versions[asset_pk].append(
            _Stored(
                pk=pk,
                header=VersionHeader(version=version, created_at=created_at, reason=reason),
                provenance=Provenance(method=method, detail=detail),
            )
        )
    for stored in versions.values():
        stored.sort(key=lambda v: versioning.parse(v.header.version).precedence())
    return versions


def _details(
    connection: Connection,
    versions: Sequence[_Stored],
    files: _Rows,
    operations: _Rows,
    instances: _Rows,
    dependencies: _Rows,
) -> dict[int, VersionSummary]:
    """The given versions in full, their files without bytes, by primary key.

    ``files`` to ``dependencies`` are the rows of the statements above for
    (at least) these versions.
    """
    by_file: dict[int, list[FileSummary]] = {}
    for version_pk, classifier, packaging, sha256, size in files:
        by_file.setdefault(version_pk, []).append(
            FileSummary(
                classifier=cast(Classifier, classifier),
                packaging=cast(Packaging, packaging),
                sha256=sha256,
                size=size,
            )
        )
    by_operation: dict[int, list[str]] = {}
    for version_pk, operation in operations:
        by_operation.setdefault(version_pk, []).append(operation)
    by_instance: dict[int, list[Instance]] = {}
    for version_pk, cluster, namespace, service, port, uri, env, seen, since, at, sub in instances:
        by_instance.setdefault(version_pk, []).append(
            Instance(
                cluster=cluster,
                namespace=namespace,
                service=service,
                port=port,
                endpoint_uri=uri,
                environment=env,
                last_seen=seen,
                # Stale as a run found it, until published again (catalog.storage.runs.is_stale).
                stale=since is not None and seen < since,
                exposure=rows.exposure_from_text(at),
                subsets=rows.subsets_from_text(sub),
            )
        )
    by_dependency: dict[int, list[tuple[str, str]]] = {}
    for version_pk, group_id, asset_id in dependencies:
        by_dependency.setdefault(version_pk, []).append((group_id, asset_id))
    wanted = {v.pk for v in versions}
    called = (pair for pk, pairs in by_dependency.items() if pk in wanted for pair in pairs)
    resolved = rows.latest_of(connection, called)
    return {
        v.pk: VersionSummary(
            version=v.header.version,
            created_at=v.header.created_at,
            files=tuple(by_file.get(v.pk, ())),
            operations=tuple(by_operation.get(v.pk, ())),
            instances=tuple(sorted(by_instance.get(v.pk, ()), key=rows.instance_order)),
            dependencies=rows.resolve_dependencies(by_dependency.get(v.pk, ()), resolved),
            reason=v.header.reason,
            provenance=v.provenance,
        )
        for v in versions
    }
