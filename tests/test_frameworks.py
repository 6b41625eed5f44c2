"""The framework table, the per-port plan and the links an answer gives.

Narrow tests over plain values: every table entry is well formed; a sign
orders the candidates and never removes one; links the server gives go
first and only when they stay on the Service's own address.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from discovery import frameworks
from discovery.frameworks import FRAMEWORKS, WIDE_NET, Origin, Plan, read
from discovery.frameworks.engine import RECOGNISED
from discovery.probing.fetch import Response

README = Path(__file__).resolve().parents[1] / "README.md"
BASE = "http://127.0.0.9:8080"
ORIGIN = Origin(
    base=BASE,
    hosts=frozenset({"orders", "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local"}),
    ports=frozenset({8080}),
)


def _response(
    path: str = "/",
    *,
    status: int = 200,
    body: bytes = b"",
    ctype: str = "text/html",
    **headers: str,
) -> Response:
    all_headers = {"content-type": ctype, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return Response(url=BASE + path, status=status, headers=all_headers, body=body)


# --- the table -------------------------------------------------------------------


def test_every_framework_is_well_formed() -> None:
    names = [f.name for f in FRAMEWORKS]
    assert len(names) == len(set(names))
    for framework in FRAMEWORKS:
        assert framework.locations, framework.name
        assert framework.source, framework.name
        for location in framework.locations:
            assert location.path.startswith("/") and not location.path.startswith("//")
            assert location.kind in ("get", "graphql")
        for sign in framework.signs:
            if sign.place == "json-keys":
                assert all(k.strip() for k in sign.pattern.split(","))
            else:
                re.compile(sign.pattern)
            assert 0 < sign.weight <= 1
            assert (sign.place == "header") == bool(sign.name)


def test_the_wide_net_has_no_duplicates_and_covers_graphql_and_wsdl() -> None:
    keys = [(loc.path, loc.kind) for loc in WIDE_NET]
    assert len(keys) == len(set(keys))
    assert {"/graphql", "/query", "/v1/graphql", "/api/graphql", "/"} <= {
        loc.path for loc in WIDE_NET if loc.kind == "graphql"
    }
    assert ("/?wsdl", "get") in keys


def test_the_readme_lists_every_known_framework() -> None:
    text = README.read_text()
    missing = [f.label for f in FRAMEWORKS if f.label not in text]
    assert missing == []


# --- the plan --------------------------------------------------------------------


def _drain(plan: Plan, limit: int = 500) -> list[tuple[str, str]]:
    out = []
    while len(out) < limit and (candidate := plan.next()) is not None:
        out.append((candidate.path, candidate.kind))
    return out


def test_an_unrecognised_server_gets_the_wide_net_in_order() -> None:
    plan = Plan(service_name="orders")
    tried = _drain(plan)
    wide = [(loc.path, loc.kind) for loc in WIDE_NET]
    assert [t for t in tried if t in wide] == wide
    assert tried.index(("/orders", "get")) == 3  # the resource named after the Service


def test_a_sign_moves_its_framework_first_and_removes_nothing() -> None:
    unrecognised = set(_drain(Plan(service_name="orders")))
    plan = Plan(service_name="orders")
    # Litestar's documented 404 body (litestar.exceptions.NotFoundException as JSON).
    recognised = plan.observe(
        _response(
            status=404,
            ctype="application/json",
            body=b'{"status_code":404,"detail":"Not Found"}',
            server="uvicorn",
        )
    )
    assert "litestar" in recognised
    tried = _drain(plan)
    assert tried[0] == ("/schema/openapi.json", "get")
    assert unrecognised <= set(tried)


def test_a_shared_server_header_alone_recognises_nothing() -> None:
    plan = Plan()
    assert plan.observe(_response(status=404, ctype="text/plain", server="uvicorn")) == []
    assert plan.recognised() == []
    assert plan.next() == frameworks.Candidate(
        "/openapi.json", "get", "probe", "common location #1"
    )


def test_frameworks_behind_one_server_are_all_tried_early() -> None:
    # Django's 404 page is the same for django-ninja, drf-spectacular and drf-yasg.
    plan = Plan()
    plan.observe(
        _response(
            status=404,
            body=b"<h1>Not Found</h1><p>The requested resource was not found on this server.</p>",
            cross_origin_opener_policy="same-origin",
        )
    )
    first = [path for path, _ in _drain(plan, 12)]
    for path in ("/api/openapi.json", "/api/schema/", "/swagger.json"):
        assert path in first


def test_links_from_the_server_come_first() -> None:
    plan = Plan()
    plan.follow(read(_response(link='</specs/v3.json>; rel="service-desc"'), ORIGIN))
    assert plan.next() == frameworks.Candidate(
        "/specs/v3.json", "get", "link", "Link header rel=service-desc"
    )


def test_a_revealed_mount_prefix_is_tried_before_the_bare_locations() -> None:
    plan = Plan()
    plan.follow(read(_response(status=302, location="/inventory/api/docs"), ORIGIN))
    tried = _drain(plan, 4)
    assert tried[0] == ("/inventory/api/docs", "get")  # the redirect target itself
    assert tried[1] == ("/inventory/api/openapi.json", "get")


@pytest.mark.parametrize(
    ("target", "prefix"),
    [("/inventory/api/", "/inventory/api"), ("/api/v1/docs", "/api/v1"), ("/reference", None)],
)
def test_a_redirect_reveals_its_mount_prefix(target: str, prefix: str | None) -> None:
    reading = read(_response(status=302, location=target), ORIGIN)
    assert reading.prefixes == ((prefix,) if prefix else ())


def test_route_prefixes_come_after_the_bare_locations_of_a_recognised_framework() -> None:
    plan = Plan(route_prefixes=("/api/orders",))
    plan.observe(_response(status=404, ctype="application/json", body=b'{"detail":"Not Found"}'))
    tried = [path for path, _ in _drain(plan, 8)]
    assert tried.index("/openapi.json") < tried.index("/api/orders/openapi.json")


def test_a_soap_looking_server_gets_wsdl_locations_first() -> None:
    plan = Plan(service_name="tax-ws")
    plan.observe(_response(status=405, ctype="text/xml", allow="POST"))
    assert plan.soap_likely
    tried = []
    while (candidate := plan.next_wsdl()) is not None:
        tried.append(candidate.path)
    assert tried[:3] == ["/?wsdl", "/?WSDL", "/?singleWsdl"]
    assert {"/ws/tax-ws.wsdl", "/ws/tax.wsdl", "/services"} <= set(tried)


def test_exhaustive_tries_every_location_of_every_framework() -> None:
    tried = set(_drain(Plan(service_name="orders", exhaustive=True), 1000))
    for framework in FRAMEWORKS:
        for location in framework.locations:
            if "{" not in location.path:
                assert (location.path, location.kind) in tried, framework.name


def test_recognition_threshold_is_a_sum_of_signs() -> None:
    assert 0 < RECOGNISED <= 1


# --- what answers say ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Swagger UI's swagger-initializer.js (springdoc writes configUrl there).
        (b'window.ui = SwaggerUIBundle({ url: "/v3/api-docs", dom_id: "#ui" })', "/v3/api-docs"),
        (
            b'SwaggerUIBundle({configUrl: "/v3/api-docs/swagger-config"})',
            "/v3/api-docs/swagger-config",
        ),
        (b'SwaggerUIBundle({urls: [{url: "/docs/v1.json", name: "v1"}]})', "/docs/v1.json"),
        (b'<redoc spec-url="/static/openapi.json"></redoc>', "/static/openapi.json"),
        (b"<rapi-doc spec-url='./api/openapi.yaml'></rapi-doc>", "/docs/api/openapi.yaml"),
        (b'<script id="api-reference" data-url="/openapi/v2.json"></script>', "/openapi/v2.json"),
        (b'<elements-api apiDescriptionUrl="/openapi.yaml" router="hash" />', "/openapi.yaml"),
        (b'<script>Redoc.init("/spec.json", {}, el)</script>', "/spec.json"),
        (b'<link rel="service-desc" href="/api/openapi.json">', "/api/openapi.json"),
        (b'<script src="./swagger-ui-init.js"></script>', "/docs/swagger-ui-init.js"),
    ],
)
def test_docs_pages_point_at_their_description(body: bytes, expected: str) -> None:
    reading = read(_response("/docs/", body=b"<html>" + body), ORIGIN)
    assert expected in [p.path for p in reading.pointers]


def test_a_description_embedded_in_an_init_script_is_taken_out() -> None:
    document = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    script = b'let options = {\n  "swaggerDoc": ' + json.dumps(document).encode() + b",\n};"
    reading = read(
        _response("/api-docs/swagger-ui-init.js", body=script, ctype="application/javascript"),
        ORIGIN,
    )
    assert reading.embedded is not None and json.loads(reading.embedded) == document


def test_links_naming_the_service_by_its_dns_names_are_kept_as_paths() -> None:
    body = (
        b'<a href="http://orders.shop:8080/services/OrderService?wsdl">wsdl</a>'
        b'<a href="http://orders.shop.svc.cluster.local/Calc.asmx">calc</a>'
    )
    paths = [p.path for p in read(_response("/services", body=body), ORIGIN).pointers]
    assert paths == ["/services/OrderService?wsdl", "/Calc.asmx?WSDL"]


@pytest.mark.parametrize(
    "link",
    [
        "http://evil.example/openapi.json",
        "http://orders.shop:9999/openapi.json",  # its name, another port
        "http://user:pw@127.0.0.9:8080/openapi.json",
        "//127.0.0.10:8080/openapi.json",
        "https://127.0.0.10/openapi.json",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
def test_links_off_the_service_are_never_followed(link: str) -> None:
    body = f'<redoc spec-url="{link}"></redoc><link rel="service-desc" href="{link}">'.encode()
    assert read(_response("/docs", body=body), ORIGIN).pointers == ()


def test_an_api_catalog_linkset_is_followed() -> None:
    linkset = {
        "linkset": [
            {
                "anchor": "http://orders.shop.svc.cluster.local:8080/",
                "service-desc": [
                    {"href": "http://orders.shop.svc.cluster.local:8080/contracts/v1.yaml"}
                ],
            }
        ]
    }
    reading = read(
        _response(
            "/.well-known/api-catalog",
            body=json.dumps(linkset).encode(),
            ctype="application/linkset+json",
        ),
        ORIGIN,
    )
    assert [p.path for p in reading.pointers] == ["/contracts/v1.yaml"]


def test_springdoc_groups_and_springfox_resources_are_followed() -> None:
    config = {"configUrl": "/v3/api-docs/swagger-config", "urls": [{"url": "/v3/api-docs/a"}]}
    reading = read(_response(body=json.dumps(config).encode(), ctype="application/json"), ORIGIN)
    assert "/v3/api-docs/a" in [p.path for p in reading.pointers]
    resources = [{"name": "default", "location": "/v2/api-docs?group=x", "swaggerVersion": "2.0"}]
    reading = read(_response(body=json.dumps(resources).encode(), ctype="application/json"), ORIGIN)
    assert [p.path for p in reading.pointers] == ["/v2/api-docs?group=x"]


def test_a_json_api_root_reveals_where_the_api_is_mounted() -> None:
    # Django REST framework's browsable API root, as JSON.
    root = {"books": f"{BASE}/api/books/", "authors": f"{BASE}/api/authors/"}
    reading = read(_response(body=json.dumps(root).encode(), ctype="application/json"), ORIGIN)
    assert reading.prefixes == ("/api",)


def test_deeply_nested_json_is_read_as_nothing_at_all() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    plan = Plan()
    response = _response(status=404, body=body, ctype="application/json")
    assert plan.observe(response) == []
    assert read(response, ORIGIN) == frameworks.Reading()


def test_a_deeply_nested_graphql_answer_is_no_graphql_answer() -> None:
    from discovery import classify

    body = b'{"data":' * 50_000 + b"1" + b"}" * 50_000
    assert not classify.is_graphql(_response(body=body, ctype="application/json"))
