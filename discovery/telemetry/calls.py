"""From Istio's series to logical calls: each call counted once, whoever reported it.

One call is reported by up to four proxies, each in its own shape:

* a **sidecar** on the client (``reporter="source"``) and on the server
  (``reporter="destination"``): L7 series (``istio_requests_total``, the
  duration histogram) for HTTP and gRPC, ``istio_tcp_*`` for plain TCP;
* **ztunnel** (ambient mode, one per node): L4 only, ``istio_tcp_*`` for every
  connection, ``reporter="source"`` on the client's node and
  ``reporter="destination"`` on the server's, ``request_protocol="tcp"`` and
  ``connection_security_policy`` ``unknown`` or ``mutual_tls`` (ztunnel's
  ``src/proxy/metrics.rs``: ``Reporter``, ``SecurityPolicy``,
  ``CommonTrafficLabels``);
* a **waypoint** (ambient L7, an Envoy deployed for Gateways of class
  ``istio-waypoint``): ``reporter="waypoint"``, server side only, labelled
  with the original client and the backend workload (istio/proxy's
  ``testdata/metric/server_waypoint_proxy_request_total.yaml.tmpl``).

Through a waypoint ztunnel reports the hops, not the call: the client's
ztunnel names the waypoint as ``destination_workload`` and the Service the
client asked for as ``destination_service`` (``outbound.rs``: the actual
destination workload and the intended destination service), and the
server's ztunnel names the waypoint as the source (``inbound.rs`` looks the
peer up by address). The client→waypoint hop therefore lands on the logical
pair (client, Service) already; the waypoint→server hop is dropped, since
the waypoint is infrastructure, not a dependency. With ``include_waypoints``
both hops are kept as edges to and from the waypoint's node as well.

Per logical pair, one reporter speaks for each layer, never a sum:

* L7 (rate, errors, latency): the client's sidecar, else the waypoint, else
  the server's sidecar; the client's view also counts failures the server
  never saw (503s from a dead upstream). Latency quantiles come from that
  reporter's buckets summed over every series of the pair.
* L4 (connections, bytes): the client's side, else the server's, else the
  waypoint. An edge without L7 data is a ``tcp`` edge whose rate is
  connections opened per second (ambient without a waypoint is L7-blind).
* mTLS: what the server's proxy saw, else a client-side ``mutual_tls``
  (ztunnel knows it on both sides; a sidecar client reports ``unknown``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from discovery.model import Edge
from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.histogram import bucket_quantile, parse_le
from discovery.telemetry.prometheus import Sample

__all__ = [
    "QUANTILES",
    "Kind",
    "Observation",
    "Reporter",
    "WorkloadId",
    "logical_edges",
    "recognise_waypoints",
]

Reporter = Literal["source", "destination", "waypoint"]
#: ``requests`` (istio_requests_total), ``buckets`` (duration histogram
#: buckets), ``connections`` (istio_tcp_connections_opened_total), ``bytes``
#: (istio_tcp_sent/received_bytes_total).
Kind = Literal["requests", "buckets", "connections", "bytes"]
#: ``(namespace, workload)`` as Istio's ``*_workload_namespace`` / ``*_workload`` say.
WorkloadId = tuple[str, str]
QUANTILES = (0.5, 0.95, 0.99)

_L7_ORDER: tuple[Reporter, ...] = ("source", "waypoint", "destination")
_L4_ORDER: tuple[Reporter, ...] = ("source", "destination", "waypoint")
_L4_KINDS = ("connections", "bytes")
_Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Observation:
    """One series of one query: who reported it, what it measures, its rate."""

    reporter: Reporter
    kind: Kind
    sample: Sample


@dataclass(slots=True)
class _Tally:
    """What one reporter said about one (source node, target node) pair."""

    requests: float = 0.0
    errors: float = 0.0
    protocols: dict[str, float] = field(default_factory=dict)
    buckets: dict[float, float] = field(default_factory=dict)
    mtls_rate: float = 0.0
    plain_rate: float = 0.0
    workloads: set[str] = field(default_factory=set)
    connections: float | None = None
    bytes: float | None = None
    egress: str | None = None

    @property
    def l4(self) -> bool:
        return bool(self.connections) or bool(self.bytes)


def _source_id(labels: Mapping[str, str]) -> WorkloadId:
    return (
        labels.get("source_workload_namespace", UNKNOWN),
        labels.get("source_workload", UNKNOWN),
    )


def _destination_id(labels: Mapping[str, str]) -> WorkloadId:
    return (
        labels.get("destination_workload_namespace", UNKNOWN),
        labels.get("destination_workload", UNKNOWN),
    )


def recognise_waypoints(observations: Iterable[Observation]) -> frozenset[WorkloadId]:
    """Waypoints the series themselves reveal, without any configuration.

    A workload is a waypoint of Service X when the waypoint's own L7 report
    for X names other backends, the clients' side hands X's connections to
    that workload (``destination_workload``), and X's server side receives
    them from it (``source_workload``). All three are needed, so a client
    that reaches X directly is never taken for a waypoint.
    """
    fronted: dict[str, set[WorkloadId]] = {}
    handed: dict[str, set[WorkloadId]] = {}
    forwarded: dict[str, set[WorkloadId]] = {}
    for seen in observations:
        labels = seen.sample.labels
        service = labels.get("destination_service", UNKNOWN)
        if service == UNKNOWN or seen.sample.value <= 0:
            continue
        if seen.reporter == "waypoint":
            fronted.setdefault(service, set()).add(_destination_id(labels))
        elif seen.kind in _L4_KINDS and seen.reporter == "source":
            handed.setdefault(service, set()).add(_destination_id(labels))
        elif seen.kind in _L4_KINDS and seen.reporter == "destination":
            forwarded.setdefault(service, set()).add(_source_id(labels))
    found: set[WorkloadId] = set()
    for service, backends in fronted.items():
        between = (handed.get(service, set()) - backends) & forwarded.get(service, set())
        found |= {w for w in between if UNKNOWN not in w}
    return frozenset(found)


def logical_edges(
    observations: Iterable[Observation],
    namer: NodeNamer,
    *,
    waypoints: Iterable[WorkloadId] = (),
    include_waypoints: bool = False,
) -> tuple[Edge, ...]:
    """One edge per logical (caller, callee) pair, each call counted once.

    Args:
        observations: Every series the queries returned.
        namer: Turns labels into node ids.
        waypoints: Waypoints known from configuration (Gateways of class
            ``istio-waypoint``), as ``(namespace, workload)``; those the series
            reveal (:func:`recognise_waypoints`) are added.
        include_waypoints: Also draw the hops to and from each waypoint.
    """
    seen = list(observations)
    infrastructure = frozenset(waypoints) | recognise_waypoints(seen)
    tallies: dict[Reporter, dict[_Pair, _Tally]] = {r: {} for r in _L7_ORDER}
    for observation in seen:
        labels = observation.sample.labels
        pair, egress, caller = _pair(labels, namer)
        if _source_id(labels) in infrastructure:
            # waypoint -> server: a hop of a call the client side already counts.
            if include_waypoints:
                _add(tallies[observation.reporter], pair, observation, egress, None)
            continue
        _add(tallies[observation.reporter], pair, observation, egress, caller)
        if (
            include_waypoints
            and observation.reporter != "waypoint"
            and _destination_id(labels) in infrastructure
        ):
            hop = (pair[0], _destination_workload_node(labels, namer))
            _add(tallies[observation.reporter], hop, observation, egress, caller)
    return _edges(tallies)


def _pair(labels: Mapping[str, str], namer: NodeNamer) -> tuple[_Pair, str | None, str | None]:
    """(source node, target node), egress kind, calling workload."""
    get = labels.get
    source_ns, workload = _source_id(labels)
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


def _destination_workload_node(labels: Mapping[str, str], namer: NodeNamer) -> str:
    namespace, workload = _destination_id(labels)
    return namer.workload(
        cluster=labels.get("destination_cluster", UNKNOWN),
        namespace=namespace,
        workload=workload,
        app=UNKNOWN,
    )


def _is_error(labels: Mapping[str, str]) -> bool:
    code = labels.get("response_code", "")
    if code.startswith("5"):
        return True
    if labels.get("request_protocol") == "grpc":
        return labels.get("grpc_response_status", "0") not in ("0", "", UNKNOWN)
    return False


def _add(
    into: dict[_Pair, _Tally],
    pair: _Pair,
    observation: Observation,
    egress: str | None,
    caller: str | None,
) -> None:
    tally = into.get(pair)
    if tally is None:
        tally = into[pair] = _Tally()
    labels, rate = observation.sample.labels, observation.sample.value
    if observation.kind == "requests":
        tally.requests += rate
        if _is_error(labels):
            tally.errors += rate
        protocol = labels.get("request_protocol", "http") or "http"
        tally.protocols[protocol] = tally.protocols.get(protocol, 0.0) + rate
        _add_security(tally, labels, rate)
    elif observation.kind == "buckets":
        bound = parse_le(labels.get("le", ""))
        if bound is not None:
            tally.buckets[bound] = tally.buckets.get(bound, 0.0) + rate
        return  # a bucket names no workload a request series did not
    elif observation.kind == "connections":
        tally.connections = (tally.connections or 0.0) + rate
        _add_security(tally, labels, rate)
    else:
        tally.bytes = (tally.bytes or 0.0) + rate
    tally.egress = tally.egress or egress
    if caller is not None:
        tally.workloads.add(caller)


def _add_security(tally: _Tally, labels: Mapping[str, str], rate: float) -> None:
    policy = labels.get("connection_security_policy", UNKNOWN)
    if policy == "mutual_tls":
        tally.mtls_rate += rate
    elif policy == "none":
        tally.plain_rate += rate


def _edges(tallies: Mapping[Reporter, Mapping[_Pair, _Tally]]) -> tuple[Edge, ...]:
    pairs = sorted({pair for by_pair in tallies.values() for pair in by_pair})
    edges: list[Edge] = []
    for pair in pairs:
        said = {r: tallies[r][pair] for r in _L7_ORDER if pair in tallies[r]}
        l7 = next(
            (
                said[r]
                for r in _L7_ORDER
                if r in said and said[r].requests > 0 and not (r == "source" and pair[0] == UNKNOWN)
            ),
            None,
        )
        l4 = next((said[r] for r in _L4_ORDER if r in said and said[r].l4), None)
        if l7 is None and l4 is None:
            continue
        edges.append(_edge(pair, l7, l4, said))
    return tuple(edges)


def _mtls(said: Mapping[Reporter, _Tally]) -> bool | None:
    server = said.get("destination")
    if server is not None and server.mtls_rate + server.plain_rate > 0:
        return server.plain_rate == 0
    client = said.get("source")
    if client is not None and client.mtls_rate > 0 and client.plain_rate == 0:
        return True
    return None


def _edge(
    pair: _Pair, l7: _Tally | None, l4: _Tally | None, said: Mapping[Reporter, _Tally]
) -> Edge:
    source, target = pair
    quantiles: dict[float, float | None] = {}
    if l7 is not None:
        protocol = max(sorted(l7.protocols), key=lambda p: l7.protocols[p])
        rps: float | None = l7.requests
        error_rate: float | None = l7.errors / l7.requests
        quantiles = {q: bucket_quantile(q, l7.buckets) for q in QUANTILES}
    else:
        assert l4 is not None
        protocol, rps, error_rate = "tcp", l4.connections, None
    workloads = sorted({w for tally in said.values() for w in tally.workloads})
    egress = next((t.egress for t in said.values() if t.egress), None)
    return Edge(
        source=source,
        target=target,
        protocol=protocol,
        origin="telemetry",
        rps=rps,
        error_rate=error_rate,
        p50_ms=quantiles.get(0.5),
        p95_ms=quantiles.get(0.95),
        p99_ms=quantiles.get(0.99),
        mtls=_mtls(said),
        workloads=tuple(workloads),
        bytes_per_s=l4.bytes if l4 is not None else None,
        egress=egress,
        sources=("prometheus",),
    )
