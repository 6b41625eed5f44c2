"""The catalogue store: publish drafts, read assets and versions.

A publish is one transaction. It finds (or creates) the asset and locks its row,
matches the draft's content against the asset's versions, creates a version
only for unseen content, and points the draft's instance at the version it
serves. Concurrent publishers are kept apart by the database: unique
constraints catch a lost race, and the whole transaction is retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Final, cast

from sqlalchemy import ColumnElement, Engine, and_, or_, select, tuple_
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.base import ExecutableOption

from catalog import engine as engine_setup
from catalog import validation, versioning
from catalog.errors import InvalidAsset, NotFound, StoreError, VersionConflict
from catalog.model import (
    DEFAULT_LIFECYCLE,
    Asset,
    AssetDraft,
    AssetFile,
    AssetType,
    AssetVersion,
    Classifier,
    Instance,
    Lifecycle,
    Packaging,
    Provenance,
    PublishOutcome,
    PublishResult,
)
from catalog.schema import (
    AssetRow,
    DependencyRow,
    FileRow,
    InstanceRow,
    OperationRow,
    TagRow,
    VersionRow,
    metadata,
)

__all__ = ["CatalogStore", "open_store"]

#: Transactions tried per publish before giving up with VersionConflict.
PUBLISH_ATTEMPTS: Final = 5
# PostgreSQL serialization failure and deadlock: safe to retry from scratch.
_TRANSIENT_SQLSTATES: Final = frozenset({"40001", "40P01"})
# Keeps tuple IN lists well under every backend's bound-parameter limit.
_IN_CHUNK: Final = 400
# The file spec_file() prefers for each asset type.
_SPEC_CLASSIFIER: Final[dict[str, str]] = {
    "rest-api": "oas",
    "soap-api": "wsdl",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
}
# Eager loads for turning rows into dataclasses: a few IN queries, no N+1.
_VERSION_DETAIL = (
    selectinload(VersionRow.files),
    selectinload(VersionRow.operations),
    selectinload(VersionRow.dependencies),
    selectinload(VersionRow.instances),
)
_FULL_ASSET = (
    selectinload(AssetRow.tags),
    selectinload(AssetRow.versions).options(*_VERSION_DETAIL),
)


def open_store(url: str) -> CatalogStore:
    """Open the catalogue at ``url``, creating its tables if they are missing.

    Args:
        url: ``sqlite:///path.db`` or ``postgresql://...`` (psycopg 3).

    Returns:
        A store that owns its engine: :meth:`CatalogStore.close` disposes it.

    Raises:
        StoreError: The URL is unsupported or the database cannot be reached.
    """
    store = CatalogStore(engine_setup.create_catalog_engine(url))
    store._owns_engine = True
    try:
        store.create_schema()
    except BaseException:
        store.close()
        raise
    return store


class CatalogStore:
    """An API catalogue kept in a SQL database.

    Safe to share between threads: every call runs in its own session and
    transaction on the injected engine's pool.

    Args:
        engine: Engine for SQLite or PostgreSQL. A SQLite engine gets WAL,
            foreign keys and a busy timeout installed (see :mod:`catalog.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        engine_setup.prepare_engine(engine)
        self._engine = engine
        self._writer = engine.execution_options(**{engine_setup.WRITE_OPTION: True})
        self._owns_engine = False

    @property
    def engine(self) -> Engine:
        """The engine the store runs on."""
        return self._engine

    def create_schema(self) -> None:
        """Create the catalogue's tables where they do not exist yet.

        Raises:
            StoreError: The database refused.
        """
        try:
            # A write transaction, so two processes opening a new SQLite file
            # at once do not both try to create the tables.
            with self._writer.begin() as connection:
                metadata.create_all(connection)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the catalogue schema: {exc}") from exc

    def close(self) -> None:
        """Release the engine's connections if this store created the engine."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------

    def publish(self, draft: AssetDraft, *, seen_at: datetime) -> PublishResult:
        """Record that ``draft``'s content was seen running at ``draft.instance``.

        Idempotent: publishing the same content again refreshes the instance and
        ``last_seen`` and creates nothing. New content becomes a new immutable
        version (numbered by :func:`catalog.versioning.choose_version`), and the
        instance moves to it. Asset-level fields follow the latest draft.

        Args:
            draft: What was found.
            seen_at: When it was found; timezone-aware.

        Returns:
            The version the instance now points at and what happened.

        Raises:
            InvalidAsset: The draft is refused; nothing was written.
            VersionConflict: Concurrent publishers won every retry.
            StoreError: The database failed; nothing was written.
        """
        validation.check_draft(draft)
        when = validation.check_seen_at(seen_at)
        key = versioning.content_key(
            asset_type=draft.type,
            file_digests=[file.sha256 for file in draft.files],
            operations=draft.operations,
        )
        last_error: DBAPIError | None = None
        for _ in range(PUBLISH_ATTEMPTS):
            try:
                with Session(self._writer) as session, session.begin():
                    return _publish(session, draft, key=key, seen_at=when)
            except DBAPIError as exc:
                if not _is_retryable(exc):
                    raise StoreError(f"publishing {_name(draft)} failed: {exc}") from exc
                last_error = exc
            except SQLAlchemyError as exc:
                raise StoreError(f"publishing {_name(draft)} failed: {exc}") from exc
        raise VersionConflict(
            f"publishing {_name(draft)} lost to concurrent writers {PUBLISH_ATTEMPTS} times",
            group_id=draft.group_id,
            asset_id=draft.asset_id,
            attempts=PUBLISH_ATTEMPTS,
        ) from last_error

    def set_lifecycle(self, group_id: str, asset_id: str, *, status: str) -> Asset:
        """Move an asset to another lifecycle status.

        Allowed: development→stable, development→deprecated, stable→deprecated,
        deprecated→stable; setting the current status again is a no-op.

        Returns:
            The asset after the move.

        Raises:
            InvalidAsset: ``status`` is unknown or the move is not allowed.
            NotFound: No such asset.
            StoreError: The database failed.
        """
        target = validation.check_lifecycle("status", status)
        with self._session(write=True) as session:
            row = session.scalars(
                select(AssetRow).where(_is_asset(group_id, asset_id)).with_for_update()
            ).first()
            if row is None:
                raise NotFound(group_id=group_id, asset_id=asset_id)
            if not validation.lifecycle_move_allowed(row.lifecycle, target):
                raise InvalidAsset(
                    "status", f"{group_id}:{asset_id} cannot move from {row.lifecycle} to {target}"
                )
            row.lifecycle = target
        return self.get(group_id, asset_id)

    # -- reading ---------------------------------------------------------------

    def get(self, group_id: str, asset_id: str) -> Asset:
        """Read one asset with all its versions.

        Raises:
            NotFound: No such asset.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = session.scalars(
                select(AssetRow).where(_is_asset(group_id, asset_id)).options(*_FULL_ASSET)
            ).first()
            if row is None:
                raise NotFound(group_id=group_id, asset_id=asset_id)
            return _to_asset(row, _latest_versions(session, row.versions))

    def list_assets(
        self,
        *,
        type: str | None = None,
        query: str | None = None,
        lifecycle: str | None = None,
    ) -> list[Asset]:
        """List assets, ordered by group and asset id.

        Args:
            type: Only assets of this type.
            query: Case-insensitive substring of the name, asset id,
                description or a tag; blank means no filter.
            lifecycle: Only assets in this lifecycle status.

        Raises:
            InvalidAsset: ``type`` or ``lifecycle`` is not a known value.
            StoreError: The database failed.
        """
        stmt = select(AssetRow).options(*_FULL_ASSET)
        if type is not None:
            stmt = stmt.where(AssetRow.type == validation.check_asset_type("type", type))
        if lifecycle is not None:
            stmt = stmt.where(
                AssetRow.lifecycle == validation.check_lifecycle("lifecycle", lifecycle)
            )
        if query is not None and query.strip():
            needle = query.strip()
            stmt = stmt.where(
                or_(
                    AssetRow.name.icontains(needle, autoescape=True),
                    AssetRow.asset_id.icontains(needle, autoescape=True),
                    AssetRow.description.icontains(needle, autoescape=True),
                    AssetRow.tags.any(TagRow.tag.icontains(needle, autoescape=True)),
                )
            )
        stmt = stmt.order_by(AssetRow.group_id, AssetRow.asset_id)
        with self._session() as session:
            rows = session.scalars(stmt).all()
            latest = _latest_versions(session, (v for row in rows for v in row.versions))
            return [_to_asset(row, latest) for row in rows]

    def get_version(self, group_id: str, asset_id: str, *, version: str) -> AssetVersion:
        """Read one version of an asset.

        Raises:
            NotFound: No such asset or version.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = _version_row(session, group_id, asset_id, version, *_VERSION_DETAIL)
            return _to_version(row, _latest_versions(session, [row]))

    def spec_file(self, group_id: str, asset_id: str, *, version: str) -> AssetFile | None:
        """The main file of a version: the first whose classifier fits its type.

        Falls back to the version's first file, or None for a spec-less version.

        Raises:
            NotFound: No such asset or version.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = _version_row(session, group_id, asset_id, version)
            if not row.files:
                return None
            wanted = _SPEC_CLASSIFIER.get(row.type)
            chosen = next((f for f in row.files if f.classifier == wanted), row.files[0])
            return _to_file(chosen)

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        try:
            with Session(self._writer if write else self._engine) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"catalogue database failed: {exc}") from exc


# -- publish, inside one transaction -------------------------------------------


def _publish(session: Session, draft: AssetDraft, *, key: str, seen_at: datetime) -> PublishResult:
    notes: list[str] = []
    asset = session.scalars(
        select(AssetRow).where(_is_asset(draft.group_id, draft.asset_id)).with_for_update()
    ).first()
    created_asset = asset is None
    if asset is None:
        asset = AssetRow(
            group_id=draft.group_id,
            asset_id=draft.asset_id,
            lifecycle=draft.lifecycle or DEFAULT_LIFECYCLE,
            lifecycle_requested=draft.lifecycle,
            first_seen=seen_at,
            last_seen=seen_at,
        )
        session.add(asset)
    else:
        notes.extend(_apply_lifecycle_request(asset, draft.lifecycle))
        asset.first_seen = min(asset.first_seen, seen_at)
        # Out-of-order publishes (a slow cluster) must not move last_seen back.
        asset.last_seen = max(asset.last_seen, seen_at)
    asset.name = draft.name
    asset.type = draft.type
    asset.description = draft.description
    asset.owner = draft.owner
    session.flush()
    _replace_tags(session, asset, draft.tags)

    versions = session.scalars(select(VersionRow).where(VersionRow.asset_pk == asset.id)).all()
    served = next((v for v in versions if v.content_key == key), None)
    outcome: PublishOutcome
    if served is not None:
        outcome = "unchanged"
        reason = f"content unchanged, same as {served.version}"
    else:
        choice = versioning.choose_version(
            hint=draft.spec_version_hint, published=[v.version for v in versions]
        )
        served = _new_version(draft, asset_pk=asset.id, key=key, seen_at=seen_at, choice=choice)
        session.add(served)
        session.flush()
        outcome = "created" if created_asset else "new-version"
        reason = choice.reason

    _add_dependencies(served, draft.dependencies)
    moved_from = _place_instance(session, served, draft.instance, seen_at=seen_at)
    if moved_from is not None:
        notes.append(f"instance moved from {moved_from}")
    return PublishResult(
        group_id=draft.group_id,
        asset_id=draft.asset_id,
        version=served.version,
        outcome=outcome,
        reason="; ".join([reason, *notes]),
    )


def _apply_lifecycle_request(asset: AssetRow, requested: str | None) -> list[str]:
    # Only a changed request is applied: re-applying the same annotation on
    # every scan would undo a person's set_lifecycle (deprecated→stable is legal).
    previous = asset.lifecycle_requested
    asset.lifecycle_requested = requested
    if requested is None or requested == previous:
        return []
    if validation.lifecycle_move_allowed(asset.lifecycle, requested):
        asset.lifecycle = requested
        return []
    return [f"lifecycle stays {asset.lifecycle} ({asset.lifecycle} to {requested} is not allowed)"]


def _replace_tags(session: Session, asset: AssetRow, tags: Sequence[str]) -> None:
    wanted = dict.fromkeys(tag.strip() for tag in tags)
    current = {row.tag: row for row in asset.tags}
    for tag, row in current.items():
        if tag not in wanted:
            session.delete(row)
    for tag in wanted:
        if tag not in current:
            session.add(TagRow(asset_pk=asset.id, tag=tag))


def _new_version(
    draft: AssetDraft,
    *,
    asset_pk: int,
    key: str,
    seen_at: datetime,
    choice: versioning.VersionChoice,
) -> VersionRow:
    row = VersionRow(
        asset_pk=asset_pk,
        version=choice.version,
        content_key=key,
        type=draft.type,
        created_at=seen_at,
        reason=choice.reason,
        provenance_method=draft.provenance.method,
        provenance_detail=draft.provenance.detail,
    )
    row.files = [
        FileRow(
            position=position,
            classifier=file.classifier,
            packaging=file.packaging,
            sha256=file.sha256,
            content=file.content,
        )
        for position, file in enumerate(draft.files)
    ]
    row.operations = [OperationRow(operation=op) for op in sorted(set(draft.operations))]
    return row


def _add_dependencies(version: VersionRow, dependencies: Sequence[str]) -> None:
    # Dependencies are observations (telemetry may miss a call in one window),
    # so a republish adds what it saw and never removes; files stay untouched.
    known = {(row.group_id, row.asset_id) for row in version.dependencies}
    for index, text in enumerate(dependencies):
        pair = validation.parse_dependency(f"dependencies[{index}]", text)
        if pair not in known:
            known.add(pair)
            version.dependencies.append(DependencyRow(group_id=pair[0], asset_id=pair[1]))


def _place_instance(
    session: Session, version: VersionRow, instance: Instance, *, seen_at: datetime
) -> str | None:
    """Attach the instance to ``version``; return the version it moved from, if any."""
    row = session.scalars(
        select(InstanceRow).where(
            InstanceRow.asset_pk == version.asset_pk,
            InstanceRow.cluster == instance.cluster,
            InstanceRow.namespace == instance.namespace,
            InstanceRow.service == instance.service,
            InstanceRow.port == instance.port,
        )
    ).first()
    if row is None:
        session.add(
            InstanceRow(
                asset_pk=version.asset_pk,
                version_pk=version.id,
                cluster=instance.cluster,
                namespace=instance.namespace,
                service=instance.service,
                port=instance.port,
                endpoint_uri=instance.endpoint_uri,
                environment=instance.environment,
                first_seen=seen_at,
                last_seen=seen_at,
            )
        )
        return None
    moved_from = None
    if row.version_pk != version.id:
        moved_from = session.scalars(
            select(VersionRow.version).where(VersionRow.id == row.version_pk)
        ).one()
        row.version_pk = version.id
    row.endpoint_uri = instance.endpoint_uri
    row.environment = instance.environment
    row.last_seen = max(row.last_seen, seen_at)
    return moved_from


def _is_retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _name(draft: AssetDraft) -> str:
    return f"{draft.group_id}:{draft.asset_id}"


# -- reading -------------------------------------------------------------------


def _is_asset(group_id: str, asset_id: str) -> ColumnElement[bool]:
    return and_(AssetRow.group_id == group_id, AssetRow.asset_id == asset_id)


def _version_row(
    session: Session, group_id: str, asset_id: str, version: str, *options: ExecutableOption
) -> VersionRow:
    row = session.scalars(
        select(VersionRow)
        .join(AssetRow)
        .where(_is_asset(group_id, asset_id), VersionRow.version == version)
        .options(*options)
    ).first()
    if row is None:
        if (
            session.scalars(select(AssetRow.id).where(_is_asset(group_id, asset_id))).first()
            is None
        ):
            raise NotFound(group_id=group_id, asset_id=asset_id)
        raise NotFound(group_id=group_id, asset_id=asset_id, version=version)
    return row


def _latest_versions(
    session: Session, versions: Iterable[VersionRow]
) -> dict[tuple[str, str], str]:
    """Latest version of every asset that the given versions depend on."""
    wanted = sorted(
        {(dep.group_id, dep.asset_id) for version in versions for dep in version.dependencies}
    )
    found: dict[tuple[str, str], list[str]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.execute(
            select(AssetRow.group_id, AssetRow.asset_id, VersionRow.version)
            .join(VersionRow)
            .where(
                tuple_(AssetRow.group_id, AssetRow.asset_id).in_(wanted[start : start + _IN_CHUNK])
            )
        )
        for group_id, asset_id, version in rows:
            found.setdefault((group_id, asset_id), []).append(version)
    return {pair: cast(str, versioning.latest(versions)) for pair, versions in found.items()}


def _to_asset(row: AssetRow, latest: dict[tuple[str, str], str]) -> Asset:
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
        versions=tuple(_to_version(v, latest) for v in versions),
    )


def _to_version(row: VersionRow, latest: dict[tuple[str, str], str]) -> AssetVersion:
    instances = sorted(row.instances, key=lambda i: (i.cluster, i.namespace, i.service, i.port))
    dependencies = []
    for dep in sorted(row.dependencies, key=lambda d: (d.group_id, d.asset_id)):
        resolved = latest.get((dep.group_id, dep.asset_id))
        base = f"{dep.group_id}:{dep.asset_id}"
        dependencies.append(base if resolved is None else f"{base}:{resolved}")
    return AssetVersion(
        version=row.version,
        created_at=row.created_at,
        files=tuple(_to_file(f) for f in row.files),
        operations=tuple(op.operation for op in row.operations),
        instances=tuple(
            Instance(
                cluster=i.cluster,
                namespace=i.namespace,
                service=i.service,
                port=i.port,
                endpoint_uri=i.endpoint_uri,
                environment=i.environment,
            )
            for i in instances
        ),
        dependencies=tuple(dependencies),
        reason=row.reason,
        provenance=Provenance(method=row.provenance_method, detail=row.provenance_detail),
    )


def _to_file(row: FileRow) -> AssetFile:
    return AssetFile(
        classifier=cast(Classifier, row.classifier),
        packaging=cast(Packaging, row.packaging),
        content=row.content,
    )
