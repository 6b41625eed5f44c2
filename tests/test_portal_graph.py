"""Run graphs: kept per cluster and run, published by ``discover``, drawn by the portal.

Four levels, all against real parts: the store on SQLite and PostgreSQL; the
REST routes of the catalogue server on both; ``discover`` of the demo mesh
with a real Prometheus publishing through a real ``meshatlas serve``, whose
graph page must draw the demo's traffic (expected values from
:data:`fixtures.telemetry.DEMO_FLOWS`, the traffic the fixture writes); and
headless Chromium over a graph of 5,000 synthetic Services in 50 namespaces
(:func:`synthetic_graph`, whose construction gives the expected edges).
Screenshots go to ``build/test-artifacts/portal-graph/`` (or
``$MESHATLAS_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import catalog
from catalog import server
from catalog.graphmodel import GraphEdge, GraphNode, RunGraph, graph_json
from catalog.portal import LiveSite
from fixtures.mesh import Mesh
from fixtures.telemetry import DEMO_END, DEMO_FLOWS, PrometheusServer, expected_quantile
from meshatlas.cli import main
from tests.chromium import chromium
from tests.serving import serve_process

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MESHATLAS_ARTIFACTS", ROOT / "build" / "test-artifacts"))
TOKEN = "run-graphs-are-published-with-this"
M = "/meshatlas/api/v1"
SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RED = "#dc2626"
FOUND = "#2563eb"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz")


# -- graphs to store ------------------------------------------------------------------


def synthetic_graph(*, namespaces: int = 50, per_namespace: int = 100) -> RunGraph:
    """``namespaces`` × ``per_namespace`` Services of cluster ``c``, and their calls.

    In namespace ``ns-II``: ``svc-000`` … ``svc-NNN``, the last a TCP service
    (``redis``); within it, each ``svc-j`` calls ``svc-(2j+1)`` and
    ``svc-(2j+2)`` over HTTP at ``1 + k % 10`` rps (k the callee), and
    ``svc-050`` opens 0.5 connections/s to ``redis``. Between namespaces:
    ``svc-000`` calls ``svc-000`` of the next namespace (2 rps, p95 40 ms)
    and ``svc-001`` calls ``svc-001`` seven namespaces on (gRPC, 3 rps, p95
    80 ms; 12% errors from ``ns-09``). Unknown ingress calls ``ns-00/svc-000``
    at 20 rps with 1% errors; ``svc-098`` of each namespace opens 0.1
    connections/s to one of five external hosts. ``ns-03/svc-005`` answers a
    quarter of its calls with errors.
    """
    nodes = [GraphNode("unknown", "unknown", "unknown")]
    hosts = [f"api-{k}.example" for k in range(5)]
    nodes += [GraphNode(h, "external", h) for h in hosts]
    edges = []
    last = per_namespace - 1
    for i in range(namespaces):
        ns = f"ns-{i:02d}"

        def key(j: int, ns: str = ns) -> str:
            return f"c/{ns}/{'redis' if j == last else f'svc-{j:03d}'}"

        for j in range(per_namespace):
            name = key(j).rsplit("/", 1)[1]
            if j == last:
                nodes.append(GraphNode(key(j), "tcp", name, ns, "c"))
            else:
                nodes.append(GraphNode(key(j), "service", name, ns, "c", f"g:{ns}-{name}"))
        for j in range(last):
            for k in (2 * j + 1, 2 * j + 2):
                if k < last:
                    errors = 0.25 if (i, k) == (3, 5) else 0.0
                    edges.append(
                        GraphEdge(key(j), key(k), "http", "telemetry", 1.0 + k % 10, errors, 10.0)
                    )
        edges.append(GraphEdge(key(50), key(last), "tcp", "telemetry", 0.5))
        nxt, far = f"ns-{(i + 1) % namespaces:02d}", f"ns-{(i + 7) % namespaces:02d}"
        edges.append(GraphEdge(key(0), f"c/{nxt}/svc-000", "http", "both", 2.0, 0.0, 40.0))
        errors = 0.12 if i == 9 else 0.0
        edges.append(GraphEdge(key(1), f"c/{far}/svc-001", "grpc", "telemetry", 3.0, errors, 80.0))
        edges.append(GraphEdge(key(98), hosts[i % 5], "tcp", "telemetry", 0.1))
    edges.append(GraphEdge("unknown", "c/ns-00/svc-000", "http", "telemetry", 20.0, 0.01, 15.0))
    return RunGraph("c", T0, "10m", tuple(nodes), tuple(edges))


def small_graph(cluster: str = "east", *, at: datetime = T0) -> RunGraph:
    nodes = (
        GraphNode("unknown", "unknown", "unknown"),
        GraphNode(f"{cluster}/shop/web", "service", "web", "shop", cluster, "acme:shop-web"),
        GraphNode(f"{cluster}/shop/db", "tcp", "db", "shop", cluster),
        GraphNode("pay.example", "external", "pay.example"),
    )
    edges = (
        GraphEdge("unknown", f"{cluster}/shop/web", "http", "telemetry", 4.0, 0.5, 120.0),
        GraphEdge(f"{cluster}/shop/web", f"{cluster}/shop/db", "tcp", "telemetry", 1.0),
        GraphEdge(f"{cluster}/shop/web", "pay.example", "http", "config"),
    )
    return RunGraph(cluster, at, "5m", nodes, edges, run_id=7)


# -- reading the page -----------------------------------------------------------------


def _svg(html: str) -> ET.Element:
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


def _edges(svg: ET.Element) -> dict[tuple[str, str], dict[str, Any]]:
    """``(source key, target key)`` → the edge's label lines and colour, from the SVG."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        if group.get("class") != "edge":
            continue
        title = group.findtext(f"{SVG}title") or ""
        source, target = title.split("->")
        path = next(group.iter(f"{SVG}path"))
        found[(source, target)] = {
            "label": [t.text for t in group.iter(f"{SVG}text")],
            "colour": path.get("stroke"),
            "dashed": path.get("stroke-dasharray") is not None,
        }
    return found


def _nodes(svg: ET.Element) -> dict[str, ET.Element]:
    return {
        g.findtext(f"{SVG}title") or "": g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"
    }


def _outline(node: ET.Element) -> ET.Element:
    return next(
        e for e in node.iter() if e.tag in (f"{SVG}{t}" for t in ("polygon", "path", "ellipse"))
    )


# -- the store ------------------------------------------------------------------------


def test_store_keeps_graphs_round_trip_and_only_the_newest_per_cluster(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        for minute in range(5):
            store.save_run_graph(small_graph(at=T0 + timedelta(minutes=minute)), keep=3)
        other = store.save_run_graph(small_graph("west"))
        kept = store.run_graphs(cluster="east")
        assert [h.taken_at for h in kept] == [T0 + timedelta(minutes=m) for m in (4, 3, 2)]
        assert [h.cluster for h in store.run_graphs()].count("west") == 1
        newest = store.run_graph(kept[0].id)
        assert newest == small_graph(at=T0 + timedelta(minutes=4))
        assert (kept[0].node_count, kept[0].edge_count, kept[0].window) == (4, 3, "5m")
        assert store.run_graph(other.id).cluster == "west"
        with pytest.raises(catalog.NotFound):
            store.run_graph(kept[0].id + 1000)
        broken = replace(small_graph(), edges=(GraphEdge("unknown", "nowhere", "http", "config"),))
        with pytest.raises(catalog.InvalidAsset) as refused:
            store.save_run_graph(broken)
        assert refused.value.field == "edges[0].target"
        with pytest.raises(catalog.InvalidAsset):
            store.save_run_graph(small_graph(), keep=0)
        assert len(store.run_graphs(cluster="east")) == 3


def test_a_run_over_two_clusters_gives_each_its_graph_with_the_calls_between() -> None:
    import networkx as nx

    from meshatlas.job import graphpublish

    g = nx.DiGraph()
    for cluster in ("east", "west"):
        for name in ("web", "db"):
            g.add_node(
                f"{cluster}/shop/{name}",
                kind="service", cluster=cluster, namespace="shop", name=name,
                api_kinds=["rest"] if name == "web" else [],
            )  # fmt: skip
    g.add_node("unknown", kind="unknown", cluster=None, namespace=None, name="unknown")
    g.add_node("pay.example", kind="external", cluster=None, namespace=None, name="pay.example")
    calls = {
        ("unknown", "east/shop/web"): ("http", 10.0, 0.0),
        ("east/shop/web", "west/shop/web"): ("http", 4.0, 0.5),
        ("west/shop/web", "east/shop/web"): ("http", 1.0, 0.0),
        ("west/shop/web", "west/shop/db"): ("tcp", 2.0, None),
        ("west/shop/web", "pay.example"): ("http", 0.5, 0.0),
    }
    for (source, target), (protocol, rate, errors) in calls.items():
        g.add_edge(
            source, target,
            protocol=protocol, origin="telemetry", rps=rate, error_rate=errors, p95_ms=None,
        )  # fmt: skip
    east, west = graphpublish.run_graphs(
        graph=g, clusters=["east", "west"], services=[], planned=[],
        taken_at=T0, window="10m", run_id=3,
    )  # fmt: skip
    assert (east.cluster, west.cluster) == ("east", "west")
    # East: its own Services, the unknown caller, the west Service it calls and is called by.
    assert {n.id for n in east.nodes} == {
        "east/shop/web",
        "east/shop/db",
        "unknown",
        "west/shop/web",
    }
    assert {(e.source, e.target) for e in east.edges} == set(calls) - {
        ("west/shop/web", "west/shop/db"),
        ("west/shop/web", "pay.example"),
    }
    assert {(e.source, e.target) for e in west.edges} == set(calls) - {("unknown", "east/shop/web")}
    nodes = {n.id: n for n in west.nodes}
    assert nodes["west/shop/db"].kind == "tcp"  # no API, only TCP calls in
    assert nodes["west/shop/web"].kind == "service"
    assert nodes["west/shop/web"].health == pytest.approx(0.5)  # 4 rps, half failing
    assert {n.id: n.health for n in east.nodes}["east/shop/web"] == pytest.approx(0.0)
    assert east.run_id == west.run_id == 3


# -- the REST routes ------------------------------------------------------------------


@pytest.fixture
def api(catalog_url: str) -> Iterator[tuple[str, catalog.CatalogStore]]:
    with catalog.open_store(catalog_url) as store:
        auth = server.Auth(token_hashes=server.parse_hashes([server.hash_token(TOKEN)]))
        with server.RunningServer(server.make_app(store, auth=auth)) as running:
            yield running.url, store


def test_rest_round_trip_with_token_bounds_and_refusals(
    api: tuple[str, catalog.CatalogStore],
) -> None:
    url, _ = api
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    body = {**graph_json(small_graph()), "keep": 2}
    with httpx.Client(base_url=url, trust_env=False) as http:
        assert http.post(f"{M}/run-graphs", json=body).status_code == 401
        first = http.post(f"{M}/run-graphs", json=body, headers=bearer)
        assert first.status_code == 201, first.text
        assert first.json()["nodes"] == 4 and first.json()["edges"] == 3
        later = {**body, "takenAt": (T0 + timedelta(hours=1)).isoformat()}
        assert http.post(f"{M}/run-graphs", json=later, headers=bearer).status_code == 201
        assert http.post(f"{M}/run-graphs", json=later, headers=bearer).status_code == 201

        listing = http.get(f"{M}/run-graphs").json()
        assert listing["clusters"] == ["east"]
        assert len(listing["runs"]) == 2  # keep=2
        answer = http.get(f"{M}/run-graphs", params={"cluster": "east"}).json()
        assert answer["takenAt"] == (T0 + timedelta(hours=1)).isoformat()
        expected = graph_json(small_graph())
        assert answer["nodes"] == expected["nodes"]
        assert answer["edges"] == expected["edges"]
        assert answer["runId"] == 7 and answer["window"] == "5m"
        oldest = answer["runs"][-1]["id"]
        chosen = http.get(f"{M}/run-graphs", params={"cluster": "east", "run": oldest}).json()
        assert chosen["id"] == oldest

        assert http.get(f"{M}/run-graphs", params={"cluster": "nowhere"}).status_code == 404
        assert http.get(f"{M}/run-graphs", params={"run": "1"}).status_code == 400
        assert http.get(f"{M}/run-graphs", params={"colour": "x"}).status_code == 400
        bad = {**body, "edges": [{**expected["edges"][0], "errorRate": 1.5}]}
        refused = http.post(f"{M}/run-graphs", json=bad, headers=bearer)
        assert (refused.status_code, refused.json()["field"]) == (400, "edges[0].errorRate")
        unknown = {**body, "nodes": [*expected["nodes"], {"id": "x", "kind": "pod", "name": "x"}]}
        refused = http.post(f"{M}/run-graphs", json=unknown, headers=bearer)
        assert (refused.status_code, refused.json()["field"]) == (400, "nodes[4].kind")
        nested = http.post(
            f"{M}/run-graphs",
            content=b"[" * 100_000,
            headers={**bearer, "Content-Type": "application/json"},
        )
        assert nested.status_code == 400
        paths = http.get("/openapi.json").json()["paths"]
        assert set(paths[f"{M}/run-graphs"]) == {"get", "post"}


# -- discover → meshatlas serve → the graph page --------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path_factory.mktemp("prometheus")) as running:
        yield running


@pytest.fixture(scope="module")
def published(
    demo_mesh: Mesh, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The demo mesh discovered with its telemetry into a real ``meshatlas serve``."""
    workdir = tmp_path_factory.mktemp("served-graph")
    catalogue = f"sqlite:///{workdir / 'catalog.db'}"
    with serve_process(catalogue, workdir, token=TOKEN) as url:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MESHATLAS_TOKEN", TOKEN)
            code = main(
                ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", url]
                + ["--prometheus", prometheus.url, "--telemetry-at", str(DEMO_END)]
                + ["--report", str(workdir / "report.json")]
            )
        assert code == 0, (workdir / "report.json").read_text()
        yield url


def _demo_traffic() -> dict[tuple[str, str], tuple[str, float, float | None, float | None]]:
    """(source, target) → (protocol, rate, error rate, p95) as the fixture writes the traffic."""
    expected = {}
    for flow in DEMO_FLOWS:
        if flow.rps == 0:
            continue  # stopped before the window
        source = (
            f"demo/{flow.callers[0].namespace}/{flow.callers[0].app}" if flow.callers else "unknown"
        )
        target = (
            f"demo/{flow.target[0]}/{flow.target[1]}"
            if isinstance(flow.target, tuple)
            else flow.target
        )
        tcp = flow.protocol == "tcp"
        p95 = None if tcp else expected_quantile(flow.latency, 0.95)
        expected[(source, target)] = (
            flow.protocol,
            flow.rps,
            None if tcp else flow.error_rate,
            p95,
        )
    return expected


def test_discover_publishes_the_run_graph_through_serve(published: str) -> None:
    answer = httpx.get(f"{published}{M}/run-graphs", params={"cluster": "demo"}).json()
    assert answer["window"] == "10m"
    assert answer["takenAt"] == datetime.fromtimestamp(DEMO_END, UTC).isoformat()
    edges = {(e["source"], e["target"]): e for e in answer["edges"]}
    for pair, (protocol, rate, error_rate, p95) in _demo_traffic().items():
        edge = edges[pair]
        assert edge["protocol"] == protocol, pair
        assert edge["rps"] == pytest.approx(rate), pair
        assert edge["errorRate"] == (None if error_rate is None else pytest.approx(error_rate))
        assert edge["p95Ms"] == (None if p95 is None else pytest.approx(p95)), pair
    nodes = {n["id"]: n for n in answer["nodes"]}
    assert nodes["unknown"]["kind"] == "unknown"
    assert nodes["api.stripe.example"]["kind"] == "external"
    assert nodes["demo/shop/cart-redis"]["kind"] == "tcp"
    assert nodes["demo/shop/orders"]["asset"] == "meshatlas:shop-orders"
    assert nodes["demo/billing/ledger"]["health"] == pytest.approx(0.25)
    assert nodes["demo/shop/frontend"]["health"] == pytest.approx(0.0)


def test_graph_page_draws_the_traffic_the_run_measured(published: str) -> None:
    page = httpx.get(f"{published}/portal/graph.html")
    assert page.status_code == 200
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    html = page.text
    svg = _svg(html)
    drawn = _edges(svg)
    for (source, target), (protocol, rate, error_rate, p95) in _demo_traffic().items():
        edge = drawn[(source, target)]
        unit = "conn/s" if protocol == "tcp" else "rps"
        assert f"{rate:g} {unit}" in edge["label"], (source, target, edge)
        if p95 is not None:
            said = f"{p95:.3g} ms" if p95 < 1000 else f"{p95 / 1000:.3g} s"
            assert f"p95 {said}" in edge["label"], (source, target, edge)
        failing = error_rate is not None and error_rate >= 0.10
        assert (edge["colour"] == RED) is failing, (source, target, edge)
    assert "25% err" in drawn[("demo/billing/invoice-ws", "demo/billing/ledger")]["label"]
    nodes = _nodes(svg)
    assert _outline(nodes["api.stripe.example"]).tag == f"{SVG}ellipse"
    assert _outline(nodes["api.stripe.example"]).get("stroke-dasharray") is not None
    assert len(_outline(nodes["unknown"]).get("points", "").split()) == 5  # a closed diamond
    assert _outline(nodes["demo/billing/ledger"]).get("fill") == "#fee2e2"  # failing
    # The legend says what red means, and every kind of node.
    assert "10% errors or more" in html
    for words in ("External host", "Unknown caller", "TCP service", "Namespace"):
        assert words in html
    # A Service with an API links to its page, as the asset graph's nodes do.
    orders = nodes["demo/shop/orders"]
    assert orders.get("id") == "node-shop-orders"


def test_graph_page_filters_and_find_change_what_is_drawn(published: str) -> None:
    portal = f"{published}/portal/graph.html"
    billing = _svg(httpx.get(portal, params={"namespace": "billing"}).text)
    drawn = _edges(billing)
    assert ("demo/billing/invoice-ws", "demo/billing/ledger") in drawn
    # shop's Services stand as their namespace; calls inside shop are gone.
    assert ("ns:demo/shop", "demo/billing/invoice-ws") in drawn
    assert not any(source == "demo/shop/frontend" for source, _ in drawn)
    aggregated = _edges(_svg(httpx.get(portal, params={"view": "namespaces"}).text))
    assert aggregated[("ns:demo/shop", "ns:demo/billing")]["label"][0] == "1 rps"
    assert aggregated[("unknown", "ns:demo/shop")]["label"][0] == "12 rps"
    found = httpx.get(portal, params={"find": "ledger"}).text
    nodes = _nodes(_svg(found))
    assert _outline(nodes["demo/billing/ledger"]).get("stroke") == FOUND
    assert _outline(nodes["demo/billing/tax-calc"]).get("stroke") != FOUND
    assert "1 match for" in found
    # Unknown parameters and values are harmless.
    assert httpx.get(portal, params={"run": "x", "cluster": "<b>"}).status_code == 200
    assert "No node of this run" in httpx.get(portal, params={"namespace": "nope"}).text


def test_without_a_run_graph_the_page_draws_the_assets(tmp_path: Path) -> None:
    with catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        page = LiveSite(store).page("graph.html", {})
        assert page is not None and b"<h1>Dependency graph</h1>" in page.content
        store.save_run_graph(small_graph())
        page = LiveSite(store).page("graph.html", {})
        assert page is not None and b"<h1>Service graph</h1>" in page.content


def test_hostile_names_reach_the_page_inert(tmp_path: Path) -> None:
    evil = '<script>window.__pwned = 1</script>"]; x [URL="javascript:alert(1)'
    nodes = (
        GraphNode("unknown", "unknown", "unknown"),
        GraphNode(f"e/shop/{evil}", "service", evil, "shop", "e"),
        # Graphviz would put the node's name for a \\N in a label: it must stay text.
        GraphNode("a&b<i>.example", "external", "pay\\N"),
    )
    edges = (
        GraphEdge("unknown", f"e/shop/{evil}", "http", "telemetry", 1.0, 0.0, 5.0),
        GraphEdge(f"e/shop/{evil}", "a&b<i>.example", "http", "telemetry", 1.0),
    )
    with catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        store.save_run_graph(RunGraph("e", T0, None, nodes, edges))
        page = LiveSite(store).page("graph.html", {"find": evil})
        assert page is not None
        html = page.content.decode()
    assert "<script>window" not in html
    assert 'href="javascript' not in html
    links = [
        e.get("{http://www.w3.org/1999/xlink}href") for e in _svg(html).iter() if e.tag == f"{SVG}a"
    ]
    assert not any(link and not link.startswith(("apis/", "graph.html")) for link in links)
    drawn = _nodes(_svg(html))
    assert set(drawn) == {"unknown", f"e/shop/{evil}", "a&b<i>.example"}
    assert [t.text for t in drawn["a&b<i>.example"].iter(f"{SVG}text")] == ["pay\\N"]
    assert [t.text for t in drawn[f"e/shop/{evil}"].iter(f"{SVG}text")][0] == evil
    assert (f"e/shop/{evil}", "a&b<i>.example") in _edges(_svg(html))


# -- scale: views of 5,000 Services ---------------------------------------------------


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("big-graph") / "catalog.db"
    with catalog.open_store(f"sqlite:///{path}") as store:
        store.save_run_graph(synthetic_graph())
        with server.RunningServer(server.make_app(store)) as running:
            yield f"{running.url}/portal/"


def test_mesh_view_sums_namespaces_and_caps_each_view(big_site: str) -> None:
    html = httpx.get(big_site + "graph.html").text
    svg = _svg(html)
    nodes = _nodes(svg)
    # 50 namespaces, unknown ingress, 5 external hosts: no Service of its own.
    assert len(nodes) == 56
    assert "ns:c/ns-00" in nodes and "c/ns-00/svc-000" not in nodes
    drawn = _edges(svg)
    for i in range(50):
        ns, nxt, far = (
            f"ns:c/ns-{i:02d}",
            f"ns:c/ns-{(i + 1) % 50:02d}",
            f"ns:c/ns-{(i + 7) % 50:02d}",
        )
        assert drawn[(ns, nxt)]["label"][0] == "2 rps"
        assert drawn[(ns, far)]["label"][0] == "3 rps"
        assert (drawn[(ns, far)]["colour"] == RED) is (i == 9)
        assert drawn[(ns, f"api-{i % 5}.example")]["label"][0] == "0.1 conn/s"
    assert len(drawn) == 50 * 3 + 1
    assert len(html) < 400_000
    # One namespace: its 100 Services, its neighbours as namespaces.
    inside = _svg(httpx.get(big_site + "graph.html", params={"namespace": "ns-03"}).text)
    names = set(_nodes(inside))
    assert {f"c/ns-03/svc-{j:03d}" for j in range(99)} | {"c/ns-03/redis"} <= names
    assert {"ns:c/ns-02", "ns:c/ns-04", "ns:c/ns-10", "ns:c/ns-46", "api-3.example"} <= names
    assert _edges(inside)[("c/ns-03/svc-002", "c/ns-03/svc-005")]["colour"] == RED


def test_a_view_past_its_cap_says_so(tmp_path: Path) -> None:
    with catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        store.save_run_graph(synthetic_graph(namespaces=2, per_namespace=400))
        page = LiveSite(store).page("graph.html", {"namespace": "ns-00"})
        assert page is not None
        text = page.content.decode()
        # ns-00's 400 Services, ns-01 as one node, api-0.example and unknown ingress.
        assert "showing 250 of 403 nodes" in text
        assert len(_nodes(_svg(text))) == 250


# -- Chromium at 5,000 Services -------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


#: Nodes of the picture whose box lies at least partly inside the window.
VISIBLE_NODES = """
return Array.from(document.querySelectorAll('#graph svg g.node')).filter(function (g) {
  var r = g.getBoundingClientRect();
  return r.width > 2 && r.height > 2 && r.bottom > 0 && r.right > 0
    && r.top < window.innerHeight && r.left < window.innerWidth;
}).length;
"""


def _screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.joinpath("portal-graph").mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "portal-graph" / f"{name}.png"))


def test_chromium_renders_the_mesh_and_drills_into_a_namespace(browser: Any, big_site: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(big_site + "graph.html")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
    assert browser.execute_script(VISIBLE_NODES) >= 20
    box = browser.find_element(By.CSS_SELECTOR, "#graph svg").rect
    assert box["width"] > 600 and box["height"] > 300
    _screenshot(browser, "mesh-5000")

    target = browser.find_element(By.CSS_SELECTOR, "#graph svg g#ns-c-ns-03 a")
    browser.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", target
    )
    WebDriverWait(browser, 10).until(lambda d: "namespace=ns-03" in d.current_url)
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
    assert browser.find_elements(By.CSS_SELECTOR, "#graph svg g#node-ns-03-svc-005")
    assert browser.find_element(By.ID, "graph-namespace").get_attribute("value") == "ns-03"
    _screenshot(browser, "namespace-5000")

    # The namespace select applies on change, through portal.js (no inline script).
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "graph-namespace")).select_by_value("ns-07")
    WebDriverWait(browser, 10).until(lambda d: "namespace=ns-07" in d.current_url)
    browser.find_element(By.ID, "graph-find").send_keys("svc-010")
    browser.find_element(By.ID, "graph-apply").click()
    WebDriverWait(browser, 10).until(lambda d: "find=svc-010" in d.current_url)
    assert "1 match" in browser.find_element(By.ID, "graph-matches").text
    _screenshot(browser, "find-5000")


def test_chromium_renders_the_demo_run_graph(browser: Any, published: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{published}/portal/graph.html")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
    assert browser.find_elements(By.CSS_SELECTOR, "#graph svg g#node-shop-orders")
    _screenshot(browser, "demo")
    browser.get(f"{published}/portal/graph.html?namespace=billing")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
    failing = browser.find_elements(By.CSS_SELECTOR, "#graph-edges tr.failing")
    assert [row.text.split()[:2] for row in failing] == [["invoice-ws", "ledger"]]
    _screenshot(browser, "demo-billing")
