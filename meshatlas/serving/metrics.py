"""``GET /metrics`` of ``meshatlas serve``, in the Prometheus text format.

Requests are counted by method, route template (``/exchange/api/v2/assets/
{groupId}/{assetId}``, never the concrete path, so the series stay few) and
status; their durations go into a histogram. The process collector adds
``process_*`` (CPU, memory, open files). Each application gets its own
registry, so several servers in one process do not share numbers.

With ``--private``, reading ``/metrics`` needs a token like every other read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from meshatlas.version import VERSION

__all__ = ["PATH", "instrument"]

PATH: Final = "/metrics"
_REGISTRY: Final = web.AppKey("metrics_registry", CollectorRegistry)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def instrument(app: web.Application) -> None:
    """Count ``app``'s requests and serve them at ``/metrics``; before it starts."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    Gauge("meshatlas_build_info", "The running meshatlas.", ["version"], registry=registry).labels(
        VERSION
    ).set(1)
    requests = Counter(
        "meshatlas_http_requests",
        "HTTP requests served, by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    durations = Histogram(
        "meshatlas_http_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template.",
        ["method", "route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = _route(request)
            durations.labels(request.method, route).observe(time.perf_counter() - started)
            requests.labels(request.method, route, str(status)).inc()

    # Outermost, so requests refused by authentication are counted too.
    app.middlewares.insert(0, count)
    app[_REGISTRY] = registry
    app.router.add_get(PATH, _metrics)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
