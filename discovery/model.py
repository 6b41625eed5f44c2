"""Domain values produced by discovery.

Everything here is a frozen dataclass: discovery reads the outside world once,
converts it into these values, and the later stages (graph, catalog) consume
them without ever touching Kubernetes or HTTP again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from discovery.mesh.model import MeshConfig
    from discovery.telemetry.analytics import ApiTraffic

ApiKind = Literal["rest", "soap", "http", "grpc", "graphql", "asyncapi"]
#: ``graphql`` (a schema, as SDL) and ``protobuf`` (a FileDescriptorSet) are
#: contracts read from the API itself (introspection, server reflection);
#: ``asyncapi`` describes an event-driven API (channels on a broker).
SpecFormat = Literal["openapi", "swagger", "wsdl", "graphql", "protobuf", "asyncapi"]
Packaging = Literal["json", "yaml", "wsdl", "xml", "graphql", "protobuf"]
#: How a port's traffic is understood, decided the way Istio decides it.
MeshProtocol = Literal[
    "http",
    "http2",
    "https",
    "grpc",
    "grpc-web",
    "tcp",
    "tls",
    "mongo",
    "redis",
    "mysql",
    "udp",
    "unknown",
]
EdgeOrigin = Literal["telemetry", "config", "both"]


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """Identity of a Service across clusters."""

    cluster: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.name}"

    @property
    def short(self) -> str:
        """``namespace/name``, the form people use inside one cluster."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Service, with the protocol the mesh will treat it as."""

    name: str
    port: int
    target_port: int | str | None
    protocol: str
    app_protocol: str | None
    mesh_protocol: MeshProtocol

    @property
    def http_capable(self) -> bool:
        """True when an HTTP probe makes sense on this port."""
        return self.mesh_protocol in ("http", "http2", "unknown", "grpc-web")


@dataclass(frozen=True, slots=True)
class Overrides:
    """What a Service's (or its Namespace's) annotations ask of discovery."""

    ignore: bool = False
    openapi_path: str | None = None
    wsdl_path: str | None = None
    #: Where the GraphQL schema (SDL or an introspection result) is served.
    graphql_schema_path: str | None = None
    port: str | None = None
    asset_id: str | None = None
    owner: str | None = None
    lifecycle: str | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    backstage_id: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A Kubernetes Service as discovery sees it."""

    key: ServiceKey
    type: str
    headless: bool
    cluster_ips: tuple[str, ...]
    external_name: str | None
    ports: tuple[ServicePort, ...]
    ready_addresses: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    overrides: Overrides = Overrides()
    selector: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: Path prefixes Istio routes to this Service (VirtualService ``uri.prefix``
    #: matches): where its API may be mounted.
    path_prefixes: tuple[str, ...] = ()

    @property
    def external(self) -> bool:
        return self.type == "ExternalName"


@dataclass(frozen=True, slots=True)
class ExternalHost:
    """A host outside the mesh, declared by a ServiceEntry (MESH_EXTERNAL)."""

    host: str
    ports: tuple[int, ...]
    namespace: str
    entry: str
    cluster: str


@dataclass(frozen=True, slots=True)
class ConfigRoute:
    """A route declared by Istio config: ``source`` sends traffic to ``target``.

    ``source`` is ``None`` when the VirtualService applies mesh-wide and the
    caller cannot be named from config alone.
    """

    source: ServiceKey | None
    target: ServiceKey | str
    via: str
    #: Share of the rule's traffic sent to ``target``, in percent (VirtualService
    #: ``weight``, HTTPRoute ``backendRefs[].weight`` normalised); None if not said.
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something discovery could not see or do, said plainly."""

    where: str
    what: str
    why: str


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of an API: an HTTP method + path, a SOAP operation, a
    GraphQL root field (``query users``) or a gRPC method (``rpc shop.Orders/Get``).

    ``streaming`` is set for gRPC methods that stream: ``client``, ``server``
    or ``bidi``. ``deprecated`` is the contract's own mark: OpenAPI's
    ``deprecated: true``, GraphQL's ``@deprecated``, protobuf's
    ``option deprecated = true``.
    """

    name: str
    method: str | None = None
    path: str | None = None
    soap_action: str | None = None
    summary: str | None = None
    streaming: str | None = None
    deprecated: bool = False


@dataclass(frozen=True, slots=True)
class SpecDocument:
    """A parsed (and validated) API description."""

    format: SpecFormat
    spec_version: str
    url: str
    packaging: Packaging
    title: str | None
    api_version: str | None
    description: str | None
    operations: tuple[Operation, ...]
    valid: bool
    errors: tuple[str, ...]
    content: bytes = field(repr=False, compare=False)
    base_path: str | None = None
    tags: tuple[str, ...] = ()
    soap_versions: tuple[str, ...] = ()
    #: What the validation outcome is known by (content digest, validator and its
    #: version), so a later run can reuse it; ``None`` when nothing was validated.
    check_key: str | None = field(default=None, compare=False)
    #: A readable rendering of a binary ``content`` (the ``.proto`` text of a
    #: FileDescriptorSet); ``None`` when ``content`` is readable itself.
    readable: bytes | None = field(default=None, repr=False, compare=False)
    #: The brokers an AsyncAPI document says it talks to (``kafka://host:9092``).
    servers: tuple[str, ...] = ()

    @property
    def operation_count(self) -> int:
        return len(self.operations)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation that supports a classification.

    ``check`` names what was tried (``fingerprint``, ``openapi``, ``wsdl``,
    ``graphql``, ``graphql-introspection``, ``graphql-schema``, ``soap-fault``,
    ``json``, ``http``, ``grpc-reflection``, ``grpc-descriptors``, ``grpc-status``,
    ``port-protocol``, ``annotation``); ``matched`` says in words what was seen.
    """

    check: str
    matched: str
    url: str | None = None
    status: int | None = None
    content_type: str | None = None

    def __str__(self) -> str:
        where = f" ({self.url} -> {self.status})" if self.url and self.status else ""
        return f"{self.check}: {self.matched}{where}"


@dataclass(frozen=True, slots=True)
class Api:
    """One API found on one port of one Service.

    ``confidence`` (0–1) says how sure the classification is: a valid API
    description or a reflection answer is certain; behaviour without a
    description less so; a port name alone least.
    """

    service: ServiceKey
    port: ServicePort
    kind: ApiKind
    base_url: str
    spec: SpecDocument | None
    evidence: tuple[Evidence, ...]
    requests: int
    confidence: float = 1.0
    grpc_services: tuple[str, ...] = ()
    #: The contract read from the API itself: a GraphQL schema (introspection or
    #: a served SDL) or a gRPC server's descriptors (reflection). Kept beside
    #: ``spec``, which holds only the report's description formats (OpenAPI,
    #: Swagger, WSDL).
    contract: SpecDocument | None = None


@dataclass(frozen=True, slots=True)
class Hint:
    """What the last crawl learnt about one port: where its description was
    (``path``, ``None`` for an API without one) and what kind of API it was.

    ``knowledge`` names the framework table an API without a description was
    searched with (:data:`discovery.frameworks.KNOWLEDGE`): with another table,
    "no description" is no longer a known fact and the port is searched again.
    """

    path: str | None
    kind: ApiKind
    knowledge: str | None = None


#: Hints by (cluster, namespace, service, port).
HintKey = tuple[str, str, str, int]


@dataclass(frozen=True, slots=True)
class ProbeSkip:
    """A port discovery chose not to probe, and why."""

    service: ServiceKey
    port: ServicePort | None
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceFindings:
    """What probing one Service produced."""

    service: Service
    apis: tuple[Api, ...]
    skipped: tuple[ProbeSkip, ...]
    requests: int
    problems: tuple[Problem, ...] = ()
    #: Ports (by number) that gave no answer in time: remembered as quiet.
    silent: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything read from the clusters' APIs in one run."""

    clusters: tuple[str, ...]
    services: tuple[Service, ...]
    external_hosts: tuple[ExternalHost, ...]
    routes: tuple[ConfigRoute, ...]
    problems: tuple[Problem, ...]
    ignored: tuple[ServiceKey, ...] = ()
    notes: tuple[str, ...] = ()
    requests: int = 0
    #: Mesh config beyond routes: exposure at ingress gateways, ambient mode and
    #: waypoints, DestinationRule subsets (:mod:`discovery.mesh`).
    mesh: MeshConfig = field(default_factory=lambda: _empty_mesh())


def _empty_mesh() -> MeshConfig:
    from discovery.mesh.model import MeshConfig

    return MeshConfig()


@dataclass(frozen=True, slots=True)
class Edge:
    """A dependency between two nodes (services or external hosts).

    Node names are strings: ``cluster/namespace/name`` for services, the host
    name for external hosts, ``unknown`` for callers without identity.
    """

    source: str
    target: str
    protocol: str
    origin: EdgeOrigin
    rps: float | None = None
    error_rate: float | None = None
    p95_ms: float | None = None
    #: Median and 99th-percentile latency (ms), from telemetry histograms.
    p50_ms: float | None = None
    p99_ms: float | None = None
    #: True when every observed request was mutual TLS, False when some were
    #: plaintext, None when the source cannot tell (source-reported, traces).
    mtls: bool | None = None
    #: Calling workloads seen in telemetry, ``namespace/workload``, sorted.
    workloads: tuple[str, ...] = ()
    #: TCP traffic, bytes per second both ways (``istio_tcp_*_bytes_total``).
    bytes_per_s: float | None = None
    #: ``passthrough`` or ``blackhole`` for egress Istio routed through
    #: ``PassthroughCluster`` / ``BlackHoleCluster``; None otherwise.
    egress: str | None = None
    #: Telemetry sources that reported the edge (``prometheus``, ``jaeger``…).
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, repr=False)
class Discovery:
    """The full output of one discovery run.

    Its repr is a summary: asyncio formats the result of a finished run's
    task more than once while restoring signal handlers, and a field-by-field
    repr of thousands of Services costs a second each time.
    """

    inventory: Inventory
    findings: tuple[ServiceFindings, ...]
    edges: tuple[Edge, ...]
    problems: tuple[Problem, ...]
    #: Seconds spent in each step (``inventory``, ``probe``...), for tuning.
    timings: Mapping[str, float] = field(default_factory=dict, hash=False, compare=False)
    #: Inbound traffic per Service from Istio's metrics (per-API analytics), by node id.
    traffic: tuple[ApiTraffic, ...] = ()

    @property
    def apis(self) -> tuple[Api, ...]:
        return tuple(api for f in self.findings for api in f.apis)

    def __repr__(self) -> str:
        return (
            f"Discovery(services={len(self.findings)}, edges={len(self.edges)},"
            f" problems={len(self.problems)})"
        )
