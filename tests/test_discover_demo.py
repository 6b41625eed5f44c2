"""End to end: ``meshatlas discover`` against the demo fixture mesh.

The real ``kubernetes`` client reads the fixture API server over HTTP, probes
hit the real backends on their 127.x addresses, assets land in a real SQLite
catalogue. The expected inventory is DESIGN.md's "Demo mesh" table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import networkx as nx
import pytest

import catalog
from discovery.probing.probe import DEFAULT_BUDGET
from fixtures.mesh import Mesh
from meshatlas.cli import main
from meshatlas.job import report as report_mod

# (namespace, service) -> (kind, spec format, spec version prefix, packaging, soap versions)
EXPECTED: dict[tuple[str, str], tuple[str, str | None, str | None]] = {
    ("shop", "catalog"): ("rest", "openapi", "3.0"),
    ("shop", "orders"): ("rest", "openapi", "3.1"),
    ("shop", "payments"): ("rest", "openapi", "3.0"),
    ("shop", "inventory"): ("rest", "openapi", "3.0"),
    ("shop", "reviews"): ("rest", "swagger", "2.0"),
    ("shop", "frontend"): ("http", None, None),
    ("billing", "invoice-ws"): ("soap", "wsdl", "1.1"),
    ("billing", "tax-calc"): ("soap", "wsdl", "1.1"),
    ("billing", "ledger"): ("rest", None, None),
    ("billing", "legacy-soap"): ("soap", None, None),
    ("platform", "search"): ("grpc", None, None),
    ("platform", "graphql-gw"): ("graphql", None, None),
    ("platform", "notes"): ("rest", "openapi", "3.1"),
    ("shop", "shipping"): ("asyncapi", "asyncapi", "3.0"),
}
RECORDED_WITHOUT_API = {
    ("shop", "cart-redis"): "TCP port",
    ("platform", "auth"): "TLS port",
    ("platform", "idle"): "no ready endpoints",
    ("platform", "ext-payments"): "ExternalName",
}


@pytest.fixture(scope="module")
def run(demo_mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("discover")
    before = demo_mesh.backend_requests()
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--catalog",
            f"sqlite:///{tmp / 'catalog.db'}",
            "--report",
            str(tmp / "report.json"),
            "--out",
            str(tmp / "out"),
        ]
    )
    after = demo_mesh.backend_requests()
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {
        "code": code,
        "report": json.loads((tmp / "report.json").read_text()),
        "dir": tmp,
        "backend_requests": spent,
    }


def _apis(report: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {(s["namespace"], s["name"]): s["apis"] for s in report["services"]}


def test_exit_code_and_report_schema(run: dict[str, Any]) -> None:
    assert run["code"] == 0
    report_mod.validate(run["report"])
    # The runtime validator (compiled) and the reference implementation agree.
    jsonschema.Draft202012Validator(report_mod.schema()).validate(run["report"])
    broken = json.loads(json.dumps(run["report"]))
    broken["services"][0]["apis"] = [{"kind": "rest"}]
    with pytest.raises(fastjsonschema.JsonSchemaException):
        report_mod.validate(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_mod.schema()).validate(broken)
    assert run["report"]["outcome"] == "complete"
    phases = run["report"]["stats"]["phases_s"]
    assert {"inventory", "probe", "plan", "publish", "exports"} <= set(phases)
    assert run["report"]["problems"] == []
    assert run["report"]["clusters"] == ["demo"]


def test_expected_inventory_is_found_exactly(run: dict[str, Any]) -> None:
    apis = _apis(run["report"])
    found = {key: value for key, value in apis.items() if value}
    assert set(found) == set(EXPECTED)
    for key, (kind, fmt, version) in EXPECTED.items():
        (api,) = found[key]
        assert api["kind"] == kind, key
        if fmt is None:
            assert api["spec"] is None, key
        else:
            assert api["spec"]["format"] == fmt, key
            assert api["spec"]["version"].startswith(version), key
            assert api["spec"]["valid"] is True, key
            assert api["spec"]["operation_count"] > 0, key


def test_spec_details(run: dict[str, Any]) -> None:
    apis = _apis(run["report"])
    inventory = apis[("shop", "inventory")][0]["spec"]
    assert inventory["packaging"] == "yaml"
    assert inventory["url"].endswith("/q/openapi")
    assert apis[("billing", "invoice-ws")][0]["spec"]["soap_versions"] == ["1.1"]
    assert apis[("billing", "tax-calc")][0]["spec"]["soap_versions"] == ["1.2"]
    assert apis[("billing", "tax-calc")][0]["evidence"][0]["check"] == "annotation"
    catalog_spec = apis[("shop", "catalog")][0]["spec"]
    assert catalog_spec["url"].endswith("/v3/api-docs")
    assert catalog_spec["api_version"] == "1.4.0"


def test_services_without_api_are_recorded_with_the_reason(run: dict[str, Any]) -> None:
    services = {(s["namespace"], s["name"]): s for s in run["report"]["services"]}
    for key, reason in RECORDED_WITHOUT_API.items():
        assert services[key]["apis"] == [], key
        assert any(reason in s["reason"] for s in services[key]["skipped"]), key
        assert services[key]["requests"] == 0, key


def test_ignored_and_system_namespaces_are_absent(run: dict[str, Any]) -> None:
    names = {(s["namespace"], s["name"]) for s in run["report"]["services"]}
    assert ("shop", "debug-tools") not in names
    assert not {ns for ns, _ in names} & {"kube-system", "istio-system"}
    assert run["report"]["ignored"] == ["demo/shop/debug-tools"]


def test_skipped_services_received_no_request(run: dict[str, Any]) -> None:
    spent = run["backend_requests"]
    assert spent.get("shop/debug-tools", 0) == 0
    assert spent.get("shop/cart-redis", 0) == 0
    assert spent.get("platform/auth", 0) == 0
    assert spent["shop/catalog"] > 0
    # The report's count is what the backends saw.
    services = {(s["namespace"], s["name"]): s for s in run["report"]["services"]}
    assert services[("shop", "catalog")]["requests"] == spent["shop/catalog"]


def test_catalogue_holds_one_asset_per_api(run: dict[str, Any]) -> None:
    store = catalog.open_store(f"sqlite:///{run['dir'] / 'catalog.db'}")
    assets = {a.asset_id: a for a in store.list_assets()}
    assert len(assets) == len(EXPECTED)
    assert assets["shop-catalog"].type == "rest-api"
    assert assets["billing-invoice-ws"].type == "soap-api"
    assert assets["shop-frontend"].type == "http-api"
    assert assets["platform-graphql-gw"].type == "graphql-api"
    assert assets["platform-search"].type == "grpc-api"
    assert assets["shop-shipping"].type == "async-api"
    # The brokers its AsyncAPI document names (fixtures/specs/asyncapi/3.0/...).
    assert "broker:kafka.shop.svc.cluster.local:9092" in assets["shop-shipping"].tags
    assert assets["shop-catalog"].owner == "team-catalog"
    assert assets["billing-ledger"].owner == "team-finance"  # from the namespace
    assert assets["shop-orders"].lifecycle == "stable"
    version = store.get_version("meshatlas", "shop-catalog", version="1.4.0")
    spec = store.spec_file("meshatlas", "shop-catalog", version="1.4.0")
    assert spec is not None and spec.classifier == "oas"
    assert json.loads(spec.content)["openapi"].startswith("3.0")
    (instance,) = version.instances
    assert (instance.namespace, instance.service, instance.port) == ("shop", "catalog", 8080)
    assert instance.endpoint_uri == "http://catalog.shop.svc.cluster.local:8080"
    frontend = store.get("meshatlas", "shop-frontend").versions[-1]
    assert sorted(frontend.dependencies) == [
        "meshatlas:shop-catalog:1.4.0",
        "meshatlas:shop-orders:2.3.1",
    ]


def test_graph_files_hold_the_config_edges(run: dict[str, Any]) -> None:
    out: Path = run["dir"] / "out"
    data = json.loads((out / "graph.json").read_text())
    g = nx.node_link_graph(data, edges="edges")
    expected = {
        ("demo/shop/frontend", "demo/shop/catalog"),
        ("demo/shop/frontend", "demo/shop/orders"),
        ("demo/shop/orders", "demo/shop/payments"),
        ("demo/shop/orders", "demo/shop/inventory"),
    }
    assert set(g.edges) == expected
    assert all(g.edges[e]["origin"] == "config" for e in expected)
    assert "api.stripe.example" in g.nodes
    assert nx.read_graphml(out / "graph.graphml").number_of_edges() == 4


def test_second_run_publishes_nothing_new(
    demo_mesh: Mesh, run: dict[str, Any], tmp_path: Path
) -> None:
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--catalog",
            f"sqlite:///{run['dir'] / 'catalog.db'}",
            "--report",
            str(tmp_path / "again.json"),
        ]
    )
    again = json.loads((tmp_path / "again.json").read_text())
    assert code == 0
    assert again["stats"]["published"] == {"unchanged": len(EXPECTED)}
    # A warm run goes straight to where each description was found last time.
    first = {(s["namespace"], s["name"]): s for s in run["report"]["services"]}
    for service in again["services"]:
        before = first[(service["namespace"], service["name"])]
        for api, old in zip(service["apis"], before["apis"], strict=True):
            assert (api["kind"], api["asset"]["version"]) == (old["kind"], old["asset"]["version"])
            # One request per API, whatever its kind: the description, the GraphQL
            # endpoint, the SOAP Fault, the root of an API without a description.
            assert api["requests"] == 1, service["name"]
            if api["spec"] is not None:
                assert api["evidence"][0]["check"] == "remembered"
    assert again["stats"]["requests"] < run["report"]["stats"]["requests"]


def test_a_port_found_without_a_description_by_an_older_search_is_searched_again(
    demo_mesh: Mesh, run: dict[str, Any], tmp_path: Path
) -> None:
    import shutil
    import sqlite3

    from discovery import frameworks

    # The catalogue as an older meshatlas, with another framework table, left it.
    db = tmp_path / "older.db"
    shutil.copy(run["dir"] / "catalog.db", db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE catalog_versions SET provenance_detail ="
            " replace(provenance_detail, ?, 'searched with framework table 000000000000')",
            (f"searched with framework table {frameworks.KNOWLEDGE}",),
        )
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", f"sqlite:///{db}"]
    assert main([*argv, "--report", str(tmp_path / "again.json")]) == 0
    again = {s["name"]: s for s in json.loads((tmp_path / "again.json").read_text())["services"]}
    # "No description" was the older search's verdict: searched in full again.
    assert again["frontend"]["requests"] == DEFAULT_BUDGET
    assert again["ledger"]["requests"] == DEFAULT_BUDGET
    # What was found stays one request away.
    assert again["catalog"]["requests"] == 1
    assert again["graphql-gw"]["requests"] == 1


def test_cold_flag_ignores_what_was_remembered(
    demo_mesh: Mesh, run: dict[str, Any], tmp_path: Path
) -> None:
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--cold",
            "--catalog",
            f"sqlite:///{run['dir'] / 'catalog.db'}",
            "--report",
            str(tmp_path / "cold.json"),
        ]
    )
    cold = json.loads((tmp_path / "cold.json").read_text())
    assert code == 0
    assert cold["stats"]["requests"] == run["report"]["stats"]["requests"]
    checks = {e["check"] for s in cold["services"] for a in s["apis"] for e in a["evidence"]}
    assert "remembered" not in checks


def _operations_in(path: Path) -> int:
    """Count operations in a fixture spec file, independently of meshatlas."""
    import yaml
    from lxml import etree

    if path.suffix == ".wsdl":
        tree = etree.parse(str(path))
        ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/"}
        return len(tree.findall(".//wsdl:portType/wsdl:operation", ns))
    doc = yaml.safe_load(path.read_text())
    if "asyncapi" in doc:  # channels, and the operations on them
        if doc["asyncapi"].startswith("2."):
            actions = ("publish", "subscribe")
            return sum(1 + sum(a in c for a in actions) for c in doc["channels"].values())
        return len(doc["channels"]) + len(doc.get("operations", {}))
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return sum(1 for item in doc["paths"].values() for m in item if m in methods)


def test_operation_counts_match_the_served_specs(run: dict[str, Any]) -> None:
    import yaml as _yaml

    from fixtures.mesh import CLUSTERS_DIR, SPECS_DIR

    plan = _yaml.safe_load((CLUSTERS_DIR / "demo" / "backends.yaml").read_text())["backends"]
    apis = _apis(run["report"])
    checked = 0
    for entry in plan:
        key = tuple(entry["service"].split("/"))
        if "spec" not in entry or key not in EXPECTED:
            continue
        (api,) = apis[key]  # type: ignore[index]
        assert api["spec"]["operation_count"] == _operations_in(SPECS_DIR / entry["spec"]), key
        checked += 1
    assert checked == 9


def test_requests_stay_within_the_budget_and_recognised_servers_cost_little(
    run: dict[str, Any],
) -> None:
    services = {(s["namespace"], s["name"]): s for s in run["report"]["services"]}
    # Nothing costs more than its port's budget (one HTTP port each here).
    assert max(s["requests"] for s in services.values()) <= DEFAULT_BUDGET
    # A recognised framework's own locations come first: its description is
    # found within a few requests, the root included.
    for key in [
        ("shop", "catalog"),
        ("shop", "orders"),
        ("shop", "inventory"),
        ("platform", "notes"),
    ]:
        assert services[key]["requests"] == 2, key
    assert services[("billing", "invoice-ws")]["requests"] == 3  # /, /services, its ?wsdl link
    # Servers that serve no description spend the budget looking, and say so.
    assert services[("shop", "frontend")]["requests"] == DEFAULT_BUDGET


def test_grpc_port_is_confirmed_by_reflection(run: dict[str, Any]) -> None:
    (api,) = _apis(run["report"])[("platform", "search")]
    assert api["evidence"][0]["check"] == "grpc-reflection"
    assert "platform.search.v1.SearchService" in api["grpc_services"]
    assert api["confidence"] == 1.0
    assert api["endpoint"] == "grpc://search.platform.svc.cluster.local:50051"


def test_every_api_carries_evidence_and_confidence(run: dict[str, Any]) -> None:
    for service in run["report"]["services"]:
        for api in service["apis"]:
            assert api["evidence"], service["name"]
            assert 0 < api["confidence"] <= 1
            if api["spec"] is not None:
                assert api["confidence"] == 1.0
                assert any(e["url"] == api["spec"]["url"] for e in api["evidence"])
    (ledger,) = _apis(run["report"])[("billing", "ledger")]
    assert ledger["confidence"] < 1.0
    assert ledger["evidence"][-1]["check"] == "json"
