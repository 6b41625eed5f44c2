"""Free-text search through the trigram index (migration 0005), on SQLite and PostgreSQL.

The index only finds candidates faster; what a search finds must stay what a
plain case-insensitive substring match over the asset's name, id,
description, tags and operations finds. The expected results are computed
here from the drafts with Python's own ``in``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import catalog
from catalog import AssetDraft, CatalogStore, Instance, Provenance

T0 = datetime(2025, 9, 1, tzinfo=UTC)
NAMES = {
    "quotes": 'Say "hello" API',
    "percent": "100% uptime_service",
    "accents": "Café Straße",
    "short": "ab",
    "orders": "Orders",
    "invoices": "Invoices",
}


def draft(asset_id: str, name: str, **changes: object) -> AssetDraft:
    base = AssetDraft(
        group_id="g",
        asset_id=asset_id,
        name=name,
        type="http-api",
        description=f"the {asset_id} one",
        spec_version_hint=None,
        files=(),
        operations=(f"GET /{asset_id}",),
        tags=("t-" + asset_id,),
        owner=None,
        lifecycle=None,
        instance=Instance("c", "ns", asset_id, 80, f"http://{asset_id}.ns:80"),
        dependencies=(),
        provenance=Provenance(method="probe", detail="test"),
    )
    return dataclasses.replace(base, **changes)


def texts(d: AssetDraft) -> list[str]:
    return [d.name, d.asset_id, d.description or "", *d.tags, *d.operations]


def expected(drafts: list[AssetDraft], needle: str) -> list[str]:
    return sorted(d.asset_id for d in drafts if any(needle.lower() in t.lower() for t in texts(d)))


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    with catalog.open_store(catalog_url) as opened:
        yield opened


def found(store: CatalogStore, needle: str) -> list[str]:
    return [a.asset_id for a in store.search(query=needle, limit=200).assets]


@pytest.mark.parametrize(
    "needle",
    ['"hello"', 'say "', "100%", "e_s", "uptime", "ORDERS", "rders", "ab", "b", "t-inv", "zzz"],
)
def test_search_finds_what_a_substring_match_finds(store: CatalogStore, needle: str) -> None:
    drafts = [draft(k, v) for k, v in NAMES.items()]
    store.publish_many(drafts, seen_at=T0)

    assert found(store, needle) == expected(drafts, needle)


def test_renamed_assets_are_found_by_their_new_text_only(store: CatalogStore) -> None:
    drafts = [draft(k, v) for k, v in NAMES.items()]
    store.publish_many(drafts, seen_at=T0)
    renamed = dataclasses.replace(drafts[4], name="Purchase book", description="renamed")
    store.publish(renamed, seen_at=T0 + timedelta(hours=1))

    assert found(store, "purchase") == ["orders"]
    assert found(store, "the orders one") == []
    assert found(store, "Orders") == ["orders"]  # still its asset id


def test_the_index_is_what_the_search_uses(store: CatalogStore) -> None:
    store.publish_many([draft(k, v) for k, v in NAMES.items()], seen_at=T0)
    engine = store.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT rowid FROM catalog_search"
                    " WHERE catalog_search MATCH '\"voic\"'"
                )
            ).all()
            assert any("VIRTUAL TABLE INDEX" in str(row) for row in plan), plan
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = connection.execute(
                text("EXPLAIN SELECT id FROM catalog_assets WHERE search_text LIKE '%voic%'")
            ).all()
            assert any("ix_catalog_assets_search_trgm" in str(row) for row in plan), plan
