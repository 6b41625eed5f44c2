"""The run's service graph, converted for the catalogue and sent where ``--catalog`` says.

The ``graph`` package's networkx graph becomes one
:class:`catalog.graphmodel.RunGraph` per cluster the run read: the nodes of
that cluster, the nodes without one it calls or is called by (unknown
callers, external hosts), and every edge that touches them, so a call
between two clusters shows in both. Each Service node names the API asset
it serves (the first by asset id when it serves several), and carries the
error rate of its inbound calls as its health. A Service is a ``tcp`` node
when it serves no API and every port of it, or every call into it, is TCP.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import networkx as nx

import catalog
from catalog.findings import RunFinding, RunFindings
from catalog.graphmodel import GraphEdge, GraphNode, NodeKind, Origin, RunGraph
from catalog.remote import graphclient
from catalog.storage import graphs
from discovery.model import Discovery, Problem, Service
from governance.findings import Finding
from meshatlas.job import analytics as analytics_job
from meshatlas.job.assets import PlannedAsset
from meshatlas.job.publishing import TOKEN_ENV

__all__ = ["DEFAULT_KEPT", "publish", "run_findings", "run_graphs"]

#: Run graphs a cluster keeps unless told otherwise (``DiscoverOptions.graph_runs_kept``).
DEFAULT_KEPT: Final = graphs.DEFAULT_KEPT

_KINDS: Final[Mapping[str, NodeKind]] = {
    "service": "service",
    "external": "external",
    "unknown": "unknown",
    "ingress": "ingress",
}


def publish(
    *,
    target: object,
    url: str,
    shown_url: str,
    graph: nx.DiGraph,
    found: Discovery,
    planned: Sequence[PlannedAsset],
    taken_at: datetime,
    window: str | None,
    run_id: int | None,
    keep: int = DEFAULT_KEPT,
    findings: RunFindings | None = None,
) -> list[Problem]:
    """Send the run's graphs; a problem for each failure (a server without the route is none).

    Args:
        target: The opened publish target.
        url: The ``--catalog`` URL.
        shown_url: The same with any password hidden, for problems.
        graph: The run's graph (``graph.build_graph``).
        found: What discovery found (its clusters and Services).
        planned: The run's drafts, for the asset ids of Services.
        taken_at: When the graph holds (the end of the telemetry window, or the run's start).
        window: The telemetry window (None when the run read no telemetry).
        run_id: The catalogue's number for the run, where it recorded one.
        keep: Graphs each cluster keeps, this one included.
        findings: The run's posture and drift findings (:func:`run_findings`), or None.
    """
    made = run_graphs(
        graph=graph,
        clusters=found.inventory.clusters,
        services=found.inventory.services,
        planned=planned,
        taken_at=taken_at,
        window=window,
        run_id=run_id,
        findings=findings,
    )
    made = analytics_job.attach(made, found.traffic)  # per-API analytics kept per run
    try:
        graphclient.publish_graphs(
            target=target,
            url=url,
            token=os.environ.get(TOKEN_ENV) or None,
            run_graphs=made,
            keep=keep,
        )
    except catalog.CatalogError as exc:
        return [Problem(shown_url, "run graph not kept", str(exc))]
    return []


def run_graphs(
    *,
    graph: nx.DiGraph,
    clusters: Sequence[str],
    services: Sequence[Service],
    planned: Sequence[PlannedAsset],
    taken_at: datetime,
    window: str | None,
    run_id: int | None = None,
    findings: RunFindings | None = None,
) -> list[RunGraph]:
    """One catalogue graph per cluster the run read (see the module's description).

    Args:
        graph: The run's graph.
        clusters: The clusters the run read, in its order.
        services: The Services of the inventory (their ports tell TCP services).
        planned: The run's drafts, for the asset ids of Services.
        taken_at: When the graph holds.
        window: The telemetry window, or None.
        run_id: The catalogue's number for the run.
        findings: The run's findings; each cluster's graph keeps its own.
    """
    by_key = {str(s.key): s for s in services}
    assets: dict[str, list[str]] = defaultdict(list)
    for p in planned:
        assets[str(p.api.service)].append(f"{p.draft.group_id}:{p.draft.asset_id}")
    nodes = {
        str(node): _node(str(node), data, graph, by_key.get(str(node)), assets.get(str(node)))
        for node, data in graph.nodes(data=True)
    }
    edges = [_edge(str(s), str(t), data) for s, t, data in graph.edges(data=True)]
    clusters = list(dict.fromkeys(clusters)) or sorted(
        {n.cluster for n in nodes.values() if n.cluster}
    )
    if len(clusters) <= 1:
        name = clusters[0] if clusters else "default"
        return [
            RunGraph(
                name,
                taken_at,
                window,
                _sorted(nodes.values()),
                _by_ends(edges),
                run_id,
                findings=_of_cluster(findings, None),
            )
        ]
    out = []
    for index, cluster in enumerate(clusters):
        own = {key for key, n in nodes.items() if n.cluster == cluster}
        if index == 0:  # a node of no cluster read that no call touches shows in the first
            own |= {
                k for k, n in nodes.items() if n.cluster not in clusters and not graph.degree(k)
            }
        touching = [e for e in edges if e.source in own or e.target in own]
        keys = own | {end for e in touching for end in (e.source, e.target)}
        out.append(
            RunGraph(
                cluster,
                taken_at,
                window,
                _sorted(nodes[k] for k in keys),
                _by_ends(touching),
                run_id,
                findings=_of_cluster(findings, cluster),
            )
        )
    return out


def _node(
    key: str,
    data: Mapping[str, Any],
    graph: nx.DiGraph,
    service: Service | None,
    assets: list[str] | None,
) -> GraphNode:
    kind = _KINDS.get(str(data.get("kind")), "unknown")
    inbound = [graph.edges[source, key] for source in graph.predecessors(key)]
    if kind == "service" and not data.get("api_kinds") and _tcp_only(service, inbound):
        kind = "tcp"
    return GraphNode(
        id=key,
        kind=kind,
        name=str(data.get("name") or data.get("label") or key),
        namespace=_text(data.get("namespace")),
        cluster=_text(data.get("cluster")),
        asset=sorted(assets)[0] if assets else None,
        health=_inbound_errors(inbound),
    )


def _tcp_only(service: Service | None, inbound: Sequence[Mapping[str, Any]]) -> bool:
    if inbound:
        return all(edge.get("protocol") == "tcp" for edge in inbound)
    if service is None or not service.ports:
        return False
    return all(port.mesh_protocol == "tcp" for port in service.ports)


def _inbound_errors(inbound: Sequence[Mapping[str, Any]]) -> float | None:
    """Errors over requests of the calls into a node, weighted by their rates."""
    requests = errors = 0.0
    for edge in inbound:
        rate, error_rate = edge.get("rps"), edge.get("error_rate")
        if rate is None or error_rate is None or edge.get("protocol") == "tcp":
            continue
        requests += float(rate)
        errors += float(rate) * float(error_rate)
    if requests <= 0:
        return None
    return min(1.0, max(0.0, errors / requests))


def _edge(source: str, target: str, data: Mapping[str, Any]) -> GraphEdge:
    origin = str(data.get("origin"))
    error_rate = data.get("error_rate")
    return GraphEdge(
        source=source,
        target=target,
        protocol=str(data.get("protocol") or "unknown"),
        origin=_origin(origin),
        rps=_amount(data.get("rps")),
        error_rate=None if error_rate is None else min(1.0, max(0.0, float(error_rate))),
        p95_ms=_amount(data.get("p95_ms")),
    )


def _origin(text: str) -> Origin:
    if text == "config":
        return "config"
    return "telemetry" if text == "telemetry" else "both"


def _amount(value: Any) -> float | None:
    return None if value is None else max(0.0, float(value))


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _sorted(nodes: Any) -> tuple[GraphNode, ...]:
    return tuple(sorted(nodes, key=lambda n: n.id))


def _by_ends(edges: Sequence[GraphEdge]) -> tuple[GraphEdge, ...]:
    return tuple(sorted(edges, key=lambda e: (e.source, e.target)))


# -- the run's findings, kept with its graphs ---------------------------------------


def run_findings(
    *,
    posture: Sequence[Finding],
    posture_judged: Sequence[str],
    drift: Sequence[Finding] = (),
    drift_judged: Sequence[str] = (),
    calls: Mapping[tuple[str, str | None], int] | None = None,
    services: Sequence[Service],
    planned: Sequence[PlannedAsset],
) -> RunFindings:
    """The catalogue's form of a run's findings: each with its node and, where one maps, asset.

    Args:
        posture: The posture findings (the report's ``posture`` section holds the same).
        posture_judged: Nodes (``cluster/namespace/service``) whose posture was judged.
        drift: The drift findings.
        drift_judged: Nodes whose traffic was matched to their contracts.
        calls: Calls by (API subject, operation), the operation None for the API's total.
        services: The inventory's Services (their ports map workload ports to Service ports).
        planned: The run's drafts: the asset each Service port serves.
    """
    by_port: dict[str, dict[int, str]] = defaultdict(dict)
    for p in planned:
        by_port[str(p.api.service)][p.api.port.port] = f"{p.draft.group_id}:{p.draft.asset_id}"
    for service in services:
        served = by_port.get(str(service.key))
        for declared in service.ports if served else ():
            target = declared.target_port
            number = int(target) if isinstance(target, int | str) and str(target).isdigit() else 0
            if served and declared.port in served and number and number not in served:
                served[number] = served[declared.port]
    counted = calls or {}
    items: dict[tuple[str, str, str, str], RunFinding] = {}
    for source, found in (("posture", posture), ("drift", drift)):
        for finding in found:
            target = finding.subject.rsplit(" -> ", 1)[-1]
            node, _, port = target.partition(":")
            served = by_port.get(node, {})
            if port.isdigit():
                asset = served.get(int(port))
            else:
                assets = set(served.values())
                asset = assets.pop() if len(assets) == 1 else None
            # Drift names the operation among its objects (governance.drift).
            said = [o for o in finding.objects if o.startswith("Operation ")]
            operation = said[0].removeprefix("Operation ") if said else None
            made = RunFinding(
                source="posture" if source == "posture" else "drift",
                severity=finding.severity,
                kind=finding.kind,
                subject=finding.subject,
                objects=finding.objects,
                reason=finding.reason,
                node=node,
                asset=asset,
                operation=operation,
                calls=counted.get((finding.subject, operation)) if source == "drift" else None,
            )
            items.setdefault((source, made.kind, made.subject, operation or ""), made)
    return RunFindings(
        items=tuple(items.values()),
        posture_judged=tuple(sorted(set(posture_judged))),
        drift_judged=tuple(sorted(set(drift_judged))),
    )


def _of_cluster(findings: RunFindings | None, cluster: str | None) -> RunFindings | None:
    """The findings about nodes of ``cluster`` (every one for None: a run of one cluster)."""
    if findings is None or cluster is None:
        return findings

    def inside(node: str | None) -> bool:
        return node is not None and node.split("/", 1)[0] == cluster

    return RunFindings(
        items=tuple(f for f in findings.items if inside(f.node)),
        posture_judged=tuple(n for n in findings.posture_judged if inside(n)),
        drift_judged=tuple(n for n in findings.drift_judged if inside(n)),
    )
