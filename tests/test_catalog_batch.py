"""Batched publishing (catalog.publishing.batch): a batch leaves what one-by-one publishes leave.

Each scenario runs twice on fresh databases of the same backend, once through
``publish_many`` and once draft by draft through ``publish``, and compares the
results and every column of every table except the surrogate ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

import catalog
from catalog import AssetDraft, CatalogStore
from tests.test_catalog import (
    SPEC_A,
    SPEC_B,
    SPEC_C,
    T0,
    T1,
    T2,
    draft,
    inject_duplicate_insert,
    instance,
    oas,
)

Round = tuple[Any, list[AssetDraft]]

# Every column but the surrogate ids, joined to the natural keys.
_STATE = {
    "assets": "SELECT group_id, asset_id, name, type, description, owner, lifecycle,"
    " lifecycle_requested, first_seen, last_seen, missed_runs, lifecycle_before_missing,"
    " search_text FROM catalog_assets ORDER BY group_id, asset_id",
    "tags": "SELECT a.group_id, a.asset_id, t.tag FROM catalog_tags t"
    " JOIN catalog_assets a ON a.id = t.asset_pk ORDER BY 1, 2, 3",
    "versions": "SELECT a.group_id, a.asset_id, v.version, v.content_key, v.type, v.created_at,"
    " v.reason, v.provenance_method, v.provenance_detail FROM catalog_versions v"
    " JOIN catalog_assets a ON a.id = v.asset_pk ORDER BY 1, 2, 3",
    "files": "SELECT a.group_id, a.asset_id, v.version, f.position, f.classifier, f.packaging,"
    " f.sha256, f.content FROM catalog_files f JOIN catalog_versions v ON v.id = f.version_pk"
    " JOIN catalog_assets a ON a.id = v.asset_pk ORDER BY 1, 2, 3, 4",
    "operations": "SELECT a.group_id, a.asset_id, v.version, o.operation"
    " FROM catalog_operations o JOIN catalog_versions v ON v.id = o.version_pk"
    " JOIN catalog_assets a ON a.id = v.asset_pk ORDER BY 1, 2, 3, 4",
    "dependencies": "SELECT a.group_id, a.asset_id, v.version, d.group_id, d.asset_id"
    " FROM catalog_dependencies d JOIN catalog_versions v ON v.id = d.version_pk"
    " JOIN catalog_assets a ON a.id = v.asset_pk ORDER BY 1, 2, 3, 4, 5",
    "instances": "SELECT a.group_id, a.asset_id, i.cluster, i.namespace, i.service, i.port,"
    " v.version, i.endpoint_uri, i.environment, i.first_seen, i.last_seen"
    " FROM catalog_instances i JOIN catalog_assets a ON a.id = i.asset_pk"
    " JOIN catalog_versions v ON v.id = i.version_pk AND v.asset_pk = i.asset_pk"
    " ORDER BY 1, 2, 3, 4, 5, 6",
}


def state(store: CatalogStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact, by natural keys; what an export of the database would hold."""
    with store.engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(query))]
            for table, query in _STATE.items()
        }


def search_texts(store: CatalogStore) -> dict[str, str]:
    with store.engine.connect() as connection:
        query = text("SELECT asset_id, search_text FROM catalog_assets")
        return {asset_id: value for asset_id, value in connection.execute(query)}


def expected_search_texts(store: CatalogStore) -> dict[str, str]:
    """What search_text must hold, from the assets as read (ASCII data: lower() agrees)."""
    return {
        asset.asset_id: "\x1f".join(
            [
                asset.name,
                asset.asset_id,
                asset.description or "",
                *sorted(asset.tags),
                *sorted({op for version in asset.versions for op in version.operations}),
            ]
        ).lower()
        for asset in store.list_assets()
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two empty catalogues on the same backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'batched.db'}", f"sqlite:///{tmp_path / 'single.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.new_database(), server.new_database()


@pytest.fixture
def stores(two_urls: tuple[str, str]) -> Iterator[tuple[CatalogStore, CatalogStore]]:
    batched, single = (catalog.open_store(url) for url in two_urls)
    try:
        yield batched, single
    finally:
        batched.close()
        single.close()


@pytest.fixture
def strict_stores(two_urls: tuple[str, str]) -> Iterator[tuple[CatalogStore, CatalogStore]]:
    """As ``stores``, the batched one never falling back to one-by-one publishing."""
    batched_url, single_url = two_urls
    with no_fallback_store(batched_url) as batched, catalog.open_store(single_url) as single:
        yield batched, single


def orders(cluster: str, spec: bytes, **changes: Any) -> AssetDraft:
    base = draft(files=(oas(spec),), spec_version_hint="1.0.0", instance=instance(cluster))
    return dataclasses.replace(base, **changes)


def api(asset_id: str, **changes: Any) -> AssetDraft:
    base = draft(
        asset_id=asset_id,
        name=asset_id.title(),
        files=(),
        operations=(f"POST /{asset_id}",),
        tags=(asset_id,),
        instance=instance(service=asset_id),
    )
    return dataclasses.replace(base, **changes)


ROUNDS: list[Round] = [
    (
        T1,
        [
            orders("east", SPEC_A, dependencies=("acme:payments",)),
            # Same content elsewhere: one version, two instances, dependencies added up.
            orders("west", SPEC_A, dependencies=("acme:payments", "acme:search")),
            api("payments"),
            orders("east", SPEC_B),  # new content in the same batch: moves the instance
            api("catalog", lifecycle="stable", dependencies=("acme:orders", "acme:nowhere")),
            api("payments", name="Pay", owner="team-pay", tags=(" pay ", "money", "pay")),
        ],
    ),
    (
        T2,
        [
            orders("east", SPEC_B, dependencies=("acme:catalog",)),  # a dependency seen later
            orders("west", SPEC_A),
            api("payments", operations=("POST /payments", "GET /payments/{id}")),
            api("catalog", lifecycle="development", description="Product catalog"),
            api("search", spec_version_hint="2.0"),
            api("catalog", tags=("products",), lifecycle="deprecated"),
            orders(  # below the latest, with an operation no other version has
                "west",
                SPEC_C,
                spec_version_hint="0.9.0",
                operations=("GET /orders", "DELETE /orders"),
            ),
        ],
    ),
    (
        T0,  # a slow cluster reporting late: first_seen moves back, last_seen stays
        [
            orders("east", SPEC_B),
            api("payments", instance=instance(service="payments", environment="prod")),
            api("catalog", instance=instance("south", service="catalog")),
            orders("west", SPEC_A, dependencies=("acme:search",)),
        ],
    ),
]


class NoFallbackStore(CatalogStore):
    """A store on which publish_many may not give up on a batch.

    Its fallback, publishing the drafts one by one, would hide a bug in the batch.
    """

    def publish(
        self, draft: AssetDraft, *, seen_at: datetime, version: str | None = None
    ) -> catalog.PublishResult:
        raise AssertionError("a batch was rolled back and published one by one")


@contextmanager
def no_fallback_store(url: str) -> Iterator[CatalogStore]:
    engine = catalog.create_catalog_engine(url)
    store = NoFallbackStore(engine)
    try:
        store.create_schema()
        yield store
    finally:
        engine.dispose()


@pytest.mark.parametrize("batch", [2, 250])
def test_a_batch_leaves_what_publishing_one_by_one_leaves(
    strict_stores: tuple[CatalogStore, CatalogStore], batch: int
) -> None:
    batched, single = strict_stores
    for seen_at, drafts in ROUNDS:
        together = batched.publish_many(drafts, seen_at=seen_at, batch=batch)
        one_by_one = [single.publish(d, seen_at=seen_at) for d in drafts]

        assert together == one_by_one
        assert state(batched) == state(single)
        assert batched.list_assets() == single.list_assets()
        assert sorted(map(repr, batched.sightings())) == sorted(map(repr, single.sightings()))
        assert search_texts(batched) == expected_search_texts(batched)


def test_the_scenario_covers_what_it_claims(stores: tuple[CatalogStore, CatalogStore]) -> None:
    batched, _ = stores
    results = []
    for seen_at, drafts in ROUNDS:
        results.append(batched.publish_many(drafts, seen_at=seen_at))
        if seen_at == T1:
            assert batched.get("acme", "payments").tags == ("money", "pay")

    assert [(r.asset_id, r.outcome) for r in results[0]] == [  # type: ignore[union-attr]
        ("shop-orders", "created"),
        ("shop-orders", "unchanged"),
        ("payments", "created"),
        ("shop-orders", "new-version"),
        ("catalog", "created"),
        ("payments", "unchanged"),
    ]
    assert results[0][3].reason.endswith("instance moved from 1.0.0")  # type: ignore[union-attr]
    assert "lifecycle stays stable" in results[1][3].reason  # type: ignore[union-attr]
    assert results[1][2].version == "1.1.0"  # type: ignore[union-attr]
    assert batched.get("acme", "catalog").lifecycle == "deprecated"
    orders_asset = batched.get("acme", "shop-orders")
    assert (orders_asset.first_seen, orders_asset.last_seen) == (T0, T2)
    assert [v.version for v in orders_asset.versions] == ["0.9.0", "1.0.0", "1.0.1"]
    assert orders_asset.versions[1].dependencies == ("acme:payments:1.1.0", "acme:search:2.0.0")
    assert orders_asset.latest.dependencies == ("acme:catalog:1.0.0",)


def count_writes(engine: Engine) -> list[str]:
    """Record the first word of every statement that writes."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        word = statement.lstrip().split(" ", 1)[0].upper()
        if word in ("INSERT", "UPDATE", "DELETE"):
            seen.append(f"{word} {statement.split()[2 if word != 'UPDATE' else 1]}")

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_an_unchanged_republish_only_moves_last_seen(
    catalog_url: str,
) -> None:
    drafts = [api(f"svc-{i:02d}", dependencies=("acme:svc-00",)) for i in range(30)]
    with no_fallback_store(catalog_url) as store:
        store.publish_many(drafts, seen_at=T0)
        before = state(store)
        writes = count_writes(store.engine)

        again = store.publish_many(drafts, seen_at=T1, batch=250)

        assert {r.outcome for r in again} == {"unchanged"}  # type: ignore[union-attr]
        # One bulk UPDATE per table, whatever the number of drafts.
        assert writes == ["UPDATE catalog_assets", "UPDATE catalog_instances"]
        after = state(store)
        assert {k: v for k, v in after.items() if k not in ("assets", "instances")} == {
            k: v for k, v in before.items() if k not in ("assets", "instances")
        }
        # Only last_seen (column 9 of assets, 10 of instances) moved, on every row.
        for table, column in (("assets", 9), ("instances", 10)):
            assert [r[:column] + r[column + 1 :] for r in after[table]] == [
                r[:column] + r[column + 1 :] for r in before[table]
            ]
            assert all(
                new[column] != old[column]
                for new, old in zip(after[table], before[table], strict=True)
            )
        assert store.get("acme", "svc-07").last_seen == T1


def test_a_failed_batch_is_rolled_back_and_published_one_by_one(
    stores: tuple[CatalogStore, CatalogStore],
) -> None:
    batched, single = stores
    drafts = ROUNDS[0][1]
    # The batch's bulk INSERT of instances collides once: the whole batch is
    # rolled back and its drafts are published one by one instead.
    fired = inject_duplicate_insert(batched, "catalog_instances", times=1)

    together = batched.publish_many(drafts, seen_at=T1)

    assert fired == [1]
    assert together == [single.publish(d, seen_at=T1) for d in drafts]
    assert state(batched) == state(single)


def test_a_republish_at_an_earlier_time_moves_nothing_forward(
    catalog_url: str,
) -> None:
    with no_fallback_store(catalog_url) as store:
        store.publish_many([api("late")], seen_at=T1)
        writes = count_writes(store.engine)

        store.publish_many([api("late")], seen_at=T1 - timedelta(microseconds=1))

        assert writes == ["UPDATE catalog_assets"]  # first_seen only
        asset = store.get("acme", "late")
        assert (asset.first_seen, asset.last_seen) == (T1 - timedelta(microseconds=1), T1)
