"""Telemetry against a real Prometheus over a backfilled TSDB of Istio series.

The Debian ``prometheus`` binary runs on a free loopback port over blocks
``promtool tsdb create-blocks-from openmetrics`` made from
:data:`fixtures.telemetry.DEMO_FLOWS`. Without ``prometheus``/``promtool``
these tests fail (``make system-deps`` installs them); they never skip.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import networkx as nx
import pytest

import catalog
from discovery.model import Edge, ExternalHost, Inventory, Service, ServiceKey, ServicePort
from discovery.telemetry import (
    IstioPrometheusSource,
    NodeNamer,
    OtelServiceGraphSource,
    collect,
)
from fixtures.mesh import Mesh
from fixtures.telemetry import (
    DEMO_END,
    DEMO_FLOWS,
    Caller,
    Flow,
    PrometheusServer,
    TelemetryFixtureError,
    binaries,
    expected_quantile,
)
from fixtures.telemetry_backends import broken_prometheus_app, serving
from graph.build import build_graph
from meshatlas.cli import main
from meshatlas.job import report as report_mod

AT = datetime.fromtimestamp(DEMO_END, UTC)

#: (source, target) -> (protocol, rate, error rate, mtls, calling workloads)
EXPECTED: dict[tuple[str, str], tuple[str, float, float | None, bool | None, tuple[str, ...]]] = {
    ("unknown", "demo/shop/frontend"): ("http", 12.0, 0.0, False, ()),
    ("demo/shop/frontend", "demo/shop/catalog"): ("http", 8.0, 0.0, True, ("shop/frontend-v1",)),
    ("demo/shop/frontend", "demo/shop/orders"): ("http", 3.0, 0.0, True, ("shop/frontend-v1",)),
    ("demo/shop/frontend", "demo/shop/reviews"): ("http", 4.0, 0.0, True, ("shop/frontend-v1",)),
    ("demo/shop/orders", "demo/shop/payments"): (
        "http",
        2.0,
        0.0,
        True,
        ("shop/orders-v1", "shop/orders-v2"),
    ),
    ("demo/shop/orders", "demo/shop/inventory"): ("http", 2.0, 0.0, True, ("shop/orders-v1",)),
    ("demo/shop/orders", "demo/shop/cart-redis"): ("tcp", 0.5, None, True, ("shop/orders-v1",)),
    ("demo/shop/orders", "demo/billing/invoice-ws"): ("http", 1.0, 0.0, True, ("shop/orders-v1",)),
    ("demo/billing/invoice-ws", "demo/billing/tax-calc"): (
        "http",
        1.0,
        0.0,
        True,
        ("billing/invoice-ws-v1",),
    ),
    ("demo/billing/invoice-ws", "demo/billing/ledger"): (
        "http",
        2.0,
        0.25,
        True,
        ("billing/invoice-ws-v1",),
    ),
    ("demo/shop/payments", "api.stripe.example"): ("tcp", 0.25, None, None, ("shop/payments-v1",)),
}
CONFIG_PAIRS = {
    ("demo/shop/frontend", "demo/shop/catalog"),
    ("demo/shop/frontend", "demo/shop/orders"),
    ("demo/shop/orders", "demo/shop/payments"),
    ("demo/shop/orders", "demo/shop/inventory"),
}
DEMO_SERVICES = {
    "shop": ["catalog", "orders", "payments", "inventory", "reviews", "frontend", "cart-redis"],
    "billing": ["invoice-ws", "tax-calc", "ledger", "legacy-soap"],
    "platform": ["search", "graphql-gw", "auth", "notes", "idle", "ext-payments"],
}


def _inventory() -> Inventory:
    port = ServicePort("http", 8080, 8080, "TCP", None, "http")
    services = tuple(
        Service(
            key=ServiceKey("demo", namespace, name),
            type="ClusterIP",
            headless=False,
            cluster_ips=("127.0.0.11",),
            external_name=None,
            ports=(port,),
            ready_addresses=(),
            selector={"app": name},
        )
        for namespace, names in DEMO_SERVICES.items()
        for name in names
    )
    return Inventory(("demo",), services, (), (), ())


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    try:
        binaries()
    except TelemetryFixtureError as exc:
        pytest.fail(f"a real Prometheus is required: {exc}")
    with PrometheusServer(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


def _istio_edges(url: str, *, at: datetime = AT, window: str = "10m") -> dict[Any, Edge]:
    async def go() -> tuple[Edge, ...]:
        async with httpx.AsyncClient() as client:
            source = IstioPrometheusSource(client=client, url=url, window=window, at=at)
            return await source.edges(NodeNamer(_inventory()))

    return {(e.source, e.target): e for e in asyncio.run(go())}


@pytest.fixture(scope="module")
def istio_edges(prometheus: PrometheusServer) -> dict[Any, Edge]:
    return _istio_edges(prometheus.url)


def test_edges_are_exactly_the_demo_traffic(istio_edges: dict[Any, Edge]) -> None:
    # legacy-soap's traffic stopped before the window; it must not show.
    assert set(istio_edges) == set(EXPECTED)


@pytest.mark.parametrize("pair", sorted(EXPECTED))
def test_edge_rates_error_rates_and_mtls(istio_edges: dict[Any, Edge], pair: Any) -> None:
    protocol, rate, error_rate, mtls, workloads = EXPECTED[pair]
    edge = istio_edges[pair]
    assert edge.origin == "telemetry"
    assert edge.protocol == protocol
    # Both reporters saw the calls; the edge counts them once.
    assert edge.rps == pytest.approx(rate, rel=1e-9)
    if error_rate is None:
        assert edge.error_rate is None
    else:
        assert edge.error_rate == pytest.approx(error_rate, abs=1e-12)
    assert edge.mtls is mtls
    assert edge.workloads == workloads
    assert edge.sources == ("prometheus",)


def test_latency_percentiles_come_from_the_histograms(istio_edges: dict[Any, Edge]) -> None:
    checked = 0
    for flow in DEMO_FLOWS:
        if flow.protocol == "tcp" or flow.rps == 0:
            continue
        source = (
            f"demo/{flow.callers[0].namespace}/{flow.callers[0].app}" if flow.callers else "unknown"
        )
        assert isinstance(flow.target, tuple)
        edge = istio_edges[(source, f"demo/{flow.target[0]}/{flow.target[1]}")]
        for q, value in ((0.5, edge.p50_ms), (0.95, edge.p95_ms), (0.99, edge.p99_ms)):
            assert value == pytest.approx(expected_quantile(flow.latency, q), rel=1e-9)
        checked += 1
    assert checked == 9
    # The numbers themselves, for one edge: 50% of orders -> payments within
    # (100, 250] ms, interpolated.
    slow = istio_edges[("demo/shop/orders", "demo/shop/payments")]
    assert slow.p50_ms == pytest.approx(220.0)
    assert slow.p95_ms == pytest.approx(1750.0)


def test_tcp_edges_carry_bytes_and_egress(istio_edges: dict[Any, Edge]) -> None:
    redis = istio_edges[("demo/shop/orders", "demo/shop/cart-redis")]
    assert redis.bytes_per_s == pytest.approx(2500.0)
    assert redis.egress is None
    stripe = istio_edges[("demo/shop/payments", "api.stripe.example")]
    assert stripe.bytes_per_s == pytest.approx(4000.0)
    assert stripe.egress == "passthrough"
    assert istio_edges[("demo/billing/invoice-ws", "demo/billing/ledger")].bytes_per_s is None


def test_evaluation_time_is_honoured(prometheus: PrometheusServer) -> None:
    # Two hours after the data ends, nothing happened in the window.
    assert _istio_edges(prometheus.url, at=AT + timedelta(hours=2)) == {}
    # Counters grow linearly, so a shorter window sees the same rates.
    short = _istio_edges(prometheus.url, window="5m")
    assert set(short) == set(EXPECTED)
    assert short[("demo/billing/invoice-ws", "demo/billing/ledger")].error_rate == pytest.approx(
        0.25
    )


def test_otel_servicegraph_edges(prometheus: PrometheusServer) -> None:
    async def go() -> tuple[Edge, ...]:
        async with httpx.AsyncClient() as client:
            source = OtelServiceGraphSource(client=client, url=prometheus.url, at=AT)
            return await source.edges(NodeNamer(_inventory()))

    edges = {(e.source, e.target): e for e in asyncio.run(go())}
    http_pairs = {pair for pair, spec in EXPECTED.items() if spec[0] == "http"}
    assert set(edges) == http_pairs
    ledger = edges[("demo/billing/invoice-ws", "demo/billing/ledger")]
    assert ledger.rps == pytest.approx(2.0)
    assert ledger.error_rate == pytest.approx(0.25)
    assert ledger.p50_ms == pytest.approx(40.0)
    assert ledger.sources == ("otel",)
    assert edges[("unknown", "demo/shop/frontend")].rps == pytest.approx(12.0)


# --- failures: the graph falls back to config edges --------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _collect(url: str, *, timeout: float = 10.0) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            source = IstioPrometheusSource(client=client, url=url, at=AT, timeout=timeout)
            return await collect([source], _inventory())

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        (
            "error",
            "Prometheus refused the query (execution, HTTP 422): "
            "query processing would load too many samples into memory",
        ),
        ("unavailable", "Prometheus refused the query (unavailable, HTTP 503): TSDB not ready"),
        (
            "warnings",
            "Prometheus returned partial data: store gateway eu-1 unreachable: partial data",
        ),
        ("slow", "no answer within 0.5s"),
        ("proxy", "HTTP 502 from {url}/api/v1/query without a Prometheus answer"),
    ],
)
def test_a_misbehaving_prometheus_is_one_exact_problem(mode: str, why: str) -> None:
    with serving(broken_prometheus_app(mode, delay=3.0)) as url:
        result = _collect(url, timeout=0.5)
    assert result.edges == ()
    assert [(p.where, p.what, p.why) for p in result.problems] == [
        (
            f"prometheus {url}",
            "telemetry not read; the graph holds config edges only",
            why.format(url=url),
        )
    ]


def test_an_unreachable_prometheus_is_one_problem() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = _collect(url)
    assert result.edges == ()
    assert len(result.problems) == 1
    assert result.problems[0].where == f"prometheus {url}"
    assert result.problems[0].why.startswith("cannot reach Prometheus: ")


# --- end to end: meshatlas discover --prometheus -----------------------------


def _discover(mesh: Mesh, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(mesh.kubeconfig),
            "--catalog",
            f"sqlite:///{out / 'catalog.db'}",
            "--out",
            str(out),
            "--telemetry-at",
            str(DEMO_END),
            *extra,
        ]
    )
    return code, json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def discovered(
    demo_mesh: Mesh, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("discover-telemetry")
    code, doc = _discover(demo_mesh, out, "--prometheus", prometheus.url)
    return code, doc, out


def test_discover_merges_config_and_telemetry_edges(
    discovered: tuple[int, dict[str, Any], Path],
) -> None:
    code, doc, _ = discovered
    assert code == 0
    assert doc["problems"] == []
    report_mod.validate(doc)
    edges = {(e["source"], e["target"]): e for e in doc["edges"]}
    assert set(edges) == set(EXPECTED)
    for pair, edge in edges.items():
        assert edge["origin"] == ("both" if pair in CONFIG_PAIRS else "telemetry"), pair
        assert edge["rps"] == pytest.approx(EXPECTED[pair][1])
    assert edges[("demo/billing/invoice-ws", "demo/billing/ledger")]["error_rate"] == 0.25
    assert doc["stats"]["edges"] == 11


def test_graph_files_and_catalogue_hold_telemetry_dependencies(
    discovered: tuple[int, dict[str, Any], Path],
) -> None:
    _, _, out = discovered
    g = nx.node_link_graph(json.loads((out / "graph.json").read_text()), edges="edges")
    assert g.edges["demo/shop/payments", "api.stripe.example"]["egress"] == "passthrough"
    assert g.nodes["unknown"]["kind"] == "unknown"
    back = nx.read_graphml(out / "graph.graphml")
    assert set(back.edges) == set(g.edges)
    assert back.edges["demo/shop/orders", "demo/shop/payments"]["workloads"] == (
        "shop/orders-v1,shop/orders-v2"
    )
    with catalog.open_store(f"sqlite:///{out / 'catalog.db'}") as store:
        orders = store.get("meshatlas", "shop-orders")
        invoice = store.get("meshatlas", "billing-invoice-ws")
    called = {d.rsplit(":", 1)[0] if d.count(":") == 2 else d for d in orders.latest.dependencies}
    # payments and inventory come from config and telemetry; invoice-ws from telemetry alone.
    assert called == {
        "meshatlas:shop-payments",
        "meshatlas:shop-inventory",
        "meshatlas:billing-invoice-ws",
    }
    called = {d.rsplit(":", 1)[0] if d.count(":") == 2 else d for d in invoice.latest.dependencies}
    assert called == {"meshatlas:billing-tax-calc", "meshatlas:billing-ledger"}


def test_graph_command_answers_from_the_report(
    discovered: tuple[int, dict[str, Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, out = discovered
    report = str(out / "report.json")
    assert main(["graph", "--report", report, "--blast-radius", "billing/ledger", "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert answers["blast_radius"] == {
        "demo/billing/ledger": [
            "demo/billing/invoice-ws",
            "demo/shop/frontend",
            "demo/shop/orders",
            "unknown",
        ]
    }
    svg = out / "mesh.svg"
    assert (
        main(["graph", "--graph", str(out / "graph.json"), "--format", "svg", "--out", str(svg)])
        == 0
    )
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # Namespaces are boxes; the failing edge is drawn in red.
    for namespace in ("shop", "billing", "platform"):
        assert f"<title>cluster_{namespace}</title>" in text
    assert 'stroke="red"' in text and "25.0% errors" in text


def test_prometheus_down_publishes_config_edges_and_exits_3(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, doc = _discover(demo_mesh, tmp_path, "--prometheus", url)
    assert code == 3
    assert doc["outcome"] == "partial"
    [problem] = doc["problems"]
    assert problem["where"] == f"prometheus {url}"
    assert problem["what"] == "telemetry not read; the graph holds config edges only"
    assert problem["why"].startswith("cannot reach Prometheus: ")
    assert {(e["source"], e["target"]) for e in doc["edges"]} == CONFIG_PAIRS
    assert {e["origin"] for e in doc["edges"]} == {"config"}
    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        assert len(store.list_assets()) == 14


def test_prometheus_warnings_exit_3_with_the_warning(demo_mesh: Mesh, tmp_path: Path) -> None:
    with serving(broken_prometheus_app("warnings")) as url:
        code, doc = _discover(demo_mesh, tmp_path, "--prometheus", url)
    assert code == 3
    assert [p["why"] for p in doc["problems"]] == [
        "Prometheus returned partial data: store gateway eu-1 unreachable: partial data"
    ]
    assert {e["origin"] for e in doc["edges"]} == {"config"}


def test_promtool_made_the_blocks(prometheus: PrometheusServer) -> None:
    # The fixture really backfilled: a TSDB block with a meta.json exists.
    blocks = list((prometheus.directory / "data").glob("*/meta.json"))
    assert blocks, "promtool wrote no block"
    meta = json.loads(blocks[0].read_text())
    assert meta["stats"]["numSeries"] > 100
    assert (
        subprocess.run(["promtool", "--version"], capture_output=True, check=False).returncode == 0
    )


# --- the two errors of the held-out graph check (issue 17) -------------------

#: Latency shares per bucket upper bound (ms); the canary is ten times slower.
STEADY = {25: 0.2, 50: 0.5, 100: 0.25, 500: 0.05}
CANARY = {100: 0.1, 250: 0.5, 500: 0.3, 2500: 0.1}
CANARY_SHARE = 0.03
GRAPH_CHECK_FLOWS = (
    # frontend's canary carries 3% of frontend -> catalog and is slow.
    Flow(
        (
            Caller("shop", "frontend-v1", "frontend", 1 - CANARY_SHARE),
            Caller("shop", "frontend-canary", "frontend", CANARY_SHARE, latency=CANARY),
        ),
        ("shop", "catalog"),
        "http",
        10.0,
        latency=STEADY,
    ),
    # Calls to a host a ServiceEntry in shop declares: Istio names the host as
    # the Service and the entry's namespace as its namespace; no sidecar there.
    Flow(
        (Caller("shop", "payments-v1", "payments"),),
        "api.bank.example",
        "http",
        1.5,
        0.1,
        STEADY,
        entry_namespace="shop",
        reported_by_destination=False,
    ),
)
BANK = ExternalHost("api.bank.example", (443,), "shop", "bank", "demo")


@pytest.fixture(scope="module")
def graph_check_edges(tmp_path_factory: pytest.TempPathFactory) -> dict[Any, Edge]:
    directory = tmp_path_factory.mktemp("prometheus-graph-check")
    with PrometheusServer(directory, flows=GRAPH_CHECK_FLOWS) as server:

        async def go() -> tuple[Edge, ...]:
            async with httpx.AsyncClient() as client:
                source = IstioPrometheusSource(client=client, url=server.url, at=AT)
                inventory = replace(_inventory(), external_hosts=(BANK,))
                return await source.edges(NodeNamer(inventory))

        return {(e.source, e.target): e for e in asyncio.run(go())}


def test_a_slow_canary_does_not_give_the_edge_its_p95(graph_check_edges: dict[Any, Edge]) -> None:
    # The edge's histogram is the sum of both callers' buckets: per bucket,
    # 97% of the steady shares plus 3% of the canary's.
    whole = {
        upper: (1 - CANARY_SHARE) * STEADY.get(upper, 0.0) + CANARY_SHARE * CANARY.get(upper, 0.0)
        for upper in set(STEADY) | set(CANARY)
    }
    edge = graph_check_edges[("demo/shop/frontend", "demo/shop/catalog")]
    assert edge.rps == pytest.approx(10.0)
    assert edge.workloads == ("shop/frontend-canary", "shop/frontend-v1")
    for q, value in ((0.5, edge.p50_ms), (0.95, edge.p95_ms), (0.99, edge.p99_ms)):
        assert value == pytest.approx(expected_quantile(whole, q), rel=1e-9)
    # 0.95 of the edge's calls fall in (250, 500] ms; the canary alone would say 1750 ms.
    assert edge.p95_ms == pytest.approx(250 + 250 * (0.95 - 0.9395) / 0.0575)
    assert expected_quantile(CANARY, 0.95) == pytest.approx(1750.0)


def test_service_entry_traffic_goes_to_the_external_host_node(
    graph_check_edges: dict[Any, Edge],
) -> None:
    assert set(graph_check_edges) == {
        ("demo/shop/frontend", "demo/shop/catalog"),
        ("demo/shop/payments", "api.bank.example"),
    }
    edge = graph_check_edges[("demo/shop/payments", "api.bank.example")]
    assert (edge.rps, edge.egress) == (pytest.approx(1.5), None)
    assert edge.error_rate == pytest.approx(0.1)
    graph = build_graph(services=_inventory().services, external_hosts=(BANK,), edges=[edge])
    assert graph.nodes["api.bank.example"]["kind"] == "external"
    assert "demo/shop/api.bank.example" not in graph
