"""Ambient-mode telemetry in a real Prometheus: every logical call counted once.

The series of :mod:`fixtures.telemetry_ambient` (sidecars, gateways, ztunnel
on both nodes, the store waypoint) are backfilled with promtool into the
Debian ``prometheus`` on loopback. Expected values come from the calls'
truth (:data:`AMBIENT_CALLS`) and the bucket arithmetic of their latency
shares, never from the reader's output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from discovery.model import Edge, ExternalHost, Inventory, Service, ServiceKey, ServicePort
from discovery.telemetry import IstioPrometheusSource, NodeNamer
from fixtures.telemetry import DEMO_END, PrometheusServer, expected_quantile
from fixtures.telemetry_ambient import AMBIENT_CALLS, FAST, MEDIUM, SLOW, write_openmetrics
from graph.build import build_graph

AT = datetime.fromtimestamp(DEMO_END, UTC)
PORT = ServicePort("http", 8080, 8080, "TCP", None, "http")
BANK = ExternalHost("api.bank.example", (443,), "store", "bank", "ambient")


def _svc(namespace: str, name: str, selector: dict[str, str] | None = None) -> Service:
    return Service(
        key=ServiceKey("ambient", namespace, name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.11",),
        external_name=None,
        ports=(PORT,),
        ready_addresses=(),
        selector={"app": name} if selector is None else selector,
    )


SERVICES = (
    _svc("store", "web"),
    _svc("store", "cart"),
    _svc("store", "cart-canary"),
    # Istio's Service in front of the waypoint Deployment.
    _svc("store", "waypoint", {"gateway.networking.k8s.io/gateway-name": "waypoint"}),
    _svc("ledger", "accounts"),
    _svc("legacy", "billing"),
    _svc("istio-ingress", "istio-ingressgateway"),
    _svc("istio-ingress", "public-istio", {"gateway.networking.k8s.io/gateway-name": "public"}),
)
INVENTORY = Inventory(("ambient",), SERVICES, (BANK,), (), ())
WAYPOINT_NODE = "ambient/store/waypoint"

WEB, CART, CANARY = "ambient/store/web", "ambient/store/cart", "ambient/store/cart-canary"
ACCOUNTS, BILLING = "ambient/ledger/accounts", "ambient/legacy/billing"
CLASSIC, PUBLIC = "ambient/istio-ingress/istio-ingressgateway", "ambient/istio-ingress/public-istio"

#: (source, target) -> protocol, rate, error rate, latency shares, mTLS, bytes/s
EXPECTED: dict[tuple[str, str], tuple[str, float, float | None, Any, bool | None, float | None]] = {
    # L7 from the waypoint; bytes from web's ztunnel, which only knows it asked
    # for cart, so they include the 10% the route sent to the canary.
    (WEB, CART): ("http", 18.0, 0.05, MEDIUM, True, 12000.0 + 1500.0),
    (WEB, CANARY): ("http", 2.0, 0.0, SLOW, None, None),
    # Ambient without a waypoint: L4 only, the rate is connections per second.
    (WEB, ACCOUNTS): ("tcp", 3.0, None, None, True, 900.0),
    (CART, BILLING): ("http", 4.0, 0.1, FAST, True, 600.0),
    (BILLING, ACCOUNTS): ("http", 5.0, 0.02, MEDIUM, True, 800.0),
    (WEB, "api.bank.example"): ("tcp", 0.5, None, None, None, 2800.0),
    # Both sidecars report; the gateway's 6% 503s never reached billing.
    (CLASSIC, BILLING): ("http", 6.0, 0.06, FAST, True, None),
    (PUBLIC, WEB): ("http", 10.0, 0.0, FAST, True, 6000.0),
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    directory = tmp_path_factory.mktemp("prometheus-ambient")
    with PrometheusServer(directory, series=write_openmetrics) as server:
        yield server


def _edges(url: str, **options: Any) -> dict[tuple[str, str], Edge]:
    async def go() -> tuple[Edge, ...]:
        async with httpx.AsyncClient() as client:
            source = IstioPrometheusSource(client=client, url=url, at=AT, **options)
            return await source.edges(NodeNamer(INVENTORY))

    found = asyncio.run(go())
    pairs = [(e.source, e.target) for e in found]
    assert len(pairs) == len(set(pairs)), "an edge came out twice"
    return {(e.source, e.target): e for e in found}


@pytest.fixture(scope="module")
def edges(prometheus: PrometheusServer) -> dict[tuple[str, str], Edge]:
    return _edges(prometheus.url)


def test_the_fixture_is_the_shared_mesh() -> None:
    # Every combination the mixed mesh has, once each.
    paths = sorted({call.path for call in AMBIENT_CALLS})
    assert paths == [
        "ambient-to-sidecar",
        "egress",
        "l4",
        "sidecar",
        "sidecar-to-ambient",
        "waypoint",
    ]


def test_every_logical_call_is_one_edge_and_no_waypoint_shows(
    edges: dict[tuple[str, str], Edge],
) -> None:
    assert set(edges) == set(EXPECTED)
    nodes = {end for pair in edges for end in pair}
    assert WAYPOINT_NODE not in nodes
    assert not any("ztunnel" in node or "waypoint" in node for node in nodes)


@pytest.mark.parametrize("pair", sorted(EXPECTED))
def test_rates_errors_latency_and_mtls(
    edges: dict[tuple[str, str], Edge], pair: tuple[str, str]
) -> None:
    protocol, rate, error_rate, latency, mtls, traffic = EXPECTED[pair]
    edge = edges[pair]
    assert edge.protocol == protocol
    assert edge.rps == pytest.approx(rate, rel=1e-9)
    if error_rate is None:
        assert edge.error_rate is None
    else:
        assert edge.error_rate == pytest.approx(error_rate, abs=1e-12)
    for q, value in ((0.5, edge.p50_ms), (0.95, edge.p95_ms), (0.99, edge.p99_ms)):
        if latency is None:
            assert value is None
        else:
            assert value == pytest.approx(expected_quantile(latency, q), rel=1e-9)
    assert edge.mtls is mtls
    if traffic is None:
        assert edge.bytes_per_s is None
    else:
        assert edge.bytes_per_s == pytest.approx(traffic, rel=1e-9)
    assert edge.egress is None
    assert edge.origin == "telemetry"


def test_the_bank_is_the_external_host_node(edges: dict[tuple[str, str], Edge]) -> None:
    # ztunnel names the ServiceEntry "bank" in store; the node is the host.
    assert "ambient/store/bank" not in {t for _, t in edges}
    graph = build_graph(services=SERVICES, external_hosts=(BANK,), edges=list(edges.values()))
    assert graph.nodes["api.bank.example"]["kind"] == "external"


def test_the_default_graph_holds_no_waypoint_node(edges: dict[tuple[str, str], Edge]) -> None:
    graph = build_graph(
        services=SERVICES,
        external_hosts=(BANK,),
        edges=list(edges.values()),
        infrastructure=(ServiceKey("ambient", "store", "waypoint"),),
    )
    assert WAYPOINT_NODE not in graph
    assert set(graph.edges) == set(EXPECTED)


def test_waypoint_hops_are_drawn_only_when_asked(prometheus: PrometheusServer) -> None:
    shown = _edges(prometheus.url, include_waypoints=True)
    hops = set(shown) - set(EXPECTED)
    assert hops == {(WEB, WAYPOINT_NODE), (WAYPOINT_NODE, CART), (WAYPOINT_NODE, CANARY)}
    # The hops are connections; the logical edges keep their numbers.
    assert shown[(WEB, WAYPOINT_NODE)].rps == pytest.approx(2.0)
    assert shown[(WAYPOINT_NODE, CART)].rps == pytest.approx(1.8)
    assert shown[(WEB, CART)].rps == pytest.approx(18.0)
    graph = build_graph(
        services=SERVICES,
        external_hosts=(BANK,),
        edges=list(shown.values()),
        infrastructure=(ServiceKey("ambient", "store", "waypoint"),),
    )
    assert WAYPOINT_NODE in graph  # an edge names it


def test_configured_waypoints_give_the_same_graph(
    prometheus: PrometheusServer, edges: dict[tuple[str, str], Edge]
) -> None:
    assert _edges(prometheus.url, waypoints=[("store", "waypoint")]) == edges
