"""Read a dependency graph back from meshatlas's own files.

* :func:`from_node_link`: the ``graph.json`` that ``discover --out`` writes.
* :func:`from_report`: the JSON report of a discover run (``--report``).

Both give the same node and edge attributes as :func:`graph.build_graph`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import networkx as nx

from graph.build import INGRESS_PREFIX, EdgeAttributes, NodeAttributes, NodeKind
from graph.errors import BuildError

__all__ = ["from_node_link", "from_report"]


def from_node_link(text: str | bytes) -> nx.DiGraph:
    """Parse node-link JSON as written by :func:`graph.to_json`.

    Raises:
        BuildError: The text is not node-link JSON of a directed graph.
    """
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("the document is not a JSON object")
        graph = nx.node_link_graph(data, edges="edges")
    except (ValueError, KeyError, TypeError, nx.NetworkXError) as exc:
        raise BuildError(f"not a meshatlas graph.json: {exc}") from exc
    if not isinstance(graph, nx.DiGraph) or isinstance(graph, nx.MultiDiGraph):
        raise BuildError("not a meshatlas graph.json: the graph is not a simple directed graph")
    return graph


def from_report(report: Mapping[str, Any]) -> nx.DiGraph:
    """Rebuild the graph of a discover run from its JSON report.

    Raises:
        BuildError: The document is not a meshatlas report.
    """
    try:
        services = list(report["services"])
        hosts = list(report.get("external_hosts", []))
        edges = list(report["edges"])
    except (KeyError, TypeError) as exc:
        raise BuildError(f"not a meshatlas report: missing {exc}") from exc
    graph = nx.DiGraph()
    for service in services:
        node = f"{service['cluster']}/{service['namespace']}/{service['name']}"
        graph.add_node(
            node,
            **NodeAttributes(
                kind="service",
                cluster=service["cluster"],
                namespace=service["namespace"],
                name=service["name"],
                label=f"{service['namespace']}/{service['name']}",
                api_kinds=sorted({api["kind"] for api in service.get("apis", [])}),
                service_type=service.get("type"),
            ),
        )
    for host in hosts:
        if host["host"] in graph:
            continue
        declared_in = str(host.get("service_entry", "/")).split("/")[0] or None
        graph.add_node(
            host["host"],
            **NodeAttributes(
                kind="external",
                cluster=host.get("cluster"),
                namespace=declared_in,
                name=host["host"],
                label=host["host"],
                api_kinds=[],
                service_type=None,
            ),
        )
    for edge in edges:
        for end in (edge["source"], edge["target"]):
            if end not in graph:
                graph.add_node(end, **_mentioned(end))
        graph.add_edge(
            edge["source"],
            edge["target"],
            **EdgeAttributes(
                protocol=edge["protocol"],
                origin=edge["origin"],
                rps=edge.get("rps"),
                error_rate=edge.get("error_rate"),
                p95_ms=edge.get("p95_ms"),
                p50_ms=edge.get("p50_ms"),
                p99_ms=edge.get("p99_ms"),
                mtls=edge.get("mtls"),
                workloads=list(edge.get("workloads", [])),
                bytes_per_s=edge.get("bytes_per_s"),
                egress=edge.get("egress"),
                sources=list(edge.get("sources", [])),
            ),
        )
        if isinstance(edge.get("weight"), int):
            graph.edges[edge["source"], edge["target"]]["weight"] = edge["weight"]
    return graph


def _mentioned(node: str) -> NodeAttributes:
    if node.startswith(INGRESS_PREFIX):
        cluster, _, gateway = node.removeprefix(INGRESS_PREFIX).partition("/")
        namespace, _, name = gateway.rpartition("/")
        return NodeAttributes(
            kind="ingress",
            cluster=cluster or None,
            namespace=namespace or None,
            name=name,
            label=f"ingress {gateway}",
            api_kinds=[],
            service_type=None,
        )
    parts = node.split("/")
    if len(parts) == 3 and all(parts):
        return NodeAttributes(
            kind="unknown",
            cluster=parts[0],
            namespace=parts[1],
            name=parts[2],
            label=f"{parts[1]}/{parts[2]}",
            api_kinds=[],
            service_type=None,
        )
    kind: NodeKind = "unknown" if node == "unknown" or "/" in node else "external"
    return NodeAttributes(
        kind=kind,
        cluster=None,
        namespace=None,
        name=node,
        label=node,
        api_kinds=[],
        service_type=None,
    )
