"""Sending a run's service graphs to whatever ``--catalog`` names.

A catalogue database keeps them itself (:meth:`CatalogStore.save_run_graph`);
a catalogue server takes them at ``POST /meshatlas/api/v1/run-graphs`` with
the crawl's bearer token. A server from before that route (404 or 405) is
told nothing, and the crawl goes on: its portal draws the assets' graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import httpx
import orjson

from catalog.errors import InvalidAsset, RemoteError
from catalog.graphmodel import RunGraph, RunGraphHeader, graph_json
from catalog.storage import graphs
from catalog.storage.store import CatalogStore

__all__ = ["RUN_GRAPHS", "publish_graphs", "send_graph"]

#: The server's route for run graphs.
RUN_GRAPHS: Final = "/meshatlas/api/v1/run-graphs"


def publish_graphs(
    *,
    target: object,
    url: str,
    token: str | None,
    run_graphs: Sequence[RunGraph],
    keep: int = graphs.DEFAULT_KEPT,
    client: httpx.Client | None = None,
) -> list[RunGraphHeader]:
    """Keep each graph where ``target`` (opened from ``url``) keeps things.

    Args:
        target: The opened publish target: a store keeps the graphs in its
            database; anything else is taken for the server ``url`` names.
        url: The ``--catalog`` URL (``http(s)://`` for a server).
        token: The bearer token for a server.
        run_graphs: One graph per cluster the run read.
        keep: Graphs each cluster keeps.
        client: An injected HTTP client (by default one is made and closed).

    Returns:
        The headers of the graphs kept; empty when a server has no such route.

    Raises:
        InvalidAsset: A graph was refused (400); the ones before it are kept.
        RemoteError: The server failed or did not answer.
        StoreError: The database failed.
    """
    if isinstance(target, CatalogStore):
        return [target.save_run_graph(graph, keep=keep) for graph in run_graphs]
    owned = client is None
    http = client or httpx.Client(timeout=60.0, trust_env=False)
    try:
        kept: list[RunGraphHeader] = []
        for graph in run_graphs:
            header = send_graph(http, base_url=url, graph=graph, token=token, keep=keep)
            if header is None:
                return []
            kept.append(header)
        return kept
    finally:
        if owned:
            http.close()


def send_graph(
    client: httpx.Client, *, base_url: str, graph: RunGraph, token: str | None, keep: int
) -> RunGraphHeader | None:
    """``POST`` one graph; its header, or None when the server has no such route.

    Raises:
        InvalidAsset: The server refused the graph (400).
        RemoteError: Any other failure, including no answer.
    """
    target = base_url.rstrip("/") + RUN_GRAPHS
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = orjson.dumps({**graph_json(graph), "keep": keep})
    try:
        response = client.post(target, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RemoteError(
            f"catalogue server {target} did not answer: {exc}", url=target, status=None
        ) from exc
    if response.status_code in (404, 405):
        return None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 201 and isinstance(answer, dict):
        return _header(answer, target)
    message = answer.get("message") if isinstance(answer, dict) else None
    message = message or response.text[:200] or response.reason_phrase
    if response.status_code == 400 and isinstance(answer, dict):
        raise InvalidAsset(str(answer.get("field") or "body"), str(message))
    raise RemoteError(
        f"catalogue server answered {response.status_code} to POST {target}: {message}",
        url=target,
        status=response.status_code,
    )


def _header(answer: dict[str, object], url: str) -> RunGraphHeader:
    try:
        return RunGraphHeader(
            id=int(str(answer["id"])),
            cluster=str(answer["cluster"]),
            taken_at=datetime.fromisoformat(str(answer["takenAt"])),
            window=None if answer.get("window") is None else str(answer["window"]),
            run_id=None if answer.get("runId") is None else int(str(answer["runId"])),
            node_count=int(str(answer["nodes"])),
            edge_count=int(str(answer["edges"])),
            digest=str(answer["digest"]),
        )
    except (KeyError, ValueError) as exc:
        raise RemoteError(
            f"catalogue server {url} gave an unreadable answer: {exc}", url=url, status=None
        ) from exc
