"""graph.analysis, graph.load, the SVG picture and ``meshatlas graph``."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest

import catalog
import graph
from discovery.model import Api, Edge, ExternalHost, Service, ServiceKey, ServicePort
from meshatlas.cli import main

PORT = ServicePort("http", 8080, 8080, "TCP", None, "http")


def svc(namespace: str, name: str, cluster: str = "demo") -> Service:
    return Service(
        key=ServiceKey(cluster, namespace, name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.11",),
        external_name=None,
        ports=(PORT,),
        ready_addresses=("127.0.1.11",),
    )


def rest(service: Service) -> Api:
    return Api(service.key, PORT, "rest", "http://x", None, ("test",), 1)


def n(namespace: str, name: str, cluster: str = "demo") -> str:
    return f"{cluster}/{namespace}/{name}"


SERVICES = [
    svc("shop", "web"),
    svc("shop", "orders"),
    svc("shop", "payments"),
    svc("billing", "invoice"),
    svc("billing", "ledger"),
    svc("billing", "audit"),
    svc("platform", "unused"),
    svc("platform", "declared-only"),
]
EDGES = [
    Edge("unknown", n("shop", "web"), "http", "telemetry", rps=10.0),
    Edge(n("shop", "web"), n("shop", "orders"), "http", "both", rps=5.0),
    Edge(n("shop", "orders"), n("shop", "payments"), "http", "telemetry", rps=2.0),
    Edge(n("shop", "orders"), n("billing", "invoice"), "http", "telemetry", rps=1.0),
    Edge(n("billing", "invoice"), n("billing", "ledger"), "http", "telemetry", 2.0, 0.25),
    # ledger and audit call each other: a cycle.
    Edge(n("billing", "ledger"), n("billing", "audit"), "http", "telemetry", rps=0.5),
    Edge(n("billing", "audit"), n("billing", "ledger"), "http", "telemetry", rps=0.1),
    Edge(n("shop", "web"), n("platform", "declared-only"), "http", "config"),
    Edge(n("shop", "payments"), "api.stripe.example", "tcp", "telemetry", rps=0.2),
]


@pytest.fixture
def g() -> nx.DiGraph:
    return graph.build_graph(
        services=SERVICES,
        external_hosts=[ExternalHost("api.stripe.example", (443,), "shop", "stripe", "demo")],
        edges=EDGES,
        apis=[rest(s) for s in SERVICES],
    )


def test_cycles(g: nx.DiGraph) -> None:
    assert graph.cycles(g) == [[n("billing", "audit"), n("billing", "ledger")]]
    g.add_edge(n("shop", "payments"), n("shop", "web"))
    assert len(graph.cycles(g)) == 2
    assert graph.cycles(g, limit=1) != []


def test_blast_radius_is_everything_that_depends_transitively(g: nx.DiGraph) -> None:
    assert graph.blast_radius(g, n("billing", "invoice")) == [
        n("shop", "orders"),
        n("shop", "web"),
        "unknown",
    ]
    # Inside a cycle, each member is in the other's radius.
    assert n("billing", "audit") in graph.blast_radius(g, n("billing", "ledger"))
    assert graph.blast_radius(g, n("platform", "unused")) == []
    with pytest.raises(graph.NodeNotFoundError):
        graph.blast_radius(g, "nope")


def test_consumers_busiest_first(g: nx.DiGraph) -> None:
    found = graph.consumers(g, n("billing", "ledger"))
    assert [(c.node, c.rps, c.error_rate) for c in found] == [
        (n("billing", "invoice"), 2.0, 0.25),
        (n("billing", "audit"), 0.1, None),
    ]


def test_orphans_are_apis_no_one_called_in_the_window(g: nx.DiGraph) -> None:
    # declared-only has a config route but no observed call; web is called
    # by unidentified ingress, which counts.
    assert graph.orphans(g) == [n("platform", "declared-only"), n("platform", "unused")]


def test_orphans_without_any_telemetry_count_config_edges() -> None:
    declared = graph.build_graph(
        services=SERVICES[:2],
        external_hosts=[],
        edges=[Edge(n("shop", "web"), n("shop", "orders"), "http", "config")],
        apis=[rest(s) for s in SERVICES[:2]],
    )
    assert graph.orphans(declared) == [n("shop", "web")]


def test_hotspots(g: nx.DiGraph) -> None:
    top = graph.hotspots(g, top=2)
    assert [(h.node, h.fan_in, h.fan_out) for h in top] == [
        (n("shop", "web"), 1, 2),
        (n("shop", "orders"), 1, 2),
    ]
    assert top[0].rps_in == 10.0


def test_find_node(g: nx.DiGraph) -> None:
    assert graph.find_node(g, "shop/web") == n("shop", "web")
    assert graph.find_node(g, n("shop", "web")) == n("shop", "web")
    assert graph.find_node(g, "api.stripe.example") == "api.stripe.example"
    with pytest.raises(graph.NodeNotFoundError):
        graph.find_node(g, "shop/nope")
    g.add_node(n("shop", "web", "east"), label="shop/web", namespace="shop", name="web")
    with pytest.raises(graph.GraphError, match="ambiguous"):
        graph.find_node(g, "shop/web")


# --- reading graphs back ------------------------------------------------------


def test_node_link_json_round_trips_every_attribute(g: nx.DiGraph) -> None:
    back = graph.from_node_link(graph.to_json(g))
    assert dict(back.nodes(data=True)) == dict(g.nodes(data=True))
    assert {(s, t): d for s, t, d in back.edges(data=True)} == {
        (s, t): d for s, t, d in g.edges(data=True)
    }


def test_graphml_round_trips_through_networkx(g: nx.DiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    path.write_bytes(graph.to_graphml(g))
    back = nx.read_graphml(path)
    assert set(back.nodes) == set(g.nodes) and set(back.edges) == set(g.edges)
    edge = back.edges[n("billing", "invoice"), n("billing", "ledger")]
    assert (edge["rps"], edge["error_rate"], edge["origin"]) == (2.0, 0.25, "telemetry")


@pytest.mark.parametrize("text", ["nope", "[]", '{"nodes": 1}'])
def test_from_node_link_refuses_other_json(text: str) -> None:
    with pytest.raises(graph.BuildError):
        graph.from_node_link(text)


def test_from_report_refuses_other_documents() -> None:
    with pytest.raises(graph.BuildError, match="not a meshatlas report"):
        graph.from_report({"hello": "world"})


# --- the picture --------------------------------------------------------------


@pytest.fixture
def dot_installed() -> None:
    if shutil.which("dot") is None:
        pytest.fail("Graphviz `dot` is required (make system-deps installs it)")


def test_dot_widths_follow_rate_and_colour_follows_errors(g: nx.DiGraph) -> None:
    lines = graph.to_dot(g).splitlines()

    def edge(source: str, target: str) -> str:
        return next(line for line in lines if f'"{source}" -> "{target}"' in line)

    busiest = edge("unknown", n("shop", "web"))
    quiet = edge(n("shop", "payments"), "api.stripe.example")
    assert 'penwidth="6.00"' in busiest
    assert 'penwidth="1.' in quiet
    failing = edge(n("billing", "invoice"), n("billing", "ledger"))
    assert 'color="red"' in failing and "25.0% errors" in failing
    assert "color=" not in edge(n("shop", "web"), n("shop", "orders"))


def test_svg_draws_namespaces_as_boxes(g: nx.DiGraph, dot_installed: None) -> None:
    svg = graph.to_svg(g).decode()
    for namespace in ("shop", "billing", "platform"):
        assert f"<title>cluster_{namespace}</title>" in svg
    assert svg.count('class="node"') == g.number_of_nodes()
    assert svg.count('class="edge"') == g.number_of_edges()


def test_svg_without_graphviz_is_an_export_error(g: nx.DiGraph) -> None:
    with pytest.raises(graph.ExportError, match="Graphviz"):
        graph.to_svg(g, dot_binary="no-such-dot-binary")


# --- meshatlas graph ------------------------------------------------------------


def _publish(db: Path) -> None:
    seen = datetime(2026, 1, 1, tzinfo=UTC)

    def draft(asset: str, service: str, deps: tuple[str, ...]) -> catalog.AssetDraft:
        return catalog.AssetDraft(
            group_id="acme",
            asset_id=asset,
            name=asset,
            type="rest-api",
            description=None,
            spec_version_hint=None,
            files=(),
            operations=("GET /x",),
            tags=(),
            owner=None,
            lifecycle=None,
            instance=catalog.Instance("demo", "shop", service, 8080, f"http://{service}"),
            dependencies=deps,
            provenance=catalog.Provenance("probe", "test"),
        )

    with catalog.open_store(f"sqlite:///{db}") as store:
        store.publish(draft("shop-payments", "payments", ()), seen_at=seen)
        store.publish(draft("shop-orders", "orders", ("acme:shop-payments",)), seen_at=seen)
        store.publish(draft("shop-web", "web", ("acme:shop-orders",)), seen_at=seen)


def test_graph_command_reads_the_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.db"
    _publish(db)
    argv = ["graph", "--catalog", f"sqlite:///{db}"]
    assert main([*argv, "--blast-radius", "shop/payments", "--orphans", "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert answers == {
        "blast_radius": {n("shop", "payments"): [n("shop", "orders"), n("shop", "web")]},
        "orphans": [n("shop", "web")],
    }
    assert main([*argv, "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")


def test_graph_command_text_answers(
    g: nx.DiGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "graph.json"
    path.write_text(graph.to_json(g))
    argv = ["graph", "--graph", str(path), "--cycles", "--consumers", "billing/ledger"]
    assert main([*argv, "--hotspots", "1"]) == 0
    out = capsys.readouterr().out
    assert "cycles: 1\n  demo/billing/audit -> demo/billing/ledger -> demo/billing/audit" in out
    assert "  demo/billing/invoice (http, telemetry, 2 rps, 25.0% errors)" in out
    assert "  demo/shop/web  in 1  out 2  10 rps" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["graph", "--catalog", "sqlite:////nonexistent/meshatlas.db"],
        ["graph", "--report", "/nonexistent.json"],
        ["graph", "--report", "a.json", "--graph", "b.json"],
        ["graph", "--format", "pdf"],
    ],
)
def test_graph_command_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2


def test_graph_command_unknown_service_is_a_usage_error(
    g: nx.DiGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "graph.json"
    path.write_text(graph.to_json(g))
    assert main(["graph", "--graph", str(path), "--blast-radius", "shop/nope"]) == 2
    assert "no service 'shop/nope'" in capsys.readouterr().err


def test_graph_command_writes_pictures(g: nx.DiGraph, tmp_path: Path, dot_installed: None) -> None:
    path = tmp_path / "graph.json"
    path.write_text(graph.to_json(g))
    for fmt, magic in (("svg", b"<?xml"), ("png", b"\x89PNG"), ("graphml", b"<?xml")):
        out = tmp_path / f"g.{fmt}"
        assert main(["graph", "--graph", str(path), "--format", fmt, "--out", str(out)]) == 0
        assert out.read_bytes().startswith(magic)
