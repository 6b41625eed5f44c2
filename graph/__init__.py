"""The service dependency graph: built from discovery's output, exported for people.

``graph`` turns what discovery found (Services, external hosts, config and
telemetry edges, APIs) into a ``networkx.DiGraph`` and writes it as JSON,
GraphML, DOT or Mermaid. It imports discovery's models and nothing else of
meshatlas.
"""

from __future__ import annotations

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
    write_exports,
)

__all__ = [
    "EXPORT_FORMATS",
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
    "write_exports",
]
