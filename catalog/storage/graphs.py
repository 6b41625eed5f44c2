"""Run graphs: the service graph of each run, per cluster, the last few kept.

A crawl hands in one :class:`~catalog.graphmodel.RunGraph` per cluster it
read. Each is one row of ``catalog_run_graphs``: a header (cluster, when,
telemetry window, counts, the digest of its JSON) and the graph as
zlib-compressed JSON, because the portal always reads a graph whole and a
row per node would cost thousands of rows per run. Saving one trims its
cluster to the newest ``keep`` (:data:`DEFAULT_KEPT`), so the table stays a
bounded window of recent runs: the portal's time window.
"""

from __future__ import annotations

import zlib
from typing import Final

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from catalog.errors import InvalidAsset, StoreError
from catalog.graphmodel import (
    RunGraph,
    RunGraphHeader,
    RunGraphNotFound,
    graph_from_json,
    graph_json,
)
from catalog.storage.schema import RunGraphRow

__all__ = ["DEFAULT_KEPT", "MAX_KEPT", "check_keep", "clusters", "count", "headers", "load", "save"]

#: Graphs kept per cluster unless a publisher asks otherwise.
DEFAULT_KEPT: Final = 10
#: The most a publisher may ask to keep per cluster.
MAX_KEPT: Final = 500
# Largest decompressed graph read back: a row is never trusted to be small.
_MAX_BODY: Final = 256 * 1024 * 1024


def check_keep(keep: object) -> int:
    """``keep`` as a count of graphs, 1 to :data:`MAX_KEPT`.

    Raises:
        InvalidAsset: It is not such a count.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEPT:
        raise InvalidAsset("keep", f"must be an integer from 1 to {MAX_KEPT}")
    return keep


def save(session: Session, graph: RunGraph, *, keep: int = DEFAULT_KEPT) -> RunGraphHeader:
    """Store ``graph`` and drop its cluster's graphs beyond the newest ``keep``.

    Raises:
        InvalidAsset: The graph would be refused as a REST body (see
            :func:`catalog.graphmodel.graph_from_json`), or ``keep`` is out of range.
    """
    keep = check_keep(keep)
    if graph.taken_at.utcoffset() is None:
        raise InvalidAsset("takenAt", "must carry a time zone")
    raw = orjson.dumps(graph_json(graph))
    # The same checks as a REST body gets: a graph built in code is no more trusted.
    graph_from_json(orjson.loads(raw))
    row = RunGraphRow(
        cluster=graph.cluster,
        taken_at=graph.taken_at,
        window=graph.window,
        run_id=graph.run_id,
        node_count=len(graph.nodes),
        edge_count=len(graph.edges),
        digest=graph.digest(),
        body=zlib.compress(raw, 6),
    )
    session.add(row)
    session.flush()
    newest = (
        select(RunGraphRow.id)
        .where(RunGraphRow.cluster == graph.cluster)
        .order_by(RunGraphRow.taken_at.desc(), RunGraphRow.id.desc())
        .limit(keep)
    )
    kept = set(session.scalars(newest))
    session.execute(
        delete(RunGraphRow).where(RunGraphRow.cluster == graph.cluster, RunGraphRow.id.not_in(kept))
    )
    return _header(row)


def headers(session: Session, *, cluster: str | None = None) -> list[RunGraphHeader]:
    """The kept graphs (of ``cluster``, or of all), newest first."""
    query = select(
        RunGraphRow.id,
        RunGraphRow.cluster,
        RunGraphRow.taken_at,
        RunGraphRow.window,
        RunGraphRow.run_id,
        RunGraphRow.node_count,
        RunGraphRow.edge_count,
        RunGraphRow.digest,
    ).order_by(RunGraphRow.taken_at.desc(), RunGraphRow.id.desc())
    if cluster is not None:
        query = query.where(RunGraphRow.cluster == cluster)
    return [RunGraphHeader(*row) for row in session.execute(query)]


def clusters(session: Session) -> list[str]:
    """Clusters with a kept graph, sorted."""
    query = select(RunGraphRow.cluster).group_by(RunGraphRow.cluster).order_by(RunGraphRow.cluster)
    return list(session.scalars(query))


def count(session: Session) -> int:
    """Graphs kept, over every cluster."""
    return int(session.scalar(select(func.count()).select_from(RunGraphRow)) or 0)


def load(session: Session, graph_id: int) -> RunGraph:
    """One kept graph in full.

    Raises:
        NotFound: No graph has that id (never kept, or dropped since).
        StoreError: The stored bytes do not read back as a graph.
    """
    body = session.scalar(select(RunGraphRow.body).where(RunGraphRow.id == graph_id))
    if body is None:
        raise RunGraphNotFound(f"no run graph {graph_id} is kept")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(body, _MAX_BODY)
        if inflater.unconsumed_tail:
            raise StoreError(f"run graph {graph_id} is larger than {_MAX_BODY} bytes")
        return graph_from_json(orjson.loads(raw))
    except (zlib.error, orjson.JSONDecodeError, InvalidAsset) as exc:
        raise StoreError(f"run graph {graph_id} does not read back: {exc}") from exc


def _header(row: RunGraphRow) -> RunGraphHeader:
    return RunGraphHeader(
        id=row.id,
        cluster=row.cluster,
        taken_at=row.taken_at,
        window=row.window,
        run_id=row.run_id,
        node_count=row.node_count,
        edge_count=row.edge_count,
        digest=row.digest,
    )
