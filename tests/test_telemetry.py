"""Unit tests of discovery.telemetry: queries, reporters, naming, merging, traces.

Prometheus answers come from ``httpx.MockTransport`` handlers holding the
exact JSON shapes Prometheus sends; Jaeger and Zipkin are small aiohttp
servers on loopback (``fixtures.telemetry_backends``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import discovery.telemetry as telemetry
from discovery.errors import DiscoveryError, TelemetryError
from discovery.model import Edge, ExternalHost, Inventory, Service, ServiceKey, ServicePort
from discovery.telemetry import (
    IstioPrometheusSource,
    JaegerSource,
    NodeNamer,
    PrometheusApi,
    ZipkinSource,
    collect,
    merge_edges,
    parse_window,
)
from fixtures.telemetry_backends import SEEN, jaeger_app, serving, zipkin_app

AT = datetime(2026, 1, 1, tzinfo=UTC)
PORT = ServicePort("http", 8080, 8080, "TCP", None, "http")


def svc(namespace: str, name: str, *, cluster: str = "east", app: str | None = None) -> Service:
    return Service(
        key=ServiceKey(cluster, namespace, name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.11",),
        external_name=None,
        ports=(PORT,),
        ready_addresses=(),
        selector={"app": app or name},
    )


INVENTORY = Inventory(
    clusters=("east", "west"),
    services=(
        svc("shop", "orders"),
        svc("shop", "payments"),
        svc("shop", "web", app="frontend"),
        svc("billing", "ledger"),
        svc("billing", "ledger", cluster="west"),
    ),
    external_hosts=(ExternalHost("api.stripe.example", (443,), "shop", "stripe", "east"),),
    routes=(),
    problems=(),
)


def test_public_surface_is_pinned() -> None:
    assert sorted(telemetry.__all__) == sorted(
        [
            "UNKNOWN",
            "IstioPrometheusSource",
            "JaegerSource",
            "NodeNamer",
            "OtelServiceGraphSource",
            "PrometheusApi",
            "Sample",
            "TelemetryResult",
            "TelemetrySource",
            "ZipkinSource",
            "collect",
            "merge_edges",
            "parse_window",
        ]
    )
    assert issubclass(TelemetryError, DiscoveryError)


# --- windows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600), ("90s", 90), ("1h30m", 5400), ("1d", 86400)]
)
def test_parse_window(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10 m", "-5m", "0s", "1.5h", "10m;drop"])
def test_parse_window_refuses_what_prometheus_would(text: str) -> None:
    with pytest.raises(ValueError):
        parse_window(text)


# --- naming -------------------------------------------------------------------


def test_namer_maps_workloads_to_the_service_that_selects_them() -> None:
    namer = NodeNamer(INVENTORY)
    # app label "frontend" is selected by Service "web".
    assert (
        namer.workload(cluster="Kubernetes", namespace="shop", workload="web-v1", app="frontend")
        == "east/shop/web"
    )
    assert (
        namer.workload(cluster="east", namespace="shop", workload="orders-7f9", app="orders")
        == "east/shop/orders"
    )
    # No Service fronts the workload: it stays its own node.
    assert (
        namer.workload(cluster="east", namespace="shop", workload="cron-1", app="unknown")
        == "east/shop/cron-1"
    )
    assert (
        namer.workload(cluster="unknown", namespace="unknown", workload="unknown", app="unknown")
        == "unknown"
    )


def test_namer_resolves_clusters() -> None:
    namer = NodeNamer(INVENTORY)
    # A known cluster label wins; Istio's default label falls back to the
    # only cluster holding the Service, then to the first cluster.
    assert (
        namer.service(cluster="west", namespace="billing", name="ledger") == "west/billing/ledger"
    )
    assert (
        namer.service(cluster="Kubernetes", namespace="shop", name="orders") == "east/shop/orders"
    )
    assert namer.service(cluster="Kubernetes", namespace="billing", name="ledger") == (
        "east/billing/ledger"
    )


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            ("east", "shop", "payments", "payments.shop.svc.cluster.local"),
            ("east/shop/payments", None),
        ),
        (
            ("unknown", "unknown", "unknown", "payments.shop.svc.cluster.local"),
            ("east/shop/payments", None),
        ),
        (
            ("unknown", "unknown", "PassthroughCluster", "api.stripe.example"),
            ("api.stripe.example", "passthrough"),
        ),
        (
            ("unknown", "unknown", "BlackHoleCluster", "BlackHoleCluster"),
            ("BlackHoleCluster", "blackhole"),
        ),
        (
            ("unknown", "unknown", "api.stripe.example", "api.stripe.example"),
            ("api.stripe.example", None),
        ),
    ],
)
def test_namer_destinations(labels: tuple[str, str, str, str], expected: Any) -> None:
    cluster, namespace, name, host = labels
    namer = NodeNamer(INVENTORY)
    assert namer.destination(cluster=cluster, namespace=namespace, name=name, host=host) == expected


@pytest.mark.parametrize(
    ("name", "node"),
    [
        ("orders", "east/shop/orders"),
        ("orders.shop", "east/shop/orders"),
        ("orders.shop.svc.cluster.local", "east/shop/orders"),
        ("shop/orders", "east/shop/orders"),
        ("api.stripe.example", "api.stripe.example"),
        ("mystery", "mystery"),
        ("", "unknown"),
    ],
)
def test_namer_names_from_tracing(name: str, node: str) -> None:
    assert NodeNamer(INVENTORY).named(name) == node


# --- the Prometheus API client -------------------------------------------------


def _vector(*samples: tuple[Mapping[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": dict(m), "value": [1767225600, v]} for m, v in samples],
        },
    }


def _api(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            api = PrometheusApi(client=client, url="http://prom.test/prefix/", at=AT, **kwargs)
            return await api.query("up")

    return asyncio.run(go())


def test_query_sends_time_and_timeout_and_keeps_the_path_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_vector(({"a": "1"}, "1.5"), ({"a": "2"}, "NaN")))

    samples = _api(handler, timeout=3)
    [request] = seen
    assert request.url.path == "/prefix/api/v1/query"
    assert request.url.params["query"] == "up"
    assert request.url.params["time"] == "1767225600.000"
    assert request.url.params["timeout"] == "3s"
    # NaN (0/0 in PromQL) is no measurement.
    assert [(dict(s.labels), s.value) for s in samples] == [({"a": "1"}, 1.5)]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(
                400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
            ),
            "Prometheus refused the query (bad_data, HTTP 400): parse error",
        ),
        (
            httpx.Response(200, json={**_vector(), "warnings": ["a", "b"]}),
            "Prometheus returned partial data: a; b",
        ),
        (
            httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}
            ),
            "expected an instant vector, got 'matrix'",
        ),
        (
            httpx.Response(200, text="<html>login</html>"),
            "HTTP 200 from http://prom.test/prefix/api/v1/query without a Prometheus answer",
        ),
    ],
)
def test_query_failures_are_telemetry_errors(response: httpx.Response, message: str) -> None:
    with pytest.raises(TelemetryError) as caught:
        _api(lambda request: response)
    assert caught.value.message == message
    assert caught.value.source == "prometheus"
    assert caught.value.url == "http://prom.test/prefix"


def test_timeouts_and_connection_errors_are_telemetry_errors() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TelemetryError, match=r"^no answer within 2s$"):
        _api(slow, timeout=2)
    with pytest.raises(TelemetryError, match=r"^cannot reach Prometheus: connection refused$"):
        _api(refused)


# --- Istio source: reporters, errors, gRPC -------------------------------------


def _istio(
    series: Mapping[str, list[tuple[dict[str, str], float]]], **options: Any
) -> dict[Any, Edge]:
    """Run the Istio source against canned series: metric name -> (labels, value)."""

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        reporter = query.split('reporter="', 1)[1].split('"', 1)[0]
        namespace = query.split('namespace="', 1)[1].split('"', 1)[0]
        key = (
            "source_workload_namespace" if reporter == "source" else "destination_service_namespace"
        )
        metric = next((name for name in series if name in query), "")
        rows = [
            (labels, str(value))
            for labels, value in series.get(metric, [])
            if labels["reporter"] == reporter and labels.get(key) == namespace
        ]
        return httpx.Response(200, json=_vector(*rows))

    async def go() -> tuple[Edge, ...]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            source = IstioPrometheusSource(client=client, url="http://prom.test", at=AT, **options)
            return await source.edges(NodeNamer(INVENTORY))

    return {(e.source, e.target): e for e in asyncio.run(go())}


def _req(
    reporter: str, *, src: str = "orders", dst: str = "payments", **extra: str
) -> dict[str, str]:
    labels = {
        "reporter": reporter,
        "source_cluster": "east",
        "source_workload_namespace": "shop",
        "source_workload": f"{src}-v1",
        "source_app": src,
        "destination_cluster": "east",
        "destination_service": f"{dst}.shop.svc.cluster.local",
        "destination_service_namespace": "shop",
        "destination_service_name": dst,
        "request_protocol": "http",
        "response_code": "200",
        "grpc_response_status": "",
        "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown",
    }
    labels.update(extra)
    return labels


def test_each_edge_counts_one_reporter_preferring_the_caller() -> None:
    edges = _istio(
        {
            "istio_requests_total": [
                # The caller saw 10 rps, 1 of them a 503 the destination never got.
                (_req("source"), 9.0),
                (_req("source", response_code="503"), 1.0),
                (_req("destination"), 9.0),
            ]
        }
    )
    edge = edges[("east/shop/orders", "east/shop/payments")]
    assert edge.rps == 10.0
    assert edge.error_rate == pytest.approx(0.1)
    assert edge.mtls is True  # from the destination's series


def test_ingress_without_identity_uses_the_destination_report() -> None:
    unknown = {
        "source_workload": "unknown",
        "source_app": "unknown",
        "source_workload_namespace": "unknown",
        "connection_security_policy": "none",
    }
    edges = _istio({"istio_requests_total": [(_req("destination", dst="web", **unknown), 5.0)]})
    edge = edges[("unknown", "east/shop/web")]
    assert (edge.rps, edge.mtls, edge.workloads) == (5.0, False, ())


def test_grpc_errors_come_from_grpc_status() -> None:
    grpc = {"request_protocol": "grpc"}
    edges = _istio(
        {
            "istio_requests_total": [
                (_req("source", grpc_response_status="0", **grpc), 6.0),
                (_req("source", grpc_response_status="14", **grpc), 2.0),
                # 4xx is the caller's fault, not an error of the edge.
                (_req("source", dst="orders", src="web", response_code="404"), 3.0),
            ]
        }
    )
    payments = edges[("east/shop/orders", "east/shop/payments")]
    assert (payments.protocol, payments.rps, payments.error_rate) == ("grpc", 8.0, 0.25)
    assert edges[("east/shop/web", "east/shop/orders")].error_rate == 0.0


def test_blackholed_egress_is_an_edge_to_the_host() -> None:
    blocked = {
        "destination_service": "evil.example",
        "destination_service_name": "BlackHoleCluster",
        "destination_service_namespace": "unknown",
        "response_code": "502",
    }
    edges = _istio({"istio_requests_total": [(_req("source", **blocked), 0.5)]})
    edge = edges[("east/shop/orders", "evil.example")]
    # Istio answers blocked calls with 502: every one failed.
    assert (edge.egress, edge.error_rate) == ("blackhole", 1.0)


def test_a_failing_query_spoils_the_whole_source() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "_bucket{" in request.url.params["query"]:
            return httpx.Response(
                503, json={"status": "error", "errorType": "timeout", "error": "slow"}
            )
        return httpx.Response(200, json=_vector())

    async def go() -> telemetry.TelemetryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            source = IstioPrometheusSource(client=client, url="http://prom.test", at=AT)
            return await collect([source], INVENTORY)

    result = asyncio.run(go())
    assert result.edges == ()
    assert [p.why for p in result.problems] == [
        "Prometheus refused the query (timeout, HTTP 503): slow"
    ]


# --- merging --------------------------------------------------------------------


def test_merge_keeps_one_edge_per_pair_with_telemetry_metrics() -> None:
    a, b = "east/shop/a", "east/shop/b"
    merged = merge_edges(
        [
            Edge(a, b, "http", "config"),
            Edge(
                a,
                b,
                "grpc",
                "telemetry",
                rps=3.0,
                p95_ms=9.0,
                workloads=("shop/a-v2",),
                sources=("prometheus",),
            ),
            Edge(
                a,
                b,
                "unknown",
                "telemetry",
                rps=99.0,
                error_rate=0.5,
                workloads=("shop/a-v1",),
                sources=("jaeger",),
            ),
            Edge(b, a, "http", "config"),
        ]
    )
    assert len(merged) == 2
    first = merged[0]
    assert (first.origin, first.protocol, first.rps, first.error_rate, first.p95_ms) == (
        "both",
        "grpc",
        3.0,
        0.5,
        9.0,
    )
    assert first.workloads == ("shop/a-v1", "shop/a-v2")
    assert first.sources == ("prometheus", "jaeger")
    assert merged[1].origin == "config"


# --- Jaeger and Zipkin ----------------------------------------------------------

LINKS = [
    {"parent": "web", "child": "orders", "callCount": 600},
    {"parent": "orders", "child": "payments", "callCount": 120, "errorCount": 30},
    {"parent": "orders", "child": "orders", "callCount": 50},
    {"parent": "payments", "child": "api.stripe.example", "callCount": 60},
]


def _trace_edges(kind: type[JaegerSource] | type[ZipkinSource], url: str) -> dict[Any, Edge]:
    async def go() -> tuple[Edge, ...]:
        async with httpx.AsyncClient() as client:
            source = kind(client=client, url=url, window="10m", at=AT)
            return await source.edges(NodeNamer(INVENTORY))

    return {(e.source, e.target): e for e in asyncio.run(go())}


def test_jaeger_dependencies_become_edges() -> None:
    app = jaeger_app(LINKS)
    with serving(app) as url:
        edges = _trace_edges(JaegerSource, url)
    # Self-calls are not dependencies; "web" is the Service selecting app web.
    assert set(edges) == {
        ("east/shop/web", "east/shop/orders"),
        ("east/shop/orders", "east/shop/payments"),
        ("east/shop/payments", "api.stripe.example"),
    }
    edge = edges[("east/shop/web", "east/shop/orders")]
    assert (edge.rps, edge.error_rate, edge.sources) == (1.0, None, ("jaeger",))
    assert app[SEEN] == [{"endTs": "1767225600000", "lookback": "600000"}]


def test_zipkin_dependencies_carry_errors() -> None:
    with serving(zipkin_app(LINKS)) as url:
        edges = _trace_edges(ZipkinSource, url)
    edge = edges[("east/shop/orders", "east/shop/payments")]
    assert (edge.rps, edge.error_rate, edge.protocol) == (0.2, 0.25, "unknown")


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        (ZipkinSource, {"not": "a list"}, "Zipkin's answer is not a dependency list"),
        (JaegerSource, [], "Jaeger's answer holds no dependency list"),
        (
            JaegerSource,
            {"data": None, "errors": [{"code": 500, "msg": "storage down"}]},
            "Jaeger answered with errors: storage down",
        ),
    ],
)
def test_trace_back_ends_answering_nonsense_are_problems(
    kind: type[JaegerSource] | type[ZipkinSource], body: Any, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    async def go() -> telemetry.TelemetryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await collect([kind(client=client, url="http://traces.test", at=AT)], INVENTORY)

    result = asyncio.run(go())
    assert result.edges == ()
    assert [(p.where, p.why) for p in result.problems] == [
        (f"{kind.kind} http://traces.test", message)
    ]


# --- command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--telemetry-window", "10"], "--telemetry-window: '10' is not a duration"),
        (["--prometheus", "prometheus:9090"], "--prometheus must be an http:// or https:// URL"),
        (["--jaeger", "ftp://jaeger"], "--jaeger must be an http:// or https:// URL"),
        (["--telemetry-timeout", "0"], "--telemetry-timeout must be positive"),
        (["--telemetry-at", "yesterday"], "'yesterday' is not RFC 3339 or Unix seconds"),
    ],
)
def test_bad_telemetry_flags_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshatlas.cli import main

    assert main(["discover", "--kubeconfig", "/nonexistent/kubeconfig", *flags]) == 2
    # The console wraps long lines; compare words.
    assert message in " ".join(capsys.readouterr().err.split())


def test_discover_help_lists_the_telemetry_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from meshatlas.cli import main

    assert main(["discover", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--prometheus", "--telemetry-window", "--otel-prometheus", "--jaeger", "--zipkin"):
        assert flag in out


# --- ambient: waypoints ------------------------------------------------------------


def test_a_sidecar_client_through_a_waypoint_needs_the_configured_waypoint() -> None:
    # billing's sidecar reports the call; the waypoint reports it again; the
    # server's ztunnel sees the waypoint as its peer. No client-side ztunnel
    # hands the call to the waypoint, so only configuration names it.
    hop = {
        "source_workload_namespace": "shop",
        "source_workload": "waypoint",
        "source_app": "waypoint",
        "destination_workload_namespace": "shop",
        "destination_workload": "payments-v1",
        "request_protocol": "tcp",
        "connection_security_policy": "mutual_tls",
    }
    series = {
        "istio_requests_total": [
            (_req("source"), 4.0),
            (_req("waypoint", connection_security_policy="mutual_tls"), 4.0),
        ],
        "istio_tcp_connections_opened_total": [(_req("destination", **hop), 0.5)],
    }
    bare = _istio(series)
    assert set(bare) == {
        ("east/shop/orders", "east/shop/payments"),
        ("east/shop/waypoint", "east/shop/payments"),
    }
    told = _istio(series, waypoints=[("shop", "waypoint")])
    assert set(told) == {("east/shop/orders", "east/shop/payments")}
    edge = told[("east/shop/orders", "east/shop/payments")]
    # Counted once, from the client's sidecar (not 8 with the waypoint's); the
    # server's ztunnel saw only the waypoint hop, so the call's mTLS is unknown.
    assert (edge.rps, edge.protocol, edge.mtls) == (4.0, "http", None)


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # Interpolated inside (10, 20]: rank 5 of 10, 4 below.
        (0.5, {10.0: 4.0, 20.0: 8.0, float("inf"): 10.0}, 12.5),
        # The rank falls in +Inf: the highest finite bound.
        (0.99, {10.0: 4.0, 20.0: 8.0, float("inf"): 10.0}, 20.0),
        # The lowest bucket starts at 0.
        (0.25, {10.0: 4.0, 20.0: 8.0, float("inf"): 10.0}, 6.25),
        # No +Inf bucket, or no observations: Prometheus answers NaN.
        (0.5, {10.0: 4.0, 20.0: 8.0}, None),
        (0.5, {10.0: 0.0, float("inf"): 0.0}, None),
        # A counter rate that dips by rounding is made monotonic first.
        (0.5, {10.0: 5.0, 20.0: 4.999999, float("inf"): 10.0}, 10.0),
    ],
)
def test_bucket_quantile_follows_histogram_quantile(
    q: float, buckets: dict[float, float], expected: float | None
) -> None:
    from discovery.telemetry.histogram import bucket_quantile

    assert bucket_quantile(q, buckets) == (None if expected is None else pytest.approx(expected))
