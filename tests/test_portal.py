"""The portal in a real browser: headless Chromium (Debian's) driven by Selenium.

The portal is served by ``meshatlas serve``'s app on 127.0.0.1 over a copy of
the demo mesh's catalogue plus one hostile asset whose title, description
and operation summary carry script. Chromium may resolve no host name at all
(``--host-resolver-rules``), and its own log of requests must name only
loopback URLs. One screenshot per page type is kept under
``build/test-artifacts/portal/`` (or ``$MESHATLAS_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import catalog
from catalog import portal, server
from meshatlas.cli import main

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tests.chromium import chromium  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MESHATLAS_ARTIFACTS", ROOT / "build" / "test-artifacts"))
XSS_TITLE = "<script>window.__pwned = 1</script>Evil <b>API</b>"
XSS_DESCRIPTION = '<img src=x onerror="window.__pwned = 2">"quoted" & </td></table>'
XSS_SUMMARY = "<svg onload=alert(1)>"


def _hostile_draft(operations: tuple[str, ...]) -> catalog.AssetDraft:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        method, path = op.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = {"summary": XSS_SUMMARY, "responses": {}}
    spec = {
        "openapi": "3.0.3",
        "info": {"title": XSS_TITLE, "description": XSS_DESCRIPTION, "version": "x"},
        "paths": paths,
    }
    return catalog.AssetDraft(
        group_id="meshatlas",
        asset_id="shop-evil",
        name=XSS_TITLE,
        type="rest-api",
        description=XSS_DESCRIPTION,
        spec_version_hint=None,
        files=(catalog.AssetFile("oas", "json", json.dumps(spec).encode()),),
        operations=operations,
        tags=("<i>tag</i>",),
        owner="team-<u>x</u>",
        lifecycle=None,
        instance=catalog.Instance("demo", "shop", "evil", 8080, "http://evil.shop.svc:8080"),
        dependencies=("meshatlas:shop-orders",),
        provenance=catalog.Provenance("probe", "http://evil.shop.svc:8080/openapi.json"),
    )


@pytest.fixture(scope="module")
def portal_url(
    demo_catalog: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("portal")
    shutil.copy(demo_catalog["dir"] / "catalog.db", tmp / "catalog.db")
    with catalog.open_store(f"sqlite:///{tmp / 'catalog.db'}") as store:
        now = datetime.now(UTC)
        store.publish(_hostile_draft(("GET /items",)), seen_at=now)
        store.publish(_hostile_draft(("GET /items", "POST /items")), seen_at=now)
        with server.RunningServer(server.make_app(store)) as running:
            yield f"{running.url}/portal/"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


def _wait(driver: Any, condition: Any) -> Any:
    return WebDriverWait(driver, 10).until(condition)


def _visible_rows(driver: Any) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#apis tbody tr")
    return [r.find_element(By.CSS_SELECTOR, ".sub").text for r in rows if r.is_displayed()]


def _screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.joinpath("portal").mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "portal" / f"{name}.png"))


def _requested_urls(driver: Any) -> set[str]:
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def test_search_and_filters_find_apis(browser: Any, portal_url: str) -> None:
    browser.get(portal_url)
    assert browser.title == "APIs · meshatlas"
    assert len(_visible_rows(browser)) == 15
    _screenshot(browser, "index")

    browser.find_element(By.ID, "q").send_keys("orders")
    _wait(browser, lambda d: "meshatlas:shop-orders" in _visible_rows(d))
    assert "meshatlas:shop-catalog" not in _visible_rows(browser)

    browser.find_element(By.ID, "q").clear()
    Select(browser.find_element(By.ID, "type")).select_by_value("soap-api")
    _wait(browser, lambda d: len(_visible_rows(d)) == 3)
    assert browser.find_element(By.ID, "shown").text == "3"
    Select(browser.find_element(By.ID, "lifecycle")).select_by_value("deprecated")
    _wait(browser, lambda d: _visible_rows(d) == ["meshatlas:billing-legacy-soap"])

    browser.get(portal_url + "?q=zzz-nothing")
    _wait(browser, lambda d: d.find_element(By.ID, "none").is_displayed())
    assert _visible_rows(browser) == []


def test_api_page_shows_operations_instances_and_relations(browser: Any, portal_url: str) -> None:
    browser.get(portal_url + "?namespace=shop&q=orders")
    _wait(browser, lambda d: "meshatlas:shop-orders" in _visible_rows(d))
    browser.find_element(By.LINK_TEXT, "Orders Service").click()
    _wait(browser, lambda d: d.current_url.endswith("/portal/apis/meshatlas/shop-orders.html"))
    assert browser.find_element(By.ID, "api-title").text == "Orders Service"
    operations = [
        tuple(cell.text for cell in row.find_elements(By.TAG_NAME, "td")[:2])
        for row in browser.find_elements(By.CSS_SELECTOR, "#operations tbody tr")
    ]
    assert len(operations) == 6
    assert ("GET", "/api/v1/orders/{order_id}") in operations
    instances = browser.find_element(By.ID, "instances").text
    assert "http://orders.shop.svc.cluster.local:8000" in instances
    providers = browser.find_element(By.ID, "providers").text
    assert "Payments" in providers or "shop-payments" in providers
    assert "shop-frontend" in browser.find_element(By.ID, "consumers").text
    _screenshot(browser, "api")

    # A provider link leads to that API's page, where orders is a consumer.
    browser.find_element(By.CSS_SELECTOR, "#providers a[href$='shop-inventory.html']").click()
    _wait(browser, lambda d: d.current_url.endswith("/shop-inventory.html"))
    assert "shop-orders" in browser.find_element(By.ID, "consumers").text


def test_graph_renders_and_click_opens_the_api(browser: Any, portal_url: str) -> None:
    if shutil.which("dot") is None:
        pytest.fail("install Graphviz (make system-deps)")
    browser.get(portal_url)
    browser.find_element(By.ID, "nav-graph").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg"))
    nodes = browser.find_elements(By.CSS_SELECTOR, "#graph svg g.node")
    assert len(nodes) >= 14
    _screenshot(browser, "graph")
    target = browser.find_element(By.CSS_SELECTOR, "#graph svg g#node-shop-payments a")
    browser.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", target
    )
    _wait(browser, lambda d: d.current_url.endswith("/portal/apis/meshatlas/shop-payments.html"))
    assert browser.find_element(By.ID, "operations").is_displayed()


def test_hostile_spec_text_is_rendered_inert(browser: Any, portal_url: str) -> None:
    browser.get(portal_url + "apis/meshatlas/shop-evil.html")
    assert browser.find_element(By.ID, "api-title").text == XSS_TITLE
    assert browser.find_element(By.ID, "api-description").text == XSS_DESCRIPTION
    assert XSS_SUMMARY in browser.find_element(By.ID, "operations").text
    assert browser.execute_script("return window.__pwned === undefined") is True
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script, main svg")
    # What changed between its two versions.
    versions = browser.find_element(By.ID, "versions").text
    assert "+ POST /items" in versions
    _screenshot(browser, "api-hostile")

    browser.get(portal_url)
    assert browser.execute_script("return window.__pwned === undefined") is True
    assert XSS_TITLE in browser.find_element(By.ID, "apis").text


def test_no_request_left_loopback(browser: Any, portal_url: str) -> None:
    browser.get(portal_url)
    browser.get(portal_url + "graph.html")
    browser.get(portal_url + "apis/meshatlas/shop-evil.html")
    # chrome:// and data: URLs are the browser's own; everything else is network.
    network = [urlsplit(u) for u in _requested_urls(browser)]
    network = [u for u in network if u.scheme not in ("chrome", "data", "about")]
    assert network and {u.hostname for u in network} == {"127.0.0.1"}
    assert {u.scheme for u in network} == {"http"}


def test_pages_carry_a_content_security_policy(portal_url: str) -> None:
    for path in ("", "graph.html", "apis/meshatlas/shop-orders.html", "static/portal.js"):
        response = httpx.get(portal_url + path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == portal.CSP
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    html = httpx.get(portal_url + "apis/meshatlas/shop-evil.html").text
    assert "<script>window" not in html and "&lt;script&gt;window" in html
    assert httpx.get(portal_url + "apis/meshatlas/nope.html").status_code == 404
    assert httpx.get(portal_url + "../etc/passwd").status_code == 404
    spec = httpx.get(portal_url + "specs/meshatlas/shop-orders/2.3.1.json")
    assert spec.headers["content-type"].startswith("application/json")


def test_static_export_works_from_a_plain_web_server(
    browser: Any, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert main(["export", "portal", "--catalog", demo_catalog["url"], "--out", str(out)]) == 0
    handler = partial(SimpleHTTPRequestHandler, directory=str(out))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        browser.get(base + "index.html")
        browser.find_element(By.ID, "q").send_keys("invoice")
        _wait(browser, lambda d: _visible_rows(d) == ["meshatlas:billing-invoice-ws"])
        browser.find_element(By.CSS_SELECTOR, "#apis a.api-link").click()
        _wait(browser, lambda d: d.current_url.endswith("/billing-invoice-ws.html"))
        operations = browser.find_element(By.ID, "operations").text
        assert "CreateInvoice" in operations or "Invoice" in operations
        browser.find_element(By.ID, "nav-graph").click()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg g.node"))
        browser.find_element(By.ID, "nav-apis").click()
        _wait(browser, lambda d: d.current_url.endswith("/index.html"))
    finally:
        httpd.shutdown()
        httpd.server_close()


SPECS = ROOT / "fixtures" / "specs"


def _articles(driver: Any) -> dict[str, str]:
    """``METHOD name`` → the text of its contract block."""
    found = {}
    for article in driver.find_elements(By.CSS_SELECTOR, "#contract article.op"):
        method = article.find_element(By.CSS_SELECTOR, "h3 .method").text
        name = article.find_element(By.CSS_SELECTOR, "h3 .op-name").text
        found[f"{method} {name}"] = article.text
    return found


def test_api_page_shows_the_openapi_contract(browser: Any, portal_url: str) -> None:
    spec = json.loads((SPECS / "openapi/3.1/orders-fastapi.json").read_bytes())
    browser.get(portal_url + "apis/meshatlas/shop-orders.html")
    articles = _articles(browser)
    wanted = {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert set(articles) == set(wanted)
    for key, operation in wanted.items():
        text = articles[key]
        for parameter in operation.get("parameters", []):
            assert parameter["name"] in text, (key, parameter["name"])
        for code in operation["responses"]:
            assert f"Response {code}" in text, (key, code)
    # A request body's $ref is resolved inside the document: the schema's own properties show.
    create = wanted["POST /api/v1/orders"]["requestBody"]["content"]["application/json"]
    name = create["schema"]["$ref"].rsplit("/", 1)[1]
    for prop in spec["components"]["schemas"][name]["properties"]:
        assert f'"{prop}"' in articles["POST /api/v1/orders"], prop
    _screenshot(browser, "api-contract")


def test_api_page_shows_wsdl_operations_messages_and_actions(browser: Any, portal_url: str) -> None:
    from lxml import etree

    root = etree.fromstring((SPECS / "wsdl/1.1/invoice-soap11.wsdl").read_bytes())
    w = "{http://schemas.xmlsoap.org/wsdl/}"
    actions = {
        op.get("name"): op.find("{http://schemas.xmlsoap.org/wsdl/soap/}operation").get(
            "soapAction"
        )
        for op in root.iter(f"{w}binding")
        for op in op.iter(f"{w}operation")
    }
    browser.get(portal_url + "apis/meshatlas/billing-invoice-ws.html")
    articles = _articles(browser)
    assert set(articles) == {f"SOAP {name}" for name in actions}
    for name, action in actions.items():
        assert f"SOAP action: {action}" in articles[f"SOAP {name}"]
    # The input message's element is expanded to the fields a caller sends.
    xs = "{http://www.w3.org/2001/XMLSchema}"
    get_invoice = next(t for t in root.iter(f"{xs}complexType") if t.get("name") == "getInvoice")
    for child in get_invoice.iter(f"{xs}element"):
        assert child.get("name") in articles["SOAP getInvoice"]


def test_api_pages_show_graphql_fields_and_grpc_methods(
    browser: Any, portal_url: str, demo_catalog: dict[str, Any]
) -> None:
    import graphql
    from google.protobuf import descriptor_pb2

    with catalog.open_store(demo_catalog["url"]) as store:
        sdl = next(
            f
            for f in store.get("meshatlas", "platform-graphql-gw").latest.files
            if f.classifier == "graphql"
        ).content.decode()
        protos = next(
            f
            for f in store.get("meshatlas", "platform-search").latest.files
            if f.packaging == "protobuf"
        ).content
    schema = graphql.build_schema(sdl)
    browser.get(portal_url + "apis/meshatlas/platform-graphql-gw.html")
    articles = _articles(browser)
    assert schema.query_type is not None
    for name, field in schema.query_type.fields.items():
        text = articles[f"QUERY {name}"]
        assert f"Returns {field.type}" in text
        for arg_name, arg in field.args.items():
            assert arg_name in text and str(arg.type) in text
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(protos)
    browser.get(portal_url + "apis/meshatlas/platform-search.html")
    articles = _articles(browser)
    methods = [
        (f"{f.package}.{s.name}/{m.name}".lstrip("."), m)
        for f in descriptors.file
        for s in f.service
        for m in s.method
    ]
    assert set(articles) == {f"RPC {name}" for name, _ in methods}
    for name, method in methods:
        text = articles[f"RPC {name}"]
        assert method.input_type.lstrip(".") in text and method.output_type.lstrip(".") in text
        flow = {(False, False): "unary", (False, True): "server streaming"}.get(
            (method.client_streaming, method.server_streaming), "streaming"
        )
        assert flow in text
    _screenshot(browser, "api-grpc")


def test_any_version_renders_and_two_versions_compare(browser: Any, portal_url: str) -> None:
    browser.get(portal_url + "apis/meshatlas/shop-evil.html")
    selector = browser.find_element(By.ID, "version-selector")
    older = [a for a in selector.find_elements(By.TAG_NAME, "a")]
    assert len(older) == 1  # two versions: the latest is shown, the other linked
    older[0].click()
    _wait(browser, lambda d: "/versions/" in d.current_url)
    assert "not the latest" in browser.find_element(By.CSS_SELECTOR, ".meta").text
    # That version's own contract: GET /items only (the fixture's first draft).
    assert set(_articles(browser)) == {"GET /items"}
    assert browser.execute_script("return window.__pwned === undefined") is True
    browser.find_element(By.CSS_SELECTOR, "#versions a.diff-link").click()
    _wait(browser, lambda d: "/diff/" in d.current_url)
    assert "+ POST /items" in browser.find_element(By.ID, "diff-operations").text
    history = browser.find_element(By.ID, "diff-history").text
    assert "added" in history  # the reason the catalogue stored for the newer version
    _screenshot(browser, "api-diff")


def test_instances_show_cluster_and_last_seen(browser: Any, portal_url: str) -> None:
    browser.get(portal_url + "apis/meshatlas/shop-orders.html")
    rows = browser.find_elements(By.CSS_SELECTOR, "#instances tbody tr")
    assert rows
    cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "demo"  # the demo mesh's one cluster
    assert cells[-1].endswith("UTC")
