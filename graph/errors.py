"""Exceptions raised by the graph package.

Every error raised on purpose by ``graph`` derives from ``GraphError``, so a
caller (the CLI, the pipeline) can catch the whole package with one clause::

    GraphError
     ├── BuildError         discovery's output cannot form one graph
     │                      (a Service listed twice, an API on a Service
     │                      that was not given, an edge without an end)
     ├── NodeNotFoundError  a query named a node the graph does not hold
     └── ExportError        an unknown export format, an attribute a format
                            cannot hold, or a file that could not be written
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BuildError", "ExportError", "GraphError", "NodeNotFoundError"]


class GraphError(Exception):
    """Root of every error the graph package raises on purpose."""


class BuildError(GraphError):
    """Discovery's output is inconsistent and cannot be turned into a graph."""


class NodeNotFoundError(GraphError, KeyError):
    """A query named a node that is not in the graph.

    Also a ``KeyError``, since asking for a missing node is a failed lookup.

    Attributes:
        node: The node id that was asked for.
    """

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.node = node

    def __str__(self) -> str:
        return f"node {self.node!r} is not in the graph"


class ExportError(GraphError):
    """The graph could not be exported.

    Attributes:
        format: The export format involved, when one is known.
        path: The file that could not be written, when the failure was I/O.
    """

    def __init__(
        self, message: str, *, format: str | None = None, path: Path | None = None
    ) -> None:
        super().__init__(message)
        self.format = format
        self.path = path
