"""Service dependencies from tracing back ends: Jaeger and Zipkin.

Both answer "who called whom, how often" over a lookback window:

* Jaeger query service: ``GET /api/dependencies?endTs=<ms>&lookback=<ms>`` →
  ``{"data": [{"parent": "orders", "child": "payments", "callCount": 42}], ...}``
* Zipkin: ``GET /api/v2/dependencies?endTs=<ms>&lookback=<ms>`` →
  ``[{"parent": "orders", "child": "payments", "callCount": 42, "errorCount": 1}]``

Counts become rates over the window. Neither knows latency or protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict

import httpx

from discovery.errors import TelemetryError
from discovery.model import Edge
from discovery.telemetry.base import NodeNamer, parse_window

__all__ = ["JaegerSource", "ZipkinSource"]


class _RawLink(TypedDict):
    parent: str
    child: str
    callCount: int
    errorCount: NotRequired[int]


class _TraceDependencies:
    """A tracing back end's dependency links over one window."""

    kind = "traces"
    path = "/"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        window: str = "10m",
        at: datetime | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.window = window
        self.seconds = parse_window(window)
        self.at = at
        self.timeout = timeout

    async def edges(self, namer: NodeNamer) -> tuple[Edge, ...]:
        """Every parent → child link of the window.

        Raises:
            TelemetryError: The back end could not be read or answered nonsense.
        """
        end = self.at.timestamp() if self.at is not None else time.time()
        params = {"endTs": str(int(end * 1000)), "lookback": str(int(self.seconds * 1000))}
        endpoint = f"{self.url}{self.path}"
        try:
            response = await self.client.get(endpoint, params=params, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise self._error(f"no answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"cannot reach {self.kind}: {exc}") from exc
        if response.status_code != 200:
            raise self._error(f"HTTP {response.status_code} from {endpoint}")
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            raise self._error(f"{endpoint} did not answer JSON") from exc
        links = self._links(body)
        counts: dict[tuple[str, str], list[int]] = {}
        for link in links:
            pair = (namer.named(str(link["parent"])), namer.named(str(link["child"])))
            tally = counts.setdefault(pair, [0, 0])
            tally[0] += int(link.get("callCount", 0))
            tally[1] += int(link.get("errorCount", 0))
        edges = []
        for (source, target), (calls, errors) in sorted(counts.items()):
            if calls <= 0 or source == target:
                continue
            edges.append(
                Edge(
                    source=source,
                    target=target,
                    protocol="unknown",
                    origin="telemetry",
                    rps=calls / self.seconds,
                    error_rate=errors / calls if self.counts_errors else None,
                    sources=(self.kind,),
                )
            )
        return tuple(edges)

    counts_errors = True

    def _links(self, body: Any) -> list[_RawLink]:
        raise NotImplementedError

    def _error(self, message: str) -> TelemetryError:
        return TelemetryError(message, source=self.kind, url=self.url)


def _valid_links(items: Any, error: TelemetryError) -> list[_RawLink]:
    if not isinstance(items, list):
        raise error
    links: list[_RawLink] = []
    for item in items:
        if not isinstance(item, Mapping) or not {"parent", "child"} <= item.keys():
            raise error
        links.append(item)  # type: ignore[arg-type]
    return links


class JaegerSource(_TraceDependencies):
    """Edges from a Jaeger query service's ``/api/dependencies``."""

    kind = "jaeger"
    path = "/api/dependencies"
    counts_errors = False

    def _links(self, body: Any) -> list[_RawLink]:
        if isinstance(body, Mapping) and body.get("errors"):
            messages = "; ".join(str(e.get("msg", e)) for e in body["errors"])
            raise self._error(f"Jaeger answered with errors: {messages}")
        data = body.get("data") if isinstance(body, Mapping) else None
        return _valid_links(data, self._error("Jaeger's answer holds no dependency list"))


class ZipkinSource(_TraceDependencies):
    """Edges from a Zipkin server's ``/api/v2/dependencies``."""

    kind = "zipkin"
    path = "/api/v2/dependencies"

    def _links(self, body: Any) -> list[_RawLink]:
        return _valid_links(body, self._error("Zipkin's answer is not a dependency list"))
