"""Write the dependency graph in formats other tools read.

* JSON: networkx node-link data (``nodes`` and ``edges`` keys), for programs.
* GraphML: for Gephi, yEd and Cytoscape.
* DOT: for Graphviz (``dot -Tsvg``).
* Mermaid: for Markdown pages (GitHub, GitLab, Backstage TechDocs).

Every writer is deterministic: nodes and edges come out sorted by id, so two
runs over the same mesh produce byte-identical files that diff cleanly.
"""

from __future__ import annotations

import io
import json
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
    "write_exports",
]

#: Formats ``write_exports`` knows, each with the file name it writes.
EXPORT_FORMATS: Mapping[str, str] = {
    "json": "graph.json",
    "graphml": "graph.graphml",
    "dot": "graph.dot",
    "mermaid": "graph.mmd",
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
    and lists are joined with commas (``api_kinds="grpc,rest"``).

    Raises:
        ExportError: An attribute holds a value GraphML cannot represent.
    """
    portable = nx.DiGraph()
    portable.graph.update(_graphml_attributes(graph.graph, where="graph"))
    for node in _sorted_nodes(graph):
        portable.add_node(node, **_graphml_attributes(graph.nodes[node], where=f"node {node}"))
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
    """Render the graph as a Graphviz DOT document.

    Each namespace is drawn as a ``cluster_<namespace>`` subgraph (keyed by
    cluster too when the graph spans several clusters). External hosts are
    ellipses outside any namespace, unidentified callers diamonds. Edges
    declared only by config are dashed; edges with errors are red.
    """
    lines = [
        "digraph meshatlas {",
        '  graph [rankdir="LR", fontname="Helvetica"];',
        '  node [shape="box", style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize="10"];',
    ]
    grouped, loose = _namespace_groups(graph)
    for group, members in grouped.items():
        lines.append(f"  subgraph {_dot_string('cluster_' + group)} {{")
        lines.append(f"    label={_dot_string(group)};")
        lines.extend(f"    {_dot_node(graph, node)}" for node in members)
        lines.append("  }")
    lines.extend(f"  {_dot_node(graph, node)}" for node in loose)
    for source, target in _sorted_edges(graph):
        attributes = graph.edges[source, target]
        style = {"label": _edge_caption(attributes, separator="\n")}
        if attributes.get("origin") == "config":
            style["style"] = "dashed"
        if _has_errors(attributes):
            style["color"] = "red"
            style["fontcolor"] = "red"
        lines.append(f"  {_dot_string(source)} -> {_dot_string(target)} {_dot_list(style)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
    parts = [str(attributes.get("protocol") or "unknown")]
    rps = attributes.get("rps")
    if rps is not None:
        parts.append(f"{rps:.3g} rps")
    if _has_errors(attributes):
        parts.append(f"{attributes['error_rate']:.1%} errors")
    return separator.join(parts)


def _has_errors(attributes: Mapping[str, Any]) -> bool:
    error_rate = attributes.get("error_rate")
    return error_rate is not None and error_rate > 0


_DOT_SHAPES: Mapping[str, Mapping[str, str]] = {
    "external": {"shape": "ellipse", "style": "dashed"},
    "unknown": {"shape": "diamond", "style": "solid"},
}


def _dot_node(graph: nx.DiGraph, node: str) -> str:
    attributes = graph.nodes[node]
    style = {"label": str(attributes.get("label") or node), "tooltip": str(node)}
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
}


def _mermaid_node(graph: nx.DiGraph, node: str, node_id: str) -> str:
    attributes = graph.nodes[node]
    opening, closing = _MERMAID_SHAPES.get(str(attributes.get("kind")), ("[", "]"))
    label = _mermaid_text(str(attributes.get("label") or node))
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
