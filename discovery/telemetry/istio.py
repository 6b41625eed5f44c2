"""Istio's standard metrics in Prometheus, read the way Kiali reads them.

For each namespace of the inventory two families of queries run: incoming
traffic as the destination's sidecar reported it (``reporter="destination"``,
``destination_service_namespace=NS``) and outgoing traffic as the caller's
sidecar reported it (``reporter="source"``, ``source_workload_namespace=NS``)::

    sum(rate(istio_requests_total{reporter="source",source_workload_namespace="shop"}[10m]))
      by (source_workload, ..., response_code, grpc_response_status, connection_security_policy)

A call between two namespaces (or inside one) therefore shows up twice. Each
edge keeps one reporter's numbers, never the sum: the source's when the caller
has a sidecar (it also counts failures the destination never saw, such as
503s from a dead upstream), else the destination's (ingress without identity).
mTLS is only known to the destination's proxy, so ``mtls`` always comes from
destination-reported series.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from discovery.errors import TelemetryError
from discovery.model import Edge
from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.prometheus import PrometheusApi, Sample

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
QUANTILES = (0.5, 0.95, 0.99)
Reporter = str


@dataclass(slots=True)
class _Tally:
    """What one reporter said about one (source node, target node) pair."""

    requests: float = 0.0
    errors: float = 0.0
    protocols: dict[str, float] = field(default_factory=dict)
    mtls_rate: float = 0.0
    plain_rate: float = 0.0
    workloads: set[str] = field(default_factory=set)
    quantiles: dict[float, float] = field(default_factory=dict)
    connections: float | None = None
    bytes: float | None = None
    egress: str | None = None


_Pair = tuple[str, str]


class IstioPrometheusSource:
    """Edges from Istio's metrics in one Prometheus.

    Args:
        client: The ``httpx.AsyncClient`` to query with.
        url: Prometheus base URL.
        window: Rate window, a Prometheus duration (``10m``).
        at: Evaluation time; ``None`` for now.
        timeout: Seconds each query may take.
        concurrency: Queries in flight at once.
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
    ) -> None:
        self.url = url
        self.window = window
        self.api = PrometheusApi(client=client, url=url, at=at, timeout=timeout)
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def queries(self) -> int:
        """Queries sent so far."""
        return self.api.queries

    async def edges(self, namer: NodeNamer) -> tuple[Edge, ...]:
        """Every call of the window into or out of the inventory's namespaces.

        Raises:
            TelemetryError: Any query failed or returned partial data.
        """
        tallies: dict[Reporter, dict[_Pair, _Tally]] = {"source": {}, "destination": {}}
        jobs: list[Coroutine[Any, Any, None]] = []
        for namespace in namer.namespaces():
            for reporter, label in (
                ("destination", "destination_service_namespace"),
                ("source", "source_workload_namespace"),
            ):
                selector = f'reporter="{reporter}",{label}="{_quote(namespace)}"'
                into = tallies[reporter]
                jobs.extend(self._jobs(selector, into, namer))
        # One failed query spoils the answer: cancel the rest, report the first.
        try:
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(job)
        except BaseExceptionGroup as failed:
            first = _first_failure(failed)
            if first is None:
                raise
            raise first from None
        return _edges(tallies)

    def _jobs(
        self, selector: str, into: dict[_Pair, _Tally], namer: NodeNamer
    ) -> list[Coroutine[Any, Any, None]]:
        w = self.window
        requests = (
            f"sum(rate(istio_requests_total{{{selector}}}[{w}])) by ({','.join(_REQUEST_LABELS)})"
        )
        jobs: list[Coroutine[Any, Any, None]] = [
            self._run(requests, lambda rows: _add_requests(rows, into, namer))
        ]
        for q in QUANTILES:
            latency = (
                f"histogram_quantile({q}, sum(rate("
                f"istio_request_duration_milliseconds_bucket{{{selector}}}[{w}])) "
                f"by ({','.join(_LATENCY_LABELS)}))"
            )
            jobs.append(self._run(latency, _quantile_adder(q, into, namer)))
        tcp_by = ",".join(_TCP_LABELS)
        connections = (
            f"sum(rate(istio_tcp_connections_opened_total{{{selector}}}[{w}])) by ({tcp_by})"
        )
        jobs.append(self._run(connections, lambda rows: _add_tcp(rows, into, namer, "conn")))
        for metric in ("istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"):
            traffic = f"sum(rate({metric}{{{selector}}}[{w}])) by ({tcp_by})"
            jobs.append(self._run(traffic, lambda rows: _add_tcp(rows, into, namer, "bytes")))
        return jobs

    async def _run(self, promql: str, use: Callable[[list[Sample]], None]) -> None:
        async with self._slots:
            rows = await self.api.query(promql)
        use(rows)


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


def _pair(labels: Mapping[str, str], namer: NodeNamer) -> tuple[_Pair, str | None, str | None]:
    """(source node, target node), egress kind, calling workload."""
    get = labels.get
    source_ns = get("source_workload_namespace", UNKNOWN)
    workload = get("source_workload", UNKNOWN)
    source = namer.workload(
        cluster=get("source_cluster", UNKNOWN),
        namespace=source_ns,
        workload=workload,
        app=get("source_app", UNKNOWN),
    )
    target, egress = namer.destination(
        cluster=get("destination_cluster", UNKNOWN),
        namespace=get("destination_service_namespace", UNKNOWN),
        name=get("destination_service_name", UNKNOWN),
        host=get("destination_service", UNKNOWN),
    )
    caller = None if workload == UNKNOWN else f"{source_ns}/{workload}"
    return (source, target), egress, caller


def _tally(into: dict[_Pair, _Tally], pair: _Pair) -> _Tally:
    found = into.get(pair)
    if found is None:
        found = into[pair] = _Tally()
    return found


def _is_error(labels: Mapping[str, str]) -> bool:
    code = labels.get("response_code", "")
    if code.startswith("5"):
        return True
    if labels.get("request_protocol") == "grpc":
        return labels.get("grpc_response_status", "0") not in ("0", "", UNKNOWN)
    return False


def _add_security(tally: _Tally, labels: Mapping[str, str], rate: float) -> None:
    policy = labels.get("connection_security_policy", UNKNOWN)
    if policy == "mutual_tls":
        tally.mtls_rate += rate
    elif policy == "none":
        tally.plain_rate += rate


def _add_requests(rows: Iterable[Sample], into: dict[_Pair, _Tally], namer: NodeNamer) -> None:
    for row in rows:
        pair, egress, caller = _pair(row.labels, namer)
        tally = _tally(into, pair)
        tally.requests += row.value
        if _is_error(row.labels):
            tally.errors += row.value
        protocol = row.labels.get("request_protocol", "http") or "http"
        tally.protocols[protocol] = tally.protocols.get(protocol, 0.0) + row.value
        _add_security(tally, row.labels, row.value)
        tally.egress = tally.egress or egress
        if caller is not None:
            tally.workloads.add(caller)


def _quantile_adder(
    q: float, into: dict[_Pair, _Tally], namer: NodeNamer
) -> Callable[[list[Sample]], None]:
    def add(rows: list[Sample]) -> None:
        for row in rows:
            pair, _, _ = _pair(row.labels, namer)
            tally = _tally(into, pair)
            # Several caller workloads behind one Service: keep the slowest.
            tally.quantiles[q] = max(tally.quantiles.get(q, row.value), row.value)

    return add


def _add_tcp(
    rows: Iterable[Sample], into: dict[_Pair, _Tally], namer: NodeNamer, what: str
) -> None:
    for row in rows:
        pair, egress, caller = _pair(row.labels, namer)
        tally = _tally(into, pair)
        if what == "conn":
            tally.connections = (tally.connections or 0.0) + row.value
            _add_security(tally, row.labels, row.value)
        else:
            tally.bytes = (tally.bytes or 0.0) + row.value
        tally.egress = tally.egress or egress
        if caller is not None:
            tally.workloads.add(caller)


def _edges(tallies: Mapping[Reporter, Mapping[_Pair, _Tally]]) -> tuple[Edge, ...]:
    by_source, by_destination = tallies["source"], tallies["destination"]
    edges: list[Edge] = []
    for pair in sorted(set(by_source) | set(by_destination)):
        chosen = by_source.get(pair)
        if chosen is None or not _observed(chosen) or pair[0] == UNKNOWN:
            chosen = by_destination.get(pair) or chosen
        if chosen is None or not _observed(chosen):
            continue
        witness = by_destination.get(pair)
        edges.append(_edge(pair, chosen, _mtls(witness)))
    return tuple(edges)


def _observed(tally: _Tally) -> bool:
    return tally.requests > 0 or bool(tally.connections) or bool(tally.bytes)


def _mtls(tally: _Tally | None) -> bool | None:
    if tally is None or tally.mtls_rate + tally.plain_rate <= 0:
        return None
    return tally.plain_rate == 0


def _edge(pair: _Pair, tally: _Tally, mtls: bool | None) -> Edge:
    source, target = pair
    if tally.requests > 0:
        protocol = max(sorted(tally.protocols), key=lambda p: tally.protocols[p])
        rps: float | None = tally.requests
        error_rate: float | None = tally.errors / tally.requests
    else:
        protocol, rps, error_rate = "tcp", tally.connections, None
    return Edge(
        source=source,
        target=target,
        protocol=protocol,
        origin="telemetry",
        rps=rps,
        error_rate=error_rate,
        p50_ms=tally.quantiles.get(0.5),
        p95_ms=tally.quantiles.get(0.95),
        p99_ms=tally.quantiles.get(0.99),
        mtls=mtls,
        workloads=tuple(sorted(tally.workloads)),
        bytes_per_s=tally.bytes,
        egress=tally.egress,
        sources=("prometheus",),
    )
