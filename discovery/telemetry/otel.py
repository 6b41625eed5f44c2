"""OpenTelemetry Collector servicegraph metrics, read from Prometheus.

The collector's ``servicegraph`` connector turns spans into metrics keyed by
the calling and called ``service.name``::

    traces_service_graph_request_total{client="orders", server="payments"}
    traces_service_graph_request_failed_total{client=..., server=...}
    traces_service_graph_request_server_seconds_bucket{client=..., server=..., le=...}

(older collectors: ``..._request_duration_seconds_bucket``). Rates and
quantiles come from ``rate()`` and ``histogram_quantile()`` like Istio's.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from discovery.model import Edge
from discovery.telemetry.base import NodeNamer
from discovery.telemetry.prometheus import PrometheusApi, Sample

__all__ = ["OtelServiceGraphSource"]

_TOTAL = "traces_service_graph_request_total"
_FAILED = "traces_service_graph_request_failed_total"
_LATENCY = "traces_service_graph_request_server_seconds_bucket"
_Pair = tuple[str, str]


class OtelServiceGraphSource:
    """Edges from OTel servicegraph metrics in a Prometheus.

    Args:
        client: The ``httpx.AsyncClient`` to query with.
        url: Prometheus base URL holding the servicegraph metrics.
        window: Rate window, a Prometheus duration.
        at: Evaluation time; ``None`` for now.
        timeout: Seconds each query may take.
    """

    kind = "otel"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        window: str = "10m",
        at: datetime | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.window = window
        self.api = PrometheusApi(client=client, url=url, at=at, timeout=timeout, source="otel")

    async def edges(self, namer: NodeNamer) -> tuple[Edge, ...]:
        """Every client → server pair with calls in the window.

        Raises:
            TelemetryError: A query failed or returned partial data.
        """
        w = self.window
        totals = _by_pair(
            await self.api.query(f"sum(rate({_TOTAL}[{w}])) by (client, server)"), namer
        )
        failed = _by_pair(
            await self.api.query(f"sum(rate({_FAILED}[{w}])) by (client, server)"), namer
        )
        quantiles: dict[float, dict[_Pair, float]] = {}
        for q in (0.5, 0.95, 0.99):
            rows = await self.api.query(
                f"histogram_quantile({q}, sum(rate({_LATENCY}[{w}])) by (le, client, server))"
            )
            quantiles[q] = {k: v * 1000.0 for k, v in _by_pair(rows, namer, keep="max").items()}
        edges = []
        for pair in sorted(totals):
            rate = totals[pair]
            if rate <= 0:
                continue
            edges.append(
                Edge(
                    source=pair[0],
                    target=pair[1],
                    protocol="unknown",
                    origin="telemetry",
                    rps=rate,
                    error_rate=failed.get(pair, 0.0) / rate,
                    p50_ms=quantiles[0.5].get(pair),
                    p95_ms=quantiles[0.95].get(pair),
                    p99_ms=quantiles[0.99].get(pair),
                    sources=("otel",),
                )
            )
        return tuple(edges)


def _by_pair(rows: list[Sample], namer: NodeNamer, *, keep: str = "sum") -> dict[_Pair, float]:
    out: dict[_Pair, float] = {}
    for row in rows:
        pair = (
            namer.named(row.labels.get("client", "")),
            namer.named(row.labels.get("server", "")),
        )
        if keep == "max":
            out[pair] = max(out.get(pair, row.value), row.value)
        else:
            out[pair] = out.get(pair, 0.0) + row.value
    return out
