"""``meshatlas graph``: export and question the dependency graph.

The graph comes from one of three places, in this order of preference:

* ``--graph PATH``: the ``graph.json`` a ``discover --out DIR`` run wrote
  (every edge attribute, telemetry included);
* ``--report PATH``: the JSON report of a discover run (same edges);
* ``--catalog URL`` (default ``$MESHATLAS_CATALOG``, else
  ``sqlite:///meshatlas.db``; also a ``meshatlas serve``): assets and the
  dependencies recorded on their latest versions, one node per instance.

With no question asked the graph is written in ``--format`` to ``--out`` (or
stdout). Questions (``--cycles``, ``--blast-radius``, ``--consumers``,
``--orphans``, ``--hotspots``, ``--analytics``) print answers, as text or,
with ``--json``, as one JSON object.

Where telemetry was read, Service nodes carry their inbound traffic
(``analytics``: rate, error rates, p50/p95/p99, top consumers): from the
graph file as discover wrote it, from the report's ``analytics`` section, or,
from a catalogue database, the newest kept run graph of each cluster. Nodes
nothing measured carry none (not zeros); a catalogue server gives none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

import catalog
import graph
from graph.build import (
    ConsumerAttributes,
    EdgeAttributes,
    InboundAnalytics,
    NodeAttributes,
    add_analytics,
)
from meshatlas.errors import UsageError
from meshatlas.job import catalogues
from meshatlas.status import ExitCode

__all__ = ["FORMATS", "add_parser", "from_catalog", "load", "run"]

#: Output formats: the graph package's exports plus a PNG picture.
FORMATS = ("json", "graphml", "dot", "mermaid", "svg", "png")

_ASSET_KINDS = {
    "rest-api": "rest",
    "soap-api": "soap",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
    "async-api": "asyncapi",
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``graph`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "graph", help="export the dependency graph and ask it questions"
    )
    source = parser.add_argument_group("where the graph comes from (pick one)")
    source.add_argument(
        "--graph", type=Path, metavar="PATH", help="graph.json written by discover --out"
    )
    source.add_argument("--report", type=Path, metavar="PATH", help="a discover JSON report")
    source.add_argument(
        "--catalog",
        metavar="URL",
        help="catalogue to read dependencies from: sqlite:///PATH, postgresql://... or"
        " http(s)://HOST of a meshatlas serve, token from $MESHATLAS_TOKEN if it asks"
        " (default: $MESHATLAS_CATALOG, else sqlite:///meshatlas.db)",
    )
    out = parser.add_argument_group("export")
    out.add_argument("-o", "--format", choices=FORMATS, help="output format (default: json)")
    out.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    ask = parser.add_argument_group("questions")
    ask.add_argument("--cycles", action="store_true", help="dependency cycles")
    ask.add_argument(
        "--blast-radius",
        metavar="NS/SERVICE",
        action="append",
        default=[],
        help="everything that depends on SERVICE, directly or not (repeatable)",
    )
    ask.add_argument(
        "--consumers",
        metavar="NS/SERVICE",
        action="append",
        default=[],
        help="direct callers of SERVICE with their traffic (repeatable)",
    )
    ask.add_argument(
        "--orphans", action="store_true", help="services with APIs nobody called in the window"
    )
    ask.add_argument(
        "--hotspots",
        nargs="?",
        const=10,
        type=int,
        metavar="N",
        help="the N services with the largest fan-in + fan-out (default N: 10)",
    )
    ask.add_argument(
        "--analytics",
        action="store_true",
        help="inbound traffic per measured service: rate, errors, p95, top consumers",
    )
    ask.add_argument("--json", action="store_true", help="answers as one JSON object")
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    """Run ``meshatlas graph``."""
    dependency_graph = load(
        graph_path=args.graph, report_path=args.report, catalog_url=args.catalog
    )
    asked = bool(
        args.cycles
        or args.blast_radius
        or args.consumers
        or args.orphans
        or args.hotspots
        or args.analytics
    )
    if not asked or args.format or args.out:
        _export(dependency_graph, args.format or "json", args.out)
    if asked:
        answers = _answers(dependency_graph, args)
        if args.json:
            sys.stdout.write(json.dumps(answers, indent=2) + "\n")
        else:
            sys.stdout.write(_as_text(answers))
    return ExitCode.COMPLETE


def load(
    *, graph_path: Path | None, report_path: Path | None, catalog_url: str | None
) -> nx.DiGraph:
    """The graph from the one source named (the catalogue when none is).

    Raises:
        UsageError: Several sources, or a file that cannot be read.
        graph.GraphError: The file is not a meshatlas graph or report.
        catalog.CatalogError: The catalogue cannot be read.
    """
    named = [x for x in (graph_path, report_path, catalog_url) if x is not None]
    if len(named) > 1:
        raise UsageError("give one of --graph, --report, --catalog")
    if graph_path is not None:
        return graph.from_node_link(_read(graph_path))
    if report_path is not None:
        try:
            doc = json.loads(_read(report_path))
        except ValueError as exc:
            raise UsageError(f"{report_path} is not JSON: {exc}") from exc
        from_report = graph.from_report(doc)
        add_analytics(from_report, report_analytics(doc))
        return from_report
    url, flag = catalogues.given(catalog_url)
    catalogue = catalogues.parse(url, flag=flag)
    # Reading never creates nor migrates a catalogue; a server gives latest versions only.
    catalogued = from_catalog(catalogues.read_assets(catalogue, flag=flag, files=False))
    with catalogues.reading_store(catalogue, flag=flag) as store:
        if store is not None:
            add_analytics(catalogued, _kept_analytics(store))
    return catalogued


def report_analytics(report: Any) -> dict[str, InboundAnalytics]:
    """The report's ``analytics`` section by node id (empty when telemetry was not read)."""
    section = report.get("analytics") if isinstance(report, dict) else None
    found: dict[str, InboundAnalytics] = {}
    for entry in section if isinstance(section, list) else ():
        try:
            found[str(entry["service"])] = InboundAnalytics(
                rps=float(entry["rps"]),
                error_rate=float(entry["error_rate"]),
                client_error_rate=float(entry["client_error_rate"]),
                p50_ms=_optional(entry.get("p50_ms")),
                p95_ms=_optional(entry.get("p95_ms")),
                p99_ms=_optional(entry.get("p99_ms")),
                consumers=[
                    ConsumerAttributes(
                        source=str(c["source"]),
                        rps=float(c["rps"]),
                        share=float(c["share"]),
                        error_rate=float(c["error_rate"]),
                    )
                    for c in entry.get("consumers", [])
                ],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise graph.BuildError(f"not a meshatlas report: bad analytics entry: {exc}") from exc
    return found


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _kept_analytics(store: catalog.CatalogStore) -> dict[str, InboundAnalytics]:
    """Per node, the analytics of its cluster's newest kept run graph."""
    newest: dict[str, int] = {}
    for header in store.run_graphs():  # newest first
        newest.setdefault(header.cluster, header.id)
    found: dict[str, InboundAnalytics] = {}
    for graph_id in newest.values():
        for node in store.run_graph(graph_id).nodes:
            a = node.analytics
            if a is None:
                continue
            found[node.id] = InboundAnalytics(
                rps=a.rps,
                error_rate=a.error_rate,
                client_error_rate=a.client_error_rate,
                p50_ms=a.p50_ms,
                p95_ms=a.p95_ms,
                p99_ms=a.p99_ms,
                consumers=[
                    ConsumerAttributes(
                        source=c.source, rps=c.rps, share=c.share, error_rate=c.error_rate
                    )
                    for c in a.consumers
                ],
            )
    return found


def from_catalog(assets: Sequence[catalog.Asset]) -> nx.DiGraph:
    """The graph of catalogued assets: one node per Service instance.

    Each asset's latest version says where it runs (instances) and what it
    calls (``group:asset[:version]``); a dependency becomes an edge from every
    instance of the caller to every instance of the callee. The catalogue
    keeps no traffic, so edges have no rates and ``origin="config"``.
    """
    result = nx.DiGraph()
    nodes_of: dict[str, list[str]] = {}
    kinds: dict[str, set[str]] = {}
    for asset in assets:
        ref = f"{asset.group_id}:{asset.asset_id}"
        for instance in asset.latest.instances:
            node = f"{instance.cluster}/{instance.namespace}/{instance.service}"
            nodes_of.setdefault(ref, []).append(node)
            kinds.setdefault(node, set()).add(_ASSET_KINDS.get(asset.type, asset.type))
            result.add_node(
                node,
                **NodeAttributes(
                    kind="service",
                    cluster=instance.cluster,
                    namespace=instance.namespace,
                    name=instance.service,
                    label=f"{instance.namespace}/{instance.service}",
                    api_kinds=[],
                    service_type=None,
                ),
            )
    for node, found in kinds.items():
        result.nodes[node]["api_kinds"] = sorted(found)
    for asset in assets:
        callers = nodes_of.get(f"{asset.group_id}:{asset.asset_id}", [])
        for dependency in asset.latest.dependencies:
            group, _, rest = dependency.partition(":")
            callee_ref = f"{group}:{rest.split(':')[0]}"
            for source in callers:
                for target in nodes_of.get(callee_ref, []):
                    if source != target:
                        result.add_edge(source, target, **_catalog_edge())
    return result


def _catalog_edge() -> EdgeAttributes:
    return EdgeAttributes(
        protocol="unknown",
        origin="config",
        rps=None,
        error_rate=None,
        p95_ms=None,
        p50_ms=None,
        p99_ms=None,
        mtls=None,
        workloads=[],
        bytes_per_s=None,
        egress=None,
        sources=["catalog"],
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _export(dependency_graph: nx.DiGraph, fmt: str, out: Path | None) -> None:
    renderers: dict[str, Callable[[nx.DiGraph], bytes]] = {
        "json": lambda g: graph.to_json(g).encode(),
        "graphml": graph.to_graphml,
        "dot": lambda g: graph.to_dot(g).encode(),
        "mermaid": lambda g: graph.to_mermaid(g).encode(),
        "svg": graph.to_svg,
        "png": graph.to_png,
    }
    content = renderers[fmt](dependency_graph)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    except OSError as exc:
        raise graph.ExportError(f"cannot write {out}: {exc.strerror}", path=out) from exc


def _node(dependency_graph: nx.DiGraph, text: str) -> str:
    try:
        return graph.find_node(dependency_graph, text)
    except graph.NodeNotFoundError as exc:
        raise UsageError(f"no service {text!r} in the graph") from exc
    except graph.GraphError as exc:
        raise UsageError(str(exc)) from exc


def _answers(dependency_graph: nx.DiGraph, args: argparse.Namespace) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if args.cycles:
        answers["cycles"] = graph.cycles(dependency_graph)
    if args.blast_radius:
        answers["blast_radius"] = {
            node: graph.blast_radius(dependency_graph, node)
            for node in (_node(dependency_graph, t) for t in args.blast_radius)
        }
    if args.consumers:
        answers["consumers"] = {
            node: [
                {
                    "node": c.node,
                    "protocol": c.protocol,
                    "origin": c.origin,
                    "rps": c.rps,
                    "error_rate": c.error_rate,
                }
                for c in graph.consumers(dependency_graph, node)
            ]
            for node in (_node(dependency_graph, t) for t in args.consumers)
        }
    if args.orphans:
        answers["orphans"] = graph.orphans(dependency_graph)
    if args.hotspots:
        answers["hotspots"] = [
            {"node": h.node, "fan_in": h.fan_in, "fan_out": h.fan_out, "rps_in": h.rps_in}
            for h in graph.hotspots(dependency_graph, top=args.hotspots)
        ]
    if args.analytics:
        answers["analytics"] = {
            node: dict(attributes["analytics"])
            for node, attributes in sorted(dependency_graph.nodes(data=True))
            if "analytics" in attributes
        }
    return answers


def _as_text(answers: dict[str, Any]) -> str:
    lines: list[str] = []
    if "cycles" in answers:
        lines.append(f"cycles: {len(answers['cycles'])}")
        lines.extend("  " + " -> ".join([*c, c[0]]) for c in answers["cycles"])
    for node, found in answers.get("blast_radius", {}).items():
        lines.append(f"blast radius of {node}: {len(found)}")
        lines.extend(f"  {n}" for n in found)
    for node, found in answers.get("consumers", {}).items():
        lines.append(f"consumers of {node}: {len(found)}")
        for c in found:
            traffic = "" if c["rps"] is None else f", {c['rps']:.3g} rps"
            if c["error_rate"]:
                traffic += f", {c['error_rate']:.1%} errors"
            lines.append(f"  {c['node']} ({c['protocol']}, {c['origin']}{traffic})")
    if "orphans" in answers:
        lines.append(f"orphan APIs (no consumers): {len(answers['orphans'])}")
        lines.extend(f"  {n}" for n in answers["orphans"])
    if "hotspots" in answers:
        lines.append("hotspots (fan-in, fan-out, inbound rps):")
        lines.extend(
            f"  {h['node']}  in {h['fan_in']}  out {h['fan_out']}  {h['rps_in']:.3g} rps"
            for h in answers["hotspots"]
        )
    if "analytics" in answers:
        lines.append(
            f"inbound traffic (rate, errors, p95, top consumers): {len(answers['analytics'])}"
        )
        for node, a in answers["analytics"].items():
            p95 = "-" if a["p95_ms"] is None else f"{a['p95_ms']:.3g} ms"
            lines.append(f"  {node}  {a['rps']:.3g} rps  {a['error_rate']:.1%} errors  p95 {p95}")
            lines.extend(
                f"    {c['source']}  {c['share']:.0%}  {c['rps']:.3g} rps" for c in a["consumers"]
            )
    return "\n".join(lines) + "\n"
