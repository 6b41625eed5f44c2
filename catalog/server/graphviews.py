"""The run-graph routes' bodies: what ``/meshatlas/api/v1/run-graphs`` takes and answers.

``POST`` takes one run's graph of one cluster (:func:`catalog.graphmodel.graph_json`
plus an optional ``keep``: how many graphs its cluster keeps, default
:data:`catalog.storage.graphs.DEFAULT_KEPT`) and answers the stored graph's
header. ``GET`` without parameters lists every kept graph's header; with
``cluster`` (and optionally ``run``, a kept graph's id) it answers that
cluster's newest (or that) graph in full, with the headers of its kept runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from catalog.errors import InvalidAsset
from catalog.graphmodel import (
    RunGraph,
    RunGraphHeader,
    RunGraphNotFound,
    graph_from_json,
    graph_json,
)
from catalog.storage import graphs
from catalog.storage.store import CatalogStore

__all__ = ["QUERY", "answer", "header_json", "publication_from_json"]

#: Query parameters ``GET run-graphs`` knows.
QUERY: Final = frozenset({"cluster", "run"})


def publication_from_json(value: Any) -> tuple[RunGraph, int]:
    """The graph and ``keep`` of a ``POST`` body.

    Raises:
        InvalidAsset: The body is not such a graph, or ``keep`` is out of range.
    """
    graph = graph_from_json(value, extra=("keep",))
    keep = graphs.check_keep(value.get("keep", graphs.DEFAULT_KEPT))
    return graph, keep


def header_json(header: RunGraphHeader) -> dict[str, Any]:
    """One kept graph without its nodes and edges."""
    return {
        "id": header.id,
        "cluster": header.cluster,
        "takenAt": header.taken_at.isoformat(),
        "window": header.window,
        "runId": header.run_id,
        "nodes": header.node_count,
        "edges": header.edge_count,
        "digest": header.digest,
    }


def answer(store: CatalogStore, query: Mapping[str, str]) -> dict[str, Any]:
    """What ``GET run-graphs`` answers for ``query`` (blocking: run it in a thread).

    Raises:
        InvalidAsset: An unknown parameter, or ``run`` without ``cluster`` or not a number.
        NotFound: No graph of that cluster (or with that id) is kept.
        StoreError: The database failed.
    """
    unknown = sorted(set(query) - QUERY)
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    cluster = query.get("cluster")
    run = query.get("run")
    if cluster is None:
        if run is not None:
            raise InvalidAsset("run", "needs cluster")
        headers = store.run_graphs()
        return {
            "clusters": sorted({h.cluster for h in headers}),
            "runs": [header_json(h) for h in headers],
        }
    headers = store.run_graphs(cluster=cluster)
    if run is not None and not run.isdigit():
        raise InvalidAsset("run", f"{run!r:.40} must be a kept graph's id")
    chosen = next((h for h in headers if run is None or str(h.id) == run), None)
    if chosen is None:
        which = f"run graph {run}" if run is not None else "run graph"
        raise RunGraphNotFound(f"no {which} of cluster {cluster!r:.100} is kept")
    graph = store.run_graph(chosen.id)
    return {
        **graph_json(graph),
        "id": chosen.id,
        "digest": chosen.digest,
        "runs": [header_json(h) for h in headers],
    }
