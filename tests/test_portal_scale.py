"""Every page kind of the served portal at 5,000 APIs, in Chromium.

A SQLite catalogue of 5,000 published APIs in 50 namespaces (the drafts are
the truth) and one run graph of 5,000 Services: the home page shows one page
of rows with a link to the next, an API page shows its contract's operation,
the graph page draws nodes inside the window. Each page is checked for
visible content and its weight bounded; a screenshot of each is kept under
build/test-artifacts/portal-scale/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import catalog
from catalog import AssetDraft, AssetFile, Instance, Provenance, server
from catalog.portal.live import PAGE_SIZE
from tests.test_portal import ARTIFACTS
from tests.test_portal_graph import VISIBLE_NODES, synthetic_graph
from tests.test_portal_graph import browser as browser  # the Chromium fixture

N = 5_000
NAMESPACES = 50
T0 = datetime(2026, 6, 1, tzinfo=UTC)
#: A page of the portal never weighs more than this, whatever the catalogue holds.
MAX_PAGE_BYTES = 400_000


def _draft(i: int) -> AssetDraft:
    namespace = f"ns-{i % NAMESPACES:02d}"
    spec = (
        b'{"openapi": "3.0.3", "info": {"title": "Service %d", "version": "1.0.%d"},'
        b' "paths": {"/items/%d": {"get": {"summary": "item %d", "responses":'
        b' {"200": {"description": "ok"}}}}}}' % (i, i, i, i)
    )
    return AssetDraft(
        group_id="acme",
        asset_id=f"svc-{i:04d}",
        name=f"Service {i:04d}",
        type="rest-api",
        description=f"service {i} of {namespace}",
        spec_version_hint=None,
        files=(AssetFile(classifier="oas", packaging="json", content=spec),),
        operations=(f"GET /items/{i}",),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=Instance("east", namespace, f"svc-{i:04d}", 80, f"http://svc-{i:04d}:80"),
        dependencies=(),
        provenance=Provenance(method="probe", detail="scale test"),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("portal-scale") / "catalog.db"
    with catalog.open_store(f"sqlite:///{path}") as store:
        store.publish_many([_draft(i) for i in range(N)], seen_at=T0)
        store.save_run_graph(dataclasses.replace(synthetic_graph(), cluster="east"))
        with server.RunningServer(server.make_app(store)) as running:
            yield f"{running.url}/portal/"


#: Elements with a box inside the window: the page is not blank.
VISIBLE = """
return Array.from(document.querySelectorAll(arguments[0])).filter(function (e) {
  var r = e.getBoundingClientRect();
  return r.width > 2 && r.height > 2 && r.bottom > 0 && r.top < window.innerHeight;
}).length;
"""


def _screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.joinpath("portal-scale").mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "portal-scale" / f"{name}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 0


def test_page_weights_are_bounded_at_five_thousand_apis(site: str) -> None:
    for page in ("", "apis/acme/svc-4999.html", "graph.html"):
        answer = httpx.get(site + page, trust_env=False, timeout=60)
        assert answer.status_code == 200, page
        assert len(answer.content) < MAX_PAGE_BYTES, (page, len(answer.content))


def test_home_page_shows_one_page_of_rows_and_a_next_link(browser: Any, site: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site)
    rows = browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
    assert len(rows) == PAGE_SIZE < N
    assert browser.execute_script(VISIBLE, "table tbody tr") > 5
    assert browser.find_elements(By.CSS_SELECTOR, 'a[rel="next"]')
    _screenshot(browser, "index")


def test_api_page_shows_its_contract(browser: Any, site: str) -> None:
    browser.get(site + "apis/acme/svc-4999.html")
    text = browser.find_element("tag name", "body").text
    assert "Service 4999" in text and "/items/4999" in text
    assert browser.execute_script(VISIBLE, "h1, table") > 0
    _screenshot(browser, "api")


def test_graph_page_draws_nodes_in_the_window(browser: Any, site: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(site + "graph.html")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
    assert browser.execute_script(VISIBLE_NODES) >= 20
    _screenshot(browser, "graph")
