"""Per-API analytics: inbound traffic per Service, kept per run, served and charted.

Two real Prometheus servers over backfilled TSDBs:

* a scenario written here by construction (:data:`SCENARIO`): an API with a
  slow canary caller carrying 3% of its requests, 4xx and 5xx answers, a
  client side that saw failures the server never did, a gRPC API whose
  failures are HTTP 200 with a non-zero ``grpc_response_status``, and an
  ambient API whose only L7 reporter is its waypoint;
* the demo mesh's traffic (:data:`fixtures.telemetry.DEMO_FLOWS`), discovered
  twice through ``meshatlas discover`` into SQLite, then read back through the
  REST route and the portal's API page (in Chromium too).

Expected figures come from the construction: rates and shares summed from
the scenario, quantiles from the summed constructed buckets with the
interpolation Prometheus documents for ``histogram_quantile``
(:func:`fixtures.telemetry.expected_quantile`), never from meshatlas's code.
Screenshots go to ``build/test-artifacts/analytics/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest

import catalog
from catalog import server
from catalog.graphmodel import GraphNode, NodeAnalytics, RunGraph, graph_from_json, graph_json
from discovery.model import Inventory, Service, ServiceKey, ServicePort
from discovery.telemetry import IstioPrometheusSource, NodeNamer
from discovery.telemetry.analytics import ApiTraffic, inbound_traffic
from fixtures.mesh import Mesh
from fixtures.telemetry import (
    BUCKETS,
    DEMO_END,
    DEMO_FLOWS,
    PrometheusServer,
    expected_quantile,
)
from meshatlas.cli import main
from meshatlas.job import report as report_mod
from tests.chromium import chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MESHATLAS_ARTIFACTS", ROOT / "build" / "test-artifacts"))
AT = datetime.fromtimestamp(DEMO_END, UTC)
M = "/meshatlas/api/v1"
STEP, SPAN = 30, 40 * 60

# -- the scenario, by construction ------------------------------------------------------

#: Latency shares per bucket upper bound (ms).
STEADY = {25: 0.2, 50: 0.5, 100: 0.25, 500: 0.05}
SLOW = {100: 0.1, 250: 0.5, 500: 0.3, 2500: 0.1}
FAST = {5: 0.3, 10: 0.5, 25: 0.15, 100: 0.05}


@dataclass(frozen=True)
class Series:
    """What one reporter exports for one caller workload → Service.

    ``codes`` are (response_code, grpc_response_status, share of ``rate``).
    """

    reporter: str
    caller: tuple[str, str, str]  # namespace, workload, app
    target: tuple[str, str]
    protocol: str
    rate: float
    codes: tuple[tuple[str, str, float], ...]
    latency: Mapping[float, float]
    #: Envoy's response flags: ``UH`` (no healthy upstream) never reached the server.
    flags: str = "-"


def _both(
    caller: tuple[str, str, str],
    target: tuple[str, str],
    rate: float,
    codes: tuple[tuple[str, str, float], ...],
    latency: Mapping[float, float],
    protocol: str = "http",
) -> list[Series]:
    return [
        Series(r, caller, target, protocol, rate, codes, latency) for r in ("source", "destination")
    ]


FRONTEND = ("shop", "frontend-v1", "frontend")
CANARY = ("shop", "frontend-canary", "frontend")
ORDERS = ("shop", "orders-v1", "orders")
WEB = ("store", "web-v1", "web")
CATALOG, SEARCH, CART = ("shop", "catalog"), ("platform", "search"), ("store", "cart")

SCENARIO: tuple[Series, ...] = (
    # catalog: 10 requests/s, the canary 3% of them and slow.
    *_both(
        FRONTEND, CATALOG, 7.7, (("200", "-", 0.93), ("404", "-", 0.05), ("503", "-", 0.02)), STEADY
    ),
    *_both(CANARY, CATALOG, 0.3, (("200", "-", 1.0),), SLOW),
    *_both(ORDERS, CATALOG, 2.0, (("200", "-", 0.9), ("503", "-", 0.1)), STEADY),
    # orders' sidecar also saw 0.5/s of 503s that never reached catalog.
    Series("source", ORDERS, CATALOG, "http", 0.5, (("503", "-", 1.0),), STEADY, "UH"),
    # search (gRPC): failures are HTTP 200 with a non-OK gRPC status.
    *_both(
        FRONTEND,
        SEARCH,
        4.0,
        (("200", "0", 0.9), ("200", "14", 0.05), ("200", "5", 0.05)),
        FAST,
        protocol="grpc",
    ),
    # cart (ambient): only its waypoint reports L7, server side.
    Series("waypoint", WEB, CART, "http", 2.0, (("200", "-", 0.8), ("503", "-", 0.2)), STEADY),
)


def _labels(pairs: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def _base(series: Series) -> dict[str, str]:
    namespace, workload, app = series.caller
    target_ns, name = series.target
    return {
        "reporter": series.reporter,
        "source_cluster": "Kubernetes",
        "source_workload": workload,
        "source_workload_namespace": namespace,
        "source_app": app,
        "destination_cluster": "Kubernetes",
        "destination_service": f"{name}.{target_ns}.svc.cluster.local",
        "destination_service_name": name,
        "destination_service_namespace": target_ns,
        "destination_workload": f"{name}-v1",
        "destination_workload_namespace": target_ns,
        "request_protocol": series.protocol,
        "response_flags": series.flags,
        "connection_security_policy": "mutual_tls"
        if series.reporter == "destination"
        else "unknown",
    }


def _counter(out: TextIO, name: str, labels: Mapping[str, str], rate: float) -> None:
    text = _labels(labels)
    origin = DEMO_END - SPAN
    for ts in range(origin, DEMO_END + 1, STEP):
        out.write(f"{name}{text} {1000.0 + rate * (ts - origin):.6f} {ts}\n")


def write_scenario(out: TextIO) -> None:
    """The scenario as the OpenMetrics text Istio's proxies would export."""
    out.write("# TYPE istio_requests counter\n")
    for series in SCENARIO:
        for code, grpc, share in series.codes:
            labels = {**_base(series), "response_code": code, "grpc_response_status": grpc}
            _counter(out, "istio_requests_total", labels, series.rate * share)
    out.write("# TYPE istio_request_duration_milliseconds histogram\n")
    for series in SCENARIO:
        labels = {**_base(series), "response_code": "200"}
        cumulative = 0.0
        for upper in (*BUCKETS, float("inf")):
            cumulative += series.latency.get(upper, 0.0)
            le = "+Inf" if upper == float("inf") else f"{upper:g}"
            _counter(
                out,
                "istio_request_duration_milliseconds_bucket",
                {**labels, "le": le},
                series.rate * min(cumulative, 1.0),
            )
        _counter(out, "istio_request_duration_milliseconds_count", labels, series.rate)
        _counter(out, "istio_request_duration_milliseconds_sum", labels, series.rate * 50)
    out.write("# EOF\n")


def _inventory(services: Mapping[str, list[str]]) -> Inventory:
    port = ServicePort("http", 8080, 8080, "TCP", None, "http")
    return Inventory(
        ("demo",),
        tuple(
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
            for namespace, names in services.items()
            for name in names
        ),
        (),
        (),
        (),
    )


SCENARIO_SERVICES = {
    "shop": ["catalog", "frontend", "orders"],
    "platform": ["search"],
    "store": ["web", "cart"],
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ApiTraffic]:
    directory = tmp_path_factory.mktemp("prometheus-analytics")
    with PrometheusServer(directory, series=write_scenario) as prometheus:

        async def go() -> tuple[ApiTraffic, ...]:
            namer = NodeNamer(_inventory(SCENARIO_SERVICES))
            async with httpx.AsyncClient() as client:
                source = IstioPrometheusSource(client=client, url=prometheus.url, at=AT)
                await source.edges(namer)
                return inbound_traffic(source.observations, namer)

        return {t.node: t for t in asyncio.run(go())}


def _server_side(target: tuple[str, str]) -> list[Series]:
    """The series that speak for ``target``: the server's sidecar, else its waypoint."""
    mine = [s for s in SCENARIO if s.target == target]
    server_side = [s for s in mine if s.reporter in ("destination", "waypoint")]
    return server_side or mine


def _summed_shares(series: list[Series]) -> dict[float, float]:
    """Requests per second in each bucket, summed over every caller."""
    out: dict[float, float] = {}
    for s in series:
        for upper, share in s.latency.items():
            out[upper] = out.get(upper, 0.0) + s.rate * share
    return out


def test_only_the_mesh_services_called_get_figures(scenario: dict[str, ApiTraffic]) -> None:
    assert set(scenario) == {"demo/shop/catalog", "demo/platform/search", "demo/store/cart"}


def test_rate_errors_and_4xx_apart_are_the_server_sides(scenario: dict[str, ApiTraffic]) -> None:
    catalog_api = scenario["demo/shop/catalog"]
    mine = _server_side(CATALOG)
    rate = sum(s.rate for s in mine)
    failed = sum(s.rate * sh for s in mine for code, _, sh in s.codes if code.startswith("5"))
    client = sum(s.rate * sh for s in mine for code, _, sh in s.codes if code.startswith("4"))
    assert rate == pytest.approx(10.0)
    # Counted once, as catalog served them: the 0.5/s orders' sidecar alone saw are not in.
    assert catalog_api.rps == pytest.approx(rate, rel=1e-9)
    assert catalog_api.error_rate == pytest.approx(failed / rate, rel=1e-9)
    assert catalog_api.error_rate == pytest.approx((7.7 * 0.02 + 2.0 * 0.1) / 10)
    assert catalog_api.client_error_rate == pytest.approx(client / rate, rel=1e-9)
    assert client == pytest.approx(7.7 * 0.05)


def test_top_consumers_and_their_shares(scenario: dict[str, ApiTraffic]) -> None:
    consumers = [
        (c.node, c.rps, c.share, c.error_rate) for c in scenario["demo/shop/catalog"].consumers
    ]
    # frontend's stable Deployment and its canary are one caller: the frontend Service.
    assert consumers == [
        (
            "demo/shop/frontend",
            pytest.approx(8.0),
            pytest.approx(0.8),
            pytest.approx(7.7 * 0.02 / 8),
        ),
        ("demo/shop/orders", pytest.approx(2.0), pytest.approx(0.2), pytest.approx(0.1)),
    ]
    assert scenario["demo/shop/catalog"].callers == 2


def test_a_slow_canary_with_3_percent_does_not_set_the_api_p95(
    scenario: dict[str, ApiTraffic],
) -> None:
    api = scenario["demo/shop/catalog"]
    whole = _summed_shares(_server_side(CATALOG))
    assert 0.3 / sum(s.rate for s in _server_side(CATALOG)) == pytest.approx(0.03)
    for q, value in ((0.5, api.p50_ms), (0.95, api.p95_ms), (0.99, api.p99_ms)):
        assert value == pytest.approx(expected_quantile(whole, q), rel=1e-9)
    # The canary alone would say 1750 ms; the API's own p95 lies in (250, 500].
    assert expected_quantile(SLOW, 0.95) == pytest.approx(1750.0)
    assert api.p95_ms is not None and 250 < api.p95_ms < 500


def test_grpc_non_ok_status_is_an_error_even_with_http_200(
    scenario: dict[str, ApiTraffic],
) -> None:
    search = scenario["demo/platform/search"]
    assert search.rps == pytest.approx(4.0)
    assert search.error_rate == pytest.approx(0.1, rel=1e-9)
    assert search.client_error_rate == 0.0
    assert search.p95_ms == pytest.approx(expected_quantile(FAST, 0.95), rel=1e-9)


def test_ambient_waypoint_speaks_for_the_server_side(scenario: dict[str, ApiTraffic]) -> None:
    cart = scenario["demo/store/cart"]
    assert (cart.rps, cart.error_rate) == (pytest.approx(2.0), pytest.approx(0.2))
    assert [c.node for c in cart.consumers] == ["demo/store/web"]
    assert cart.p50_ms == pytest.approx(expected_quantile(STEADY, 0.5), rel=1e-9)


# -- stored per run: old graphs load, new ones keep it --------------------------------


def test_graphs_without_analytics_still_load_and_keep_their_json() -> None:
    old = {
        "cluster": "demo",
        "takenAt": AT.isoformat(),
        "window": "10m",
        "runId": None,
        "nodes": [{"id": "demo/shop/a", "kind": "service", "name": "a"}],
        "edges": [],
    }
    graph = graph_from_json(old)
    assert graph.nodes[0].analytics is None
    assert "analytics" not in graph_json(graph)["nodes"][0]
    figures = NodeAnalytics(1.5, 0.1, 0.05, 10.0, 20.0, 30.0)
    kept = RunGraph(
        "demo", AT, "10m", (GraphNode("demo/shop/a", "service", "a", analytics=figures),), ()
    )
    assert graph_from_json(json.loads(json.dumps(graph_json(kept)))).nodes[0].analytics == figures
    with pytest.raises(catalog.InvalidAsset, match="errorRate"):
        broken = graph_json(kept)
        broken["nodes"][0]["analytics"]["errorRate"] = 2
        graph_from_json(broken)


# -- the demo mesh: two runs through discover, REST, the portal -------------------------

#: The two runs' evaluation times (counters grow linearly: the same rates).
RUNS = (DEMO_END - 600, DEMO_END)


def _demo_truth() -> dict[str, tuple[float, float, float]]:
    """node → (rate, error rate, p95) of every mesh Service HTTP traffic reaches."""
    truth: dict[str, tuple[float, float, float]] = {}
    for flow in DEMO_FLOWS:
        if flow.protocol == "tcp" or flow.rps == 0 or not isinstance(flow.target, tuple):
            continue
        node = f"demo/{flow.target[0]}/{flow.target[1]}"
        assert node not in truth  # one flow per API in the demo
        truth[node] = (flow.rps, flow.error_rate, expected_quantile(flow.latency, 0.95))
    return truth


@pytest.fixture(scope="module")
def demo_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path_factory.mktemp("prometheus-demo")) as running:
        yield running


@pytest.fixture(scope="module")
def two_runs(
    demo_mesh: Mesh, demo_prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("analytics-runs")
    url = f"sqlite:///{workdir / 'catalog.db'}"
    reports = []
    for index, at in enumerate(RUNS):
        report = workdir / f"report-{index}.json"
        code = main(
            ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", url]
            + ["--prometheus", demo_prometheus.url, "--telemetry-at", str(at)]
            + ["--report", str(report)]
        )
        assert code == 0, report.read_text()
        reports.append(json.loads(report.read_text()))
    return url, reports


@pytest.fixture(scope="module")
def served(two_runs: tuple[str, list[dict[str, Any]]]) -> Iterator[str]:
    with catalog.open_store(two_runs[0]) as store:
        with server.RunningServer(server.make_app(store)) as running:
            yield running.url


def test_the_report_holds_the_truth_per_api(two_runs: tuple[str, list[dict[str, Any]]]) -> None:
    truth = _demo_truth()
    for doc in two_runs[1]:
        report_mod.validate(doc)
        got = {a["service"]: a for a in doc["analytics"]}
        assert set(got) == set(truth)
        for node, (rate, error_rate, p95) in truth.items():
            assert got[node]["rps"] == pytest.approx(rate, rel=1e-9), node
            assert got[node]["error_rate"] == pytest.approx(error_rate, abs=1e-12), node
            assert got[node]["client_error_rate"] == 0.0
            assert got[node]["p95_ms"] == pytest.approx(p95, rel=1e-9), node
        assert got["demo/shop/catalog"]["assets"] == ["meshatlas:shop-catalog"]
        assert got["demo/shop/frontend"]["consumers"] == [
            {"source": "unknown", "rps": pytest.approx(12.0), "share": 1.0, "error_rate": 0.0}
        ]
        payments = got["demo/shop/payments"]["consumers"]
        assert [(c["source"], c["share"]) for c in payments] == [("demo/shop/orders", 1.0)]


def test_rest_answers_one_point_per_run_in_order(served: str) -> None:
    answer = httpx.get(f"{served}{M}/assets/meshatlas/billing-ledger/analytics").json()
    assert answer["clusters"] == ["demo"]
    points = answer["points"]
    assert [p["takenAt"] for p in points] == [
        datetime.fromtimestamp(at, UTC).isoformat() for at in RUNS
    ]
    for point in points:
        assert point["cluster"] == "demo" and point["node"] == "demo/billing/ledger"
        assert point["rps"] == pytest.approx(2.0)
        assert point["errorRate"] == pytest.approx(0.25)
        assert point["clientErrorRate"] == 0.0
        assert point["p95Ms"] == pytest.approx(
            expected_quantile(_demo_truth_latency("ledger"), 0.95)
        )
        assert [(c["source"], c["share"]) for c in point["consumers"]] == [
            ("demo/billing/invoice-ws", 1.0)
        ]
    missing = httpx.get(f"{served}{M}/assets/meshatlas/no-such-api/analytics")
    assert missing.status_code == 404
    assert (
        httpx.get(f"{served}{M}/assets/meshatlas/billing-ledger/analytics?x=1").status_code == 400
    )
    paths = httpx.get(f"{served}/openapi.json").json()["paths"]
    assert "get" in paths[f"{M}/assets/{{groupId}}/{{assetId}}/analytics"]


def _demo_truth_latency(name: str) -> Mapping[float, float]:
    flow = next(f for f in DEMO_FLOWS if isinstance(f.target, tuple) and f.target[1] == name)
    return flow.latency


def _charts(html: str) -> dict[str, ET.Element]:
    start, end = (
        html.index('<section id="analytics">'),
        html.index("</section>", html.index('<section id="analytics">')),
    )
    found = {}
    for chart_id in ("chart-rps", "chart-errors", "chart-p95"):
        at = html.index(f'id="{chart_id}"', start, end)
        svg_start = html.rindex("<svg", start, at)
        svg_end = html.index("</svg>", at) + len("</svg>")
        found[chart_id] = ET.fromstring(html[svg_start:svg_end])
    return found


def test_the_api_page_draws_the_charts_server_side(served: str) -> None:
    response = httpx.get(f"{served}/portal/apis/meshatlas/billing-ledger.html")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.text
    charts = _charts(html)
    ns = "{http://www.w3.org/2000/svg}"
    for chart_id, svg in charts.items():
        marks = svg.findall(f"{ns}circle")
        assert len(marks) == 2, chart_id  # one per kept run
        assert svg.get("data-points") == "2"
        assert len(svg.findall(f"{ns}polyline")) == 1
    # Same figures both runs: the rate line is flat, the two marks at one height.
    rate_marks = charts["chart-rps"].findall(f"{ns}circle")
    assert rate_marks[0].get("cy") == rate_marks[1].get("cy")
    assert float(rate_marks[0].get("cx") or 0) < float(rate_marks[1].get("cx") or 0)
    section = html[html.index('<section id="analytics">') :]
    assert "<script" not in section[: section.index("</section>")]
    assert "style=" not in section[: section.index("</section>")]
    assert "25.00 %" in section and "demo/billing/invoice-ws (100.0 %)" in section


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium"), size=(1280, 1400)) as driver:
        yield driver


def test_chromium_renders_the_charts_without_csp_violations(browser: Any, served: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{served}/portal/apis/meshatlas/billing-ledger.html")
    section = browser.find_element(By.ID, "analytics")
    browser.execute_script("arguments[0].scrollIntoView()", section)
    for chart_id in ("chart-rps", "chart-errors", "chart-p95"):
        svg = browser.find_element(By.ID, chart_id)
        assert svg.rect["width"] > 200 and svg.rect["height"] > 80
        assert len(svg.find_elements(By.CSS_SELECTOR, "circle.pt")) == 2
    # The lines take their colour from portal.css: the stylesheet applied, nothing inline.
    stroke = browser.execute_script(
        "return getComputedStyle(document.querySelector('#chart-rps polyline')).stroke"
    )
    assert stroke == "rgb(37, 99, 235)"
    log = browser.get_log("browser")
    assert [e for e in log if "Content Security Policy" in e["message"]] == []
    ARTIFACTS.joinpath("analytics").mkdir(parents=True, exist_ok=True)
    section.screenshot(str(ARTIFACTS / "analytics" / "ledger-traffic.png"))
    browser.save_screenshot(str(ARTIFACTS / "analytics" / "ledger-page.png"))


def test_charts_draw_a_line_per_node_and_leave_unmeasured_quantiles_out() -> None:
    from catalog.portal import charts

    def point(at: int, node: str, rps: float, p95: float | None) -> charts.AnalyticsPoint:
        figures = NodeAnalytics(rps, 0.0, 0.0, None, p95, None)
        taken = datetime.fromtimestamp(at, UTC)
        return charts.AnalyticsPoint(taken, node.split("/")[0], node, at, None, "10m", figures)

    points = [
        point(DEMO_END - 600, "east/shop/a", 1.0, 20.0),
        point(DEMO_END - 600, "west/shop/a", 3.0, None),
        point(DEMO_END, "east/shop/a", 2.0, 30.0),
        point(DEMO_END, "west/shop/a", 4.0, None),
    ]
    drawn = charts.panel(points)
    assert drawn is not None and drawn.runs == 2
    svgs = {c.id: ET.fromstring(str(c.svg)) for c in drawn.charts}
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svgs["chart-rps"].findall(f"{ns}polyline")) == 2
    assert len(svgs["chart-rps"].findall(f"{ns}circle")) == 4
    # west never measured a p95: its line and marks are absent, not drawn at zero.
    assert len(svgs["chart-p95"].findall(f"{ns}circle")) == 2
    # The busiest node (west, 4/s now) is the first series and the first table row.
    assert [(row.point.node, row.series) for row in drawn.latest] == [
        ("west/shop/a", 0),
        ("east/shop/a", 1),
    ]
    assert charts.panel([]) is None
