"""The catalogue store: publish drafts, read assets and versions.

A publish is one transaction. It finds (or creates) the asset and locks its row,
matches the draft's content against the asset's versions, creates a version
only for unseen content, and points the draft's instance at the version it
serves. Concurrent publishers are kept apart by the database: unique
constraints catch a lost race, and the whole transaction is retried.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Final

from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from catalog.errors import CatalogError, InvalidAsset, NotFound, StoreError, VersionConflict
from catalog.graphmodel import RunGraph, RunGraphHeader
from catalog.model import (
    DEFAULT_DEPRECATE_AFTER,
    DEFAULT_STALE_AFTER,
    Asset,
    AssetDraft,
    AssetFile,
    AssetPage,
    AssetSummary,
    AssetVersion,
    PublishResult,
    QuietPort,
    RunCoverage,
    RunSummary,
    Sighting,
)
from catalog.publishing import publish, validation, versioning
from catalog.storage import engine as engine_setup
from catalog.storage import graphs, listing, migrate, probes, rows, runs
from catalog.storage.probes import PortKey, ServiceRef
from catalog.storage.schema import AssetRow, InstanceRow, VersionRow

__all__ = ["MAX_PAGE", "CatalogStore", "open_store"]

#: Most assets one :meth:`CatalogStore.search` page holds.
MAX_PAGE: Final = 200
# Assets read per statement by summaries(): keeps IN lists well under bind limits.
_SUMMARY_CHUNK: Final = 1000
#: Transactions tried per publish before giving up with VersionConflict.
PUBLISH_ATTEMPTS: Final = 5
# PostgreSQL serialization failure and deadlock: safe to retry from scratch.
_TRANSIENT_SQLSTATES: Final = frozenset({"40001", "40P01"})
# The file spec_file() prefers for each asset type.
_SPEC_CLASSIFIER: Final[dict[str, str]] = {
    "rest-api": "oas",
    "soap-api": "wsdl",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
    "async-api": "asyncapi",
}


def open_store(url: str) -> CatalogStore:
    """Open the catalogue at ``url``, creating or migrating its schema to the newest.

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
            foreign keys and a busy timeout installed (see :mod:`catalog.storage.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        engine_setup.prepare_engine(engine)
        self._engine = engine
        self._writer = engine.execution_options(**{engine_setup.WRITE_OPTION: True})
        self._owns_engine = False
        # SQLite searches look candidates up in the trigram table first.
        self._fts = engine.dialect.name == "sqlite"

    @property
    def engine(self) -> Engine:
        """The engine the store runs on."""
        return self._engine

    def create_schema(self) -> None:
        """Create the catalogue's tables, or migrate them to the newest revision.

        Safe to call from several processes at once (see :mod:`catalog.storage.migrate`).

        Raises:
            StoreError: The database refused or a migration failed.
        """
        migrate.upgrade(self._engine)

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

    def publish(
        self, draft: AssetDraft, *, seen_at: datetime, version: str | None = None
    ) -> PublishResult:
        """Record that ``draft``'s content was seen running at ``draft.instance``.

        Idempotent: publishing the same content again refreshes the instance and
        ``last_seen`` and creates nothing. New content becomes a new immutable
        version (numbered by :func:`catalog.publishing.versioning.choose_version`), and the
        instance moves to it. Asset-level fields follow the latest draft.

        Args:
            draft: What was found.
            seen_at: When it was found; timezone-aware.
            version: Publish exactly this version (an explicit GAV, as a CI job
                pushing a spec does) instead of letting the catalogue number it.

        Returns:
            The version the instance now points at and what happened.

        Raises:
            InvalidAsset: The draft or ``version`` is refused; nothing was written.
            VersionExists: ``version`` is taken, or this content already has a
                version; nothing was written.
            VersionConflict: Concurrent publishers won every retry.
            StoreError: The database failed; nothing was written.
        """
        validation.check_draft(draft)
        when = validation.check_seen_at(seen_at)
        if version is not None:
            validation.check_version("version", version)
        submission = publish.Submission(draft, _content_key(draft), version)
        last_error: DBAPIError | None = None
        for _ in range(PUBLISH_ATTEMPTS):
            try:
                with Session(self._writer) as session, session.begin():
                    return publish.record(session, [submission], seen_at=when)[0]
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

    def publish_many(
        self, drafts: Sequence[AssetDraft], *, seen_at: datetime, batch: int = 250
    ) -> list[PublishResult | CatalogError]:
        """Publish many drafts, ``batch`` to a transaction; results in draft order.

        The same rules as :meth:`publish`. A crawl publishes thousands of drafts,
        most of them unchanged; one transaction per draft made publishing the
        slowest step of a warm crawl. A batch that fails for any reason is rolled
        back whole and its drafts are published one by one instead, so a bad
        draft or a lost race costs only speed. Each entry is the draft's result,
        or the :class:`CatalogError` that refused it.
        """
        when = validation.check_seen_at(seen_at)
        results: list[PublishResult | CatalogError] = []
        for start in range(0, len(drafts), max(1, batch)):
            chunk = drafts[start : start + max(1, batch)]
            try:
                submissions = []
                for draft in chunk:
                    validation.check_draft(draft)
                    submissions.append(publish.Submission(draft, _content_key(draft)))
                with Session(self._writer) as session, session.begin():
                    done = publish.record(session, submissions, seen_at=when)
                results.extend(done)
            except (CatalogError, SQLAlchemyError):
                for draft in chunk:
                    try:
                        results.append(self.publish(draft, seen_at=when))
                    except CatalogError as exc:
                        results.append(exc)
        return results

    def record_run(
        self,
        *,
        group_id: str,
        seen: Collection[str],
        started_at: datetime,
        finished_at: datetime,
        complete: bool = True,
        deprecate_after: int = DEFAULT_DEPRECATE_AFTER,
        clusters: Collection[str] | None = None,
        namespaces: Collection[str] | None = None,
        coverage: RunCoverage | None = None,
        stale_after: int = DEFAULT_STALE_AFTER,
    ) -> RunSummary:
        """Record the end of a discovery run that published into ``group_id``.

        Assets the run saw have their miss count reset. Instances it did not
        see are judged Service by Service where ``coverage`` says the run could
        tell (their Service answered in full, or is gone from a namespace listed
        in full); an instance missed by ``stale_after`` such sightings in a row
        is stale. An asset whose instances are all missing or stale, one of
        them judged by this run, gets one more miss, and one missed by
        ``deprecate_after`` runs in a row moves to ``deprecated``. Nothing is
        deleted. See :mod:`catalog.storage.runs`.

        Args:
            group_id: The group the run published into.
            seen: Asset ids the run published (in any outcome).
            started_at: When the run started; timezone-aware. An instance
                published at or after it counts as seen by the run.
            finished_at: When it finished; timezone-aware.
            complete: Without ``coverage`` (an older crawler): False for a
                partial run, which then judges nothing; True judges every
                instance in the run's clusters and namespaces. Ignored with a
                coverage.
            deprecate_after: Missed runs in a row before an asset is deprecated.
            clusters: Clusters the run covered; None for all.
            namespaces: Namespaces the run covered; None for all.
            coverage: What the run could tell, Service by Service.
            stale_after: Missed sightings in a row before an instance is stale.

        Raises:
            InvalidAsset: An argument is refused; nothing was written.
            StoreError: The database failed; nothing was written.
        """
        validation.check_id("group_id", group_id)
        if isinstance(seen, str):
            raise InvalidAsset("seen", "must be a collection of asset ids, not a string")
        seen_ids = [validation.check_id(f"seen[{i}]", a) for i, a in enumerate(seen)]
        start = validation.check_seen_at(started_at)
        end = validation.check_seen_at(finished_at)
        for name, value in (("deprecate_after", deprecate_after), ("stale_after", stale_after)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidAsset(name, f"{value!r} must be an integer")
            if value < 1:
                raise InvalidAsset(name, f"{value} must be at least 1")
        if coverage is not None:
            _check_coverage(coverage)
        with self._session(write=True) as session:
            return runs.record(
                session,
                group_id=group_id,
                seen=seen_ids,
                started_at=start,
                finished_at=end,
                complete=bool(complete),
                deprecate_after=deprecate_after,
                clusters=None if clusters is None else frozenset(clusters),
                namespaces=None if namespaces is None else frozenset(namespaces),
                coverage=coverage,
                stale_after=stale_after,
            )

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
                select(AssetRow).where(rows.is_asset(group_id, asset_id)).with_for_update()
            ).first()
            if row is None:
                raise NotFound(group_id=group_id, asset_id=asset_id)
            if not validation.lifecycle_move_allowed(row.lifecycle, target):
                raise InvalidAsset(
                    "status", f"{group_id}:{asset_id} cannot move from {row.lifecycle} to {target}"
                )
            row.lifecycle = target
            # A person decided: a returning API must not undo it.
            row.lifecycle_before_missing = None
        return self.get(group_id, asset_id)

    # -- reading ---------------------------------------------------------------

    def ping(self) -> None:
        """Check that the database answers (for readiness probes).

        Raises:
            StoreError: It does not.
        """
        with self._session() as session:
            session.execute(select(1))

    def sightings(self, *, clusters: Collection[str] | None = None) -> list[Sighting]:
        """Where every known instance's API was found, without loading any file.

        Args:
            clusters: Only instances in these clusters (all when None).

        Raises:
            StoreError: The database failed.
        """
        query = (
            select(
                InstanceRow.cluster,
                InstanceRow.namespace,
                InstanceRow.service,
                InstanceRow.port,
                AssetRow.type,
                VersionRow.provenance_method,
                VersionRow.provenance_detail,
            )
            .join(VersionRow, VersionRow.id == InstanceRow.version_pk)
            .join(AssetRow, AssetRow.id == VersionRow.asset_pk)
        )
        if clusters is not None:
            query = query.where(InstanceRow.cluster.in_(sorted(clusters)))
        with self._session() as session:
            return [Sighting(*row) for row in session.execute(query)]

    def quiet_ports(self, *, clusters: Collection[str] | None = None) -> list[QuietPort]:
        """Ports that were silent when last probed (see :mod:`catalog.storage.probes`).

        Args:
            clusters: Only ports in these clusters (all when None).

        Raises:
            StoreError: The database failed.
        """
        with self._session() as session:
            return probes.quiet_ports(session, clusters=clusters)

    def spec_checks(self) -> dict[str, tuple[str, ...]]:
        """Validation outcomes by check key (see :mod:`catalog.storage.probes`).

        Raises:
            StoreError: The database failed.
        """
        with self._session() as session:
            return probes.spec_checks(session)

    def record_probes(
        self,
        *,
        probed: Collection[ServiceRef],
        silent: Collection[PortKey],
        short: Collection[PortKey],
        checks: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> None:
        """Keep one crawl's probing lessons, in one transaction (see :mod:`catalog.storage.probes`).

        Args:
            probed: (cluster, namespace, service) of every Service the crawl probed.
            silent: (cluster, namespace, service, port) of the ports that stayed silent.
            short: Those of ``silent`` that had only the short deadline.
            checks: Validation outcomes (error messages) by check key.
            at: When; timezone-aware.

        Raises:
            InvalidAsset: ``at`` is not timezone-aware, or a name, port or check
                key is malformed; nothing was written.
            StoreError: The database failed; nothing was written.
        """
        when = validation.check_seen_at(at)
        validation.check_lessons(probed=probed, silent=[*silent, *short], checks=checks)
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                with Session(self._writer) as session, session.begin():
                    probes.record(
                        session, probed=probed, silent=silent, short=short, checks=checks, at=when
                    )
                return
            except DBAPIError as exc:
                # Concurrent crawls' upserts can collide (a PostgreSQL deadlock): again.
                if not _is_retryable(exc) or attempt == PUBLISH_ATTEMPTS:
                    raise StoreError(f"recording probe lessons failed: {exc}") from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"recording probe lessons failed: {exc}") from exc

    def get(self, group_id: str, asset_id: str) -> Asset:
        """Read one asset with all its versions.

        Raises:
            NotFound: No such asset.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = session.scalars(
                select(AssetRow).where(rows.is_asset(group_id, asset_id)).options(*rows.FULL_ASSET)
            ).first()
            if row is None:
                raise NotFound(group_id=group_id, asset_id=asset_id)
            return rows.to_asset(row, rows.latest_versions(session, row.versions))

    def describe(
        self,
        group_id: str,
        asset_id: str,
        *,
        version: str | None = None,
        every: bool = False,
    ) -> listing.Described:
        """One asset as a listing shows it (no file bytes), with versions in full.

        The read behind the REST API's asset routes: a few indexed statements
        through SQLAlchemy Core, no ORM objects.

        Args:
            version: Include this version (by default only the latest).
            every: Include every version, in ascending precedence.

        Raises:
            NotFound: No such asset, or no such ``version`` of it.
            StoreError: The database failed.
        """
        with self._reading() as connection:
            return listing.describe(connection, group_id, asset_id, version=version, every=every)

    def file(
        self,
        group_id: str,
        asset_id: str,
        *,
        version: str,
        classifier: str | None = None,
        packaging: str | None = None,
    ) -> AssetFile | None:
        """One file of a version with its bytes; the first file when no kind is given.

        Returns:
            The file, or None when the version has no such file.

        Raises:
            NotFound: No such asset or version.
            StoreError: The database failed.
        """
        with self._reading() as connection:
            return listing.file(
                connection,
                group_id,
                asset_id,
                version=version,
                classifier=classifier,
                packaging=packaging,
            )

    def list_assets(
        self,
        *,
        type: str | None = None,
        query: str | None = None,
        lifecycle: str | None = None,
        group_id: str | None = None,
        namespace: str | None = None,
        cluster: str | None = None,
    ) -> list[Asset]:
        """List assets, ordered by group and asset id.

        Args:
            type: Only assets of this type.
            query: Case-insensitive substring of the name, asset id,
                description, a tag, or an operation of any version
                (``GET /orders``, ``/orders``, ``CreateInvoice``); blank means
                no filter.
            lifecycle: Only assets in this lifecycle status.
            group_id: Only assets of this group.
            namespace: Only assets with an instance in this namespace.
            cluster: Only assets with an instance in this cluster.

        Raises:
            InvalidAsset: ``type`` or ``lifecycle`` is not a known value.
            StoreError: The database failed.
        """
        where = listing.filters(
            type=type,
            query=query,
            lifecycle=lifecycle,
            group_id=group_id,
            namespace=namespace,
            cluster=cluster,
            fts=self._fts,
        )
        return self._load(where)

    def search(
        self,
        *,
        query: str | None = None,
        type: str | None = None,
        lifecycle: str | None = None,
        group_id: str | None = None,
        namespace: str | None = None,
        cluster: str | None = None,
        offset: int = 0,
        limit: int = 20,
        words: Sequence[str] = (),
    ) -> AssetPage:
        """One page of :meth:`list_assets`' results, as summaries, with the total count.

        A page holds :class:`~catalog.model.AssetSummary` values: what a listing
        shows, without any file's bytes (:meth:`get` reads an asset in full).

        Args:
            offset: Assets to skip; at least 0.
            limit: Assets per page, 1 to :data:`MAX_PAGE`.
            words: Each must be found as ``query`` is (every word of a search box).

        Raises:
            InvalidAsset: A filter or the paging is refused.
            StoreError: The database failed.
        """
        for name, value, low, high in (
            ("offset", offset, 0, 2**63 - 1),  # past a 64-bit OFFSET the database fails
            ("limit", limit, 1, MAX_PAGE),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidAsset(name, f"{value!r} must be an integer")
            if value < low or (high is not None and value > high):
                bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise InvalidAsset(name, f"{value} must be {bounds}")
        where = listing.filters(
            type=type,
            query=query,
            lifecycle=lifecycle,
            group_id=group_id,
            namespace=namespace,
            cluster=cluster,
            words=words,
            fts=self._fts,
        )
        with self._reading() as connection:
            return listing.page(connection, where, offset=offset, limit=limit)

    def summaries(
        self,
        *,
        type: str | None = None,
        group_id: str | None = None,
        namespace: str | None = None,
    ) -> list[AssetSummary]:
        """Every matching asset as a listing shows it (no file bytes), by group and asset id.

        Raises:
            InvalidAsset: ``type`` is not a known value.
            StoreError: The database failed.
        """
        where = listing.filters(
            type=type,
            query=None,
            lifecycle=None,
            group_id=group_id,
            namespace=namespace,
            cluster=None,
            fts=self._fts,
        )
        found: list[AssetSummary] = []
        with self._reading() as connection:
            while True:
                chunk = listing.page(connection, where, offset=len(found), limit=_SUMMARY_CHUNK)
                found.extend(chunk.assets)
                if len(found) >= chunk.total or not chunk.assets:
                    return found

    def callers(self, group_id: str, asset_id: str) -> list[AssetSummary]:
        """Assets whose latest version calls this one, by group and asset id.

        Raises:
            StoreError: The database failed.
        """
        with self._reading() as connection:
            return listing.callers(connection, group_id, asset_id)

    def facets(self) -> tuple[list[str], list[str], list[str]]:
        """The asset types, lifecycle statuses and namespaces in the catalogue, sorted.

        Raises:
            StoreError: The database failed.
        """
        with self._reading() as connection:
            return listing.facets(connection)

    # -- run graphs (see catalog.storage.graphs) ------------------------------------

    def save_run_graph(self, graph: RunGraph, *, keep: int = graphs.DEFAULT_KEPT) -> RunGraphHeader:
        """Keep one run's service graph; its cluster keeps only its newest ``keep``.

        Raises:
            InvalidAsset: The graph is inconsistent or ``keep`` is out of range;
                nothing was written.
            StoreError: The database failed; nothing was written.
        """
        with self._session(write=True) as session:
            return graphs.save(session, graph, keep=keep)

    def run_graphs(self, *, cluster: str | None = None) -> list[RunGraphHeader]:
        """The kept run graphs (of ``cluster``, or of every cluster), newest first.

        Raises:
            StoreError: The database failed.
        """
        with self._session() as session:
            return graphs.headers(session, cluster=cluster)

    def run_graph(self, graph_id: int) -> RunGraph:
        """One kept run graph in full.

        Raises:
            NotFound: No such graph is kept.
            StoreError: The database failed.
        """
        with self._session() as session:
            return graphs.load(session, graph_id)

    def _load(self, where: Sequence[ColumnElement[bool]]) -> list[Asset]:
        stmt = (
            select(AssetRow)
            .options(*rows.FULL_ASSET)
            .where(*where)
            .order_by(AssetRow.group_id, AssetRow.asset_id)
        )
        with self._session() as session:
            found = session.scalars(stmt).all()
            latest = rows.latest_versions(session, (v for row in found for v in row.versions))
            return [rows.to_asset(row, latest) for row in found]

    def get_version(self, group_id: str, asset_id: str, *, version: str) -> AssetVersion:
        """Read one version of an asset.

        Raises:
            NotFound: No such asset or version.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = rows.version_row(session, group_id, asset_id, version, *rows.VERSION_DETAIL)
            return rows.to_version(row, rows.latest_versions(session, [row]))

    def spec_file(self, group_id: str, asset_id: str, *, version: str) -> AssetFile | None:
        """The main file of a version: the first whose classifier fits its type.

        Falls back to the version's first file, or None for a spec-less version.

        Raises:
            NotFound: No such asset or version.
            StoreError: The database failed.
        """
        with self._session() as session:
            row = rows.version_row(session, group_id, asset_id, version)
            if not row.files:
                return None
            wanted = _SPEC_CLASSIFIER.get(row.type)
            chosen = next((f for f in row.files if f.classifier == wanted), row.files[0])
            return rows.to_file(chosen)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        # One transaction, so the statements of a read see one snapshot.
        try:
            with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"catalogue database failed: {exc}") from exc

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        try:
            with Session(self._writer if write else self._engine) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"catalogue database failed: {exc}") from exc


def _is_retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _name(draft: AssetDraft) -> str:
    return f"{draft.group_id}:{draft.asset_id}"


def _content_key(draft: AssetDraft) -> str:
    return versioning.content_key(
        asset_type=draft.type,
        file_digests=[file.sha256 for file in draft.files],
        operations=draft.operations,
    )


def _check_coverage(coverage: object) -> None:
    """Refuse a run coverage whose names are not names (see :class:`RunCoverage`)."""
    if not isinstance(coverage, RunCoverage):
        raise InvalidAsset("coverage", f"must be a RunCoverage, not {type(coverage).__name__}")
    if not isinstance(coverage.listed, bool):
        raise InvalidAsset("coverage.listed", "must be true or false")
    named: list[tuple[str, object]] = []
    for part in ("answered", "unsure", "unlisted"):
        for index, ref in enumerate(getattr(coverage, part)):
            if not isinstance(ref, tuple) or len(ref) != (2 if part == "unlisted" else 3):
                raise InvalidAsset(f"coverage.{part}[{index}]", f"{ref!r:.80} is not a place")
            named.extend((f"coverage.{part}[{index}]", name) for name in ref)
    named.extend((f"coverage.excluded[{i}]", n) for i, n in enumerate(coverage.excluded))
    for field, name in named:
        if not isinstance(name, str) or not name.strip() or "\x00" in name or len(name) > 1024:
            raise InvalidAsset(field, f"{name!r:.80} must be a non-empty name without NUL")
