"""Write the dependency graph in formats other tools read.

* JSON: networkx node-link data (``nodes`` and ``edges`` keys), for programs.
* GraphML: for Gephi, yEd and Cytoscape.
* DOT: for Graphviz (``dot -Tsvg``).
* Mermaid: for Markdown pages (GitHub, GitLab, Backstage TechDocs).

A Service telemetry measured carries its inbound traffic (``analytics``:
rate, error rates, p50/p95/p99, top consumers). JSON keeps it as one nested
object; GraphML, which holds scalars only, as ``analytics_*`` attributes;
DOT and Mermaid put rate, errors and p95 in the node's label (DOT lists the
top consumers in the tooltip). Nodes without it show none of this.

Every writer is deterministic: nodes and edges come out sorted by id, so two
runs over the same mesh produce byte-identical files that diff cleanly.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from graph.errors import ExportError

__all__ = [
    "EXPORT_FORMATS",
    "to_dot",
    "to_graphml",
    "to_json",
    "to_mermaid",
    "to_png",
    "to_svg",
    "write_exports",
]

#: Formats ``write_exports`` knows, each with the file name it writes.
EXPORT_FORMATS: Mapping[str, str] = {
    "json": "graph.json",
    "graphml": "graph.graphml",
    "dot": "graph.dot",
    "mermaid": "graph.mmd",
    "svg": "graph.svg",
}


def to_json(graph: nx.DiGraph) -> str:
    """Render the graph as networkx node-link JSON.

    The document reads back with ``networkx.node_link_graph(data,
    edges="edges")``. Attributes whose value is unknown are kept as ``null``.

    Raises:
        ExportError: An attribute holds a value JSON cannot represent.
    """
    data = nx.node_link_data(graph, edges="edges")
    data["nodes"].sort(key=lambda node: str(node["id"]))
    data["edges"].sort(key=lambda edge: (str(edge["source"]), str(edge["target"])))
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"graph cannot be written as JSON: {exc}", format="json") from exc
    return text + "\n"


def to_graphml(graph: nx.DiGraph) -> bytes:
    """Render the graph as GraphML (UTF-8).

    GraphML holds only scalars, so attributes that are ``None`` are left out
    and lists are joined with commas (``api_kinds="grpc,rest"``). A node's
    ``analytics`` becomes ``analytics_rps``, ``analytics_error_rate``,
    ``analytics_client_error_rate``, ``analytics_p50_ms`` (and p95, p99) and
    ``analytics_consumers`` (the callers' ids, busiest first).

    Raises:
        ExportError: An attribute holds a value GraphML cannot represent.
    """
    portable = nx.DiGraph()
    portable.graph.update(_graphml_attributes(graph.graph, where="graph"))
    for node in _sorted_nodes(graph):
        attributes = _flat_analytics(graph.nodes[node])
        portable.add_node(node, **_graphml_attributes(attributes, where=f"node {node}"))
    for source, target in _sorted_edges(graph):
        attributes = _graphml_attributes(
            graph.edges[source, target], where=f"edge {source} -> {target}"
        )
        portable.add_edge(source, target, **attributes)
    buffer = io.BytesIO()
    try:
        nx.write_graphml(portable, buffer, encoding="utf-8", infer_numeric_types=True)
    except nx.NetworkXError as exc:
        raise ExportError(f"graph cannot be written as GraphML: {exc}", format="graphml") from exc
    return buffer.getvalue()


def to_dot(graph: nx.DiGraph) -> str:
    """Render the graph as a Graphviz DOT document, laid out to be read.

    Each namespace is drawn as a shaded ``cluster_<namespace>`` subgraph (keyed
    by cluster too when the graph spans several clusters), its Services named
    without the namespace. External hosts are dashed ellipses outside any
    namespace, unidentified callers grey diamonds. Edge width grows with the
    request rate (logarithmically, relative to the busiest edge); edges turn
    orange with any errors and red from 5% errors. Edges declared only by
    config are dashed and grey.
    """
    lines = [
        "digraph meshatlas {",
        '  graph [rankdir="LR", fontname="Helvetica", fontsize="12", nodesep="0.25", '
        'ranksep="1.0", newrank="true", pad="0.3", labeljust="l", outputorder="edgesfirst"];',
        '  node [shape="box", style="rounded,filled", fillcolor="white", fontname="Helvetica", '
        'fontsize="11", margin="0.12,0.05"];',
        '  edge [fontname="Helvetica", fontsize="9", color="gray35", arrowsize="0.7"];',
    ]
    grouped, loose = _namespace_groups(graph)
    for group, members in grouped.items():
        lines.append(f"  subgraph {_dot_string('cluster_' + group)} {{")
        lines.append(
            f'    label={_dot_string(group)}; style="rounded,filled"; '
            'fillcolor="#f4f6fa"; color="#b8c2d3"; fontcolor="#3b4a66";'
        )
        lines.extend(f"    {_dot_node(graph, node, short=True)}" for node in members)
        lines.append("  }")
    lines.extend(f"  {_dot_node(graph, node)}" for node in loose)
    busiest = max(
        (float(rate) for *_, rate in graph.edges(data="rps") if rate is not None), default=0.0
    )
    # Past a few dozen edges full captions bury the picture: keep the rate and
    # errors on the line, the rest in the tooltip (SVG viewers show it on hover).
    terse = graph.number_of_edges() > _TERSE_AFTER
    for source, target in _sorted_edges(graph):
        attributes = graph.edges[source, target]
        caption = _edge_caption(attributes, separator="\n")
        style = {
            "label": _terse_caption(attributes) if terse else caption,
            "tooltip": f"{source} -> {target}: " + caption.replace("\n", ", "),
            "penwidth": f"{_pen_width(attributes.get('rps'), busiest):.2f}",
        }
        if attributes.get("origin") == "config":
            style.update(style="dashed", color="gray60", fontcolor="gray45")
        color = _error_color(attributes.get("error_rate"))
        if attributes.get("egress") == "blackhole":
            color = "red"  # blocked by the mesh: every call fails
        if color is not None:
            style["color"] = color
            style["fontcolor"] = color
        lines.append(f"  {_dot_string(source)} -> {_dot_string(target)} {_dot_list(style)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(graph: nx.DiGraph, *, dot_binary: str = "dot", timeout: float = 120.0) -> bytes:
    """Render the graph as an SVG picture with Graphviz's ``dot``.

    Raises:
        ExportError: ``dot`` is not installed, failed, or took too long.
    """
    return _graphviz(to_dot(graph), "svg", dot_binary=dot_binary, timeout=timeout)


def to_png(graph: nx.DiGraph, *, dot_binary: str = "dot", timeout: float = 120.0) -> bytes:
    """Render the graph as a PNG picture with Graphviz's ``dot`` (see :func:`to_svg`)."""
    return _graphviz(to_dot(graph), "png", dot_binary=dot_binary, timeout=timeout)


def _graphviz(dot: str, fmt: str, *, dot_binary: str, timeout: float) -> bytes:
    executable = shutil.which(dot_binary)
    if executable is None:
        raise ExportError(
            f"{fmt} needs Graphviz's `{dot_binary}` (Debian package graphviz)", format=fmt
        )
    try:
        result = subprocess.run(
            [executable, f"-T{fmt}"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportError(f"dot took longer than {timeout:g}s", format=fmt) from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise ExportError(f"dot failed: {message}", format=fmt)
    return result.stdout


#: Edge count above which edge captions shrink to rate and errors.
_TERSE_AFTER = 30


def _terse_caption(attributes: Mapping[str, Any]) -> str:
    rps = attributes.get("rps")
    parts = [] if rps is None else [f"{_number(float(rps))}/s"]
    if _has_errors(attributes):
        error_rate = float(attributes["error_rate"])
        parts.append(f"{error_rate:.0%} err" if error_rate >= 0.01 else f"{error_rate:.1%} err")
    return " ".join(parts)


def _number(value: float) -> str:
    """Rates as people read them: 400, 57, 2.6, 0.25 (no exponents)."""
    if value >= 10:
        return f"{value:,.0f}"
    if value >= 0.01:
        return f"{value:.2g}"
    return "0" if value <= 0 else f"{value:.1g}" if value >= 0.001 else "<0.001"


def _pen_width(rps: Any, busiest: float) -> float:
    if rps is None or busiest <= 0:
        return 1.0
    return 1.0 + 5.0 * math.log1p(max(float(rps), 0.0)) / math.log1p(busiest)


def _error_color(error_rate: Any) -> str | None:
    if error_rate is None or error_rate <= 0:
        return None
    return "red" if error_rate >= 0.05 else "darkorange"


def to_mermaid(graph: nx.DiGraph) -> str:
    """Render the graph as a Mermaid ``flowchart LR``.

    Node ids are generated (``n0``, ``n1``… in sorted node order) because
    Mermaid ids cannot hold ``/`` or ``.``; the real names are quoted labels.
    Namespaces become ``subgraph`` blocks, external hosts stadiums and
    unidentified callers circles. Config-only edges are dotted.
    """
    ids = {node: f"n{index}" for index, node in enumerate(_sorted_nodes(graph))}
    lines = ["flowchart LR"]
    grouped, loose = _namespace_groups(graph)
    for index, (group, members) in enumerate(grouped.items()):
        lines.append(f'  subgraph g{index}["{_mermaid_text(group)}"]')
        lines.extend(f"    {_mermaid_node(graph, node, ids[node])}" for node in members)
        lines.append("  end")
    lines.extend(f"  {_mermaid_node(graph, node, ids[node])}" for node in loose)
    for source, target in _sorted_edges(graph):
        attributes = graph.edges[source, target]
        arrow = "-.->" if attributes.get("origin") == "config" else "-->"
        caption = _mermaid_text(_edge_caption(attributes, separator=" "))
        lines.append(f'  {ids[source]} {arrow}|"{caption}"| {ids[target]}')
    lines.append("  classDef external stroke-dasharray: 5 5")
    lines.append("  classDef unknown fill:#eee,stroke:#999")
    for kind in ("external", "unknown"):
        members = [ids[node] for node in ids if graph.nodes[node].get("kind") == kind]
        if members:
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def write_exports(
    graph: nx.DiGraph, out_dir: Path, *, formats: Sequence[str] = ("json", "graphml")
) -> list[Path]:
    """Write the graph to ``out_dir`` in each of ``formats``.

    File names are fixed (see ``EXPORT_FORMATS``): ``graph.json``,
    ``graph.graphml``, ``graph.dot`` and ``graph.mmd``. ``out_dir`` is created
    if needed. Formats are checked before anything is written, so an unknown
    one leaves the directory untouched.

    Args:
        graph: The graph to write.
        out_dir: Directory to write into.
        formats: Names from ``EXPORT_FORMATS``; repeats are written once.

    Returns:
        The paths written, in the order of ``formats``.

    Raises:
        ExportError: A format is unknown, the graph cannot be rendered in a
            format, or a file cannot be written.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [name for name in wanted if name not in EXPORT_FORMATS]
    if unknown:
        known = ", ".join(EXPORT_FORMATS)
        raise ExportError(
            f"unknown export format {unknown[0]!r} (known: {known})", format=unknown[0]
        )
    rendered = [(out_dir / EXPORT_FORMATS[name], _RENDERERS[name](graph)) for name in wanted]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out_dir}: {exc.strerror}", path=out_dir) from exc
    written: list[Path] = []
    for path, content in rendered:
        try:
            path.write_bytes(content)
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror}", path=path) from exc
        written.append(path)
    return written


_RENDERERS: Mapping[str, Callable[[nx.DiGraph], bytes]] = {
    "json": lambda graph: to_json(graph).encode("utf-8"),
    "graphml": to_graphml,
    "dot": lambda graph: to_dot(graph).encode("utf-8"),
    "mermaid": lambda graph: to_mermaid(graph).encode("utf-8"),
    "svg": to_svg,
}


def _sorted_nodes(graph: nx.DiGraph) -> list[str]:
    return sorted(graph.nodes, key=str)


def _sorted_edges(graph: nx.DiGraph) -> list[tuple[str, str]]:
    return sorted(graph.edges, key=lambda edge: (str(edge[0]), str(edge[1])))


def _graphml_attributes(attributes: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    portable: dict[str, Any] = {}
    for name in sorted(attributes):
        value = attributes[name]
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value) if isinstance(value, set | frozenset) else value
            portable[name] = ",".join(str(item) for item in items)
        elif isinstance(value, str | int | float | bool):
            portable[name] = value
        else:
            raise ExportError(
                f"{where}: attribute {name!r} of type {type(value).__name__} "
                "cannot be written as GraphML",
                format="graphml",
            )
    return portable


def _flat_analytics(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A node's attributes with ``analytics`` spread into scalar ``analytics_*`` ones."""
    flat = {name: value for name, value in attributes.items() if name != "analytics"}
    analytics = attributes.get("analytics")
    if isinstance(analytics, Mapping):
        for name, value in analytics.items():
            if name == "consumers":
                value = [str(c.get("source")) for c in value if isinstance(c, Mapping)]
            flat[f"analytics_{name}"] = value
    return flat


def _analytics_caption(attributes: Mapping[str, Any], *, separator: str) -> str | None:
    """``12 rps in, 1.2% errors, p95 35 ms`` for a measured node; None otherwise."""
    analytics = attributes.get("analytics")
    if not isinstance(analytics, Mapping) or analytics.get("rps") is None:
        return None
    parts = [f"{_number(float(analytics['rps']))} rps in"]
    error_rate = analytics.get("error_rate")
    if error_rate:
        parts.append(f"{float(error_rate):.1%} errors")
    p95 = analytics.get("p95_ms")
    if p95 is not None:
        parts.append(f"p95 {_duration(float(p95))}")
    return separator.join(parts)


def _consumers_caption(attributes: Mapping[str, Any]) -> str | None:
    """``top consumers: a 60%, b 40%`` for a measured node with callers."""
    analytics = attributes.get("analytics")
    consumers = analytics.get("consumers") if isinstance(analytics, Mapping) else None
    if not consumers:
        return None
    named = [f"{c.get('source')} {float(c.get('share') or 0):.0%}" for c in consumers[:5]]
    return "top consumers: " + ", ".join(named)


def _namespace_groups(graph: nx.DiGraph) -> tuple[dict[str, list[str]], list[str]]:
    """Split nodes into namespace groups and nodes that belong to none.

    External hosts stay outside: a ServiceEntry's namespace says who declared
    the host, not where it runs.
    """
    placed: list[tuple[str, str, str]] = []
    loose: list[str] = []
    for node in _sorted_nodes(graph):
        attributes = graph.nodes[node]
        namespace = attributes.get("namespace")
        if attributes.get("kind") == "external" or not namespace:
            loose.append(node)
        else:
            placed.append((str(attributes.get("cluster") or ""), str(namespace), node))
    several_clusters = len({cluster for cluster, _, _ in placed}) > 1
    groups: dict[str, list[str]] = defaultdict(list)
    for cluster, namespace, node in placed:
        group = f"{cluster}/{namespace}" if several_clusters and cluster else namespace
        groups[group].append(node)
    return dict(sorted(groups.items())), loose


def _edge_caption(attributes: Mapping[str, Any], *, separator: str) -> str:
    protocol = str(attributes.get("protocol") or "unknown")
    parts = [protocol]
    rps = attributes.get("rps")
    if rps is not None:
        parts.append(f"{_number(float(rps))} {'conn/s' if protocol == 'tcp' else 'rps'}")
    if _has_errors(attributes):
        parts.append(f"{attributes['error_rate']:.1%} errors")
    p95 = attributes.get("p95_ms")
    if p95 is not None:
        parts.append(f"p95 {_duration(float(p95))}")
    if attributes.get("mtls") is False:
        parts.append("plaintext")
    if attributes.get("egress"):
        parts.append(f"egress {attributes['egress']}")
    return separator.join(parts)


def _duration(ms: float) -> str:
    return f"{_number(ms)} ms" if ms < 1000 else f"{_number(ms / 1000)} s"


def _has_errors(attributes: Mapping[str, Any]) -> bool:
    error_rate = attributes.get("error_rate")
    return error_rate is not None and error_rate > 0


_DOT_SHAPES: Mapping[str, Mapping[str, str]] = {
    "external": {"shape": "ellipse", "style": "dashed,filled", "fillcolor": "#fbf3e6"},
    "unknown": {"shape": "diamond", "style": "filled", "fillcolor": "#e6e6e6"},
    "ingress": {"shape": "house", "style": "filled", "fillcolor": "#e6f0fb"},
}


def _dot_node(graph: nx.DiGraph, node: str, *, short: bool = False) -> str:
    attributes = graph.nodes[node]
    label = str(attributes.get("label") or node)
    prefix = f"{attributes.get('namespace')}/"
    if short and label.startswith(prefix):
        label = label[len(prefix) :]
    kinds = attributes.get("api_kinds") or []
    if kinds:
        label += "\n" + ", ".join(str(k) for k in kinds)
    tooltip = [str(node)]
    traffic = _analytics_caption(attributes, separator=", ")
    if traffic is not None:
        label += "\n" + traffic
        tooltip.append(traffic)
    consumers = _consumers_caption(attributes)
    if consumers is not None:
        tooltip.append(consumers)
    style = {"label": label, "tooltip": "; ".join(tooltip)}
    if kinds:
        style["fillcolor"] = "#dcebfa"
    style.update(_DOT_SHAPES.get(str(attributes.get("kind")), {}))
    return f"{_dot_string(node)} {_dot_list(style)};"


def _dot_list(attributes: Mapping[str, str]) -> str:
    pairs = ", ".join(f"{name}={_dot_string(value)}" for name, value in attributes.items())
    return f"[{pairs}]"


def _dot_string(text: str) -> str:
    """Quote ``text`` as a DOT string.

    Backslashes are doubled so a trailing one cannot swallow the closing
    quote and sequences like ``\\N`` are not read as Graphviz escapes;
    newlines become ``\\n`` line breaks.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


_MERMAID_SHAPES: Mapping[str, tuple[str, str]] = {
    "service": ("[", "]"),
    "external": ("([", "])"),
    "unknown": ("((", "))"),
    "ingress": ("[/", "\\]"),
}


def _mermaid_node(graph: nx.DiGraph, node: str, node_id: str) -> str:
    attributes = graph.nodes[node]
    opening, closing = _MERMAID_SHAPES.get(str(attributes.get("kind")), ("[", "]"))
    label = str(attributes.get("label") or node)
    traffic = _analytics_caption(attributes, separator=", ")
    if traffic is not None:
        label += f" · {traffic}"
    label = _mermaid_text(label)
    return f'{node_id}{opening}"{label}"{closing}'


# Mermaid reads ``#name;`` / ``#123;`` as entities inside labels, so ``#``
# itself must go first. A ``"`` would end the quoted label, ``<``/``>`` would
# be read as HTML, and a leading backtick would start a Markdown string.
_MERMAID_ENTITIES: tuple[tuple[str, str], ...] = (
    ("#", "#35;"),
    ('"', "#quot;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("`", "#96;"),
)


def _mermaid_text(text: str) -> str:
    for raw, entity in _MERMAID_ENTITIES:
        text = text.replace(raw, entity)
    # A line break would end the statement; Mermaid labels stay on one line.
    return " ".join(text.splitlines())
