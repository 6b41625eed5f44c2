"""Search (catalog.storage.listing): light summaries and search_text, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config

import catalog
from catalog import AssetFile, CatalogStore
from catalog.server import RunningServer, make_app
from catalog.storage import migrate
from tests.test_catalog import SPEC_A, SPEC_B, SPEC_C, T0, T1, T2, draft, instance, oas
from tests.test_catalog_batch import expected_search_texts, search_texts

E = "/exchange/api/v2"


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    with catalog.open_store(catalog_url) as opened:
        yield opened


@pytest.fixture
def varied(store: CatalogStore) -> CatalogStore:
    """Assets with several versions, files, instances, dependencies and no spec at all."""
    wsdl = AssetFile(classifier="wsdl", packaging="wsdl", content=b"<definitions/>")
    xsd = AssetFile(classifier="http", packaging="xml", content=b"<xs:schema/>")
    store.publish(draft(), seen_at=T0)
    store.publish(draft(files=(oas(SPEC_B),), instance=instance("west")), seen_at=T1)
    store.publish(
        draft(
            files=(oas(SPEC_C),),
            operations=("GET /y",),
            spec_version_hint="2.0.0-rc.1",
            dependencies=("acme:billing", "other:ghost"),
        ),
        seen_at=T2,
    )
    store.publish(
        draft(
            asset_id="billing",
            name="Billing WS",
            type="soap-api",
            files=(xsd, wsdl),
            operations=("CreateInvoice",),
            description="Issues 100% of invoices\x1fand credit notes",
            tags=("finance", "Legacy"),
            lifecycle="stable",
            instance=instance(namespace="billing", service="billing", environment="prod"),
            dependencies=("acme:shop-orders",),
        ),
        seen_at=T1,
    )
    store.publish(
        draft(
            asset_id="frontend",
            name="Storefront",
            type="http-api",
            files=(),
            operations=(),
            description=None,
            tags=(),
            owner=None,
            instance=instance("west", namespace="web", service="frontend"),
        ),
        seen_at=T2,
    )
    return store


def test_a_search_lists_what_reading_each_asset_gives(varied: CatalogStore) -> None:
    page = varied.search(limit=200)

    assert page.total == 3
    assert list(page.assets) == [a.summary() for a in varied.list_assets()]
    orders = page.assets[2]
    assert [v.version for v in orders.versions] == ["1.0.0", "1.0.1", "2.0.0-rc.1"]
    assert orders.latest.version == "2.0.0-rc.1"
    assert orders.latest.dependencies == ("acme:billing:1.0.0", "other:ghost")
    assert [f.size for f in page.assets[0].latest.files] == [12, 14]


@pytest.mark.parametrize(
    "filters",
    [
        {"offset": 1, "limit": 1},
        {"query": "invoice"},
        {"namespace": "billing"},
        {"cluster": "west"},
        {"type": "http-api"},
        {"lifecycle": "development", "query": "o"},
        {"group_id": "acme", "offset": 2},
    ],
)
def test_every_page_lists_what_reading_each_asset_gives(
    varied: CatalogStore, filters: dict[str, Any]
) -> None:
    page = varied.search(**filters)
    everything = {k: v for k, v in filters.items() if k not in ("offset", "limit")}
    matching = varied.list_assets(**everything)
    start = filters.get("offset", 0)

    assert page.total == len(matching)
    assert list(page.assets) == [a.summary() for a in matching[start : start + page.limit]]


NEEDLES = [
    "ORDERS",  # name, any case
    "shop-",  # asset id
    "100%",  # description; % is literal
    "%invoices",  # not a wildcard
    "1_0",  # _ is literal
    "legacy",  # a tag, any case
    "post /orders",  # an operation of old versions only
    "createinvoice",
    "storefront\x1ffrontend",  # spans name and asset id: no asset has it
    "invoices\x1fand",  # holds the separator: looked for value by value
    "t /y",  # holds the LIKE escape character
    "nothing like it",
]


def found_by_value(store: CatalogStore, needle: str) -> list[str]:
    """What the search must find: ``needle`` in one of an asset's values, ignoring case."""
    wanted = needle.lower()
    return [
        asset.asset_id
        for asset in store.list_assets()
        if any(
            wanted in value.lower()
            for value in [
                asset.name,
                asset.asset_id,
                asset.description or "",
                *asset.tags,
                *(op for version in asset.versions for op in version.operations),
            ]
        )
    ]


@pytest.mark.parametrize("needle", NEEDLES)
def test_free_text_finds_a_needle_in_any_single_value(varied: CatalogStore, needle: str) -> None:
    expected = found_by_value(varied, needle)

    assert [a.asset_id for a in varied.search(query=needle).assets] == expected
    assert [a.asset_id for a in varied.list_assets(query=needle)] == expected


def test_the_needles_that_find_nothing_are_meant_to(varied: CatalogStore) -> None:
    # Guards the table above against testing only empty results.
    assert [n for n in NEEDLES if not found_by_value(varied, n)] == [
        "%invoices",
        "1_0",
        "storefront\x1ffrontend",
        "nothing like it",
    ]


def test_search_follows_what_a_republish_changes(varied: CatalogStore) -> None:
    varied.publish(
        draft(
            asset_id="billing",
            name="Billing WS",
            type="soap-api",
            files=(),
            operations=("CancelInvoice",),
            description="Invoices",
            tags=("accounts",),
        ),
        seen_at=T2,
    )

    def ids(needle: str) -> list[str]:
        return [a.asset_id for a in varied.search(query=needle).assets]

    assert ids("accounts") == ["billing"]
    assert ids("finance") == []  # the tag is gone
    assert ids("credit notes") == []  # so is the description
    assert ids("cancelinvoice") == ["billing"]  # the new version's operation
    assert ids("createinvoice") == ["billing"]  # and the old one's
    assert search_texts(varied) == expected_search_texts(varied)


def test_migrating_fills_in_what_publishing_keeps(varied: CatalogStore) -> None:
    kept = search_texts(varied)
    config = Config()
    config.set_main_option("script_location", str(migrate.SCRIPTS))
    with varied.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    migrate.upgrade(varied.engine)

    assert search_texts(varied) == kept
    assert [a.asset_id for a in varied.search(query="legacy").assets] == ["billing"]


def test_the_rest_api_lists_assets_as_it_shows_each(varied: CatalogStore) -> None:
    with RunningServer(make_app(varied)) as running, httpx.Client(base_url=running.url) as http:
        listed = http.get(f"{E}/assets", params={"limit": 200}).json()
        shown = [http.get(f"{E}/assets/{a['groupId']}/{a['assetId']}").json() for a in listed]
        searched = http.get(f"{E}/assets/search", params={"search": "invoice"}).json()

    assert [a["assetId"] for a in listed] == ["billing", "frontend", "shop-orders"]
    assert listed == shown
    assert searched == [shown[0]]
    assert [f["size"] for f in shown[0]["files"]] == [12, 14]
    assert shown[2]["versions"][0]["version"] == "2.0.0-rc.1"


def test_summaries_leave_out_file_bytes_only() -> None:
    version = catalog.AssetVersion(
        version="1.0.0",
        created_at=T0,
        files=(oas(SPEC_A),),
        operations=("GET /",),
        instances=(instance(),),
        dependencies=("acme:x:1.0.0",),
        reason="first version",
        provenance=catalog.Provenance("probe", "http://x"),
    )
    summary = version.summary()

    assert summary.files == (catalog.FileSummary("oas", "json", oas(SPEC_A).sha256, len(SPEC_A)),)
    assert dataclasses.replace(summary, files=()) == catalog.VersionSummary(
        **{**{f.name: getattr(version, f.name) for f in dataclasses.fields(version)}, "files": ()}
    )
