"""Build the service dependency graph from discovery's output.

The graph is a ``networkx.DiGraph`` whose node ids are the same strings
discovery uses in ``Edge.source`` and ``Edge.target``:

* ``cluster/namespace/name`` (``str(ServiceKey)``) for Kubernetes Services;
* the host name for hosts outside the mesh (ServiceEntry ``MESH_EXTERNAL``);
* ``unknown`` for callers the mesh could not identify (ingress traffic
  without a source workload, for instance);
* ``ingress:cluster/namespace/name`` for an ingress gateway (Gateway API or
  Istio ``Gateway``) whose routes send outside traffic to a Service: the
  config graph's caller of what it exposes, as ``unknown`` is telemetry's.

Every node carries the attributes of ``NodeAttributes`` and every edge those
of ``EdgeAttributes``; a value that is not known is ``None`` rather than
missing, so exports show every field on every element. The one exception is
an edge's ``weight``: only edges a route gives a share carry it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Literal, NotRequired, TypedDict

import networkx as nx

from discovery.mesh.model import Exposure, ServiceSubset
from discovery.model import (
    Api,
    ConfigRoute,
    Edge,
    EdgeOrigin,
    ExternalHost,
    Service,
    ServiceKey,
)
from discovery.telemetry.analytics import ApiTraffic
from graph.errors import BuildError, NodeNotFoundError

__all__ = [
    "INGRESS_PREFIX",
    "UNKNOWN_NODE",
    "ConsumerAttributes",
    "EdgeAttributes",
    "InboundAnalytics",
    "NodeAttributes",
    "NodeKind",
    "add_analytics",
    "build_graph",
    "consumers_of",
    "dependencies_of",
    "ingress_node",
]

#: Node id of callers without identity, as Istio telemetry reports them.
UNKNOWN_NODE = "unknown"

#: Node ids of ingress gateways start with this (``ingress:cluster/namespace/name``).
INGRESS_PREFIX = "ingress:"

NodeKind = Literal["service", "external", "unknown", "ingress"]


class NodeAttributes(TypedDict):
    """Attributes carried by every node of the graph."""

    kind: NodeKind
    cluster: str | None
    namespace: str | None
    name: str
    #: What people call the node: ``namespace/name`` or the host name.
    label: str
    #: Sorted, distinct API kinds found on the Service (``["grpc", "rest"]``).
    api_kinds: list[str]
    #: The Kubernetes Service type (``ClusterIP``, ``ExternalName``…).
    service_type: str | None
    #: The Service's versions as DestinationRule subsets name them (their
    #: ``version`` label, else the subset's name), sorted; only on Services
    #: that have subsets.
    versions: NotRequired[list[str]]
    #: What the Service received over the telemetry window, as its own side
    #: reported it; only on Services telemetry measured (never zeros for "unknown").
    analytics: NotRequired[InboundAnalytics]


class ConsumerAttributes(TypedDict):
    """One caller in a node's :class:`InboundAnalytics`."""

    source: str
    rps: float
    #: Its part of the node's requests (0 to 1).
    share: float
    error_rate: float


class InboundAnalytics(TypedDict):
    """A Service's inbound traffic over the window, all callers together."""

    rps: float
    #: 5xx and gRPC status other than 0, over all requests (0 to 1).
    error_rate: float
    #: 4xx over all requests (0 to 1).
    client_error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: The busiest callers, busiest first.
    consumers: list[ConsumerAttributes]


class EdgeAttributes(TypedDict):
    """Attributes carried by every edge of the graph."""

    protocol: str
    origin: EdgeOrigin
    rps: float | None
    error_rate: float | None
    p95_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    #: Mutual TLS as the destination's proxy saw it; None when unknown.
    mtls: bool | None
    #: Calling workloads (``namespace/workload``), sorted.
    workloads: list[str]
    #: TCP bytes per second, both directions.
    bytes_per_s: float | None
    #: ``passthrough`` / ``blackhole`` for egress through Istio's catch-all clusters.
    egress: str | None
    #: Telemetry sources that reported the edge.
    sources: list[str]
    #: Share of the route's traffic sent along the edge, in percent, as config
    #: declares it (VirtualService ``weight``, HTTPRoute ``backendRefs[].weight``
    #: normalised); absent when no route says.
    weight: NotRequired[int]


def build_graph(
    *,
    services: Sequence[Service],
    external_hosts: Sequence[ExternalHost],
    edges: Sequence[Edge],
    apis: Sequence[Api] = (),
    infrastructure: Collection[ServiceKey] = (),
    routes: Sequence[ConfigRoute] = (),
    exposures: Sequence[Exposure] = (),
    subsets: Sequence[ServiceSubset] = (),
    traffic: Sequence[ApiTraffic] = (),
) -> nx.DiGraph:
    """Build the dependency graph of one discovery run.

    Every Service and external host becomes a node, even one nothing calls.
    An edge that names a node outside the inventory still adds that node: an
    id without ``/`` is taken for an external host (telemetry reports
    passthrough traffic by host name), anything else is ``kind="unknown"``.

    When the same (source, target) pair arrives more than once, typically
    once from Istio config and once from telemetry, the edges merge into one:
    the origin becomes ``both`` when the origins differ, a protocol observed
    by telemetry wins over a declared one, and each metric keeps the first
    known value.

    Metrics that are not finite numbers (Prometheus answers ``NaN`` for 0/0
    and ``+Inf`` from ``histogram_quantile``) are stored as ``None``.

    Args:
        services: The Services of the inventory, in any order.
        external_hosts: Hosts declared outside the mesh. A host declared more
            than once (several clusters or namespaces) becomes one node, with
            the cluster and namespace of its first declaration.
        edges: Dependencies from config and telemetry.
        apis: APIs found by probing; they fill each Service's ``api_kinds``.
        infrastructure: Services of the mesh itself (ambient waypoints): not
            dependencies, so they are nodes only when an edge names them
            (telemetry asked to show the hops through waypoints).
        routes: The config routes the config edges came from; their weights
            go onto those edges (``weight``). A pair two routes name keeps the
            first stated weight.
        exposures: Where Services are reachable from outside; each gateway
            becomes an ``ingress`` node calling what it exposes (origin
            ``config``, weight from the route when it states one). Edges
            telemetry reports from a gateway's workload, when config names it
            (:attr:`~discovery.mesh.model.Exposure.workload`), are the
            ingress node's: one caller, origin ``both``.
        subsets: DestinationRule subsets; each Service node they name gets
            ``versions``.
        traffic: Per-Service inbound traffic from telemetry; each Service
            node it names gets ``analytics`` (see :func:`add_analytics`).

    Returns:
        A new directed graph.

    Raises:
        BuildError: A Service key appears twice, an API belongs to a Service
            that is not in ``services``, or an edge has an empty end.
    """
    api_kinds = _api_kinds_by_service(services, apis)
    graph = nx.DiGraph()
    hidden = set(infrastructure)
    named = {end for edge in edges for end in (edge.source, edge.target)}
    for service in services:
        node = str(service.key)
        if node in graph:
            raise BuildError(f"service {node} is listed more than once")
        if service.key in hidden and node not in named:
            continue
        graph.add_node(node, **_service_node(service, api_kinds.get(service.key, ())))
    for host in external_hosts:
        if host.host not in graph:
            graph.add_node(host.host, **_external_host_node(host))
    gateways = _gateway_workloads(exposures)
    _add_ingress_nodes(graph, exposures)
    for edge in edges:
        if edge.source in gateways or edge.target in gateways:
            # Telemetry names the gateway by its workload; config by the Gateway.
            edge = replace(
                edge,
                source=gateways.get(edge.source, edge.source),
                target=gateways.get(edge.target, edge.target),
            )
        _add_edge(graph, edge)
    _add_ingress(graph, exposures, routes)
    _add_weights(graph, routes)
    _add_versions(graph, subsets)
    add_analytics(graph, {t.node: _inbound(t) for t in traffic})
    return graph


def add_analytics(graph: nx.DiGraph, measured: Mapping[str, InboundAnalytics]) -> None:
    """Put each measured Service's inbound traffic on its node (``analytics``).

    Nodes that are not Services of the graph are left alone, and so are the
    Services nothing measured: they get no ``analytics`` rather than zeros.
    """
    for node, analytics in measured.items():
        if node in graph and graph.nodes[node]["kind"] == "service":
            graph.nodes[node]["analytics"] = analytics


def _inbound(traffic: ApiTraffic) -> InboundAnalytics:
    return InboundAnalytics(
        rps=max(0.0, traffic.rps),
        error_rate=_share(traffic.error_rate),
        client_error_rate=_share(traffic.client_error_rate),
        p50_ms=_metric(traffic.p50_ms),
        p95_ms=_metric(traffic.p95_ms),
        p99_ms=_metric(traffic.p99_ms),
        consumers=[
            ConsumerAttributes(
                source=c.node,
                rps=max(0.0, c.rps),
                share=_share(c.share),
                error_rate=_share(c.error_rate),
            )
            for c in traffic.consumers
        ],
    )


def _share(value: float) -> float:
    """Clamped to [0, 1]: sums of separately scraped rates can overshoot by rounding."""
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0


def _add_versions(graph: nx.DiGraph, subsets: Iterable[ServiceSubset]) -> None:
    versions: dict[str, set[str]] = {}
    for subset in subsets:
        versions.setdefault(str(subset.service), set()).add(subset.version or subset.name)
    for node, named in versions.items():
        if node in graph and graph.nodes[node]["kind"] == "service":
            graph.nodes[node]["versions"] = sorted(named)


def ingress_node(cluster: str, gateway: str) -> str:
    """The node id of ingress gateway ``gateway`` (``namespace/name``) of ``cluster``."""
    return f"{INGRESS_PREFIX}{cluster}/{gateway}"


def _gateway_workloads(exposures: Iterable[Exposure]) -> dict[str, str]:
    """Telemetry's node id of each gateway workload config names -> its ingress node."""
    return {
        f"{e.service.cluster}/{e.workload}": ingress_node(e.service.cluster, e.gateway)
        for e in exposures
        if e.workload is not None
    }


def _add_ingress_nodes(graph: nx.DiGraph, exposures: Iterable[Exposure]) -> None:
    for exposure in exposures:
        cluster = exposure.service.cluster
        node = ingress_node(cluster, exposure.gateway)
        if node in graph:
            continue
        namespace, _, name = exposure.gateway.rpartition("/")
        graph.add_node(
            node,
            **NodeAttributes(
                kind="ingress",
                cluster=cluster,
                namespace=namespace or None,
                name=name,
                label=f"ingress {exposure.gateway}",
                api_kinds=[],
                service_type=None,
            ),
        )


def _add_ingress(
    graph: nx.DiGraph, exposures: Iterable[Exposure], routes: Sequence[ConfigRoute]
) -> None:
    # Ingress routes have no caller in config (source None); the gateway is it.
    shares = {
        (route.via, str(route.target)): route.weight for route in routes if route.source is None
    }
    for exposure in exposures:
        node = ingress_node(exposure.service.cluster, exposure.gateway)
        target = str(exposure.service)
        edge = Edge(node, target, _ingress_protocol(exposure.protocol), "config")
        _add_edge(graph, edge)
        weight = shares.get((exposure.route, target))
        if weight is not None:
            graph.edges[node, target].setdefault("weight", weight)


def _ingress_protocol(listener: str) -> str:
    """The edge protocol of a gateway listener's (``HTTPS`` terminates TLS: ``http``)."""
    protocol = listener.lower()
    if protocol in ("http", "https", "http2"):
        return "http"
    if protocol in ("grpc", "tcp", "tls"):
        return protocol
    return "unknown"


def _add_weights(graph: nx.DiGraph, routes: Iterable[ConfigRoute]) -> None:
    for route in routes:
        if route.source is None or route.weight is None:
            continue
        pair = (str(route.source), str(route.target))
        if not graph.has_edge(*pair):
            continue
        attributes = graph.edges[pair]
        if attributes["origin"] != "telemetry":
            attributes.setdefault("weight", route.weight)


def dependencies_of(graph: nx.DiGraph, node: str) -> list[str]:
    """Return what ``node`` calls directly, sorted.

    Raises:
        NodeNotFoundError: ``node`` is not in the graph.
    """
    _require_node(graph, node)
    return sorted(graph.successors(node))


def consumers_of(graph: nx.DiGraph, node: str) -> list[str]:
    """Return what calls ``node`` directly, sorted.

    Raises:
        NodeNotFoundError: ``node`` is not in the graph.
    """
    _require_node(graph, node)
    return sorted(graph.predecessors(node))


def _require_node(graph: nx.DiGraph, node: str) -> None:
    if node not in graph:
        raise NodeNotFoundError(node)


def _api_kinds_by_service(
    services: Iterable[Service], apis: Iterable[Api]
) -> dict[ServiceKey, set[str]]:
    known = {service.key for service in services}
    kinds: dict[ServiceKey, set[str]] = {}
    for api in apis:
        if api.service not in known:
            raise BuildError(f"API {api.base_url} belongs to {api.service}, which is not listed")
        kinds.setdefault(api.service, set()).add(api.kind)
    return kinds


def _service_node(service: Service, api_kinds: Iterable[str]) -> NodeAttributes:
    key = service.key
    return NodeAttributes(
        kind="service",
        cluster=key.cluster,
        namespace=key.namespace,
        name=key.name,
        label=key.short,
        api_kinds=sorted(api_kinds),
        service_type=service.type,
    )


def _external_host_node(host: ExternalHost) -> NodeAttributes:
    return NodeAttributes(
        kind="external",
        cluster=host.cluster,
        namespace=host.namespace,
        name=host.host,
        label=host.host,
        api_kinds=[],
        service_type=None,
    )


def _mentioned_node(node: str) -> NodeAttributes:
    """Describe a node known only because an edge names it."""
    parts = node.split("/")
    if node != UNKNOWN_NODE and len(parts) == 1:
        # Telemetry names passthrough destinations by host.
        return NodeAttributes(
            kind="external",
            cluster=None,
            namespace=None,
            name=node,
            label=node,
            api_kinds=[],
            service_type=None,
        )
    if len(parts) == 3 and all(parts):
        cluster, namespace, name = parts
        return NodeAttributes(
            kind="unknown",
            cluster=cluster,
            namespace=namespace,
            name=name,
            label=f"{namespace}/{name}",
            api_kinds=[],
            service_type=None,
        )
    return NodeAttributes(
        kind="unknown",
        cluster=None,
        namespace=None,
        name=node,
        label=node,
        api_kinds=[],
        service_type=None,
    )


def _add_edge(graph: nx.DiGraph, edge: Edge) -> None:
    for end in (edge.source, edge.target):
        if not end:
            raise BuildError(f"edge {edge.source!r} -> {edge.target!r} has an empty end")
        if end not in graph:
            graph.add_node(end, **_mentioned_node(end))
    incoming = EdgeAttributes(
        protocol=edge.protocol,
        origin=edge.origin,
        rps=_metric(edge.rps),
        error_rate=_metric(edge.error_rate),
        p95_ms=_metric(edge.p95_ms),
        p50_ms=_metric(edge.p50_ms),
        p99_ms=_metric(edge.p99_ms),
        mtls=edge.mtls,
        workloads=sorted(edge.workloads),
        bytes_per_s=_metric(edge.bytes_per_s),
        egress=edge.egress,
        sources=list(edge.sources),
    )
    if graph.has_edge(edge.source, edge.target):
        # networkx hands back the edge's live attribute dict; update it in place.
        attributes = graph.edges[edge.source, edge.target]
        attributes.update(_merge(attributes, incoming))
    else:
        graph.add_edge(edge.source, edge.target, **incoming)


def _merge(current: EdgeAttributes, incoming: EdgeAttributes) -> EdgeAttributes:
    origin: EdgeOrigin = current["origin"] if current["origin"] == incoming["origin"] else "both"
    return EdgeAttributes(
        protocol=_merge_protocol(current, incoming),
        origin=origin,
        rps=_first_known(current["rps"], incoming["rps"]),
        error_rate=_first_known(current["error_rate"], incoming["error_rate"]),
        p95_ms=_first_known(current["p95_ms"], incoming["p95_ms"]),
        p50_ms=_first_known(current["p50_ms"], incoming["p50_ms"]),
        p99_ms=_first_known(current["p99_ms"], incoming["p99_ms"]),
        mtls=current["mtls"] if current["mtls"] is not None else incoming["mtls"],
        workloads=sorted(set(current["workloads"]) | set(incoming["workloads"])),
        bytes_per_s=_first_known(current["bytes_per_s"], incoming["bytes_per_s"]),
        egress=current["egress"] or incoming["egress"],
        sources=list(dict.fromkeys(current["sources"] + incoming["sources"])),
    )


def _merge_protocol(current: EdgeAttributes, incoming: EdgeAttributes) -> str:
    mine, theirs = current["protocol"], incoming["protocol"]
    if not _known_protocol(theirs):
        return mine
    if not _known_protocol(mine):
        return theirs
    # What the mesh saw on the wire beats what a VirtualService declares.
    if incoming["origin"] != "config" and current["origin"] == "config":
        return theirs
    return mine


def _known_protocol(protocol: str) -> bool:
    return bool(protocol) and protocol != "unknown"


def _first_known(current: float | None, incoming: float | None) -> float | None:
    return current if current is not None else incoming


def _metric(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
