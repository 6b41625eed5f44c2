"""The service dependency graph: built from discovery's output, exported for people.

``graph`` turns what discovery found (Services, external hosts, config and
telemetry edges, APIs) into a ``networkx.DiGraph`` and writes it as JSON,
GraphML, DOT or Mermaid. It imports discovery's models and nothing else of
meshatlas.
"""

from __future__ import annotations

from graph.analysis import (
    Consumer,
    Hotspot,
    blast_radius,
    consumers,
    cycles,
    find_node,
    hotspots,
    orphans,
)
from graph.build import (
    UNKNOWN_NODE,
    EdgeAttributes,
    NodeAttributes,
    NodeKind,
    build_graph,
    consumers_of,
    dependencies_of,
)
from graph.errors import BuildError, ExportError, GraphError, NodeNotFoundError
from graph.export import (
    EXPORT_FORMATS,
    to_dot,
    to_graphml,
    to_json,
    to_mermaid,
    to_png,
    to_svg,
    write_exports,
)
from graph.load import from_node_link, from_report

__all__ = [
    "EXPORT_FORMATS",
    "Consumer",
    "Hotspot",
    "blast_radius",
    "consumers",
    "cycles",
    "find_node",
    "from_node_link",
    "from_report",
    "hotspots",
    "orphans",
    "UNKNOWN_NODE",
    "BuildError",
    "EdgeAttributes",
    "ExportError",
    "GraphError",
    "NodeAttributes",
    "NodeKind",
    "NodeNotFoundError",
    "build_graph",
    "consumers_of",
    "dependencies_of",
    "to_dot",
    "to_graphml",
    "to_json",
    "to_mermaid",
    "to_png",
    "to_svg",
    "write_exports",
]
