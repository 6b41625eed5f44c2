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

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
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
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("install Debian's chromium and chromium-driver (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        # Nothing but the loopback portal can even be resolved.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


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
    assert len(_visible_rows(browser)) == 14
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
