"""Operation-level traffic from traces, and drift against the contracts.

The spans are built by construction from :data:`TRUTH`, on the demo mesh's
APIs, and served by the fixture Jaeger and Zipkin (real HTTP on loopback);
discovery probes the demo's real backends for the contracts. Expected values
come from the truth table and from the fixture spec files themselves (read
here with ``json``/``ElementTree``, not with meshatlas's parser).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from discovery.model import (
    Api,
    Inventory,
    Service,
    ServiceKey,
    ServicePort,
)
from discovery.specs import parse_spec
from discovery.telemetry import NodeNamer
from discovery.telemetry.spans import JaegerSpans, ZipkinSpans
from fixtures.mesh import Mesh
from fixtures.telemetry_backends import SEEN, jaeger_spans_app, serving, zipkin_spans_app
from governance import drift, routes
from meshatlas.cli import main
from meshatlas.job import report as report_mod

SPECS = Path(__file__).resolve().parent.parent / "fixtures" / "specs"
#: The window's end (``--telemetry-at``); every span starts in the 10 minutes before.
AT = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
AT_US = int(AT.timestamp() * 1_000_000)
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"


@dataclass(frozen=True)
class Call:
    """``count`` server spans of one operation, as one back end and convention write them."""

    api: str  # namespace/service
    operation: str  # the operation the truth says they reached
    count: int
    backend: str  # jaeger | zipkin
    attributes: dict[str, Any]
    documented: bool = True
    convention: str = "old"  # old | new HTTP attribute names
    #: HTTP status (or gRPC status) per span, cycled; 200/0 when unsaid.
    statuses: tuple[int, ...] = ()
    #: Paths per span, cycled (the concrete request paths).
    paths: tuple[str, ...] = ()
    service_name: str = ""
    resource: dict[str, str] = field(default_factory=dict)


UUIDS = (
    "0b8e0f3c-1c1a-4c7e-9b1e-6f2d3a4b5c6d",
    "1c9f1a4d-2d2b-4d8f-8c2f-7a3e4b5c6d7e",
    "2da02b5e-3e3c-4e9a-9d3a-8b4f5c6d7e8f",
)
TRUTH: tuple[Call, ...] = (
    # shop/catalog: Jaeger, older HTTP names (http.method, http.target with a query).
    Call(
        "shop/catalog",
        "GET /api/products/{id}",
        7,
        "jaeger",
        {"http.method": "GET"},
        statuses=(200, 200, 500, 404, 200, 500, 200),
        paths=tuple(f"/api/products/{n}?expand=true" for n in range(1, 8)),
        service_name="catalog.shop",
    ),
    Call(
        "shop/catalog",
        "GET /api/products",
        5,
        "jaeger",
        {"http.method": "GET"},
        paths=("/api/products?page=2",),
        service_name="catalog.shop",
    ),
    Call(
        "shop/catalog",
        "GET /api/categories/{slug}/products",
        3,
        "jaeger",
        {"http.method": "GET"},
        paths=("/api/categories/shoes/products", "/api/categories/hats/products"),
        service_name="catalog.shop.svc.cluster.local",
    ),
    Call(
        "shop/catalog",
        "GET /internal/debug/{param}",
        4,
        "jaeger",
        {"http.method": "GET"},
        documented=False,
        paths=tuple(f"/internal/debug/{n}" for n in range(101, 105)),
        service_name="catalog.shop",
    ),
    # shop/orders: Zipkin, current names (http.request.method, url.path, http.route),
    # named by OpenTelemetry resource attributes (service.name + k8s.namespace.name).
    Call(
        "shop/orders",
        "POST /api/v1/orders",
        4,
        "zipkin",
        {"http.request.method": "POST", "http.route": "/api/v1/orders"},
        convention="new",
        statuses=(201,),
        paths=("/api/v1/orders",),
        service_name="orders",
        resource={"k8s.namespace.name": "shop"},
    ),
    Call(
        "shop/orders",
        "GET /api/v1/orders/{order_id}",
        6,
        "zipkin",
        {"http.request.method": "GET", "http.route": "/api/v1/orders/{order_id}"},
        convention="new",
        statuses=(200, 503),
        paths=tuple(f"/api/v1/orders/{u}" for u in UUIDS),
        service_name="orders",
        resource={"k8s.namespace.name": "shop"},
    ),
    Call(
        "shop/orders",
        "POST /api/v1/orders/{order_id}/cancel",
        2,
        "zipkin",
        {"http.request.method": "POST"},
        convention="new",
        paths=tuple(f"/api/v1/orders/{u}/cancel" for u in UUIDS[:2]),
        service_name="orders",
        resource={"k8s.namespace.name": "shop"},
    ),
    Call(
        "shop/orders",
        "PATCH /api/v1/orders/{param}",
        3,
        "zipkin",
        {"http.request.method": "PATCH", "http.route": "/api/v1/orders/:id"},
        documented=False,
        convention="new",
        paths=tuple(f"/api/v1/orders/{u}" for u in UUIDS),
        service_name="orders",
        resource={"k8s.namespace.name": "shop"},
    ),
    Call(
        "shop/orders",
        "GET /api/v1/orders/{param}/audit",
        2,
        "zipkin",
        {"http.request.method": "GET"},
        documented=False,
        convention="new",
        paths=tuple(f"/api/v1/orders/{u}/audit" for u in UUIDS[:2]),
        service_name="orders",
        resource={"k8s.namespace.name": "shop"},
    ),
    # platform/search: gRPC, Istio's FQDN as the service name.
    Call(
        "platform/search",
        "rpc platform.search.v1.SearchService/Search",
        5,
        "jaeger",
        {
            "rpc.system": "grpc",
            "rpc.service": "platform.search.v1.SearchService",
            "rpc.method": "Search",
        },
        statuses=(0, 0, 14, 0, 0),
        service_name="search.platform.svc.cluster.local",
    ),
    Call(
        "platform/search",
        "rpc platform.search.v1.SearchService/Suggest",
        3,
        "jaeger",
        {
            "rpc.system": "grpc",
            "rpc.service": "platform.search.v1.SearchService",
            "rpc.method": "Suggest",
        },
        service_name="search.platform",
    ),
    Call(
        "platform/search",
        "rpc grpc.health.v1.Health/Check",
        2,
        "jaeger",
        {"rpc.system": "grpc", "rpc.service": "grpc.health.v1.Health", "rpc.method": "Check"},
        service_name="search.platform",
    ),
    Call(
        "platform/search",
        "rpc platform.search.v1.SearchService/Reindex",
        2,
        "jaeger",
        {
            "rpc.system": "grpc",
            "rpc.service": "platform.search.v1.SearchService",
            "rpc.method": "Reindex",
        },
        documented=False,
        service_name="search.platform",
    ),
    # billing/invoice-ws: SOAP actions, as a captured header (a string array) and as soap.action.
    Call(
        "billing/invoice-ws",
        "getInvoice",
        3,
        "jaeger",
        {"http.method": "POST", "http.request.header.soapaction": ['"urn:getInvoice"']},
        paths=("/services/InvoiceService",),
        service_name="invoice-ws.billing",
    ),
    Call(
        "billing/invoice-ws",
        "createInvoice",
        1,
        "jaeger",
        {"http.method": "POST", "soap.action": "urn:createInvoice"},
        paths=("/services/InvoiceService",),
        service_name="invoice-ws.billing",
    ),
    # billing/legacy-soap: lifecycle deprecated, still called (no contract: no operation).
    Call(
        "billing/legacy-soap",
        "",
        2,
        "zipkin",
        {"http.request.method": "POST"},
        convention="new",
        paths=("/soap",),
        service_name="legacy-soap.billing",
    ),
    # platform/graphql-gw: an operation named after a root field, and a client-named one.
    Call(
        "platform/graphql-gw",
        "query products",
        2,
        "jaeger",
        {"graphql.operation.type": "query", "graphql.operation.name": "products"},
        service_name="graphql-gw.platform",
    ),
    Call(
        "platform/graphql-gw",
        "query GetCart",
        1,
        "jaeger",
        {"graphql.operation.type": "query", "graphql.operation.name": "GetCart"},
        documented=False,
        service_name="graphql-gw.platform",
    ),
)
#: Spans of a service the inventory does not hold: never asked for.
OUTSIDERS = 3


def _status_tags(call: Call, index: int) -> dict[str, Any]:
    if "rpc.service" in call.attributes:
        code = call.statuses[index % len(call.statuses)] if call.statuses else 0
        return {"rpc.grpc.status_code": code}
    status = call.statuses[index % len(call.statuses)] if call.statuses else 200
    name = "http.response.status_code" if call.convention == "new" else "http.status_code"
    return {name: status}


def _path_tags(call: Call, index: int) -> dict[str, Any]:
    if not call.paths:
        return {}
    path = call.paths[index % len(call.paths)]
    if call.convention == "new":
        return {"url.path": path.split("?", 1)[0], "url.query": path.partition("?")[2]}
    return {"http.target": path}


def jaeger_traces() -> list[dict[str, Any]]:
    """Jaeger-shaped traces of the truth's ``jaeger`` calls, each with a client span too."""
    traces = []
    serial = 0
    for call in TRUTH:
        if call.backend != "jaeger":
            continue
        for i in range(call.count):
            serial += 1
            start = AT_US - serial * 1_000_000
            tags = {"span.kind": "server", **call.attributes}
            tags |= _status_tags(call, i) | _path_tags(call, i)
            trace_id = f"{serial:032x}"
            traces.append(
                {
                    "traceID": trace_id,
                    "spans": [
                        {
                            "traceID": trace_id,
                            "spanID": f"{serial:014x}01",
                            "operationName": "call",
                            "references": [],
                            "startTime": start,
                            "duration": 1000 * (1 + i),
                            "tags": [{"key": "span.kind", "value": "client"}],
                            "processID": "p1",
                        },
                        {
                            "traceID": trace_id,
                            "spanID": f"{serial:014x}02",
                            "operationName": "serve",
                            "references": [
                                {
                                    "refType": "CHILD_OF",
                                    "traceID": trace_id,
                                    "spanID": f"{serial:014x}01",
                                }
                            ],
                            "startTime": start + 100,
                            "duration": 1000 * (1 + i),
                            "tags": [
                                {"key": k, "type": "string", "value": v} for k, v in tags.items()
                            ],
                            "processID": "p2",
                        },
                    ],
                    "processes": {
                        "p1": {"serviceName": "frontend.shop", "tags": []},
                        "p2": {
                            "serviceName": call.service_name,
                            "tags": [{"key": k, "value": v} for k, v in call.resource.items()],
                        },
                    },
                }
            )
    for n in range(OUTSIDERS):
        trace_id = f"ff{n:030x}"
        traces.append(
            {
                "traceID": trace_id,
                "spans": [
                    {
                        "traceID": trace_id,
                        "spanID": f"{n:016x}",
                        "startTime": AT_US - 5_000_000 - n,
                        "duration": 10,
                        "tags": [
                            {"key": "span.kind", "value": "server"},
                            {"key": "http.method", "value": "GET"},
                        ],
                        "processID": "p1",
                    }
                ],
                "processes": {"p1": {"serviceName": "mobile-bff", "tags": []}},
            }
        )
    return traces


def zipkin_traces() -> list[list[dict[str, Any]]]:
    """Zipkin v2 traces of the truth's ``zipkin`` calls."""
    traces = []
    serial = 0
    for call in TRUTH:
        if call.backend != "zipkin":
            continue
        for i in range(call.count):
            serial += 1
            start = AT_US - 300_000_000 - serial * 1_000_000
            trace_id = f"{serial:016x}"
            tags = (
                {**call.attributes, **call.resource} | _status_tags(call, i) | _path_tags(call, i)
            )
            traces.append(
                [
                    {
                        "traceId": trace_id,
                        "id": f"{serial:014x}0a",
                        "kind": "CLIENT",
                        "name": "post",
                        "timestamp": start,
                        "duration": 2000,
                        "localEndpoint": {"serviceName": "frontend"},
                        "tags": {"http.request.method": "POST"},
                    },
                    {
                        "traceId": trace_id,
                        "id": f"{serial:014x}0b",
                        "parentId": f"{serial:014x}0a",
                        "kind": "SERVER",
                        "name": call.operation or "post",
                        "timestamp": start + 50,
                        "duration": 1000 * (1 + i),
                        "localEndpoint": {"serviceName": call.service_name, "port": 8000},
                        "tags": {k: str(v) for k, v in tags.items()},
                    },
                ]
            )
    return traces


def subject(api: str, port: int) -> str:
    return f"demo/{api}:{port}"


PORTS = {
    "shop/catalog": 8080,
    "shop/orders": 8000,
    "platform/search": 50051,
    "billing/invoice-ws": 8080,
    "billing/legacy-soap": 80,
    "platform/graphql-gw": 4000,
}


def expected_calls() -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for call in TRUTH:
        if call.operation:
            key = (subject(call.api, PORTS[call.api]), call.operation)
            counts[key] = counts.get(key, 0) + call.count
    return counts


def _openapi_operations(name: str) -> list[str]:
    tree = json.loads((SPECS / name).read_text())
    return [
        f"{method.upper()} {path}"
        for path, item in tree["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]


def _wsdl_operations(name: str) -> list[str]:
    root = ET.parse(SPECS / name).getroot()
    return [
        op.get("name", "")
        for op in root.iter(f"{WSDL}portType")
        for op in op.iter(f"{WSDL}operation")
    ]


@dataclass
class Backends:
    jaeger: str
    zipkin: str
    jaeger_app: Any


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    jaeger_app = jaeger_spans_app(jaeger_traces())
    with serving(jaeger_app) as jaeger, serving(zipkin_spans_app(zipkin_traces())) as zipkin:
        yield Backends(jaeger, zipkin, jaeger_app)


@pytest.fixture(scope="module")
def report(
    demo_mesh: Mesh, backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One ``discover --dry-run`` with both span sources; its report."""
    jaeger, zipkin = backends.jaeger, backends.zipkin
    out = tmp_path_factory.mktemp("drift") / "report.json"
    code = main(
        ["discover", "--dry-run", "--kubeconfig", str(demo_mesh.kubeconfig)]
        + ["--jaeger", jaeger, "--zipkin", zipkin, "--telemetry-at", AT.isoformat()]
        + ["--report", str(out)]
    )
    assert code == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (api["subject"], op["operation"]): op
        for api in doc["drift"]["apis"]
        for op in api["operations"]
    }


def _findings(doc: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    return {
        (f["subject"], next((o[10:] for o in f["objects"] if o.startswith("Operation ")), ""))
        for f in doc["drift"]["findings"]
        if f["kind"] == kind
    }


def test_every_operation_call_count_is_the_truth(
    report: dict[str, Any], backends: Backends
) -> None:
    operations = _operations(report)
    called = {key: op["calls"] for key, op in operations.items() if op["calls"]}
    assert called == expected_calls()
    drift_doc = report["drift"]
    assert drift_doc["spans"] == sum(c.count for c in TRUTH)
    # A traced service that is no API of the inventory is never asked for.
    asked = {q.get("service") for q in backends.jaeger_app[SEEN] if q["path"] == "/api/traces"}
    assert "mobile-bff" not in asked and "catalog.shop" in asked
    legacy = next(a for a in drift_doc["apis"] if a["subject"] == "demo/billing/legacy-soap:80")
    assert (legacy["calls"], legacy["unattributed"]) == (2, 2)


def test_errors_client_errors_p95_and_last_seen(report: dict[str, Any]) -> None:
    operations = _operations(report)
    product = operations[("demo/shop/catalog:8080", "GET /api/products/{id}")]
    # statuses (200, 200, 500, 404, 200, 500, 200); durations 1..7 ms: nearest-rank p95 is 7 ms
    assert (product["errors"], product["client_errors"], product["p95_ms"]) == (2, 1, 7.0)
    order = operations[("demo/shop/orders:8000", "GET /api/v1/orders/{order_id}")]
    assert (order["errors"], order["client_errors"]) == (3, 0)  # 503 on every other of six
    search = operations[
        ("demo/platform/search:50051", "rpc platform.search.v1.SearchService/Search")
    ]
    assert search["errors"] == 1  # gRPC status 14 once
    last = datetime.fromisoformat(product["last_seen"])
    assert AT.timestamp() - 600 < last.timestamp() <= AT.timestamp()


def test_both_attribute_conventions_are_read(report: dict[str, Any]) -> None:
    operations = _operations(report)
    old = [c for c in TRUTH if c.convention == "old" and c.documented and c.operation]
    new = [c for c in TRUTH if c.convention == "new" and c.documented and c.operation]
    assert old and new
    for call in old + new:
        assert operations[(subject(call.api, PORTS[call.api]), call.operation)]["calls"] > 0


def test_undocumented_operations_are_found_and_nothing_else(report: dict[str, Any]) -> None:
    expected = {
        (subject(c.api, PORTS[c.api]), c.operation)
        for c in TRUTH
        if not c.documented and c.api != "platform/graphql-gw"
    }
    assert _findings(report, "undocumented-operation") == expected
    debug = _operations(report)[("demo/shop/catalog:8080", "GET /internal/debug/{param}")]
    assert (debug["documented"], debug["calls"]) == (False, 4)  # four ids, one operation


def test_unused_operations_are_the_contract_minus_the_called(report: dict[str, Any]) -> None:
    called = {key[1] for key in expected_calls()}
    contracts = {
        "shop/catalog": _openapi_operations("openapi/3.0/catalog-springdoc.json"),
        "shop/orders": _openapi_operations("openapi/3.1/orders-fastapi.json"),
        "billing/invoice-ws": _wsdl_operations("wsdl/1.1/invoice-soap11.wsdl"),
    }
    expected = {
        (subject(api, PORTS[api]), op)
        for api, ops in contracts.items()
        for op in ops
        if op not in called
    }
    # gRPC: the methods the fixture server registers (fixtures/backends/_grpc.py and
    # grpcio-health-checking's Health service), less those called.
    expected |= {
        ("demo/platform/search:50051", "rpc grpc.health.v1.Health/List"),
        ("demo/platform/search:50051", "rpc grpc.health.v1.Health/Watch (server streaming)"),
        (
            "demo/platform/search:50051",
            "rpc platform.search.v1.SearchService/WatchSuggestions (server streaming)",
        ),
    }
    assert _findings(report, "unused-operation") == expected


def test_deprecated_api_still_called(report: dict[str, Any]) -> None:
    # billing/legacy-soap is annotated meshatlas.io/lifecycle: deprecated.
    assert _findings(report, "deprecated-api-called") == {("demo/billing/legacy-soap:80", "")}


def test_the_drift_section_follows_the_schema(report: dict[str, Any]) -> None:
    jsonschema.validate(report, report_mod.schema())
    assert report["drift"]["sources"] == ["jaeger", "zipkin"]
    assert report["problems"] == []


# --- narrower: the router, the readers, the other drift kinds -------------------------------


def _spec(paths: dict[str, Any], **top: Any) -> Any:
    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1.0.0"}, "paths": paths, **top}
    return parse_spec(json.dumps(doc).encode(), url="http://t/openapi.json", content_type=None)


def _op(op_id: str, **extra: Any) -> dict[str, Any]:
    return {"operationId": op_id, "responses": {"200": {"description": "ok"}}, **extra}


def test_a_literal_segment_beats_a_template() -> None:
    spec = _spec(
        {
            "/orders/{id}": {"get": _op("get")},
            "/orders/search": {"get": _op("search")},
            "/orders/{id}/lines/{line}": {"get": _op("line")},
            "/orders/{id}.json": {"get": _op("json")},
        },
        servers=[{"url": "https://shop.example/api/v2"}],
    )
    router = routes.compile_router(spec)
    assert router.http("GET", "/api/v2/orders/search").name == "search"  # type: ignore[union-attr]
    assert router.http("GET", "/api/v2/orders/42").name == "get"  # type: ignore[union-attr]
    assert router.http("GET", "/orders/42.json").name == "json"  # type: ignore[union-attr]
    assert router.http("GET", "/orders/search/lines/3").name == "line"  # type: ignore[union-attr]
    assert router.http("POST", "/orders/42") is None  # method-aware
    assert router.http("GET", "/orders") is None
    assert router.http_route("GET", "/api/v2/orders/:id").name == "get"  # type: ignore[union-attr]


def test_swagger_base_path_is_honoured() -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "basePath": "/v1",
        "paths": {"/pets/{id}": {"get": _op("pet")}},
    }
    spec = parse_spec(json.dumps(doc).encode(), url="http://t/swagger.json", content_type=None)
    router = routes.compile_router(spec)
    assert router.http("GET", "/v1/pets/7").name == "pet"  # type: ignore[union-attr]


def _service(cluster: str, namespace: str, name: str, port: int) -> tuple[Service, ServicePort]:
    service_port = ServicePort(
        name="http",
        port=port,
        target_port=port,
        protocol="TCP",
        app_protocol=None,
        mesh_protocol="http",
    )
    service = Service(
        key=ServiceKey(cluster, namespace, name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.1",),
        external_name=None,
        ports=(service_port,),
        ready_addresses=(),
    )
    return service, service_port


def _api(service: Service, port: ServicePort, spec: Any) -> Api:
    return Api(
        service=service.key,
        port=port,
        kind="rest",
        base_url="http://x",
        spec=spec,
        evidence=(),
        requests=1,
    )


def _zipkin_span(n: int, service: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "traceId": f"{n:016x}",
        "id": f"{n:016x}",
        "kind": "SERVER",
        "timestamp": AT_US - 1_000_000 * (n + 1),
        "duration": 1000,
        "localEndpoint": {"serviceName": service},
        "tags": tags,
    }


def _zipkin(url: str, **kwargs: Any) -> Any:
    async def read(services: list[Service]) -> Any:
        inventory = Inventory(
            clusters=tuple(dict.fromkeys(s.key.cluster for s in services)),
            services=tuple(services),
            external_hosts=(),
            routes=(),
            problems=(),
        )
        async with httpx.AsyncClient(trust_env=False) as client:
            source = ZipkinSpans(client=client, url=url, at=AT, **kwargs)
            return await source.read(NodeNamer(inventory))

    return read


def test_deprecated_operation_still_called() -> None:
    spec = _spec(
        {
            "/v1/prices": {"get": _op("old", deprecated=True)},
            "/v2/prices": {"get": _op("new")},
            "/v1/quotes": {"get": _op("quotes", deprecated=True)},
        }
    )
    service, port = _service("c1", "shop", "pricing", 8080)
    tags = {"http.request.method": "GET", "url.path": "/v1/prices", "k8s.namespace.name": "shop"}
    spans = [_zipkin_span(n, "pricing", tags) for n in range(4)]
    spans.append(_zipkin_span(9, "pricing", {**tags, "url.path": "/v2/prices"}))
    with serving(zipkin_spans_app([[s] for s in spans])) as url:
        read = asyncio.run(_zipkin(url)([service]))
    result = drift.analyse(apis=[_api(service, port, spec)], spans=read.spans, window_s=600)
    deprecated = [f for f in result.findings if f.kind == "deprecated-operation-called"]
    assert [(f.subject, f.objects[-1]) for f in deprecated] == [
        ("c1/shop/pricing:8080", "Operation GET /v1/prices")
    ]
    assert "4 times" in deprecated[0].reason
    # The other deprecated operation, never called, is unused, not "deprecated but called".
    unused = {f.objects[-1] for f in result.findings if f.kind == "unused-operation"}
    assert unused == {"Operation GET /v1/quotes"}


def test_contract_older_than_the_running_code() -> None:
    # The same API (shop/reviews, port name http) in two clusters of one run: demo
    # serves the Swagger 1.0 contract, east the OpenAPI 2.0.0 one (fixtures/clusters/east).
    old = parse_spec(
        (SPECS / "swagger/2.0/reviews-springfox.json").read_bytes(), url="u1", content_type=None
    )
    new = parse_spec(
        (SPECS / "openapi/3.0/reviews-springdoc-v2.json").read_bytes(), url="u2", content_type=None
    )
    demo, demo_port = _service("demo", "shop", "reviews", 9080)
    east, east_port = _service("east", "shop", "reviews", 9080)
    resource = {"k8s.namespace.name": "shop", "k8s.cluster.name": "demo"}
    v2 = {"http.method": "GET", "http.target": "/api/v2/products/7/reviews", **resource}
    v1 = {"http.method": "GET", "http.target": "/reviews/7", **resource}
    shadow = {"http.method": "GET", "http.target": "/admin/reindex", **resource}
    spans = [_zipkin_span(n, "reviews", v2) for n in range(3)]
    spans += [_zipkin_span(10 + n, "reviews", v1) for n in range(2)]
    spans.append(_zipkin_span(20, "reviews", shadow))
    with serving(zipkin_spans_app([[s] for s in spans])) as url:
        read = asyncio.run(_zipkin(url)([demo, east]))
    assert {s.service for s in read.spans} == {"demo/shop/reviews"}
    result = drift.analyse(
        apis=[_api(demo, demo_port, old), _api(east, east_port, new)],
        spans=read.spans,
        window_s=600,
    )
    kinds = {(f.kind, f.subject) for f in result.findings if f.kind != "unused-operation"}
    assert kinds == {
        ("contract-outdated", "demo/shop/reviews:9080"),
        ("undocumented-operation", "demo/shop/reviews:9080"),
    }
    outdated = next(f for f in result.findings if f.kind == "contract-outdated")
    assert "2.0.0" in outdated.reason and "GET /api/v2/products/{param}/reviews" in outdated.reason
    shadowed = next(f for f in result.findings if f.kind == "undocumented-operation")
    assert shadowed.objects[-1] == "Operation GET /admin/reindex"


def test_pages_walk_back_and_the_cap_holds() -> None:
    service, _ = _service("c1", "shop", "pricing", 8080)
    tags = {"http.request.method": "GET", "url.path": "/v1/prices", "k8s.namespace.name": "shop"}
    spans = [_zipkin_span(n, "pricing", tags) for n in range(7)]
    app = zipkin_spans_app([[s] for s in spans])
    with serving(app) as url:
        everything = asyncio.run(_zipkin(url, page=2)([service]))
        asked = [q for q in app[SEEN] if q["path"] == "/api/v2/traces"]
        capped = asyncio.run(_zipkin(url, page=2, cap=3)([service]))
    assert len(everything.spans) == 7 and everything.capped == ()
    assert len(asked) >= 4  # seven traces, two a page
    assert all(q["limit"] == "2" for q in asked)
    assert len(capped.spans) == 3 and capped.capped == ("pricing",)


def test_pages_of_client_spans_only_still_walk_back() -> None:
    service, _ = _service("c1", "shop", "pricing", 8080)
    tags = {"http.request.method": "GET", "url.path": "/v1/prices", "k8s.namespace.name": "shop"}
    clients = [{**_zipkin_span(n, "pricing", tags), "kind": "CLIENT"} for n in range(4)]
    servers = [_zipkin_span(10 + n, "pricing", tags) for n in range(3)]  # older than the clients
    with serving(zipkin_spans_app([[s] for s in clients + servers])) as url:
        read = asyncio.run(_zipkin(url, page=2)([service]))
    assert len(read.spans) == 3


@pytest.mark.parametrize(
    "payload",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"data": "not a list"}',
        b'{"data": [{"spans": [{"spanID": 1}], "processes": {}}]}',
        b'{"data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b'{"data": [{"traceID": "t", "processes": {"p": {"serviceName": "orders.shop"}},'
        b' "spans": [{"traceID": "t", "spanID": "s", "processID": "p", "startTime": "soon",'
        b' "duration": -1, "tags": [{"key": "span.kind", "value": "server"}]}]}]}',
    ],
    ids=["html", "not-a-list", "no-process", "deep", "bad-numbers"],
)
def test_a_hostile_payload_is_a_problem_and_the_rest_is_read(payload: bytes) -> None:
    catalog, _ = _service("demo", "shop", "catalog", 8080)
    orders, _ = _service("demo", "shop", "orders", 8000)
    good = jaeger_traces()[:3]  # catalog's first calls
    app = jaeger_spans_app(good, raw={"orders.shop": payload})

    async def read() -> Any:
        inventory = Inventory(
            clusters=("demo",),
            services=(catalog, orders),
            external_hosts=(),
            routes=(),
            problems=(),
        )
        async with httpx.AsyncClient(trust_env=False) as client:
            source = JaegerSpans(client=client, url=url, at=AT)
            return await source.read(NodeNamer(inventory))

    with serving(app) as url:
        result = asyncio.run(read())
    assert len(result.spans) == 3
    assert {s.service for s in result.spans} == {"demo/shop/catalog"}
    assert len(result.problems) == 1
    assert "orders.shop" in result.problems[0].what


def test_an_oversized_answer_is_refused_unread() -> None:
    catalog, _ = _service("demo", "shop", "catalog", 8080)
    app = jaeger_spans_app(jaeger_traces()[:50])

    async def read() -> Any:
        inventory = Inventory(
            clusters=("demo",), services=(catalog,), external_hosts=(), routes=(), problems=()
        )
        async with httpx.AsyncClient(trust_env=False) as client:
            source = JaegerSpans(client=client, url=url, at=AT, max_bytes=512)
            return await source.read(NodeNamer(inventory))

    with serving(app) as url:
        result = asyncio.run(read())
    assert result.spans == ()
    assert "over 512 bytes" in result.problems[0].why


def test_undocumented_paths_are_normalised() -> None:
    assert routes.normalise_path("/a/12/b/" + UUIDS[0] + "/c") == "/a/{param}/b/{param}/c"
    object_id, jwt = "65a1f0c2e4b0a1b2c3d4e5f6", "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"
    assert (
        routes.normalise_path(f"/users/{object_id}/reset/{jwt}") == "/users/{param}/reset/{param}"
    )
    assert routes.normalise_path("/oauth/tokens/v2") == "/oauth/tokens/v2"
    assert len(routes.normalise_path("/x" * 10_000)) <= 256
    assert routes.template_key("/a/:id/<int:x>/{y}/z") == "/a/{param}/{param}/{param}/z"


# --- the command, end to end in a subprocess -------------------------------------------------


def _drift(demo_mesh: Mesh, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "meshatlas.cli",
            "drift",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--telemetry-at",
            AT.isoformat(),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cli_drift_prints_a_table_and_gates(demo_mesh: Mesh, backends: Backends) -> None:
    jaeger, zipkin = backends.jaeger, backends.zipkin
    gated = _drift(demo_mesh, "--jaeger", jaeger, "--zipkin", zipkin, "--fail-on", "high")
    assert gated.returncode == 4, gated.stderr  # deprecated-api-called is high
    header = gated.stdout.splitlines()[0].split()
    assert header == ["SEVERITY", "KIND", "API", "OPERATION", "CALLS", "REASON"]
    assert "GET /internal/debug/{param}" in gated.stdout
    passed = _drift(demo_mesh, "--jaeger", jaeger, "--zipkin", zipkin, "-o", "json")
    assert passed.returncode == 0, passed.stderr  # --fail-on none
    doc = json.loads(passed.stdout)
    kinds = {f["kind"] for f in doc["findings"]}
    assert kinds == {"undocumented-operation", "unused-operation", "deprecated-api-called"}


def test_cli_drift_needs_a_span_source_and_reports_a_broken_one(demo_mesh: Mesh) -> None:
    assert _drift(demo_mesh).returncode == 2
    with serving(jaeger_spans_app([], raw={"catalog.shop": b"not json"})) as jaeger:
        partial = _drift(demo_mesh, "--jaeger", jaeger, "-o", "json")
    assert partial.returncode == 3, partial.stderr  # a source failed in part
    doc = json.loads(partial.stdout)
    assert any("catalog.shop" in p["what"] for p in doc["problems"])
