"""Per-node inbound analytics in ``meshatlas graph``'s outputs.

One real discover of the demo mesh with a real Prometheus over the demo's
backfilled traffic writes ``graph.json``, a report and a SQLite catalogue;
``meshatlas graph`` reads each back and must give every measured Service
the rate, error rate and p95 the fixture's flows were built with
(:func:`tests.test_analytics._demo_truth`), and no analytics to any other
node. A discover without telemetry gives no analytics anywhere (not zeros).
The export formats are checked on a graph built here with known figures.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import graph
from discovery.model import ServiceKey
from discovery.telemetry.analytics import ApiConsumer, ApiTraffic
from fixtures.mesh import Mesh
from fixtures.telemetry import PrometheusServer
from meshatlas.cli import main
from tests.test_analytics import RUNS, _demo_truth
from tests.test_graph import service

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with PrometheusServer(tmp_path_factory.mktemp("prometheus-graph")) as running:
        yield running


@pytest.fixture(scope="module")
def run(
    demo_mesh: Mesh, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    workdir = tmp_path_factory.mktemp("graph-analytics")
    code = main(
        ["discover", "--kubeconfig", str(demo_mesh.kubeconfig)]
        + ["--catalog", f"sqlite:///{workdir / 'catalog.db'}"]
        + ["--prometheus", prometheus.url, "--telemetry-at", str(RUNS[-1])]
        + ["--out", str(workdir / "out"), "--report", str(workdir / "report.json")]
    )
    assert code == 0
    return workdir


def _answers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["graph", *argv, "--analytics", "--json"]) == 0
    found: dict[str, Any] = json.loads(capsys.readouterr().out)["analytics"]
    return found


@pytest.mark.parametrize("source", ["graph", "report", "catalog"])
def test_every_source_gives_the_measured_services_their_truth(
    run: Path, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        "graph": ["--graph", str(run / "out" / "graph.json")],
        "report": ["--report", str(run / "report.json")],
        "catalog": ["--catalog", f"sqlite:///{run / 'catalog.db'}"],
    }[source]
    got = _answers(argv, capsys)
    truth = _demo_truth()
    # Every Service HTTP traffic reaches serves an API, so the catalogue's graph has them all.
    assert set(got) == set(truth)
    for node, figures in got.items():
        rate, error_rate, p95 = truth[node]
        assert figures["rps"] == pytest.approx(rate, rel=1e-9), node
        assert figures["error_rate"] == pytest.approx(error_rate, abs=1e-12), node
        assert figures["p95_ms"] == pytest.approx(p95, rel=1e-9), node
    consumers = got["demo/shop/payments"]["consumers"]
    assert [(c["source"], c["share"]) for c in consumers] == [("demo/shop/orders", 1.0)]
    assert got["demo/shop/frontend"]["consumers"][0]["source"] == "unknown"


def test_the_text_view_lists_rate_errors_p95_and_consumers(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["graph", "--graph", str(run / "out" / "graph.json"), "--analytics"]) == 0
    text = capsys.readouterr().out
    rate, error_rate, _ = _demo_truth()["demo/billing/ledger"]
    line = next(x for x in text.splitlines() if x.strip().startswith("demo/billing/ledger "))
    assert f"{rate:.3g} rps" in line and f"{error_rate:.1%} errors" in line
    assert "    demo/billing/invoice-ws  100%" in text


def test_without_telemetry_no_node_has_analytics(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run"]
    assert main([*argv, "--out", str(out), "--report", str(tmp_path / "r.json")]) == 0
    document = json.loads((out / "graph.json").read_text())
    assert document["nodes"] and all("analytics" not in n for n in document["nodes"])
    assert _answers(["--report", str(tmp_path / "r.json")], capsys) == {}


# -- the export formats, on a graph with known figures ------------------------------------

ORDERS = ServiceKey("c", "shop", "orders")
FRONTEND = ServiceKey("c", "shop", "frontend")


def _measured() -> nx.DiGraph:
    services = [service(k.namespace, k.name, cluster=k.cluster) for k in (ORDERS, FRONTEND)]
    traffic = ApiTraffic(
        node=str(ORDERS),
        rps=12.0,
        error_rate=0.025,
        client_error_rate=0.1,
        p50_ms=20.0,
        p95_ms=48.0,
        p99_ms=90.0,
        consumers=(ApiConsumer(node=str(FRONTEND), rps=12.0, share=1.0, error_rate=0.025),),
        callers=1,
    )
    return graph.build_graph(services=services, external_hosts=[], edges=[], traffic=[traffic])


def test_json_carries_analytics_only_on_the_measured_node() -> None:
    nodes = {n["id"]: n for n in json.loads(graph.to_json(_measured()))["nodes"]}
    assert nodes[str(ORDERS)]["analytics"] == {
        "rps": 12.0,
        "error_rate": 0.025,
        "client_error_rate": 0.1,
        "p50_ms": 20.0,
        "p95_ms": 48.0,
        "p99_ms": 90.0,
        "consumers": [{"source": str(FRONTEND), "rps": 12.0, "share": 1.0, "error_rate": 0.025}],
    }
    assert "analytics" not in nodes[str(FRONTEND)]


def test_graphml_spreads_analytics_into_scalar_attributes() -> None:
    root = ET.fromstring(graph.to_graphml(_measured()))
    names = {k.get("id"): k.get("attr.name") for k in root.iter(f"{GRAPHML}key")}
    values: dict[str, dict[str, str]] = {}
    for node in root.iter(f"{GRAPHML}node"):
        values[str(node.get("id"))] = {
            str(names[d.get("key")]): str(d.text) for d in node.iter(f"{GRAPHML}data")
        }
    orders = values[str(ORDERS)]
    assert float(orders["analytics_rps"]) == 12.0
    assert float(orders["analytics_error_rate"]) == 0.025
    assert float(orders["analytics_p95_ms"]) == 48.0
    assert orders["analytics_consumers"] == str(FRONTEND)
    assert not any(name.startswith("analytics") for name in values[str(FRONTEND)])


def test_dot_and_mermaid_labels_show_rate_errors_and_p95() -> None:
    measured = _measured()
    dot = graph.to_dot(measured)
    orders = next(x for x in dot.splitlines() if x.strip().startswith(f'"{ORDERS}"'))
    assert "12 rps in, 2.5% errors, p95 48 ms" in orders
    assert f"top consumers: {FRONTEND} 100%" in orders
    frontend = next(x for x in dot.splitlines() if x.strip().startswith(f'"{FRONTEND}"'))
    assert "rps in" not in frontend
    mermaid = graph.to_mermaid(measured)
    assert '"shop/orders · 12 rps in, 2.5% errors, p95 48 ms"' in mermaid
    assert '"shop/frontend"' in mermaid
