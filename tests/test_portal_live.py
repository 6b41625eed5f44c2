"""The served portal over a catalogue larger than a page, on SQLite and PostgreSQL.

250 APIs in three namespaces, published here (the drafts are the truth):
the home page shows a page of them with links on, filters and every-word
search run in the database, an API page lists what calls it by its callers'
latest versions, and description pages serve the published bytes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest

import catalog
from catalog import AssetDraft, AssetFile, Instance, Provenance, server
from catalog.portal.live import PAGE_SIZE

T0 = datetime(2025, 6, 1, tzinfo=UTC)
N = 250
NAMESPACES = ("alpha", "beta", "gamma")


def spec(i: int) -> bytes:
    return b'{"openapi": "3.0.3", "info": {"title": "S%d", "version": "1"}, "paths": {}}' % i


def draft(i: int, **changes: object) -> AssetDraft:
    namespace = NAMESPACES[i % 3]
    base = AssetDraft(
        group_id="acme",
        asset_id=f"svc-{i:03d}",
        name=f"Service {i:03d}",
        type="rest-api",
        description=f"number {i} of {namespace}",
        spec_version_hint=None,
        files=(AssetFile(classifier="oas", packaging="json", content=spec(i)),),
        operations=(f"GET /things/{i}",),
        tags=("even",) if i % 2 == 0 else ("odd",),
        owner=None,
        lifecycle=None,
        instance=Instance(namespace, namespace, f"svc-{i}", 80, f"http://svc-{i}.{namespace}:80"),
        dependencies=(),
        provenance=Provenance(method="probe", detail="test"),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def portal(catalog_url_module: str) -> Iterator[str]:
    with catalog.open_store(catalog_url_module) as store:
        store.publish_many([draft(i) for i in range(N)], seen_at=T0)
        # svc-001 calls svc-000 now; svc-002 called it only in an older version.
        store.publish(draft(1, dependencies=("acme:svc-000",)), seen_at=T0 + timedelta(hours=1))
        store.publish(draft(2, dependencies=("acme:svc-000",)), seen_at=T0 + timedelta(hours=1))
        newer = draft(2, files=(AssetFile(classifier="oas", packaging="json", content=spec(1002)),))
        store.publish(newer, seen_at=T0 + timedelta(hours=2))
        with server.RunningServer(server.make_app(store)) as running:
            yield f"{running.url}/portal/"


def rows(html: str) -> list[str]:
    """The asset ids listed in the home page's table, in order."""
    return re.findall(r'<div class="sub">acme:(svc-\d{3})</div>', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" id="\w+" rel="{rel}">', html)
    return unescape(found[1]) if found else None


def test_the_home_page_lists_one_page_and_links_to_the_next(portal: str) -> None:
    first = httpx.get(portal)
    assert first.status_code == 200
    assert rows(first.text) == [f"svc-{i:03d}" for i in range(PAGE_SIZE)]
    assert f"of {N} APIs" in first.text
    assert link(first.text, "prev") is None
    second = httpx.get(portal + link(first.text, "next"))  # type: ignore[operator]
    assert rows(second.text) == [f"svc-{i:03d}" for i in range(PAGE_SIZE, 2 * PAGE_SIZE)]
    last = httpx.get(portal + "?page=3")
    assert rows(last.text) == [f"svc-{i:03d}" for i in range(2 * PAGE_SIZE, N)]
    assert link(last.text, "next") is None
    assert link(last.text, "prev") == "?page=2"


def test_filters_and_every_word_search_run_on_the_whole_catalogue(portal: str) -> None:
    beta = httpx.get(portal, params={"namespace": "beta"}).text
    expected = [f"svc-{i:03d}" for i in range(N) if i % 3 == 1]
    assert rows(beta) == expected[:PAGE_SIZE]
    assert f"of {len(expected)} APIs" in beta
    # Both words must be found, anywhere in the asset: a gamma service with the tag "even".
    words = httpx.get(portal, params={"q": "gamma even"}).text
    assert rows(words) == [f"svc-{i:03d}" for i in range(N) if i % 3 == 2 and i % 2 == 0]
    # The next page keeps the filters.
    assert link(httpx.get(portal, params={"q": "number"}).text, "next") == "?q=number&page=2"
    assert rows(httpx.get(portal, params={"type": "no-such-type"}).text) == []
    assert rows(httpx.get(portal, params={"q": "zzz"}).text) == []


def test_an_api_page_shows_who_calls_it_by_their_latest_versions(portal: str) -> None:
    page = httpx.get(portal + "apis/acme/svc-000.html")
    assert page.status_code == 200
    consumers = page.text.split('id="consumers"')[1].split("</ul>")[0]
    assert "svc-001.html" in consumers
    assert "svc-002" not in consumers  # only its older version called svc-000
    caller = httpx.get(portal + "apis/acme/svc-001.html").text
    providers = caller.split('id="providers"')[1].split("</ul>")[0]
    assert 'href="../../apis/acme/svc-000.html">Service 000</a>' in providers
    assert httpx.get(portal + "apis/acme/svc-999.html").status_code == 404


def test_description_pages_serve_the_published_bytes(portal: str) -> None:
    answer = httpx.get(portal + "specs/acme/svc-007/1.0.0.json")
    assert answer.status_code == 200
    assert answer.content == spec(7)
    assert httpx.get(portal + "specs/acme/svc-007/1.0.0.yaml").status_code == 404
    assert httpx.get(portal + "specs/acme/svc-007/9.0.0.json").status_code == 404
