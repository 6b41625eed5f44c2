"""A run's service graph as the catalogue keeps it, and the views the portal draws.

A crawl publishes its service graph (:class:`RunGraph`) once per cluster and
run: every Service, unknown caller, external host and TCP service it saw, and
every call between them with the traffic the run's telemetry measured. The
catalogue keeps the last few per cluster (:mod:`catalog.storage.graphs`); the
portal picks one and draws a bounded view of it (:func:`mesh_view`,
:func:`namespace_view`): never the whole graph of thousands of Services, but
namespaces as nodes, or one namespace's Services with its neighbours.

The values are the catalogue's own: the composition root converts the
``graph`` package's networkx graph into them (``meshatlas.job.graphpublish``),
so the catalogue imports neither ``graph`` nor ``discovery``.

Health follows Kiali's default traffic-health tolerance (kiali.io, "Traffic
Health"): any failing request makes a node or an edge *degraded*, ten per
cent or more *failing*. The thresholds are data (:data:`DEGRADED`,
:data:`FAILING`) so the legend says what they are.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from catalog.errors import CatalogError, InvalidAsset, NotFound
from catalog.findings import RunFindings, findings_from_json, findings_json

__all__ = [
    "DEGRADED",
    "FAILING",
    "MAX_EDGES",
    "MAX_NODES",
    "NODE_KINDS",
    "ORIGINS",
    "VIEW_EDGES",
    "VIEW_NODES",
    "GraphEdge",
    "GraphNode",
    "GraphView",
    "NodeAnalytics",
    "NodeConsumer",
    "RunGraph",
    "RunGraphHeader",
    "RunGraphNotFound",
    "ViewEdge",
    "ViewNode",
    "check",
    "graph_from_json",
    "graph_json",
    "health",
    "mesh_view",
    "namespace_key",
    "namespace_view",
]

NodeKind = Literal["service", "tcp", "external", "unknown", "ingress"]
Origin = Literal["telemetry", "config", "both"]
Health = Literal["healthy", "degraded", "failing", "idle"]

NODE_KINDS: Final[frozenset[str]] = frozenset({"service", "tcp", "external", "unknown", "ingress"})
ORIGINS: Final[frozenset[str]] = frozenset({"telemetry", "config", "both"})
#: An error rate above this makes a node or edge degraded (Kiali: 5xx tolerance 0 %).
DEGRADED: Final = 0.0
#: An error rate at or above this makes it failing (Kiali: 5xx failure at 10 %).
FAILING: Final = 0.10
#: Most nodes and edges one stored graph may hold.
MAX_NODES: Final = 100_000
MAX_EDGES: Final = 400_000
#: Most nodes and edges one drawn view holds; the busiest are kept.
VIEW_NODES: Final = 250
VIEW_EDGES: Final = 1_200
_MAX_TEXT: Final = 512
_CONTROL: Final = re.compile(r"[\x00-\x1f]")
_ASSET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}:[a-z0-9][a-z0-9.-]{0,127}")


@dataclass(frozen=True, slots=True)
class NodeConsumer:
    """One caller of a node's API, with its share of the node's requests."""

    source: str
    rps: float
    share: float
    error_rate: float


@dataclass(frozen=True, slots=True)
class NodeAnalytics:
    """Inbound traffic of a Service over the run's telemetry window (per-API analytics).

    Attributes:
        rps: Requests per second.
        error_rate: 5xx and gRPC status other than 0, over all requests.
        client_error_rate: 4xx over all requests.
        p50_ms, p95_ms, p99_ms: Quantiles of the histogram summed over every caller.
        consumers: The busiest callers, busiest first.
    """

    rps: float
    error_rate: float
    client_error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    consumers: tuple[NodeConsumer, ...] = ()


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One node of a run's graph.

    Attributes:
        id: ``cluster/namespace/name`` for a Service, the host for an external
            host, ``unknown`` for callers the mesh could not identify.
        kind: ``service``, ``tcp`` (a Service reached only over TCP),
            ``external``, ``unknown`` (callers without identity) or
            ``ingress`` (an ingress gateway, ``ingress:cluster/namespace/name``).
        name: The Service's name or the host.
        namespace: Its namespace (None for unknown callers and undeclared hosts).
        cluster: Its cluster (None where not known).
        asset: ``group:asset`` of the API it serves, where catalogued.
        health: Error rate of its inbound traffic (0 to 1), None without any.
        analytics: Its inbound traffic as its own side reported it, where measured
            (graphs stored before analytics existed have none).
    """

    id: str
    kind: NodeKind
    name: str
    namespace: str | None = None
    cluster: str | None = None
    asset: str | None = None
    health: float | None = None
    analytics: NodeAnalytics | None = None


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """One call between two nodes, with what telemetry measured of it."""

    source: str
    target: str
    protocol: str
    origin: Origin
    rps: float | None = None
    error_rate: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True, slots=True)
class RunGraph:
    """The service graph one run saw in one cluster.

    Attributes:
        cluster: The cluster it was published for.
        taken_at: When (the end of the telemetry window, or the run's start).
        window: The telemetry window (``10m``); None when the run read no telemetry.
        nodes: Every node, ids unique.
        edges: Every edge, (source, target) unique, both ends among ``nodes``.
        run_id: The catalogue run it belongs to, where recorded.
        findings: The run's posture and drift findings in this cluster
            (:mod:`catalog.findings`); None for runs that handed in none.
    """

    cluster: str
    taken_at: datetime
    window: str | None
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    run_id: int | None = None
    findings: RunFindings | None = None

    def digest(self) -> str:
        """SHA-256 of the graph's JSON: equal graphs, equal digests (the portal's cache key)."""
        return hashlib.sha256(orjson.dumps(graph_json(self))).hexdigest()


@dataclass(frozen=True, slots=True)
class RunGraphHeader:
    """A stored graph without its nodes and edges."""

    id: int
    cluster: str
    taken_at: datetime
    window: str | None
    run_id: int | None
    node_count: int
    edge_count: int
    digest: str


class RunGraphNotFound(NotFound):
    """No run graph with that id, or of that cluster, is kept (a 404 like any NotFound)."""

    def __init__(self, message: str) -> None:
        # NotFound's own constructor names an asset; a graph is not one.
        CatalogError.__init__(self, message)
        self.group_id = ""
        self.asset_id = ""
        self.version = None


# -- JSON (the REST body and the stored form) ---------------------------------------


def graph_json(graph: RunGraph) -> dict[str, Any]:
    """The graph as the REST API and the store write it."""
    # Findings only when handed in: a graph without them keeps its old JSON and digest.
    findings = {} if graph.findings is None else {"findings": findings_json(graph.findings)}
    return findings | {
        "cluster": graph.cluster,
        "takenAt": graph.taken_at.isoformat(),
        "window": graph.window,
        "runId": graph.run_id,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "name": n.name,
                "namespace": n.namespace,
                "cluster": n.cluster,
                "asset": n.asset,
                "health": n.health,
                # Only where measured: graphs without analytics keep their JSON and digest.
                **({} if n.analytics is None else {"analytics": _analytics_json(n.analytics)}),
            }
            for n in graph.nodes
        ],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "protocol": e.protocol,
                "origin": e.origin,
                "rps": e.rps,
                "errorRate": e.error_rate,
                "p95Ms": e.p95_ms,
            }
            for e in graph.edges
        ],
    }


_GRAPH_FIELDS: Final = {"cluster", "takenAt", "window", "runId", "nodes", "edges", "findings"}
_NODE_FIELDS: Final = {
    "id",
    "kind",
    "name",
    "namespace",
    "cluster",
    "asset",
    "health",
    "analytics",
}
_ANALYTICS_FIELDS: Final = {
    "rps",
    "errorRate",
    "clientErrorRate",
    "p50Ms",
    "p95Ms",
    "p99Ms",
    "consumers",
}
_CONSUMER_FIELDS: Final = {"source", "rps", "share", "errorRate"}
#: Most consumers one node's analytics may list.
MAX_CONSUMERS: Final = 50
_EDGE_FIELDS: Final = {"source", "target", "protocol", "origin", "rps", "errorRate", "p95Ms"}


def graph_from_json(value: Any, *, extra: Iterable[str] = ()) -> RunGraph:
    """Read and check a graph (see :func:`graph_json`).

    Args:
        value: Parsed JSON.
        extra: Further top-level fields the caller reads itself (``keep``).

    Raises:
        InvalidAsset: A field is missing, unknown, of the wrong type or out of
            bounds, an id repeats, or an edge names a node that is not there.
    """
    body = _object("body", value, _GRAPH_FIELDS | set(extra))
    for name in ("cluster", "takenAt", "nodes", "edges"):
        if name not in body:
            raise InvalidAsset(name, "is required")
    cluster = _text("cluster", body["cluster"])
    taken = _text("takenAt", body["takenAt"])
    try:
        taken_at = datetime.fromisoformat(taken)
    except ValueError as exc:
        raise InvalidAsset("takenAt", f"{taken!r:.60} is not an ISO 8601 timestamp") from exc
    if taken_at.utcoffset() is None:
        raise InvalidAsset("takenAt", "must carry a time zone")
    window = _optional_text("window", body.get("window"))
    run_id = body.get("runId")
    if run_id is not None and (isinstance(run_id, bool) or not isinstance(run_id, int)):
        raise InvalidAsset("runId", "must be an integer or null")
    nodes = _list("nodes", body["nodes"], MAX_NODES)
    edges = _list("edges", body["edges"], MAX_EDGES)
    read_nodes = tuple(_node(f"nodes[{i}]", n) for i, n in enumerate(nodes))
    read_edges = tuple(_edge(f"edges[{i}]", e) for i, e in enumerate(edges))
    found = None if body.get("findings") is None else findings_from_json(body["findings"])
    graph = RunGraph(cluster, taken_at, window, read_nodes, read_edges, run_id, findings=found)
    check(graph)
    return graph


def check(graph: RunGraph) -> None:
    """Refuse a graph whose ids repeat or whose edges name missing nodes.

    Raises:
        InvalidAsset: Naming the first offending node or edge.
    """
    seen: set[str] = set()
    for index, node in enumerate(graph.nodes):
        if node.id in seen:
            raise InvalidAsset(f"nodes[{index}].id", f"{node.id!r:.80} appears twice")
        seen.add(node.id)
    pairs: set[tuple[str, str]] = set()
    for index, edge in enumerate(graph.edges):
        for end in ("source", "target"):
            if getattr(edge, end) not in seen:
                raise InvalidAsset(f"edges[{index}].{end}", "names no node of the graph")
        if (edge.source, edge.target) in pairs:
            raise InvalidAsset(f"edges[{index}]", "repeats an earlier edge")
        pairs.add((edge.source, edge.target))


def _node(where: str, value: Any) -> GraphNode:
    body = _object(where, value, _NODE_FIELDS)
    for name in ("id", "kind", "name"):
        if name not in body:
            raise InvalidAsset(f"{where}.{name}", "is required")
    kind = body["kind"]
    if kind not in NODE_KINDS:
        raise InvalidAsset(f"{where}.kind", f"must be one of {', '.join(sorted(NODE_KINDS))}")
    return GraphNode(
        id=_text(f"{where}.id", body["id"]),
        kind=kind,
        name=_text(f"{where}.name", body["name"]),
        namespace=_optional_text(f"{where}.namespace", body.get("namespace")),
        cluster=_optional_text(f"{where}.cluster", body.get("cluster")),
        asset=_asset(f"{where}.asset", body.get("asset")),
        health=_rate(f"{where}.health", body.get("health")),
        analytics=_analytics(f"{where}.analytics", body.get("analytics")),
    )


def _analytics_json(value: NodeAnalytics) -> dict[str, Any]:
    return {
        "rps": value.rps,
        "errorRate": value.error_rate,
        "clientErrorRate": value.client_error_rate,
        "p50Ms": value.p50_ms,
        "p95Ms": value.p95_ms,
        "p99Ms": value.p99_ms,
        "consumers": [
            {"source": c.source, "rps": c.rps, "share": c.share, "errorRate": c.error_rate}
            for c in value.consumers
        ],
    }


def _analytics(where: str, value: Any) -> NodeAnalytics | None:
    if value is None:
        return None
    body = _object(where, value, _ANALYTICS_FIELDS)
    for name in ("rps", "errorRate", "clientErrorRate"):
        if body.get(name) is None:
            raise InvalidAsset(f"{where}.{name}", "is required")
    consumers = _list(f"{where}.consumers", body.get("consumers", []), MAX_CONSUMERS)
    read = []
    for index, raw in enumerate(consumers):
        at = f"{where}.consumers[{index}]"
        entry = _object(at, raw, _CONSUMER_FIELDS)
        for name in _CONSUMER_FIELDS:
            if entry.get(name) is None:
                raise InvalidAsset(f"{at}.{name}", "is required")
        read.append(
            NodeConsumer(
                source=_text(f"{at}.source", entry["source"]),
                rps=_amount(f"{at}.rps", entry["rps"]) or 0.0,
                share=_rate(f"{at}.share", entry["share"]) or 0.0,
                error_rate=_rate(f"{at}.errorRate", entry["errorRate"]) or 0.0,
            )
        )
    return NodeAnalytics(
        rps=_amount(f"{where}.rps", body["rps"]) or 0.0,
        error_rate=_rate(f"{where}.errorRate", body["errorRate"]) or 0.0,
        client_error_rate=_rate(f"{where}.clientErrorRate", body["clientErrorRate"]) or 0.0,
        p50_ms=_amount(f"{where}.p50Ms", body.get("p50Ms")),
        p95_ms=_amount(f"{where}.p95Ms", body.get("p95Ms")),
        p99_ms=_amount(f"{where}.p99Ms", body.get("p99Ms")),
        consumers=tuple(read),
    )


def _edge(where: str, value: Any) -> GraphEdge:
    body = _object(where, value, _EDGE_FIELDS)
    for name in ("source", "target", "protocol", "origin"):
        if name not in body:
            raise InvalidAsset(f"{where}.{name}", "is required")
    origin = body["origin"]
    if origin not in ORIGINS:
        raise InvalidAsset(f"{where}.origin", f"must be one of {', '.join(sorted(ORIGINS))}")
    return GraphEdge(
        source=_text(f"{where}.source", body["source"]),
        target=_text(f"{where}.target", body["target"]),
        protocol=_text(f"{where}.protocol", body["protocol"]),
        origin=origin,
        rps=_amount(f"{where}.rps", body.get("rps")),
        error_rate=_rate(f"{where}.errorRate", body.get("errorRate")),
        p95_ms=_amount(f"{where}.p95Ms", body.get("p95Ms")),
    )


def _object(where: str, value: Any, fields: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidAsset(where, "must be a JSON object")
    unknown = sorted(set(value) - fields)
    if unknown:
        prefix = "" if where == "body" else f"{where}."
        raise InvalidAsset(f"{prefix}{unknown[0]}", "is not a known field")
    return value


def _list(where: str, value: Any, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidAsset(where, "must be a JSON array")
    if len(value) > most:
        raise InvalidAsset(where, f"holds {len(value)} entries; at most {most} are kept")
    return value


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAsset(where, "must be a non-empty string")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise InvalidAsset(where, f"must be at most {_MAX_TEXT} printable characters")
    return value


def _asset(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ASSET.fullmatch(value):
        raise InvalidAsset(where, "must be group:asset, each [a-z0-9.-] (128 at most)")
    return value


def _optional_text(where: str, value: Any) -> str | None:
    return None if value is None else _text(where, value)


def _amount(where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAsset(where, "must be a number or null")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidAsset(where, "must be a finite number, zero or more")
    return number


def _rate(where: str, value: Any) -> float | None:
    number = _amount(where, value)
    if number is not None and number > 1:
        raise InvalidAsset(where, "is a fraction: 0 to 1")
    return number


# -- views the portal draws ---------------------------------------------------------


def health(error_rate: float | None) -> Health:
    """What an error rate says (see :data:`DEGRADED` and :data:`FAILING`)."""
    if error_rate is None:
        return "idle"
    if error_rate >= FAILING:
        return "failing"
    return "degraded" if error_rate > DEGRADED else "healthy"


ViewKind = Literal["service", "tcp", "external", "unknown", "ingress", "namespace"]


@dataclass(frozen=True, slots=True)
class ViewNode:
    """A node as drawn: one node of the graph, or a namespace standing for its Services."""

    key: str
    kind: ViewKind
    label: str
    namespace: str | None
    cluster: str | None
    asset: str | None
    error_rate: float | None
    #: Services a namespace node stands for (1 for the others).
    members: int = 1
    #: Whether it matches the page's ``find=`` (a namespace: one of its Services does).
    found: bool = False


@dataclass(frozen=True, slots=True)
class ViewEdge:
    """An edge as drawn: one call, or the sum of the calls between two namespaces."""

    source: str
    target: str
    protocol: str
    origin: Origin
    rps: float | None
    error_rate: float | None
    #: The edge's p95; for summed edges the largest of the members' (not a quantile of the sum).
    p95_ms: float | None
    #: Calls summed into it (1 for a call drawn on its own).
    calls: int = 1


@dataclass(frozen=True, slots=True)
class GraphView:
    """What one graph page draws."""

    level: Literal["mesh", "namespace"]
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]
    #: Nodes and edges the view would have held without its caps.
    total_nodes: int
    total_edges: int
    #: Nodes matching ``find=`` (their keys), whether drawn or not.
    matches: tuple[str, ...] = field(default=())

    @property
    def capped(self) -> bool:
        """Whether the caps left something out."""
        return len(self.nodes) < self.total_nodes or len(self.edges) < self.total_edges


def mesh_view(
    graph: RunGraph,
    *,
    find: str = "",
    aggregate: bool = True,
    max_nodes: int = VIEW_NODES,
    max_edges: int = VIEW_EDGES,
) -> GraphView:
    """The whole mesh: each namespace one node (``aggregate``), or every node as it is.

    Calls inside a namespace leave the picture when namespaces are nodes
    (its health still counts them); calls between two namespaces sum into
    one edge. Unknown callers and external hosts stay nodes of their own.
    """
    if not aggregate:
        return _view("mesh", graph, lambda n: n.id, find, max_nodes, max_edges)
    return _view("mesh", graph, _namespace_or_self, find, max_nodes, max_edges)


def namespace_view(
    graph: RunGraph,
    namespace: str,
    *,
    cluster: str | None = None,
    find: str = "",
    max_nodes: int = VIEW_NODES,
    max_edges: int = VIEW_EDGES,
) -> GraphView:
    """One namespace's nodes, each drawn, with everything they call or are called by.

    Neighbours in other namespaces stand as their namespace (one node each,
    a link to drill into); unknown callers and external hosts as themselves.
    Nodes unconnected to the namespace are left out.
    """

    def inside(node: GraphNode) -> bool:
        return node.namespace == namespace and (cluster is None or node.cluster == cluster)

    def key(node: GraphNode) -> str:
        return node.id if inside(node) else _namespace_or_self(node)

    wanted = {n.id for n in graph.nodes if inside(n)}
    touching = {
        end
        for e in graph.edges
        if e.source in wanted or e.target in wanted
        for end in (e.source, e.target)
    }
    kept = RunGraph(
        graph.cluster,
        graph.taken_at,
        graph.window,
        tuple(n for n in graph.nodes if n.id in wanted or n.id in touching),
        tuple(e for e in graph.edges if e.source in wanted or e.target in wanted),
        graph.run_id,
    )
    return _view("namespace", kept, key, find, max_nodes, max_edges)


def namespace_key(cluster: str | None, namespace: str) -> str:
    """The key of a namespace node."""
    return f"ns:{cluster or ''}/{namespace}"


def _namespace_or_self(node: GraphNode) -> str:
    if node.kind in ("service", "tcp") and node.namespace is not None:
        return namespace_key(node.cluster, node.namespace)
    return node.id


@dataclass(slots=True)
class _Sum:
    rps: float = 0.0
    errors: float = 0.0
    measured: bool = False
    rated: float = 0.0
    p95: float | None = None
    calls: int = 0
    protocols: set[str] = field(default_factory=set)
    origins: set[str] = field(default_factory=set)

    def add(self, edge: GraphEdge) -> None:
        self.calls += 1
        self.protocols.add(edge.protocol)
        self.origins.add(edge.origin)
        if edge.rps is not None:
            self.measured = True
            self.rps += edge.rps
            if edge.error_rate is not None:
                self.rated += edge.rps
                self.errors += edge.error_rate * edge.rps
        if edge.p95_ms is not None:
            self.p95 = edge.p95_ms if self.p95 is None else max(self.p95, edge.p95_ms)

    def error_rate(self) -> float | None:
        return self.errors / self.rated if self.rated > 0 else None

    def origin(self) -> Origin:
        if self.origins == {"config"}:
            return "config"
        return "telemetry" if self.origins == {"telemetry"} else "both"


def _view(
    level: Literal["mesh", "namespace"],
    graph: RunGraph,
    key_of: Any,
    find: str,
    max_nodes: int,
    max_edges: int,
) -> GraphView:
    keys: dict[str, str] = {n.id: key_of(n) for n in graph.nodes}
    groups: dict[str, list[GraphNode]] = defaultdict(list)
    for node in graph.nodes:
        groups[keys[node.id]].append(node)
    sums: dict[tuple[str, str], _Sum] = defaultdict(_Sum)
    inbound: dict[str, _Sum] = defaultdict(_Sum)
    for edge in graph.edges:
        source, target = keys[edge.source], keys[edge.target]
        inbound[target].add(edge)
        if source != target or len(groups[source]) == 1:
            sums[(source, target)].add(edge)
    words = find.strip().lower()
    nodes: dict[str, ViewNode] = {}
    matches: list[str] = []
    for key, members in groups.items():
        first = members[0]
        found = bool(words) and any(_matches(n, words) for n in members)
        if found:
            matches.append(key)
        if key.startswith("ns:"):
            label = f"{first.namespace}"
            nodes[key] = ViewNode(
                key=key,
                kind="namespace",
                label=label,
                namespace=first.namespace,
                cluster=first.cluster,
                asset=None,
                error_rate=inbound[key].error_rate(),
                members=len(members),
                found=found,
            )
        else:
            rate = first.health if first.health is not None else inbound[key].error_rate()
            nodes[key] = ViewNode(
                key=key,
                kind=first.kind,
                label=_label(first),
                namespace=first.namespace,
                cluster=first.cluster,
                asset=first.asset,
                error_rate=rate,
                found=found,
            )
    edges = [
        ViewEdge(
            source=source,
            target=target,
            protocol="/".join(sorted(s.protocols)),
            origin=s.origin(),
            rps=s.rps if s.measured else None,
            error_rate=s.error_rate(),
            p95_ms=s.p95,
            calls=s.calls,
        )
        for (source, target), s in sums.items()
    ]
    return _capped(level, nodes, edges, matches, max_nodes, max_edges)


def _capped(
    level: Literal["mesh", "namespace"],
    nodes: Mapping[str, ViewNode],
    edges: Sequence[ViewEdge],
    matches: Sequence[str],
    max_nodes: int,
    max_edges: int,
) -> GraphView:
    """Keep the busiest nodes and edges (found ones first), in a stable order."""
    traffic: dict[str, float] = defaultdict(float)
    for edge in edges:
        weight = (edge.rps or 0.0) + 1e-9 * edge.calls
        traffic[edge.source] += weight
        traffic[edge.target] += weight
    ranked = sorted(nodes.values(), key=lambda n: (not n.found, -traffic[n.key], n.key))
    kept = {n.key for n in ranked[:max_nodes]}
    inside = [e for e in edges if e.source in kept and e.target in kept]
    inside.sort(key=lambda e: (-(e.rps or 0.0), -e.calls, e.source, e.target))
    drawn = sorted(inside[:max_edges], key=lambda e: (e.source, e.target))
    return GraphView(
        level=level,
        nodes=tuple(sorted((nodes[k] for k in kept), key=lambda n: n.key)),
        edges=tuple(drawn),
        total_nodes=len(nodes),
        total_edges=len(edges),
        matches=tuple(sorted(matches)),
    )


def _matches(node: GraphNode, words: str) -> bool:
    text = f"{node.id} {node.name} {node.asset or ''}".lower()
    return all(word in text for word in words.split())


def _label(node: GraphNode) -> str:
    if node.kind in ("service", "tcp") and node.namespace:
        return node.name
    return node.name if node.kind == "external" else node.id
