"""Tests for graph/: building the dependency graph and exporting it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import pytest

import graph
from discovery.model import (
    Api,
    Edge,
    ExternalHost,
    Service,
    ServiceKey,
    ServicePort,
)
from graph import (
    BuildError,
    ExportError,
    GraphError,
    NodeNotFoundError,
    build_graph,
    consumers_of,
    dependencies_of,
    to_dot,
    to_graphml,
    to_json,
    to_mermaid,
    write_exports,
)

CLUSTER = "demo"

# --- test data -------------------------------------------------------------


def key(namespace: str, name: str, cluster: str = CLUSTER) -> ServiceKey:
    return ServiceKey(cluster=cluster, namespace=namespace, name=name)


def node_id(namespace: str, name: str, cluster: str = CLUSTER) -> str:
    return f"{cluster}/{namespace}/{name}"


def http_port(port: int = 8080, name: str = "http") -> ServicePort:
    return ServicePort(
        name=name,
        port=port,
        target_port=port,
        protocol="TCP",
        app_protocol=None,
        mesh_protocol="http",
    )


def service(
    namespace: str,
    name: str,
    *,
    cluster: str = CLUSTER,
    type: str = "ClusterIP",
    ports: Sequence[ServicePort] = (),
) -> Service:
    return Service(
        key=key(namespace, name, cluster),
        type=type,
        headless=False,
        cluster_ips=("127.0.0.11",) if type == "ClusterIP" else (),
        external_name="pay.example" if type == "ExternalName" else None,
        ports=tuple(ports) or (http_port(),),
        ready_addresses=("127.0.1.11",),
    )


def api(service_key: ServiceKey, kind: str, port: ServicePort | None = None) -> Api:
    return Api(
        service=service_key,
        port=port or http_port(),
        kind=kind,  # type: ignore[arg-type]
        base_url=f"http://{service_key.name}.{service_key.namespace}:8080",
        spec=None,
        evidence=("test",),
        requests=1,
    )


STRIPE = ExternalHost(
    host="api.stripe.example",
    ports=(443,),
    namespace="shop",
    entry="stripe",
    cluster=CLUSTER,
)

SERVICES = (
    service("shop", "frontend"),
    service("shop", "orders"),
    service("shop", "payments"),
    service("shop", "cart-redis"),
    service("billing", "invoice-ws"),
    service("billing", "ledger"),
    service("platform", "search", ports=(http_port(50051, "grpc"),)),
    service("platform", "ext-payments", type="ExternalName"),
)

APIS = (
    api(key("shop", "orders"), "rest"),
    api(key("billing", "invoice-ws"), "soap"),
    # Every kind, in reverse order and repeated: api_kinds must come out sorted.
    api(key("platform", "search"), "soap"),
    api(key("platform", "search"), "rest"),
    api(key("platform", "search"), "http"),
    api(key("platform", "search"), "graphql"),
    api(key("platform", "search"), "grpc"),
    api(key("platform", "search"), "rest"),
)

EDGES = (
    Edge("unknown", node_id("shop", "frontend"), "http", "telemetry", 4.0, 0.0, 12.0),
    Edge(node_id("shop", "frontend"), node_id("shop", "orders"), "http", "config"),
    Edge(node_id("shop", "orders"), node_id("shop", "payments"), "http", "config"),
    Edge(node_id("shop", "orders"), node_id("shop", "payments"), "http", "telemetry", 2.5, 0.0),
    Edge(node_id("shop", "orders"), node_id("shop", "cart-redis"), "tcp", "telemetry", 1.0),
    Edge(node_id("shop", "orders"), node_id("billing", "invoice-ws"), "http", "telemetry", 1.5),
    Edge(
        node_id("billing", "invoice-ws"),
        node_id("billing", "ledger"),
        "http",
        "telemetry",
        1.0,
        0.2,
    ),
    Edge(node_id("shop", "payments"), "api.stripe.example", "https", "telemetry", 0.5),
)


#: Edge attributes added with telemetry, as an edge without them carries them.
NO_TELEMETRY_DETAIL = {
    "p50_ms": None,
    "p99_ms": None,
    "mtls": None,
    "workloads": [],
    "bytes_per_s": None,
    "egress": None,
    "sources": [],
}


@pytest.fixture
def mesh() -> nx.DiGraph:
    return build_graph(services=SERVICES, external_hosts=(STRIPE,), edges=EDGES, apis=APIS)


# --- public surface --------------------------------------------------------


def test_public_surface_is_pinned() -> None:
    assert sorted(graph.__all__) == sorted(
        [
            "EXPORT_FORMATS",
            "UNKNOWN_NODE",
            "Consumer",
            "Hotspot",
            "blast_radius",
            "consumers",
            "cycles",
            "find_node",
            "from_node_link",
            "from_report",
            "hotspots",
            "orphans",
            "BuildError",
            "EdgeAttributes",
            "ExportError",
            "GraphError",
            "NodeAttributes",
            "NodeKind",
            "NodeNotFoundError",
            "build_graph",
            "consumers_of",
            "dependencies_of",
            "to_dot",
            "to_graphml",
            "to_json",
            "to_mermaid",
            "to_png",
            "to_svg",
            "write_exports",
        ]
    )
    for name in graph.__all__:
        assert getattr(graph, name) is not None


@pytest.mark.parametrize("error", [BuildError, ExportError, NodeNotFoundError])
def test_every_error_is_a_graph_error(error: type[Exception]) -> None:
    assert issubclass(error, GraphError)


# --- building --------------------------------------------------------------


def test_every_service_and_external_host_is_a_node(mesh: nx.DiGraph) -> None:
    expected = {str(s.key) for s in SERVICES} | {"api.stripe.example", "unknown"}
    assert set(mesh.nodes) == expected


def test_service_node_attributes(mesh: nx.DiGraph) -> None:
    assert mesh.nodes[node_id("platform", "search")] == {
        "kind": "service",
        "cluster": CLUSTER,
        "namespace": "platform",
        "name": "search",
        "label": "platform/search",
        "api_kinds": ["graphql", "grpc", "http", "rest", "soap"],
        "service_type": "ClusterIP",
    }


def test_service_without_apis_has_empty_api_kinds(mesh: nx.DiGraph) -> None:
    assert mesh.nodes[node_id("shop", "cart-redis")]["api_kinds"] == []
    assert mesh.nodes[node_id("shop", "orders")]["api_kinds"] == ["rest"]


def test_external_name_service_keeps_its_type(mesh: nx.DiGraph) -> None:
    attributes = mesh.nodes[node_id("platform", "ext-payments")]
    assert attributes["kind"] == "service"
    assert attributes["service_type"] == "ExternalName"


def test_external_host_node_attributes(mesh: nx.DiGraph) -> None:
    assert mesh.nodes["api.stripe.example"] == {
        "kind": "external",
        "cluster": CLUSTER,
        "namespace": "shop",
        "name": "api.stripe.example",
        "label": "api.stripe.example",
        "api_kinds": [],
        "service_type": None,
    }


def test_unidentified_caller_becomes_unknown_node(mesh: nx.DiGraph) -> None:
    assert mesh.nodes["unknown"]["kind"] == "unknown"
    assert mesh.nodes["unknown"]["label"] == "unknown"
    assert mesh.has_edge("unknown", node_id("shop", "frontend"))


def test_edge_to_node_outside_inventory_adds_it() -> None:
    edges = [
        Edge(node_id("shop", "a"), node_id("other", "ghost"), "http", "telemetry"),
        Edge(node_id("shop", "a"), "hooks.example.org", "https", "telemetry"),
    ]
    g = build_graph(services=[service("shop", "a")], external_hosts=[], edges=edges)
    ghost = g.nodes[node_id("other", "ghost")]
    assert ghost["kind"] == "unknown"
    assert (ghost["cluster"], ghost["namespace"], ghost["name"]) == (CLUSTER, "other", "ghost")
    assert ghost["label"] == "other/ghost"
    assert g.nodes["hooks.example.org"]["kind"] == "external"
    assert g.nodes["hooks.example.org"]["cluster"] is None


def test_edge_attributes(mesh: nx.DiGraph) -> None:
    assert mesh.edges[node_id("billing", "invoice-ws"), node_id("billing", "ledger")] == {
        "protocol": "http",
        "origin": "telemetry",
        "rps": 1.0,
        "error_rate": 0.2,
        "p95_ms": None,
        **NO_TELEMETRY_DETAIL,
    }
    config_only = mesh.edges[node_id("shop", "frontend"), node_id("shop", "orders")]
    assert config_only["origin"] == "config"
    assert (config_only["rps"], config_only["error_rate"], config_only["p95_ms"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize("telemetry_first", [False, True])
def test_config_and_telemetry_edges_merge(telemetry_first: bool) -> None:
    a, b = node_id("shop", "a"), node_id("shop", "b")
    declared = Edge(a, b, "http", "config")
    observed = Edge(a, b, "grpc", "telemetry", rps=3.0, error_rate=0.01, p95_ms=40.0)
    edges = [observed, declared] if telemetry_first else [declared, observed]
    g = build_graph(
        services=[service("shop", "a"), service("shop", "b")], external_hosts=[], edges=edges
    )
    assert g.number_of_edges() == 1
    assert g.edges[a, b] == {
        "protocol": "grpc",
        "origin": "both",
        "rps": 3.0,
        "error_rate": 0.01,
        "p95_ms": 40.0,
        **NO_TELEMETRY_DETAIL,
    }


def test_repeated_edge_of_one_origin_keeps_origin_and_first_known_metrics() -> None:
    a, b = node_id("shop", "a"), node_id("shop", "b")
    edges = [
        Edge(a, b, "unknown", "telemetry", rps=None, error_rate=0.5),
        Edge(a, b, "http", "telemetry", rps=2.0, error_rate=0.9, p95_ms=7.0),
    ]
    g = build_graph(services=[], external_hosts=[], edges=edges)
    assert g.edges[a, b] == {
        "protocol": "http",
        "origin": "telemetry",
        "rps": 2.0,
        "error_rate": 0.5,
        "p95_ms": 7.0,
        **NO_TELEMETRY_DETAIL,
    }


def test_both_origin_survives_further_merges() -> None:
    a, b = node_id("shop", "a"), node_id("shop", "b")
    edges = [Edge(a, b, "http", "both"), Edge(a, b, "http", "config")]
    g = build_graph(services=[], external_hosts=[], edges=edges)
    assert g.edges[a, b]["origin"] == "both"


def test_non_finite_metrics_are_unknown() -> None:
    edge = Edge("x.example", "y.example", "http", "telemetry", float("nan"), 0.0, float("inf"))
    g = build_graph(services=[], external_hosts=[], edges=[edge])
    assert g.edges["x.example", "y.example"]["rps"] is None
    assert g.edges["x.example", "y.example"]["error_rate"] == 0.0
    assert g.edges["x.example", "y.example"]["p95_ms"] is None


def test_repeated_external_host_is_one_node() -> None:
    elsewhere = ExternalHost("api.stripe.example", (443,), "billing", "stripe-2", "east")
    g = build_graph(services=[], external_hosts=[STRIPE, elsewhere], edges=[])
    assert list(g.nodes) == ["api.stripe.example"]
    assert g.nodes["api.stripe.example"]["namespace"] == "shop"


def test_duplicate_service_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="demo/shop/a"):
        build_graph(
            services=[service("shop", "a"), service("shop", "a")], external_hosts=[], edges=[]
        )


def test_api_of_unlisted_service_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="demo/shop/missing"):
        build_graph(
            services=[service("shop", "a")],
            external_hosts=[],
            edges=[],
            apis=[api(key("shop", "missing"), "rest")],
        )


def test_edge_with_empty_end_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="empty end"):
        build_graph(services=[], external_hosts=[], edges=[Edge("", "b.example", "http", "config")])


def test_dependencies_and_consumers(mesh: nx.DiGraph) -> None:
    assert dependencies_of(mesh, node_id("shop", "orders")) == [
        node_id("billing", "invoice-ws"),
        node_id("shop", "cart-redis"),
        node_id("shop", "payments"),
    ]
    assert consumers_of(mesh, node_id("shop", "frontend")) == ["unknown"]
    assert consumers_of(mesh, "api.stripe.example") == [node_id("shop", "payments")]
    assert dependencies_of(mesh, "api.stripe.example") == []


@pytest.mark.parametrize("query", [dependencies_of, consumers_of])
def test_queries_on_missing_node_raise(mesh: nx.DiGraph, query: object) -> None:
    with pytest.raises(NodeNotFoundError, match="demo/nowhere/none") as caught:
        query(mesh, "demo/nowhere/none")  # type: ignore[operator]
    assert caught.value.node == "demo/nowhere/none"
    assert isinstance(caught.value, KeyError)


# --- JSON ------------------------------------------------------------------


def _same_attributes(first: dict[str, object], second: dict[str, object]) -> bool:
    return first == second


def test_json_round_trips_to_an_equal_graph(mesh: nx.DiGraph) -> None:
    data = json.loads(to_json(mesh))
    assert "edges" in data and "links" not in data
    back = nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")
    assert nx.is_isomorphic(mesh, back, node_match=_same_attributes, edge_match=_same_attributes)
    # Isomorphism alone would allow relabelled nodes; ids must survive too.
    assert dict(back.nodes(data=True)) == dict(mesh.nodes(data=True))
    assert {(s, t): a for s, t, a in back.edges(data=True)} == {
        (s, t): a for s, t, a in mesh.edges(data=True)
    }


def test_json_keeps_unknown_values_as_null(mesh: nx.DiGraph) -> None:
    data = json.loads(to_json(mesh))
    edge = next(
        e
        for e in data["edges"]
        if e["source"] == node_id("shop", "frontend") and e["target"] == node_id("shop", "orders")
    )
    assert "rps" in edge and edge["rps"] is None
    assert edge["p95_ms"] is None


def test_json_is_deterministic_whatever_the_input_order() -> None:
    forward = build_graph(services=SERVICES, external_hosts=(STRIPE,), edges=EDGES, apis=APIS)
    backward = build_graph(
        services=SERVICES[::-1], external_hosts=(STRIPE,), edges=EDGES[::-1], apis=APIS[::-1]
    )
    assert to_json(forward) == to_json(backward)
    ids = [n["id"] for n in json.loads(to_json(forward))["nodes"]]
    assert ids == sorted(ids)


def test_json_refuses_values_it_cannot_represent() -> None:
    g = nx.DiGraph()
    g.add_node("a", weight=float("nan"))
    with pytest.raises(ExportError) as caught:
        to_json(g)
    assert caught.value.format == "json"


# --- GraphML ---------------------------------------------------------------


def _read_graphml(data: bytes, tmp_path: Path) -> nx.DiGraph:
    path = tmp_path / "read.graphml"
    path.write_bytes(data)
    return nx.read_graphml(path)


def test_graphml_reads_back_with_same_nodes_and_edges(mesh: nx.DiGraph, tmp_path: Path) -> None:
    back = _read_graphml(to_graphml(mesh), tmp_path)
    assert back.is_directed()
    assert set(back.nodes) == set(mesh.nodes)
    assert set(back.edges) == set(mesh.edges)


def test_graphml_flattens_lists_and_drops_none(mesh: nx.DiGraph, tmp_path: Path) -> None:
    back = _read_graphml(to_graphml(mesh), tmp_path)
    search = back.nodes[node_id("platform", "search")]
    assert search["api_kinds"] == "graphql,grpc,http,rest,soap"
    assert search["service_type"] == "ClusterIP"
    assert "service_type" not in back.nodes["api.stripe.example"]
    config_only = back.edges[node_id("shop", "frontend"), node_id("shop", "orders")]
    assert config_only == {
        "protocol": "http",
        "origin": "config",
        "sources": "",
        "workloads": "",
    }
    observed = back.edges[node_id("billing", "invoice-ws"), node_id("billing", "ledger")]
    assert observed["rps"] == pytest.approx(1.0)
    assert observed["error_rate"] == pytest.approx(0.2)


def test_graphml_holds_no_none_or_list_text(mesh: nx.DiGraph) -> None:
    text = to_graphml(mesh).decode("utf-8")
    assert text.startswith("<?xml")
    assert ">None<" not in text
    assert "['" not in text


def test_graphml_refuses_unsupported_values() -> None:
    g = nx.DiGraph()
    g.add_node("a", extra={"nested": 1})
    with pytest.raises(ExportError, match="extra") as caught:
        to_graphml(g)
    assert caught.value.format == "graphml"


# --- DOT -------------------------------------------------------------------

TRICKY_LABEL = 'say "hi" \\ to C:\\path\\'


def _tricky_graph() -> nx.DiGraph:
    g = build_graph(
        services=[service("shop", "a")],
        external_hosts=[STRIPE],
        edges=[
            Edge(node_id("shop", "a"), "api.stripe.example", "https", "telemetry", 1.0),
            Edge(node_id("shop", "a"), 'odd"host\\', "http", "config"),
        ],
    )
    g.nodes[node_id("shop", "a")]["label"] = TRICKY_LABEL
    return g


_DOT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _dot_unquote(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), body)


def test_dot_escapes_quotes_and_backslashes() -> None:
    dot = to_dot(_tricky_graph())
    assert 'label="say \\"hi\\" \\\\ to C:\\\\path\\\\"' in dot
    # Every quoted string on every line must close where it should: unquoting
    # what the DOT lexer would see gives back the original text.
    strings = {_dot_unquote(m.group(1)) for m in _DOT_STRING.finditer(dot)}
    assert TRICKY_LABEL in strings
    assert 'odd"host\\' in strings
    for line in dot.splitlines():
        assert _DOT_STRING.sub("", line).count('"') == 0, line


def test_dot_groups_namespaces_and_shapes_external_hosts(mesh: nx.DiGraph) -> None:
    dot = to_dot(mesh)
    assert dot.startswith("digraph meshatlas {")
    assert dot.rstrip().endswith("}")
    for namespace in ("shop", "billing", "platform"):
        assert dot.count(f'subgraph "cluster_{namespace}" {{') == 1
    stripe = next(line for line in dot.splitlines() if line.strip().startswith('"api.stripe'))
    assert 'shape="ellipse"' in stripe
    # External hosts sit outside every namespace cluster.
    depth = 0
    for line in dot.splitlines():
        depth += line.count("{") - line.count("}")
        if line.strip().startswith('"api.stripe.example" ['):
            assert depth == 1
    for source, target in mesh.edges:
        assert f'"{source}" -> "{target}"' in dot


def test_dot_marks_config_only_and_failing_edges(mesh: nx.DiGraph) -> None:
    lines = to_dot(mesh).splitlines()
    declared = next(line for line in lines if '"demo/shop/frontend" -> "demo/shop/orders"' in line)
    failing = next(
        line for line in lines if '"demo/billing/invoice-ws" -> "demo/billing/ledger"' in line
    )
    assert 'style="dashed"' in declared
    assert 'color="red"' in failing and "20.0% errors" in failing


def test_dot_separates_same_namespace_in_two_clusters() -> None:
    g = build_graph(
        services=[service("shop", "a", cluster="east"), service("shop", "a", cluster="west")],
        external_hosts=[],
        edges=[],
    )
    dot = to_dot(g)
    assert 'subgraph "cluster_east/shop"' in dot
    assert 'subgraph "cluster_west/shop"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
@pytest.mark.parametrize("make", ["mesh", "tricky"])
def test_graphviz_renders_dot(make: str, mesh: nx.DiGraph) -> None:
    g = mesh if make == "mesh" else _tricky_graph()
    result = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(g).encode(), capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"<svg" in result.stdout
    if make == "tricky":
        # The label survives Graphviz's own unescaping: one backslash each.
        assert b"say &quot;hi&quot; \\ to C:\\path\\<" in result.stdout


# --- Mermaid ---------------------------------------------------------------

_MERMAID_NODE = re.compile(r'^(n\d+)(\[|\(\[|\(\()"([^"]*)"(\]|\]\)|\)\))$')
_MERMAID_EDGE = re.compile(r'^(n\d+) (-->|-\.->)\|"([^"]*)"\| (n\d+)$')
_MERMAID_OTHER = re.compile(r'^(subgraph g\d+\["[^"]*"\]|end|classDef \w+ .+|class [n\d,]+ \w+)$')


def _mermaid_statements(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    return [line.strip() for line in lines[1:]]


def test_mermaid_lines_are_all_well_formed() -> None:
    text = to_mermaid(_tricky_graph())
    for statement in _mermaid_statements(text):
        assert (
            _MERMAID_NODE.match(statement)
            or _MERMAID_EDGE.match(statement)
            or _MERMAID_OTHER.match(statement)
        ), statement
    assert "#quot;hi#quot;" in text


def test_mermaid_escapes_entities_html_and_markdown() -> None:
    g = nx.DiGraph()
    g.add_node("a", kind="service", label="`md` <b>x</b> #1\nnext", namespace=None)
    text = to_mermaid(g)
    assert '"#96;md#96; #lt;b#gt;x#lt;/b#gt; #35;1 next"' in text
    assert "`" not in text and "<" not in text


def test_mermaid_has_every_node_and_edge(mesh: nx.DiGraph) -> None:
    statements = _mermaid_statements(to_mermaid(mesh))
    labels = {}
    for statement in statements:
        match = _MERMAID_NODE.match(statement)
        if match:
            labels[match.group(1)] = match.group(3)
    assert sorted(labels.values()) == sorted(mesh.nodes[n]["label"] for n in mesh.nodes)
    by_label = {mesh.nodes[n]["label"]: n for n in mesh.nodes}
    drawn = set()
    for statement in statements:
        match = _MERMAID_EDGE.match(statement)
        if match:
            drawn.add((by_label[labels[match.group(1)]], by_label[labels[match.group(4)]]))
    assert drawn == set(mesh.edges)


def test_mermaid_groups_namespaces_and_dots_config_edges(mesh: nx.DiGraph) -> None:
    text = to_mermaid(mesh)
    for namespace in ("shop", "billing", "platform"):
        assert len(re.findall(rf'subgraph g\d+\["{namespace}"\]', text)) == 1
    assert text.count("subgraph") == text.count("\n  end\n")
    assert re.search(r'n\d+ -\.->\|"http"\| n\d+', text)
    assert re.search(r'n\d+\(\["api\.stripe\.example"\]\)', text)


# --- writing files ---------------------------------------------------------


def test_write_exports_writes_each_format(mesh: nx.DiGraph, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_exports(mesh, out, formats=["mermaid", "json", "graphml", "dot", "json"])
    assert written == [
        out / "graph.mmd",
        out / "graph.json",
        out / "graph.graphml",
        out / "graph.dot",
    ]
    assert (out / "graph.json").read_text(encoding="utf-8") == to_json(mesh)
    assert (out / "graph.graphml").read_bytes() == to_graphml(mesh)
    assert (out / "graph.dot").read_text(encoding="utf-8") == to_dot(mesh)
    assert (out / "graph.mmd").read_text(encoding="utf-8") == to_mermaid(mesh)


def test_write_exports_defaults_to_json_and_graphml(mesh: nx.DiGraph, tmp_path: Path) -> None:
    assert write_exports(mesh, tmp_path) == [tmp_path / "graph.json", tmp_path / "graph.graphml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.graphml", "graph.json"]


def test_write_exports_rejects_unknown_format_before_writing(
    mesh: nx.DiGraph, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="'svgz'") as caught:
        write_exports(mesh, out, formats=["json", "svgz"])
    assert caught.value.format == "svgz"
    assert not out.exists()


def test_write_exports_reports_unwritable_directory(mesh: nx.DiGraph, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ExportError, match="cannot create") as caught:
        write_exports(mesh, blocker / "out")
    assert caught.value.path == blocker / "out"
