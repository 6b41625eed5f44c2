"""Inbound traffic per API: what each Service served over the telemetry window.

The figures come from the series the Istio source already read for its
edges (:class:`~discovery.telemetry.istio.IstioPrometheusSource` keeps them),
so no further query is sent. Per Service they are:

* the request rate, and the share of it that failed: HTTP 5xx, or a gRPC
  status other than 0 (Istio's ``grpc_response_status``) whatever HTTP said;
* the share answered 4xx, counted apart (a client's mistake, not the API's);
* p50, p95 and p99 from ``istio_request_duration_milliseconds_bucket``, the
  buckets of *every* caller summed per ``le`` before the quantile
  (:func:`~discovery.telemetry.histogram.bucket_quantile`): a slow canary
  with 3% of the calls moves the API's p95 by its weight, no more;
* the top consumers, each with its share of the requests.

The API's own side speaks: per (caller, Service) pair the server's sidecar
(``reporter="destination"``), else a waypoint (``reporter="waypoint"``, the
server side in ambient mode), else, for a Service without a proxy of its
own, the client's sidecar. One reporter per pair, so no call counts twice.
Hops from a waypoint to its backends are left out, as the edge reader does
(:mod:`discovery.telemetry.calls`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from discovery.telemetry import calls
from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.histogram import bucket_quantile, parse_le

__all__ = ["TOP_CONSUMERS", "ApiConsumer", "ApiTraffic", "inbound_traffic"]

#: Consumers kept per API, the busiest first.
TOP_CONSUMERS: Final = 10
#: Which reporter speaks for a (caller, Service) pair: the server's side first.
_SERVER_FIRST: Final[tuple[calls.Reporter, ...]] = ("destination", "waypoint", "source")
_DESTINATION_LABELS: Final = (
    "destination_cluster",
    "destination_service_namespace",
    "destination_service_name",
    "destination_service",
)
_SOURCE_LABELS: Final = (
    "source_cluster",
    "source_workload_namespace",
    "source_workload",
    "source_app",
)


@dataclass(frozen=True, slots=True)
class ApiConsumer:
    """One caller of an API.

    Attributes:
        node: The caller's node id (``cluster/namespace/name``, ``unknown``).
        rps: Its requests per second.
        share: Its part of the API's requests (0 to 1).
        error_rate: The part of its requests that failed (5xx, gRPC status ≠ 0).
    """

    node: str
    rps: float
    share: float
    error_rate: float


@dataclass(frozen=True, slots=True)
class ApiTraffic:
    """What one Service served over the window, all callers together.

    Attributes:
        node: The Service's node id, ``cluster/namespace/name``.
        rps: Requests per second.
        error_rate: Failed requests over all requests (5xx, gRPC status ≠ 0).
        client_error_rate: Requests answered 4xx over all requests.
        p50_ms, p95_ms, p99_ms: Latency quantiles of the summed histogram;
            None without buckets.
        consumers: The busiest callers (at most :data:`TOP_CONSUMERS`).
        callers: Callers seen in all, kept or not.
    """

    node: str
    rps: float
    error_rate: float
    client_error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    consumers: tuple[ApiConsumer, ...] = ()
    callers: int = 0


@dataclass(slots=True)
class _Said:
    requests: float = 0.0
    errors: float = 0.0
    client_errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)


def inbound_traffic(
    observations: Iterable[calls.Observation],
    namer: NodeNamer,
    *,
    waypoints: Iterable[calls.WorkloadId] = (),
    top: int = TOP_CONSUMERS,
) -> tuple[ApiTraffic, ...]:
    """Per Service of the mesh, the traffic it received; sorted by node id.

    Args:
        observations: The series the Istio source read (requests and buckets
            are used; TCP series are not requests).
        namer: Turns labels into node ids, as for the edges.
        waypoints: Waypoints known from configuration; those the series
            reveal are added (:func:`~discovery.telemetry.calls.recognise_waypoints`).
        top: Consumers kept per API.
    """
    seen = list(observations)
    infrastructure = frozenset(waypoints) | calls.recognise_waypoints(seen)
    said: dict[tuple[str, str], dict[calls.Reporter, _Said]] = {}
    # Naming a node scans the inventory; the series of one pair repeat the same labels.
    targets: dict[tuple[str, ...], tuple[str, str | None]] = {}
    callers: dict[tuple[str, ...], str] = {}
    for observation in seen:
        if observation.kind not in ("requests", "buckets"):
            continue
        labels = observation.sample.labels
        if _source_id(labels) in infrastructure:
            continue  # waypoint -> backend: the waypoint already reported the client's call
        get = labels.get
        where = tuple(get(k, UNKNOWN) for k in _DESTINATION_LABELS)
        named = targets.get(where)
        if named is None:
            named = targets[where] = namer.destination(
                cluster=where[0], namespace=where[1], name=where[2], host=where[3]
            )
        target, egress = named
        if egress is not None or target == UNKNOWN or target.count("/") != 2:
            continue  # external hosts and unnamed destinations are no API of the mesh
        who = tuple(get(k, UNKNOWN) for k in _SOURCE_LABELS)
        caller = callers.get(who)
        if caller is None:
            caller = callers[who] = namer.workload(
                cluster=who[0], namespace=who[1], workload=who[2], app=who[3]
            )
        by_reporter = said.setdefault((caller, target), {})
        tally = by_reporter.get(observation.reporter)
        if tally is None:
            tally = by_reporter[observation.reporter] = _Said()
        _add(tally, observation.kind, labels, observation.sample.value)
    per_target: dict[str, list[tuple[str, _Said]]] = {}
    for (caller, target), by_reporter in sorted(said.items()):
        chosen = next(
            (by_reporter[r] for r in _SERVER_FIRST if r in by_reporter and by_reporter[r].requests),
            None,
        )
        if chosen is not None:
            per_target.setdefault(target, []).append((caller, chosen))
    return tuple(_traffic(target, pairs, top) for target, pairs in sorted(per_target.items()))


def _source_id(labels: Mapping[str, str]) -> calls.WorkloadId:
    return (
        labels.get("source_workload_namespace", UNKNOWN),
        labels.get("source_workload", UNKNOWN),
    )


def _add(tally: _Said, kind: str, labels: Mapping[str, str], rate: float) -> None:
    if kind == "buckets":
        bound = parse_le(labels.get("le", ""))
        if bound is not None:
            tally.buckets[bound] = tally.buckets.get(bound, 0.0) + rate
        return
    tally.requests += rate
    code = labels.get("response_code", "")
    if _failed(labels):
        tally.errors += rate
    elif code.startswith("4"):
        tally.client_errors += rate


def _failed(labels: Mapping[str, str]) -> bool:
    """5xx, or a gRPC status other than OK (Istio sets ``grpc_response_status`` for gRPC)."""
    if labels.get("response_code", "").startswith("5"):
        return True
    if labels.get("request_protocol") != "grpc":
        return False
    return labels.get("grpc_response_status", "0") not in ("0", "", UNKNOWN)


def _traffic(target: str, pairs: list[tuple[str, _Said]], top: int) -> ApiTraffic:
    requests = sum(s.requests for _, s in pairs)
    errors = sum(s.errors for _, s in pairs)
    client_errors = sum(s.client_errors for _, s in pairs)
    buckets: dict[float, float] = {}
    for _, tally in pairs:
        for bound, rate in tally.buckets.items():
            buckets[bound] = buckets.get(bound, 0.0) + rate
    ranked = sorted(pairs, key=lambda p: (-p[1].requests, p[0]))
    consumers = tuple(
        ApiConsumer(
            node=caller,
            rps=tally.requests,
            share=tally.requests / requests,
            error_rate=tally.errors / tally.requests,
        )
        for caller, tally in ranked[:top]
    )
    return ApiTraffic(
        node=target,
        rps=requests,
        error_rate=errors / requests,
        client_error_rate=client_errors / requests,
        p50_ms=bucket_quantile(0.5, buckets),
        p95_ms=bucket_quantile(0.95, buckets),
        p99_ms=bucket_quantile(0.99, buckets),
        consumers=consumers,
        callers=len(pairs),
    )
