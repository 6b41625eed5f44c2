"""Questions people ask of the dependency graph.

* :func:`cycles`: services that (transitively) call themselves.
* :func:`blast_radius`: everything that breaks, directly or not, if a service does.
* :func:`consumers`: who calls a service, with what traffic.
* :func:`orphans`: services offering an API that nobody called in the window.
* :func:`hotspots`: the services with the largest fan-in and fan-out.
* :func:`find_node`: turn what a person typed (``ns/name``) into a node id.

Each answer is a frozen dataclass or a sorted list, so output is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from graph.errors import GraphError, NodeNotFoundError

__all__ = [
    "Consumer",
    "Hotspot",
    "blast_radius",
    "consumers",
    "cycles",
    "find_node",
    "hotspots",
    "orphans",
]

_OBSERVED = ("telemetry", "both")


@dataclass(frozen=True, slots=True)
class Consumer:
    """A direct caller of a service and what the edge carries."""

    node: str
    protocol: str
    origin: str
    rps: float | None
    error_rate: float | None


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A node's fan-in (distinct callers) and fan-out (distinct callees)."""

    node: str
    fan_in: int
    fan_out: int
    rps_in: float

    @property
    def degree(self) -> int:
        return self.fan_in + self.fan_out


def find_node(graph: nx.DiGraph, text: str) -> str:
    """The node id a person means: ``cluster/ns/name``, ``ns/name``, or a host.

    Raises:
        NodeNotFoundError: Nothing matches.
        GraphError: ``ns/name`` matches the same Service in several clusters;
            the message lists the ``cluster/ns/name`` ids to choose from.
    """
    if text in graph:
        return text
    matches = sorted(
        str(node)
        for node, attributes in graph.nodes(data=True)
        if attributes.get("label") == text
        or f"{attributes.get('namespace')}/{attributes.get('name')}" == text
    )
    if not matches:
        raise NodeNotFoundError(text)
    if len(matches) > 1:
        raise GraphError(f"{text!r} is ambiguous: {', '.join(matches)}")
    return matches[0]


def cycles(graph: nx.DiGraph, *, limit: int = 100) -> list[list[str]]:
    """Dependency cycles, each rotated to start at its smallest node, sorted.

    Self-calls count as cycles of one. At most ``limit`` cycles are returned
    (a dense mesh can hold exponentially many).
    """
    found: list[list[str]] = []
    for cycle in nx.simple_cycles(graph):
        start = cycle.index(min(cycle))
        found.append(cycle[start:] + cycle[:start])
        if len(found) >= limit:
            break
    return sorted(found, key=lambda c: (len(c), c))


def blast_radius(graph: nx.DiGraph, node: str) -> list[str]:
    """Every node that depends on ``node``, directly or through others, sorted.

    Raises:
        NodeNotFoundError: ``node`` is not in the graph.
    """
    if node not in graph:
        raise NodeNotFoundError(node)
    return sorted(nx.ancestors(graph, node))


def consumers(graph: nx.DiGraph, node: str) -> list[Consumer]:
    """Direct callers of ``node``, busiest first.

    Raises:
        NodeNotFoundError: ``node`` is not in the graph.
    """
    if node not in graph:
        raise NodeNotFoundError(node)
    found = [
        Consumer(
            node=caller,
            protocol=str(edge.get("protocol") or "unknown"),
            origin=str(edge.get("origin")),
            rps=edge.get("rps"),
            error_rate=edge.get("error_rate"),
        )
        for caller, _, edge in graph.in_edges(node, data=True)
    ]
    return sorted(found, key=lambda c: (-(c.rps or 0.0), c.node))


def orphans(graph: nx.DiGraph) -> list[str]:
    """Services offering an API that no caller used in the telemetry window.

    A call counts when telemetry saw it (origin ``telemetry`` or ``both``);
    a route declared in config alone is not a call. When the graph holds no
    telemetry at all, any edge counts, since "unused" cannot be told apart from
    "not measured".
    """
    measured = any(origin in _OBSERVED for *_, origin in graph.edges(data="origin"))
    found = []
    for node, attributes in graph.nodes(data=True):
        if attributes.get("kind") != "service" or not attributes.get("api_kinds"):
            continue
        callers = [
            origin
            for _, _, origin in graph.in_edges(node, data="origin")
            if not measured or origin in _OBSERVED
        ]
        if not callers:
            found.append(node)
    return sorted(found)


def hotspots(graph: nx.DiGraph, *, top: int = 10) -> list[Hotspot]:
    """The ``top`` nodes by fan-in + fan-out, ties broken by inbound rate then id."""
    spots = [
        Hotspot(
            node=node,
            fan_in=graph.in_degree(node),
            fan_out=graph.out_degree(node),
            rps_in=sum(rate or 0.0 for _, _, rate in graph.in_edges(node, data="rps")),
        )
        for node in graph.nodes
    ]
    spots = [s for s in spots if s.degree > 0]
    spots.sort(key=lambda s: (-s.degree, -s.rps_in, s.node))
    return spots[:top]
