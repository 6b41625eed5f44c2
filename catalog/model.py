"""Values the catalogue takes in and hands out.

The catalogue has its own input type, :class:`AssetDraft`, rather than reading
discovery's models: the composition root maps what discovery found into drafts,
which keeps the layering one-way and lets other publishers (a CI job pushing a
spec, an import) use the same door.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

__all__ = [
    "ASSET_TYPES",
    "CLASSIFIERS",
    "DEFAULT_DEPRECATE_AFTER",
    "DEFAULT_LIFECYCLE",
    "DEFAULT_STALE_AFTER",
    "LIFECYCLES",
    "LIFECYCLE_MOVES",
    "PACKAGINGS",
    "Asset",
    "AssetDraft",
    "AssetFile",
    "AssetPage",
    "AssetSummary",
    "AssetType",
    "AssetVersion",
    "Classifier",
    "FileSummary",
    "EXPOSURE_SOURCES",
    "ExposureSource",
    "Instance",
    "InstanceExposure",
    "InstanceRef",
    "InstanceSubset",
    "Lifecycle",
    "Packaging",
    "Provenance",
    "PublishOutcome",
    "PublishResult",
    "RunCoverage",
    "RunSummary",
    "VersionHeader",
    "VersionSummary",
]

AssetType = Literal["rest-api", "soap-api", "http-api", "grpc-api", "graphql-api", "async-api"]
Classifier = Literal["oas", "wsdl", "http", "grpc", "graphql", "asyncapi"]
#: ``graphql``: a GraphQL schema as SDL text; ``protobuf``: a serialized
#: ``google.protobuf.FileDescriptorSet``; ``proto``: ``.proto`` source text.
Packaging = Literal["json", "yaml", "wsdl", "xml", "graphql", "protobuf", "proto"]
Lifecycle = Literal["development", "stable", "deprecated"]
PublishOutcome = Literal["created", "new-version", "unchanged"]
#: Which API made the gateway: Kubernetes Gateway API, or Istio's own ``Gateway``.
ExposureSource = Literal["gateway-api", "istio"]
EXPOSURE_SOURCES: Final[frozenset[str]] = frozenset({"gateway-api", "istio"})

# Runtime copies of the Literals: drafts come from other code and annotations,
# so the catalogue checks them rather than trusting the type checker.
ASSET_TYPES: Final[frozenset[str]] = frozenset(
    {"rest-api", "soap-api", "http-api", "grpc-api", "graphql-api", "async-api"}
)
CLASSIFIERS: Final[frozenset[str]] = frozenset(
    {"oas", "wsdl", "http", "grpc", "graphql", "asyncapi"}
)
PACKAGINGS: Final[frozenset[str]] = frozenset(
    {"json", "yaml", "wsdl", "xml", "graphql", "protobuf", "proto"}
)
LIFECYCLES: Final[frozenset[str]] = frozenset({"development", "stable", "deprecated"})
DEFAULT_LIFECYCLE: Final[Lifecycle] = "development"
#: Runs in a row that must miss an asset before it is deprecated (see :mod:`catalog.storage.runs`).
DEFAULT_DEPRECATE_AFTER: Final = 3
#: Complete sightings of its Service in a row that must miss an instance before it is stale.
DEFAULT_STALE_AFTER: Final = 3
#: Allowed ``(from, to)`` lifecycle moves. Staying put is always allowed.
LIFECYCLE_MOVES: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("development", "stable"),
        ("development", "deprecated"),
        ("stable", "deprecated"),
        ("deprecated", "stable"),
    }
)


@dataclass(frozen=True, slots=True)
class AssetFile:
    """One file of an asset version: a spec, a WSDL, a schema.

    Attributes:
        classifier: What the file describes (``oas``, ``wsdl``...).
        packaging: How it is encoded (``json``, ``yaml``, ``wsdl``, ``xml``,
            ``graphql``, ``protobuf``, ``proto``).
        content: The bytes exactly as fetched; the catalogue never rewrites them.
    """

    classifier: Classifier
    packaging: Packaging
    content: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of ``content``; the file's identity."""
        return hashlib.sha256(self.content).hexdigest()

    def summary(self) -> FileSummary:
        """The file without its bytes."""
        return FileSummary(
            classifier=self.classifier,
            packaging=self.packaging,
            sha256=self.sha256,
            size=len(self.content),
        )


@dataclass(frozen=True, slots=True)
class FileSummary:
    """A file of a version without its bytes, as listings show it.

    Attributes:
        classifier: What the file describes.
        packaging: How it is encoded.
        sha256: Hex SHA-256 of the content.
        size: Length of the content in bytes.
    """

    classifier: Classifier
    packaging: Packaging
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class InstanceExposure:
    """One place outside the mesh an instance is reachable from: a gateway listener.

    Attributes:
        gateway: The gateway, ``namespace/name``.
        source: ``gateway-api`` (a ``gateway.networking.k8s.io`` Gateway) or
            ``istio`` (a ``networking.istio.io`` Gateway).
        host: The hostname clients use (``*`` for any).
        port: The listener's (or server's) port, None when config does not say.
        path: What the route matches on the path (a prefix unless
            ``path_match`` says ``exact`` or ``regex``); None for every path.
        path_match: ``prefix``, ``exact`` or ``regex``; None with ``path``.
        protocol: The listener's protocol (``HTTP``, ``HTTPS``, ``GRPC``...).
        route: The route that sends the traffic (``HTTPRoute ns/name``).
    """

    gateway: str
    source: ExposureSource
    host: str
    port: int | None = None
    path: str | None = None
    path_match: str | None = None
    protocol: str | None = None
    route: str | None = None

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.host}{port}{self.path or ''} via {self.gateway}"


@dataclass(frozen=True, slots=True)
class InstanceSubset:
    """A version of the instance's Service, as a DestinationRule subset names it.

    Attributes:
        name: The subset's name (``v1``, ``canary``).
        version: Its ``version`` label, the usual way versions are told apart;
            None when it selects by other labels.
        rule: The DestinationRule (``DestinationRule ns/name``).
    """

    name: str
    version: str | None = None
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """Where a version runs: one port of one Service in one cluster.

    ``cluster``, ``namespace``, ``service`` and ``port`` identify the instance;
    ``endpoint_uri`` and ``environment`` are refreshed on every publish.

    ``last_seen`` and ``stale`` are what the catalogue knows of it, filled in
    by the reads that list instances (None in a draft, and where a read does
    not carry them). An instance is stale when runs that read its Service
    completely stopped seeing it (see :mod:`catalog.storage.runs`); it is kept, and is
    no longer stale once it is published again. Neither takes part in
    equality: two reads of one instance at different times are equal.

    ``exposure`` is where the instance is reachable from outside the mesh,
    refreshed on every publish; empty means mesh-internal. It describes the
    instance's surroundings, not the instance, so it takes no part in
    equality either. ``subsets`` are the versions of its Service that
    DestinationRule subsets name, refreshed the same way.
    """

    cluster: str
    namespace: str
    service: str
    port: int
    endpoint_uri: str
    environment: str | None = None
    last_seen: datetime | None = field(default=None, compare=False)
    stale: bool | None = field(default=None, compare=False)
    exposure: tuple[InstanceExposure, ...] = field(default=(), compare=False)
    subsets: tuple[InstanceSubset, ...] = field(default=(), compare=False)

    @property
    def mesh_internal(self) -> bool:
        """No gateway routes outside traffic to it."""
        return not self.exposure


@dataclass(frozen=True, slots=True)
class Provenance:
    """How the API was found.

    Attributes:
        method: ``annotation``, ``probe``, ``convention``, ``telemetry``,
            ``port-protocol``...
        detail: Evidence for a person, e.g. the URL the spec was fetched from.
    """

    method: str
    detail: str


@dataclass(frozen=True, slots=True)
class AssetDraft:
    """What a publisher hands to the catalogue for one API of one Service.

    Attributes:
        group_id: Exchange-style group (lowercase letters, digits, dots, dashes).
        asset_id: Asset within the group, same alphabet.
        name: Display name.
        type: Asset type.
        description: Free text, or None.
        spec_version_hint: The spec's own version (``info.version``); used as the
            catalogue version when it is semver and not yet published.
        files: The asset's files; may be empty (an API without a spec).
        operations: Operation signatures (``GET /orders/{id}``, SOAP operation
            names); they identify a spec-less asset's content and feed diffs.
        tags: Tags for search.
        owner: Owning team or person, or None.
        lifecycle: Lifecycle requested by the publisher (an annotation), or None
            to leave it to the catalogue.
        instance: Where this content was seen running.
        dependencies: ``group:asset`` of the assets this one calls.
        provenance: How the API was found.
    """

    group_id: str
    asset_id: str
    name: str
    type: AssetType
    description: str | None
    spec_version_hint: str | None
    files: tuple[AssetFile, ...]
    operations: tuple[str, ...]
    tags: tuple[str, ...]
    owner: str | None
    lifecycle: str | None
    instance: Instance
    dependencies: tuple[str, ...]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :meth:`catalog.CatalogStore.publish` did.

    Attributes:
        group_id: Group of the asset.
        asset_id: The asset.
        version: The version the draft's instance now points at.
        outcome: ``created`` (new asset), ``new-version`` or ``unchanged``.
        reason: Why this version, in words for a report.
    """

    group_id: str
    asset_id: str
    version: str
    outcome: PublishOutcome
    reason: str


@dataclass(frozen=True, slots=True)
class AssetVersion:
    """One immutable published version of an asset.

    Attributes:
        version: Semantic version.
        created_at: When the version was published (UTC).
        files: Files in the order they were published.
        operations: Operation signatures, sorted.
        instances: Instances currently serving this version.
        dependencies: ``group:asset:version`` of called assets, resolved to their
            latest version; ``group:asset`` where that asset is not catalogued.
        reason: Why this version number was chosen.
        provenance: How the content was found when the version was published.
    """

    version: str
    created_at: datetime
    files: tuple[AssetFile, ...]
    operations: tuple[str, ...]
    instances: tuple[Instance, ...]
    dependencies: tuple[str, ...]
    reason: str
    provenance: Provenance

    def summary(self) -> VersionSummary:
        """The version with its files' bytes left out."""
        return VersionSummary(
            version=self.version,
            created_at=self.created_at,
            files=tuple(file.summary() for file in self.files),
            operations=self.operations,
            instances=self.instances,
            dependencies=self.dependencies,
            reason=self.reason,
            provenance=self.provenance,
        )

    def header(self) -> VersionHeader:
        """The version's number, date and reason."""
        return VersionHeader(version=self.version, created_at=self.created_at, reason=self.reason)


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """An :class:`AssetVersion` whose files are :class:`FileSummary` (no bytes)."""

    version: str
    created_at: datetime
    files: tuple[FileSummary, ...]
    operations: tuple[str, ...]
    instances: tuple[Instance, ...]
    dependencies: tuple[str, ...]
    reason: str
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class VersionHeader:
    """A version's number, when it was published and why: a line of an asset's history."""

    version: str
    created_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Asset:
    """An API in the catalogue with all its versions.

    Attributes:
        group_id: Group.
        asset_id: Asset within the group.
        name: Display name (from the latest publish).
        type: Asset type (from the latest publish).
        description: Description (from the latest publish).
        owner: Owner (from the latest publish).
        lifecycle: Current lifecycle status.
        tags: Tags, sorted.
        first_seen: Earliest publish time (UTC).
        last_seen: Latest publish time (UTC).
        versions: Versions in ascending semver precedence; never empty.
    """

    group_id: str
    asset_id: str
    name: str
    type: AssetType
    description: str | None
    owner: str | None
    lifecycle: Lifecycle
    tags: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    versions: tuple[AssetVersion, ...]

    @property
    def latest(self) -> AssetVersion:
        """The version with the highest semver precedence."""
        return self.versions[-1]

    def summary(self) -> AssetSummary:
        """The asset as a search lists it (see :class:`AssetSummary`)."""
        return AssetSummary(
            group_id=self.group_id,
            asset_id=self.asset_id,
            name=self.name,
            type=self.type,
            description=self.description,
            owner=self.owner,
            lifecycle=self.lifecycle,
            tags=self.tags,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            versions=tuple(version.header() for version in self.versions),
            latest=self.latest.summary(),
        )


@dataclass(frozen=True, slots=True)
class AssetSummary:
    """An asset as a search lists it: no file bytes, and only the latest version in full.

    Loading every version's files made a search page cost as much as an
    export; a listing needs far less.

    Attributes:
        group_id: Group.
        asset_id: Asset within the group.
        name: Display name (from the latest publish).
        type: Asset type (from the latest publish).
        description: Description (from the latest publish).
        owner: Owner (from the latest publish).
        lifecycle: Current lifecycle status.
        tags: Tags, sorted.
        first_seen: Earliest publish time (UTC).
        last_seen: Latest publish time (UTC).
        versions: Every version's header, in ascending semver precedence.
        latest: The version with the highest precedence, without file bytes.
    """

    group_id: str
    asset_id: str
    name: str
    type: AssetType
    description: str | None
    owner: str | None
    lifecycle: Lifecycle
    tags: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    versions: tuple[VersionHeader, ...]
    latest: VersionSummary


@dataclass(frozen=True, slots=True)
class RunCoverage:
    """What one run could tell, Service by Service (see :mod:`catalog.storage.runs`).

    A Service is named ``(cluster, namespace, service)``.

    Attributes:
        answered: Services read completely that answered every probe: an
            instance of theirs the run did not see is missing.
        unsure: Services the run listed that had problems (a port that did not
            answer or was cut off by its budget, no ready endpoint, a draft not
            published): their instances count neither for nor against their
            assets.
        listed: Whether a Service absent from the run's listing is gone. False
            with a label selector, which lists only some Services.
        unlisted: ``(cluster, namespace)`` whose Services could not be listed:
            an absent Service there may still exist.
        excluded: Namespaces the run did not list (its exclusions), when it
            did not name its namespaces.
    """

    answered: frozenset[tuple[str, str, str]] = frozenset()
    unsure: frozenset[tuple[str, str, str]] = frozenset()
    listed: bool = True
    unlisted: frozenset[tuple[str, str]] = frozenset()
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, order=True)
class InstanceRef:
    """One instance of one asset: which asset, and where."""

    asset_id: str
    cluster: str
    namespace: str
    service: str
    port: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What :meth:`catalog.CatalogStore.record_run` concluded about one run.

    Attributes:
        run_id: The run's number in the catalogue.
        group_id: Group the run published into.
        counted: Whether the run could count anything it did not see (a
            partial run of the old kind, without a coverage, counts nothing).
        seen: Asset ids the run saw.
        missed: Asset ids the run judged missing.
        deprecated: Asset ids this run moved to ``deprecated`` for being missing.
        restored: Asset ids that came back after such a move, with their
            previous lifecycle restored.
        held: Asset ids with an instance where the run looked that it did not
            see but could not judge either (its Service had problems, or its
            namespace could not be listed): left as they were.
        stale: Instances this run found stale (not seen by enough complete
            sightings of their Service in a row).
    """

    run_id: int
    group_id: str
    counted: bool
    seen: tuple[str, ...]
    missed: tuple[str, ...]
    deprecated: tuple[str, ...]
    restored: tuple[str, ...]
    held: tuple[str, ...] = ()
    stale: tuple[InstanceRef, ...] = ()


@dataclass(frozen=True, slots=True)
class AssetPage:
    """One page of search results.

    Attributes:
        total: How many assets match, on every page.
        offset: Assets skipped before this page.
        limit: Most assets a page holds.
        assets: This page's assets, ordered by group and asset id.
    """

    total: int
    offset: int
    limit: int
    assets: tuple[AssetSummary, ...]


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where an instance's API was found last time, for a crawl to go straight there.

    ``detail`` is the version's provenance detail (the description's URL when
    it was probed); ``asset_type`` what the API was classified as.
    """

    cluster: str
    namespace: str
    service: str
    port: int
    asset_type: str
    method: str
    detail: str


@dataclass(frozen=True, slots=True)
class QuietPort:
    """A port that gave no answer in time when last probed, and since when.

    ``short_checks`` counts the crawls since then that re-checked it with the
    short deadline only (see :mod:`catalog.storage.probes`).
    """

    cluster: str
    namespace: str
    service: str
    port: int
    since: datetime
    short_checks: int = 0
