"""Istio's standard metrics in Prometheus, read the way Kiali reads them.

For each namespace of the inventory three families of queries run: incoming
traffic as the server's side reported it (``reporter="destination"``,
``destination_service_namespace=NS``), outgoing traffic as the client's side
reported it (``reporter="source"``, ``source_workload_namespace=NS``), and,
in ambient mode, what waypoints reported for the namespace's Services
(``reporter="waypoint"``, ``destination_service_namespace=NS``)::

    sum(rate(istio_requests_total{reporter="source",source_workload_namespace="shop"}[10m]))
      by (source_workload, ..., response_code, grpc_response_status, connection_security_policy)

A caller outside those namespaces (an ingress gateway in ``istio-ingress`` or
``istio-system``, a client in a namespace without Services or excluded from
the crawl) is named by the server side's series as ``source_workload_namespace``;
a second round reads the client side (``reporter="source"``) of exactly those
namespaces and keeps the series whose destination is in the inventory, so a
gateway's own view (its rate, the 503s the server never saw) is not lost. The
second round costs one family (five queries) per such calling namespace, so
the total stays at most ``5 * (3 * inventory namespaces + calling namespaces)``.

Latency is read as bucket rates (``sum(rate(..._bucket{...}[10m])) by (le, ...)``)
and the quantiles are taken per logical edge after summing its buckets
(:mod:`discovery.telemetry.histogram`). Which reporter speaks for which edge,
and how the hops through a waypoint become one call, is
:mod:`discovery.telemetry.calls`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import Any

import httpx

from discovery.errors import TelemetryError
from discovery.model import Edge
from discovery.telemetry import calls
from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.prometheus import PrometheusApi

__all__ = ["IstioPrometheusSource"]

_EDGE_LABELS = (
    "source_cluster",
    "source_workload_namespace",
    "source_workload",
    "source_app",
    "destination_cluster",
    "destination_service",
    "destination_service_namespace",
    "destination_service_name",
    # Which workload took the call: tells a waypoint hop from the call itself.
    "destination_workload_namespace",
    "destination_workload",
)
_REQUEST_LABELS = (
    *_EDGE_LABELS,
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "connection_security_policy",
)
_LATENCY_LABELS = ("le", *_EDGE_LABELS)
_TCP_LABELS = (*_EDGE_LABELS, "connection_security_policy")
#: (reporter, the label that puts a series in a namespace)
_FAMILIES: tuple[tuple[calls.Reporter, str], ...] = (
    ("destination", "destination_service_namespace"),
    ("source", "source_workload_namespace"),
    ("waypoint", "destination_service_namespace"),
)


class IstioPrometheusSource:
    """Edges from Istio's metrics in one Prometheus, sidecar and ambient alike.

    Args:
        client: The ``httpx.AsyncClient`` to query with.
        url: Prometheus base URL.
        window: Rate window, a Prometheus duration (``10m``).
        at: Evaluation time; ``None`` for now.
        timeout: Seconds each query may take.
        concurrency: Queries in flight at once.
        waypoints: Waypoints known from configuration, ``(namespace,
            workload)``; the series reveal most by themselves, so this helps
            but is not required.
        include_waypoints: Also draw the hops to and from waypoints
            (infrastructure, left out by default).
    """

    kind = "prometheus"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        window: str = "10m",
        at: datetime | None = None,
        timeout: float = 10.0,
        concurrency: int = 4,
        waypoints: Iterable[calls.WorkloadId] = (),
        include_waypoints: bool = False,
    ) -> None:
        self.url = url
        self.window = window
        self.api = PrometheusApi(client=client, url=url, at=at, timeout=timeout)
        self.waypoints = frozenset(waypoints)
        self.include_waypoints = include_waypoints
        self._slots = asyncio.Semaphore(concurrency)
        #: Series the last :meth:`edges` read; None until one answered in full.
        self.series: int | None = None
        #: Every series the last :meth:`edges` read, kept for per-API
        #: analytics (:mod:`discovery.telemetry.analytics`) to need no query.
        self.observations: tuple[calls.Observation, ...] = ()

    @property
    def queries(self) -> int:
        """Queries sent so far."""
        return self.api.queries

    async def edges(self, namer: NodeNamer) -> tuple[Edge, ...]:
        """Every call of the window into or out of the inventory's namespaces.

        Raises:
            TelemetryError: Any query failed or returned partial data.
        """
        seen: list[calls.Observation] = []
        jobs: list[Coroutine[Any, Any, None]] = []
        inside = namer.namespaces()
        for namespace in inside:
            for reporter, label in _FAMILIES:
                selector = f'reporter="{reporter}",{label}="{_quote(namespace)}"'
                jobs.extend(self._jobs(reporter, selector, seen))
        await _all_or_first_failure(jobs)
        # Second round: the client side of callers the server side named from
        # namespaces outside the inventory; only their calls into it are kept.
        outside: list[calls.Observation] = []
        jobs = []
        for namespace in _outside_callers(seen, inside):
            selector = f'reporter="source",source_workload_namespace="{_quote(namespace)}"'
            jobs.extend(self._jobs("source", selector, outside))
        await _all_or_first_failure(jobs)
        wanted = frozenset(inside)
        seen.extend(
            o for o in outside if o.sample.labels.get("destination_service_namespace") in wanted
        )
        self.series = len(seen)
        self.observations = tuple(seen)
        return calls.logical_edges(
            seen, namer, waypoints=self.waypoints, include_waypoints=self.include_waypoints
        )

    def _jobs(
        self, reporter: calls.Reporter, selector: str, into: list[calls.Observation]
    ) -> list[Coroutine[Any, Any, None]]:
        w = self.window
        tcp_by = ",".join(_TCP_LABELS)
        queries: list[tuple[calls.Kind, str]] = [
            (
                "requests",
                f"sum(rate(istio_requests_total{{{selector}}}[{w}])) "
                f"by ({','.join(_REQUEST_LABELS)})",
            ),
            (
                "buckets",
                f"sum(rate(istio_request_duration_milliseconds_bucket{{{selector}}}[{w}])) "
                f"by ({','.join(_LATENCY_LABELS)})",
            ),
            (
                "connections",
                f"sum(rate(istio_tcp_connections_opened_total{{{selector}}}[{w}])) by ({tcp_by})",
            ),
        ]
        for metric in ("istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"):
            queries.append(("bytes", f"sum(rate({metric}{{{selector}}}[{w}])) by ({tcp_by})"))
        return [self._run(reporter, kind, promql, into) for kind, promql in queries]

    async def _run(
        self,
        reporter: calls.Reporter,
        kind: calls.Kind,
        promql: str,
        into: list[calls.Observation],
    ) -> None:
        async with self._slots:
            rows = await self.api.query(promql)
        into.extend(calls.Observation(reporter, kind, row) for row in rows)


async def _all_or_first_failure(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` at once; one failed query spoils the answer, so cancel the rest."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as failed:
        first = _first_failure(failed)
        if first is None:
            raise
        raise first from None


def _outside_callers(seen: Iterable[calls.Observation], inside: Iterable[str]) -> list[str]:
    """Namespaces the server side (sidecar, ztunnel, waypoint) names as callers
    that the inventory's own client-side queries did not cover, sorted."""
    known = set(inside)
    callers = {
        o.sample.labels.get("source_workload_namespace", "") for o in seen if o.reporter != "source"
    }
    return sorted(callers - known - {"", UNKNOWN})


def _first_failure(group: BaseExceptionGroup[BaseException]) -> TelemetryError | None:
    for failure in group.exceptions:
        if isinstance(failure, TelemetryError):
            return failure
        if isinstance(failure, BaseExceptionGroup):
            nested = _first_failure(failure)
            if nested is not None:
                return nested
    return None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
