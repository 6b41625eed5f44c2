"""Graph pictures for the portal, laid out by Graphviz on the server.

Two pictures live here, to keep the catalogue free of ``graph`` imports:

- a run's service graph (:func:`run_graph_context`): one bounded view of a
  stored :class:`~catalog.graphmodel.RunGraph` (namespaces as nodes, or one
  namespace drilled into), with traffic on the edges, health colours on the
  nodes, a distinct shape per kind of node, and ``find=`` matches outlined.
  Views are capped (:data:`catalog.graphmodel.VIEW_NODES`), so Graphviz
  never lays out thousands of nodes (``dot`` for ranked views, ``neato`` for
  the namespace overview, see :func:`engine`), and each drawn view is cached
  by the graph's digest and the view's parameters: a stored graph never changes;
- the catalogued assets and their ``dependencies`` (:func:`to_dot`), when no
  run graph is kept yet (and in static copies of the portal).

Every string from the catalogue reaches DOT quoted by :func:`_quoted`, and
Graphviz escapes it again in the SVG, which the page inlines.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from catalog import graphmodel
from catalog.errors import NotFound
from catalog.graphmodel import GraphView, RunGraph, RunGraphHeader, ViewEdge, ViewNode
from catalog.model import Asset, AssetSummary

__all__ = [
    "HEALTH_COLOURS",
    "SHAPES",
    "duration_text",
    "percent_text",
    "rate_text",
    "run_graph_context",
    "to_dot",
    "to_svg",
    "view_dot",
]

_COLORS: Final = {
    "rest-api": "#dbeafe",
    "soap-api": "#fef3c7",
    "http-api": "#e5e7eb",
    "grpc-api": "#dcfce7",
    "graphql-api": "#fce7f3",
}


def to_dot(
    assets: Sequence[Asset | AssetSummary], *, href: Callable[[Asset | AssetSummary], str]
) -> str:
    """DOT source: namespaces as boxes, assets as nodes with ``URL`` = ``href(asset)``."""
    keys = {f"{a.group_id}:{a.asset_id}": a for a in assets}
    lines = [
        "digraph assets {",
        '  graph [rankdir=TB, nodesep=0.3, ranksep=0.45, fontname="Helvetica", fontsize=11,'
        ' bgcolor="transparent"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [color="#64748b", arrowsize=0.7];',
    ]
    by_namespace: dict[str, list[str]] = {}
    for key, asset in sorted(keys.items()):
        instances = asset.latest.instances
        by_namespace.setdefault(instances[0].namespace if instances else "", []).append(key)
    for index, (namespace, members) in enumerate(sorted(by_namespace.items())):
        indent = "  "
        if namespace:
            lines.append(f"  subgraph cluster_{index} {{")
            lines.append(f'    label="{_safe(namespace)}"; style="rounded"; color="#94a3b8";')
            indent = "    "
        for key in members:
            asset = keys[key]
            label = f"{_safe(asset.asset_id)}\\n{_safe(asset.type)} {_safe(asset.latest.version)}"
            lines.append(
                f'{indent}"{_safe(key)}" [label="{label}", URL="{_safe(href(asset))}",'
                f' target="_top", tooltip="{_safe(key)}", id="node-{_safe(asset.asset_id)}",'
                f' fillcolor="{_COLORS.get(asset.type, "#ffffff")}"];'
            )
        if namespace:
            lines.append("  }")
    for key, asset in sorted(keys.items()):
        for dependency in asset.latest.dependencies:
            target = ":".join(dependency.split(":")[:2])
            if target not in keys:
                lines.append(f'  "{_safe(target)}" [style="dashed", fillcolor="#ffffff"];')
            lines.append(f'  "{_safe(key)}" -> "{_safe(target)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot: str, *, dot_binary: str = "dot", timeout: float = 60.0) -> str | None:
    """Render DOT to an inline ``<svg>`` element; None when Graphviz is missing or fails."""
    binary = shutil.which(dot_binary)
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=timeout,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    svg = done.stdout.decode("utf-8", "replace")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


def _safe(text: str) -> str:
    # Ids are validated already; drop anything that could end a DOT string anyway.
    return re.sub(r'["\\\n\r<>&]', "", text)


# -- a run's service graph -----------------------------------------------------------

#: (fill, border) per health (see :func:`catalog.graphmodel.health`).
HEALTH_COLOURS: Final = {
    "healthy": ("#dcfce7", "#16a34a"),
    "degraded": ("#ffedd5", "#ea580c"),
    "failing": ("#fee2e2", "#dc2626"),
    "idle": ("#f8fafc", "#94a3b8"),
}
#: Graphviz shape and style per kind of node; the legend lists the same.
SHAPES: Final = {
    "service": ("box", "rounded,filled", "Service"),
    "tcp": ("cylinder", "filled", "TCP service (no HTTP seen)"),
    "external": ("ellipse", "dashed,filled", "External host"),
    "unknown": ("diamond", "filled", "Unknown caller (ingress without identity)"),
    "ingress": ("invhouse", "filled", "Ingress gateway"),
    "namespace": ("box3d", "filled", "Namespace (its Services summed; click to drill down)"),
}
_EDGE_COLOURS: Final = {"healthy": "#64748b", "idle": "#94a3b8", "degraded": "#ea580c"}
_EDGE_COLOURS_FAILING: Final = "#dc2626"
_FOUND: Final = "#2563eb"
# Edges of a dot layout labelled in the layout; more get external labels.
_LABELLED_EDGES: Final = 40
#: Drawn views kept in memory (a view's SVG is tens to hundreds of KiB).
CACHE_SIZE: Final = 32
_cache: OrderedDict[tuple[str, ...], dict[str, Any]] = OrderedDict()
#: Parsed graphs kept in memory, for the other views of the same run.
GRAPHS_KEPT: Final = 4
_graphs: OrderedDict[str, RunGraph] = OrderedDict()
_cache_lock = threading.Lock()


def rate_text(value: float | None) -> str:
    """A rate as people read it: ``1,234``, ``12.5``, ``0.25``, ``<0.001`` (no exponents)."""
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 0.001:
        return f"{value:.3g}"
    return "0" if value <= 0 else "<0.001"


def percent_text(value: float | None) -> str:
    """A fraction as a percentage, three significant digits: ``20%``, ``2.5%``, ``0.1%``."""
    if value is None:
        return "–"
    percent = value * 100
    return f"{percent:.3g}%" if percent >= 0.001 or percent == 0 else "<0.001%"


def duration_text(ms: float | None) -> str:
    """Milliseconds as ``12.5 ms`` or ``1.2 s``."""
    if ms is None:
        return "–"
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms / 1000:.3g} s"


def edge_label(edge: ViewEdge) -> str:
    """What an edge says on the picture: rate, errors, p95 (each when known), one per line."""
    unit = "conn/s" if edge.protocol == "tcp" else "rps"
    lines = [] if edge.rps is None else [f"{rate_text(edge.rps)} {unit}"]
    if edge.error_rate is not None and edge.error_rate > 0:
        lines.append(f"{percent_text(edge.error_rate)} err")
    if edge.p95_ms is not None:
        prefix = "max p95" if edge.calls > 1 else "p95"
        lines.append(f"{prefix} {duration_text(edge.p95_ms)}")
    return "\n".join(lines)


def edge_colour(edge: ViewEdge) -> str:
    """Grey, orange when degraded, red from :data:`catalog.graphmodel.FAILING` errors."""
    said = graphmodel.health(edge.error_rate)
    return _EDGE_COLOURS_FAILING if said == "failing" else _EDGE_COLOURS[said]


def engine(view: GraphView) -> str:
    """The Graphviz layout a view gets.

    Namespaces as nodes get ``neato``'s force-directed layout, as Kiali draws
    its overview: ``dot`` ranks a mesh whose namespaces call round in a ring
    into a line of fifty ranks, a picture thousands of points wide. A
    namespace drilled into, or a small mesh drawn Service by Service, gets
    ``dot``'s ranks: callers left, what they call right.
    """
    return (
        "neato"
        if view.level == "mesh" and any(n.kind == "namespace" for n in view.nodes)
        else "dot"
    )


def view_dot(view: GraphView, *, link: Callable[[ViewNode], str | None]) -> str:
    """DOT source of one view; ``link(node)`` is where clicking a node leads (or None)."""
    # Node names are the view's keys, so each SVG element's <title> says what it is.
    names = {node.key: _quoted(node.key) for node in view.nodes}
    layout = (
        'overlap="prism", sep="+6", outputorder="edgesfirst"'
        if engine(view) == "neato"
        else 'rankdir="LR", nodesep="0.3", ranksep="0.9", outputorder="edgesfirst"'
    )
    # dot turns each edge label into a node of the layout, which costs seconds
    # past a few dozen edges; external labels are placed after the layout.
    label_key = "xlabel" if engine(view) == "dot" and len(view.edges) > _LABELLED_EDGES else "label"
    lines = [
        "digraph run {",
        f'  graph [{layout}, fontname="Helvetica", fontsize="11", bgcolor="transparent",'
        ' pad="0.2", forcelabels="true"];',
        '  node [fontname="Helvetica", fontsize="10", margin="0.12,0.05"];',
        '  edge [fontname="Helvetica", fontsize="8", arrowsize="0.7"];',
    ]
    grouped: dict[str, list[ViewNode]] = {}
    loose: list[ViewNode] = []
    for node in view.nodes:
        if node.kind in ("service", "tcp") and node.namespace:
            grouped.setdefault(_group(node, view), []).append(node)
        else:
            loose.append(node)
    used_ids: set[str] = set()
    for index, (group, members) in enumerate(sorted(grouped.items())):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(
            f'    label={_quoted(group)}; style="rounded,filled"; fillcolor="#f4f6fa";'
            ' color="#b8c2d3"; fontcolor="#3b4a66";'
        )
        lines.extend(f"    {_node_line(view.level, n, names, link, used_ids)}" for n in members)
        lines.append("  }")
    lines.extend(f"  {_node_line(view.level, n, names, link, used_ids)}" for n in loose)
    busiest = max((e.rps for e in view.edges if e.rps is not None), default=0.0)
    for index, edge in enumerate(view.edges):
        colour = edge_colour(edge)
        label = edge_label(edge)
        attributes = {
            "id": f"edge-{index}",
            label_key: label,
            "tooltip": _edge_tooltip(edge, view),
            "color": colour,
            "fontcolor": colour,
            "penwidth": f"{_pen_width(edge.rps, busiest):.2f}",
        }
        if edge.origin == "config":
            attributes["style"] = "dashed"
        lines.append(
            f"  {names[edge.source]} -> {names[edge.target]} {_attribute_list(attributes)};"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class _Choice:
    """What the page's query asks for, checked against what is kept."""

    cluster: str
    header: RunGraphHeader
    namespace: str
    find: str
    aggregate: bool
    view: str


def run_graph_context(
    headers: Sequence[RunGraphHeader],
    query: Mapping[str, str],
    *,
    load: Callable[[int], RunGraph],
) -> dict[str, Any]:
    """What the graph page shows of the kept run graphs, as the query picks.

    Query parameters (all optional): ``cluster``, ``run`` (a kept graph's id:
    the time window), ``namespace`` (drill into one), ``find`` (outline the
    nodes whose id, name or API match every word), ``view`` (``namespaces``
    or ``services`` for the whole mesh; by default namespaces once the mesh
    has more nodes than a view holds).

    Args:
        headers: Every kept graph, newest first (not empty).
        query: The page's query.
        load: Reads one graph by id.

    Raises:
        StoreError: The database failed.
    """
    clusters = sorted({h.cluster for h in headers})
    cluster = query.get("cluster", "").strip()
    if cluster not in clusters:
        cluster = headers[0].cluster
    runs = [h for h in headers if h.cluster == cluster]
    wanted = query.get("run", "").strip()
    header = next((h for h in runs if str(h.id) == wanted), runs[0])
    view = query.get("view", "").strip()
    aggregate = (
        view == "namespaces"
        if view in ("namespaces", "services")
        else header.node_count > graphmodel.VIEW_NODES
    )
    choice = _Choice(
        cluster=cluster,
        header=header,
        namespace=query.get("namespace", "").strip()[:253],
        find=" ".join(query.get("find", "").split())[:200],
        aggregate=aggregate,
        view=view if view in ("namespaces", "services") else "",
    )
    drawn = _drawn(choice, load)
    return {
        "root": "",
        "title": "Service graph",
        "mode": "run",
        "clusters": clusters,
        "cluster": cluster,
        "runs": [{"header": h, "label": _run_label(h)} for h in runs],
        "run": header,
        "run_label": _run_label(header),
        "namespace": choice.namespace,
        "find": choice.find,
        "view": choice.view,
        "aggregate": aggregate,
        "legend_shapes": [(kind, words) for kind, (_, _, words) in SHAPES.items()],
        "legend_health": HEALTH_COLOURS,
        "failing": percent_text(graphmodel.FAILING),
        "mesh_href": _page_link(choice, namespace=""),
        **drawn,
    }


def _drawn(choice: _Choice, load: Callable[[int], RunGraph]) -> dict[str, Any]:
    """The view's picture and tables, from the cache when drawn before."""
    key = (
        choice.header.digest,
        choice.cluster,
        str(choice.header.id),
        choice.namespace,
        choice.find,
        "1" if choice.aggregate else "0",
    )
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    graph = _graph(choice.header, load)
    namespaces = sorted({n.namespace for n in graph.nodes if n.namespace and n.kind != "external"})
    if choice.namespace:
        view = graphmodel.namespace_view(
            graph, choice.namespace, cluster=choice.cluster, find=choice.find
        )
    else:
        view = graphmodel.mesh_view(graph, find=choice.find, aggregate=choice.aggregate)
    by_key = {node.key: node for node in view.nodes}

    def link(node: ViewNode) -> str | None:
        if node.kind == "namespace" and node.namespace:
            return _page_link(choice, namespace=node.namespace)
        if node.asset and ":" in node.asset:
            group, asset = node.asset.split(":", 1)
            return f"apis/{group}/{asset}.html"
        return None

    dot = view_dot(view, link=link)
    svg = to_svg(dot, dot_binary=engine(view), timeout=30.0) if view.nodes else None
    drawn = {
        "svg": svg,
        "level": view.level,
        "namespaces": namespaces,
        "known_namespace": not choice.namespace or choice.namespace in namespaces,
        "node_count": len(view.nodes),
        "capped": view.capped,
        "total_nodes": view.total_nodes,
        "total_edges": view.total_edges,
        "view_nodes": graphmodel.VIEW_NODES,
        "matches": [
            {"label": by_key[k].label if k in by_key else k, "href": _match_link(choice, k)}
            for k in view.matches[:50]
        ],
        "match_count": len(view.matches),
        "edge_rows": [
            {
                "source": by_key[e.source].label,
                "target": by_key[e.target].label,
                "protocol": e.protocol,
                "rate": rate_text(e.rps),
                "errors": percent_text(e.error_rate),
                "p95": duration_text(e.p95_ms),
                "origin": e.origin,
                "calls": e.calls,
                "failing": graphmodel.health(e.error_rate) == "failing",
            }
            for e in sorted(view.edges, key=lambda e: (-(e.rps or 0.0), e.source, e.target))
        ],
    }
    with _cache_lock:
        _cache[key] = drawn
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return drawn


def _graph(header: RunGraphHeader, load: Callable[[int], RunGraph]) -> RunGraph:
    """The graph ``header`` names; the last few read stay parsed (every view reads one whole)."""
    with _cache_lock:
        if header.digest in _graphs:
            _graphs.move_to_end(header.digest)
            return _graphs[header.digest]
    try:
        graph = load(header.id)
    except NotFound:  # dropped between listing and reading: a newer run replaced it
        return RunGraph(header.cluster, header.taken_at, None, (), ())
    with _cache_lock:
        _graphs[header.digest] = graph
        while len(_graphs) > GRAPHS_KEPT:
            _graphs.popitem(last=False)
    return graph


def _page_link(choice: _Choice, *, namespace: str) -> str:
    params = {"cluster": choice.cluster, "run": str(choice.header.id)}
    if namespace:
        params["namespace"] = namespace
    if choice.find:
        params["find"] = choice.find
    if choice.view and not namespace:
        params["view"] = choice.view
    return "graph.html?" + urlencode(params)


def _match_link(choice: _Choice, key: str) -> str:
    if key.startswith("ns:"):
        return _page_link(choice, namespace=key.split("/", 1)[1])
    return "#graph"


def _run_label(header: RunGraphHeader) -> str:
    when = header.taken_at.strftime("%Y-%m-%d %H:%M UTC")
    window = f"telemetry {header.window}" if header.window else "config only"
    return f"{when} · {window} · {header.node_count} nodes, {header.edge_count} edges"


def _group(node: ViewNode, view: GraphView) -> str:
    several = len({n.cluster for n in view.nodes if n.kind in ("service", "tcp")}) > 1
    return f"{node.cluster}/{node.namespace}" if several and node.cluster else str(node.namespace)


def _node_line(
    level: str,
    node: ViewNode,
    names: Mapping[str, str],
    link: Callable[[ViewNode], str | None],
    used_ids: set[str],
) -> str:
    shape, style, _ = SHAPES[node.kind]
    fill, border = HEALTH_COLOURS[graphmodel.health(node.error_rate)]
    label = node.label
    if node.kind == "namespace":
        plural = "s" if node.members != 1 else ""
        # Drilled into another namespace, a neighbour stands for the Services it links.
        linked = " linked" if level == "namespace" else ""
        label += f"\n{node.members} service{plural}{linked}"
    if node.error_rate is not None and node.error_rate > 0:
        label += f"\n{percent_text(node.error_rate)} err in"
    element = _element_id(node, used_ids)
    attributes = {
        "id": element,
        "label": label,
        "shape": shape,
        "style": style,
        "fillcolor": fill,
        "color": _FOUND if node.found else border,
        "penwidth": "3" if node.found else "1.2",
        "tooltip": _node_tooltip(node),
    }
    href = link(node)
    if href is not None:
        # Graphviz 2.43 copies a URL's "&" into the SVG as is; as an entity it stays one.
        attributes.update(URL=href.replace("&", "&amp;"), target="_top")
    return f"{names[node.key]} {_attribute_list(attributes)};"


def _element_id(node: ViewNode, used: set[str]) -> str:
    """``node-<asset id>`` for a Service with an API (as the asset graph names it), else by key."""
    if node.asset and ":" in node.asset:  # ids of assets are [a-z0-9.-] already
        candidate = "node-" + re.sub(r"[^a-z0-9.-]", "-", node.asset.split(":", 1)[1])
    elif node.kind == "namespace":
        candidate = "ns-" + re.sub(r"[^A-Za-z0-9_.-]", "-", node.key[3:])
    else:
        candidate = "node-" + re.sub(r"[^A-Za-z0-9_.-]", "-", node.key)
    candidate = candidate[:200]
    unique, suffix = candidate, 2
    while unique in used:
        unique, suffix = f"{candidate}-{suffix}", suffix + 1
    used.add(unique)
    return unique


def _node_tooltip(node: ViewNode) -> str:
    parts = [node.key if not node.key.startswith("ns:") else f"namespace {node.key[3:]}"]
    if node.asset:
        parts.append(f"API {node.asset}")
    parts.append(f"inbound errors {percent_text(node.error_rate)}")
    return ", ".join(parts)


def _edge_tooltip(edge: ViewEdge, view: GraphView) -> str:
    labels = {node.key: node.label for node in view.nodes}
    parts = [f"{labels[edge.source]} → {labels[edge.target]}: {edge.protocol}"]
    unit = "conn/s" if edge.protocol == "tcp" else "rps"
    parts.append(f"{rate_text(edge.rps)} {unit}")
    parts.append(f"{percent_text(edge.error_rate)} errors")
    parts.append(
        f"p95 {duration_text(edge.p95_ms)}" + (" (max over calls)" if edge.calls > 1 else "")
    )
    parts.append(f"from {edge.origin}")
    if edge.calls > 1:
        parts.append(f"{edge.calls} calls summed")
    return ", ".join(parts)


def _pen_width(rps: float | None, busiest: float) -> float:
    if rps is None or busiest <= 0:
        return 1.0
    return 1.0 + 4.0 * math.log1p(max(rps, 0.0)) / math.log1p(busiest)


def _attribute_list(attributes: Mapping[str, str]) -> str:
    return "[" + ", ".join(f"{name}={_quoted(value)}" for name, value in attributes.items()) + "]"


def _quoted(text: str) -> str:
    """``text`` as a DOT string: backslashes doubled (no ``\\N``-style escapes), quotes
    escaped, line ends as DOT's ``\\n``, control characters dropped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return '"' + "".join(c for c in escaped if ord(c) >= 32) + '"'
