"""Integration tests for the catalogue store, on a SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex, CreateTable

import catalog
from catalog import (
    AssetDraft,
    AssetFile,
    CatalogStore,
    Instance,
    InvalidAsset,
    NotFound,
    Provenance,
    StoreError,
    VersionConflict,
)
from catalog.storage.schema import metadata

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)

SPEC_A = b'{"openapi": "3.0.3", "info": {"title": "Orders", "version": "1.0.0"}, "paths": {}}'
SPEC_B = (
    b'{"openapi": "3.0.3", "info": {"title": "Orders", "version": "1.1.0"}, "paths": {"/x": {}}}'
)
SPEC_C = (
    b'{"openapi": "3.0.3", "info": {"title": "Orders", "version": "2.0.0"}, "paths": {"/y": {}}}'
)


def oas(content: bytes) -> AssetFile:
    return AssetFile(classifier="oas", packaging="json", content=content)


def instance(cluster: str = "east", **changes: Any) -> Instance:
    base = Instance(
        cluster=cluster,
        namespace="shop",
        service="orders",
        port=8000,
        endpoint_uri="http://orders.shop.svc:8000",
    )
    return dataclasses.replace(base, **changes)


def draft(**changes: Any) -> AssetDraft:
    base = AssetDraft(
        group_id="acme",
        asset_id="shop-orders",
        name="Orders",
        type="rest-api",
        description="Order intake",
        spec_version_hint=None,
        files=(oas(SPEC_A),),
        operations=("GET /orders", "POST /orders"),
        tags=("shop",),
        owner="team-shop",
        lifecycle=None,
        instance=instance(),
        dependencies=(),
        provenance=Provenance(method="probe", detail="http://orders.shop.svc:8000/openapi.json"),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def db_url(catalog_url: str) -> str:
    return catalog_url


@pytest.fixture
def store(db_url: str) -> Iterator[CatalogStore]:
    with catalog.open_store(db_url) as opened:
        yield opened


# -- publishing and numbering ----------------------------------------------------


def test_first_publish_without_spec_version_creates_1_0_0(store: CatalogStore) -> None:
    result = store.publish(draft(), seen_at=T0)

    assert result == catalog.PublishResult(
        group_id="acme",
        asset_id="shop-orders",
        version="1.0.0",
        outcome="created",
        reason="first version; spec declares no version, so 1.0.0",
    )
    asset = store.get("acme", "shop-orders")
    assert (asset.name, asset.type, asset.lifecycle) == ("Orders", "rest-api", "development")
    assert (asset.first_seen, asset.last_seen) == (T0, T0)
    [version] = asset.versions
    assert version.version == "1.0.0"
    assert version.created_at == T0
    assert version.files == (oas(SPEC_A),)
    assert version.operations == ("GET /orders", "POST /orders")
    assert version.instances == (instance(),)
    assert version.provenance == Provenance("probe", "http://orders.shop.svc:8000/openapi.json")


@pytest.mark.parametrize(
    ("hint", "expected"),
    [("2.3.1", "2.3.1"), ("1.4", "1.4.0"), ("2.0.0-rc.1", "2.0.0-rc.1"), ("1.2.3+b.5", "1.2.3")],
)
def test_first_publish_uses_the_spec_semver(store: CatalogStore, hint: str, expected: str) -> None:
    result = store.publish(draft(spec_version_hint=hint), seen_at=T0)

    assert (result.version, result.outcome) == (expected, "created")
    assert [v.version for v in store.get("acme", "shop-orders").versions] == [expected]


def test_same_content_again_is_unchanged_and_moves_last_seen(store: CatalogStore) -> None:
    store.publish(draft(spec_version_hint="1.0.0"), seen_at=T0)

    again = store.publish(draft(spec_version_hint="1.0.0"), seen_at=T1)

    assert (again.version, again.outcome) == ("1.0.0", "unchanged")
    assert again.reason == "content unchanged, same as 1.0.0"
    asset = store.get("acme", "shop-orders")
    assert (asset.first_seen, asset.last_seen) == (T0, T1)
    assert len(asset.versions) == 1
    assert asset.versions[0].instances == (instance(),)


def test_last_seen_never_moves_back(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T1)
    store.publish(draft(), seen_at=T0)  # a slow cluster reporting late

    asset = store.get("acme", "shop-orders")
    assert (asset.first_seen, asset.last_seen) == (T0, T1)


def test_file_order_does_not_make_new_content(store: CatalogStore) -> None:
    xsd = AssetFile(classifier="wsdl", packaging="xml", content=b"<xs:schema/>")
    wsdl = AssetFile(classifier="wsdl", packaging="wsdl", content=b"<definitions/>")
    store.publish(draft(type="soap-api", files=(wsdl, xsd)), seen_at=T0)

    result = store.publish(draft(type="soap-api", files=(xsd, wsdl)), seen_at=T1)

    assert result.outcome == "unchanged"
    # The first publish's order is what stays on the version.
    assert store.get("acme", "shop-orders").latest.files == (wsdl, xsd)


def test_changed_content_makes_a_new_version_and_keeps_old_files(store: CatalogStore) -> None:
    store.publish(draft(spec_version_hint="1.0.0"), seen_at=T0)

    result = store.publish(draft(files=(oas(SPEC_B),), spec_version_hint="1.1.0"), seen_at=T1)

    assert (result.version, result.outcome) == ("1.1.0", "new-version")
    assert result.reason == "content changed; spec version '1.1.0'; instance moved from 1.0.0"
    old = store.get_version("acme", "shop-orders", version="1.0.0")
    assert [f.content for f in old.files] == [SPEC_A]
    assert old.files[0].sha256 == oas(SPEC_A).sha256
    assert old.created_at == T0
    new = store.get_version("acme", "shop-orders", version="1.1.0")
    assert [f.content for f in new.files] == [SPEC_B]


def test_non_semver_spec_version_falls_back_with_a_reason(store: CatalogStore) -> None:
    first = store.publish(draft(spec_version_hint="v1"), seen_at=T0)
    # New file, same operations: only documentation changed.
    second = store.publish(draft(files=(oas(SPEC_B),), spec_version_hint="v1"), seen_at=T1)

    assert (first.version, first.reason) == (
        "1.0.0",
        "first version; spec version 'v1' is not semver, so 1.0.0",
    )
    expected = (
        "content changed; spec version 'v1' is not semver, so patch bump after 1.0.0"
        " (same operations and required parameters, documentation only)"
    )
    assert second.version == "1.0.1"
    assert second.reason.startswith(expected)
    assert store.get_version("acme", "shop-orders", version="1.0.1").reason == expected


def test_taken_spec_version_is_bumped_by_what_changed(store: CatalogStore) -> None:
    store.publish(draft(spec_version_hint="1.0.0"), seen_at=T0)
    # The spec changed but its author forgot to bump info.version.
    added = ("GET /orders", "POST /orders", "DELETE /orders")
    second = store.publish(
        draft(files=(oas(SPEC_B),), operations=added, spec_version_hint="1.0.0"), seen_at=T1
    )
    third = store.publish(draft(files=(oas(SPEC_C),), spec_version_hint="1.1.0"), seen_at=T2)

    assert second.version == "1.1.0"
    assert "spec version '1.0.0' is already published" in second.reason
    assert "minor bump after 1.0.0 (1 operation added: DELETE /orders)" in second.reason
    assert third.version == "2.0.0"
    assert "major bump after 1.1.0 (1 operation removed: DELETE /orders)" in third.reason
    assert [v.version for v in store.get("acme", "shop-orders").versions] == [
        "1.0.0",
        "1.1.0",
        "2.0.0",
    ]


def _orders_spec(*, limit_required: bool, summary: str = "List orders") -> bytes:
    parameter = {"name": "limit", "in": "query", "required": limit_required}
    return json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "Orders", "version": "latest"},
            "paths": {
                "/orders": {"get": {"summary": summary, "parameters": [parameter]}, "post": {}}
            },
        }
    ).encode()


def test_a_changed_required_parameter_is_a_major_bump(store: CatalogStore) -> None:
    store.publish(draft(files=(oas(_orders_spec(limit_required=False)),)), seen_at=T0)
    docs = store.publish(
        draft(files=(oas(_orders_spec(limit_required=False, summary="All orders")),)), seen_at=T1
    )
    breaking = store.publish(draft(files=(oas(_orders_spec(limit_required=True)),)), seen_at=T2)

    assert docs.version == "1.0.1"
    assert breaking.version == "2.0.0"
    assert "major bump after 1.0.1 (required parameters changed: GET /orders +query:limit)" in (
        breaking.reason
    )


def test_lower_spec_version_is_honoured_but_latest_stays_highest(store: CatalogStore) -> None:
    store.publish(draft(spec_version_hint="2.0.0"), seen_at=T0)
    result = store.publish(draft(files=(oas(SPEC_B),), spec_version_hint="1.5.0"), seen_at=T1)

    assert result.version == "1.5.0"
    asset = store.get("acme", "shop-orders")
    assert [v.version for v in asset.versions] == ["1.5.0", "2.0.0"]
    assert asset.latest.version == "2.0.0"


def test_spec_less_asset_is_identified_by_type_and_operations(store: CatalogStore) -> None:
    soap = draft(type="soap-api", files=(), operations=("CreateInvoice", "GetInvoice"))
    store.publish(soap, seen_at=T0)

    same = store.publish(
        dataclasses.replace(soap, operations=("GetInvoice", "CreateInvoice")), seen_at=T1
    )
    changed = store.publish(
        dataclasses.replace(soap, operations=("GetInvoice", "CreateInvoice", "VoidInvoice")),
        seen_at=T2,
    )

    assert (same.version, same.outcome) == ("1.0.0", "unchanged")
    assert (changed.version, changed.outcome) == ("1.1.0", "new-version")
    assert store.get_version("acme", "shop-orders", version="1.1.0").operations == (
        "CreateInvoice",
        "GetInvoice",
        "VoidInvoice",
    )
    assert store.spec_file("acme", "shop-orders", version="1.1.0") is None


# -- instances -------------------------------------------------------------------


def test_instance_moves_to_the_version_it_serves(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    store.publish(draft(files=(oas(SPEC_B),)), seen_at=T1)

    asset = store.get("acme", "shop-orders")
    assert [(v.version, v.instances) for v in asset.versions] == [
        ("1.0.0", ()),
        ("1.0.1", (instance(),)),
    ]

    # A rollback deploy serves the old content again: same version, instance back.
    back = store.publish(draft(), seen_at=T2)
    assert (back.version, back.outcome) == ("1.0.0", "unchanged")
    assert back.reason == "content unchanged, same as 1.0.0; instance moved from 1.0.1"
    asset = store.get("acme", "shop-orders")
    assert [(v.version, v.instances) for v in asset.versions] == [
        ("1.0.0", (instance(),)),
        ("1.0.1", ()),
    ]


def test_same_content_in_two_clusters_is_one_version_with_two_instances(
    store: CatalogStore,
) -> None:
    store.publish(draft(instance=instance("east")), seen_at=T0)
    result = store.publish(draft(instance=instance("west")), seen_at=T0)

    assert result.outcome == "unchanged"
    [version] = store.get("acme", "shop-orders").versions
    assert version.instances == (instance("east"), instance("west"))


def test_different_content_in_two_clusters_is_two_versions(store: CatalogStore) -> None:
    store.publish(draft(instance=instance("east")), seen_at=T0)
    store.publish(draft(instance=instance("west"), files=(oas(SPEC_B),)), seen_at=T0)

    asset = store.get("acme", "shop-orders")
    assert [(v.version, v.instances) for v in asset.versions] == [
        ("1.0.0", (instance("east"),)),
        ("1.0.1", (instance("west"),)),
    ]


def test_instance_details_are_refreshed_not_duplicated(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    moved = instance(endpoint_uri="http://orders.shop.svc.cluster.local:8001", environment="prod")
    store.publish(draft(instance=moved), seen_at=T1)

    assert store.get("acme", "shop-orders").latest.instances == (moved,)


# -- asset-level fields, listing and search -------------------------------------------


def test_asset_fields_follow_the_latest_draft(store: CatalogStore) -> None:
    store.publish(draft(tags=("shop", "orders")), seen_at=T0)
    store.publish(
        draft(
            name="Orders API",
            description=None,
            owner="team-checkout",
            tags=("orders", " checkout ", "orders"),
        ),
        seen_at=T1,
    )

    asset = store.get("acme", "shop-orders")
    assert (asset.name, asset.description, asset.owner) == ("Orders API", None, "team-checkout")
    assert asset.tags == ("checkout", "orders")


@pytest.fixture
def shop(store: CatalogStore) -> CatalogStore:
    store.publish(
        draft(asset_id="shop-orders", name="Orders", tags=("checkout",)),
        seen_at=T0,
    )
    store.publish(
        draft(
            asset_id="billing-invoice-ws",
            name="Invoice service",
            type="soap-api",
            files=(AssetFile("wsdl", "wsdl", b"<definitions name='Invoice'/>"),),
            description="Issues 100% of invoices",
            tags=("finance",),
            lifecycle="stable",
        ),
        seen_at=T0,
    )
    store.publish(
        draft(
            asset_id="shop-frontend",
            name="Storefront",
            type="http-api",
            files=(),
            description=None,
            tags=(),
            lifecycle="deprecated",
        ),
        seen_at=T0,
    )
    return store


def ids(assets: list[catalog.Asset]) -> list[str]:
    return [a.asset_id for a in assets]


def test_list_assets_without_filters_is_sorted(shop: CatalogStore) -> None:
    assert ids(shop.list_assets()) == ["billing-invoice-ws", "shop-frontend", "shop-orders"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "soap-api"}, ["billing-invoice-ws"]),
        ({"type": "grpc-api"}, []),
        ({"lifecycle": "development"}, ["shop-orders"]),
        ({"lifecycle": "deprecated"}, ["shop-frontend"]),
        ({"query": "STORE"}, ["shop-frontend"]),  # name, case-insensitive
        ({"query": "shop-"}, ["shop-frontend", "shop-orders"]),  # asset id
        ({"query": "issues"}, ["billing-invoice-ws"]),  # description
        ({"query": "Checkout"}, ["shop-orders"]),  # tag
        ({"query": "100%"}, ["billing-invoice-ws"]),  # % is literal, not a wildcard
        ({"query": "%invoices"}, []),  # a wildcard would match "100% of invoices"
        ({"query": "1_0"}, []),  # _ is literal too
        ({"query": "   "}, ["billing-invoice-ws", "shop-frontend", "shop-orders"]),
        ({"query": "shop", "lifecycle": "deprecated"}, ["shop-frontend"]),
        ({"query": "invoice", "type": "rest-api"}, []),
    ],
)
def test_list_assets_filters(
    shop: CatalogStore, filters: dict[str, str], expected: list[str]
) -> None:
    assert ids(shop.list_assets(**filters)) == expected


@pytest.mark.parametrize(("name", "value"), [("type", "soap"), ("lifecycle", "retired")])
def test_list_assets_refuses_unknown_filter_values(
    shop: CatalogStore, name: str, value: str
) -> None:
    with pytest.raises(InvalidAsset) as caught:
        shop.list_assets(**{name: value})
    assert caught.value.field == name


# -- lifecycle -------------------------------------------------------------------------


def test_requested_lifecycle_is_used_for_a_new_asset(store: CatalogStore) -> None:
    store.publish(draft(lifecycle="stable"), seen_at=T0)
    assert store.get("acme", "shop-orders").lifecycle == "stable"


@pytest.mark.parametrize(
    "path",
    [
        ["development", "stable"],
        ["development", "deprecated"],
        ["development", "stable", "deprecated", "stable"],
        ["development", "development"],
    ],
)
def test_allowed_lifecycle_moves(store: CatalogStore, path: list[str]) -> None:
    store.publish(draft(), seen_at=T0)
    for status in path[1:]:
        moved = store.set_lifecycle("acme", "shop-orders", status=status)
        assert moved.lifecycle == status
    assert store.get("acme", "shop-orders").lifecycle == path[-1]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["stable"], "development"),
        (["deprecated"], "development"),
        (["stable", "deprecated"], "development"),
    ],
)
def test_refused_lifecycle_moves(store: CatalogStore, path: list[str], refused: str) -> None:
    store.publish(draft(), seen_at=T0)
    for status in path:
        store.set_lifecycle("acme", "shop-orders", status=status)

    with pytest.raises(InvalidAsset, match=f"cannot move from {path[-1]} to {refused}"):
        store.set_lifecycle("acme", "shop-orders", status=refused)
    assert store.get("acme", "shop-orders").lifecycle == path[-1]


def test_set_lifecycle_refuses_unknown_status_and_missing_asset(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    with pytest.raises(InvalidAsset) as caught:
        store.set_lifecycle("acme", "shop-orders", status="retired")
    assert caught.value.field == "status"
    with pytest.raises(NotFound):
        store.set_lifecycle("acme", "nope", status="stable")


def test_a_repeated_lifecycle_request_does_not_undo_a_manual_move(store: CatalogStore) -> None:
    store.publish(draft(lifecycle="stable"), seen_at=T0)
    store.set_lifecycle("acme", "shop-orders", status="deprecated")

    # The annotation still says "stable": re-applying it would un-deprecate.
    store.publish(draft(lifecycle="stable"), seen_at=T1)
    assert store.get("acme", "shop-orders").lifecycle == "deprecated"

    # A changed request is applied when the move is allowed...
    store.publish(draft(lifecycle="deprecated"), seen_at=T1)
    store.publish(draft(lifecycle="stable"), seen_at=T1)
    assert store.get("acme", "shop-orders").lifecycle == "stable"

    # ...and reported, not applied, when it is not.
    result = store.publish(draft(lifecycle="development"), seen_at=T2)
    assert result.outcome == "unchanged"
    assert "lifecycle stays stable (stable to development is not allowed)" in result.reason
    assert store.get("acme", "shop-orders").lifecycle == "stable"


# -- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"group_id": "Acme"}, "group_id"),
        ({"group_id": "acme corp"}, "group_id"),
        ({"asset_id": ""}, "asset_id"),
        ({"asset_id": "shop_orders"}, "asset_id"),
        ({"asset_id": "a" * 129}, "asset_id"),
        ({"asset_id": ".."}, "asset_id"),
        ({"asset_id": "a..b"}, "asset_id"),
        ({"group_id": ".acme"}, "group_id"),
        ({"asset_id": "-orders"}, "asset_id"),
        ({"name": "  "}, "name"),
        ({"type": "soap"}, "type"),
        ({"files": (AssetFile("openapi", "json", b"{}"),)}, "files[0].classifier"),  # type: ignore[arg-type]
        ({"files": (oas(b"{}"), AssetFile("oas", "zip", b"x"))}, "files[1].packaging"),  # type: ignore[arg-type]
        ({"files": (oas(b"{}"), oas(b"{}"))}, "files[1]"),
        ({"operations": ("GET /x", "")}, "operations[1]"),
        ({"tags": "shop"}, "tags"),
        ({"lifecycle": "retired"}, "lifecycle"),
        ({"dependencies": ("acme",)}, "dependencies[0]"),
        ({"dependencies": ("acme:Orders",)}, "dependencies[0]"),
        ({"instance": instance(port=0)}, "instance.port"),
        ({"instance": instance(port=True)}, "instance.port"),
        ({"instance": instance(cluster="")}, "instance.cluster"),
        ({"provenance": Provenance("", "x")}, "provenance.method"),
    ],
)
def test_invalid_drafts_are_refused_and_write_nothing(
    store: CatalogStore, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidAsset) as caught:
        store.publish(draft(**changes), seen_at=T0)

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert store.list_assets() == []


def test_id_alphabet_boundaries_are_accepted(store: CatalogStore) -> None:
    result = store.publish(draft(group_id="com.acme-1", asset_id="a" * 128), seen_at=T0)
    assert result.outcome == "created"


def test_naive_seen_at_is_refused(store: CatalogStore) -> None:
    with pytest.raises(InvalidAsset) as caught:
        store.publish(draft(), seen_at=datetime(2024, 5, 1, 12, 0))
    assert caught.value.field == "seen_at"
    assert store.list_assets() == []


def test_times_are_stored_and_read_as_utc(store: CatalogStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.publish(draft(), seen_at=datetime(2024, 5, 1, 14, 0, tzinfo=plus_two))

    asset = store.get("acme", "shop-orders")
    assert asset.first_seen == T0
    assert asset.first_seen.tzinfo is UTC
    assert asset.latest.created_at.utcoffset() == timedelta(0)


# -- dependencies ----------------------------------------------------------------------


def test_dependencies_resolve_to_the_latest_version_when_read(store: CatalogStore) -> None:
    store.publish(draft(dependencies=("acme:shop-payments", "acme:shop-inventory")), seen_at=T0)

    def deps() -> tuple[str, ...]:
        return store.get("acme", "shop-orders").latest.dependencies

    assert deps() == ("acme:shop-inventory", "acme:shop-payments")

    payments = draft(asset_id="shop-payments", instance=instance(service="payments"))
    store.publish(payments, seen_at=T0)
    assert deps() == ("acme:shop-inventory", "acme:shop-payments:1.0.0")

    store.publish(dataclasses.replace(payments, files=(oas(SPEC_B),)), seen_at=T1)
    assert deps() == ("acme:shop-inventory", "acme:shop-payments:1.0.1")
    assert store.get_version("acme", "shop-orders", version="1.0.0").dependencies == deps()
    [listed] = [a for a in store.list_assets() if a.asset_id == "shop-orders"]
    assert listed.latest.dependencies == deps()


def test_dependencies_seen_later_are_added_to_the_served_version(store: CatalogStore) -> None:
    store.publish(draft(dependencies=("acme:a",)), seen_at=T0)
    result = store.publish(draft(dependencies=("acme:b",)), seen_at=T1)

    assert result.outcome == "unchanged"
    assert store.get("acme", "shop-orders").latest.dependencies == ("acme:a", "acme:b")


# -- reading -------------------------------------------------------------------------


def test_missing_assets_and_versions_raise_not_found(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)

    with pytest.raises(NotFound) as missing_asset:
        store.get("acme", "nope")
    assert (missing_asset.value.asset_id, missing_asset.value.version) == ("nope", None)
    with pytest.raises(NotFound) as missing_version:
        store.get_version("acme", "shop-orders", version="9.9.9")
    assert missing_version.value.version == "9.9.9"
    with pytest.raises(NotFound) as missing_for_spec:
        store.spec_file("acme", "nope", version="1.0.0")
    assert missing_for_spec.value.version is None


def test_spec_file_prefers_the_file_that_fits_the_type(store: CatalogStore) -> None:
    xsd = AssetFile(classifier="http", packaging="xml", content=b"<xs:schema/>")
    wsdl = AssetFile(classifier="wsdl", packaging="wsdl", content=b"<definitions/>")
    store.publish(draft(type="soap-api", files=(xsd, wsdl)), seen_at=T0)

    assert store.spec_file("acme", "shop-orders", version="1.0.0") == wsdl


# -- failures and concurrency -------------------------------------------------------------


def test_invalid_republish_leaves_the_asset_as_it_was(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    before = store.get("acme", "shop-orders")

    with pytest.raises(InvalidAsset):
        store.publish(
            draft(name="Renamed", files=(oas(SPEC_B),), instance=instance(port=70000)),
            seen_at=T1,
        )
    assert store.get("acme", "shop-orders") == before


def inject_duplicate_insert(store: CatalogStore, table: str, *, times: int) -> list[int]:
    """Make the next ``times`` INSERTs into ``table`` collide with an identical row.

    The colliding row goes in on the same connection, inside the publish's own
    transaction, right before the store's INSERT: exactly what a racing writer
    committing first would look like on PostgreSQL. (On SQLite a second store
    cannot get in mid-transaction, since publishes hold the write lock.)
    """
    fired: list[int] = []

    def collide(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith(f"INSERT INTO {table} ") and len(fired) < times:
            fired.append(1)
            cursor.execute(statement, parameters)

    event.listen(store.engine, "before_cursor_execute", collide)
    return fired


def test_a_lost_race_is_retried(store: CatalogStore) -> None:
    fired = inject_duplicate_insert(store, "catalog_versions", times=1)

    result = store.publish(draft(), seen_at=T0)

    assert fired == [1]
    assert (result.version, result.outcome) == ("1.0.0", "created")
    [version] = store.get("acme", "shop-orders").versions
    assert version.instances == (instance(),)


def test_a_publish_failing_late_leaves_the_catalogue_unchanged(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    before = store.get("acme", "shop-orders")
    # The instance INSERT is the last write of a publish: by then the asset row
    # was updated, a version and its files inserted. Every retry collides.
    fired = inject_duplicate_insert(store, "catalog_instances", times=100)

    with pytest.raises(VersionConflict) as caught:
        store.publish(
            draft(name="Renamed", files=(oas(SPEC_B),), tags=("new",), instance=instance("west")),
            seen_at=T1,
        )

    assert len(fired) == caught.value.attempts == 5
    assert store.get("acme", "shop-orders") == before


def test_database_errors_are_wrapped(tmp_path: Path) -> None:
    # An engine on a file whose schema was never created.
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        bare = CatalogStore(engine)
        with pytest.raises(StoreError) as caught:
            bare.publish(draft(), seen_at=T0)
        assert caught.value.__cause__ is not None
        with pytest.raises(StoreError):
            bare.list_assets()
    finally:
        engine.dispose()


def run_at_once(count: int, work: Callable[[int], catalog.PublishResult]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # reported by the assertion below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_stores_publishing_the_same_draft_make_one_version(db_url: str) -> None:
    # One store per thread, like separate processes sharing the SQLite file.
    count = 6
    stores = [catalog.open_store(db_url) for _ in range(count)]
    try:
        results = run_at_once(
            count, lambda i: stores[i].publish(draft(instance=instance(f"c{i}")), seen_at=T0)
        )
    finally:
        for opened in stores:
            opened.close()

    assert all(isinstance(r, catalog.PublishResult) for r in results), results
    assert sorted(r.outcome for r in results) == ["created"] + ["unchanged"] * (count - 1)
    assert {r.version for r in results} == {"1.0.0"}
    with catalog.open_store(db_url) as check:
        [version] = check.get("acme", "shop-orders").versions
        assert [i.cluster for i in version.instances] == [f"c{i}" for i in range(count)]


def test_concurrent_publishers_of_different_content_get_distinct_versions(db_url: str) -> None:
    # Both contents claim spec version 1.0.0; only one can have it.
    contents = [SPEC_A, SPEC_B, SPEC_A, SPEC_B]
    stores = [catalog.open_store(db_url) for _ in contents]
    try:
        results = run_at_once(
            len(contents),
            lambda i: stores[i].publish(
                draft(
                    files=(oas(contents[i]),),
                    spec_version_hint="1.0.0",
                    instance=instance(f"c{i}"),
                ),
                seen_at=T0,
            ),
        )
    finally:
        for opened in stores:
            opened.close()

    assert all(isinstance(r, catalog.PublishResult) for r in results), results
    assert sorted(r.outcome for r in results) == [
        "created",
        "new-version",
        "unchanged",
        "unchanged",
    ]
    # Same content, same version, whichever thread won.
    assert results[0].version == results[2].version
    assert results[1].version == results[3].version
    assert {results[0].version, results[1].version} == {"1.0.0", "1.0.1"}
    with catalog.open_store(db_url) as check:
        versions = check.get("acme", "shop-orders").versions
        assert [len(v.instances) for v in versions] == [2, 2]


def test_threads_sharing_a_store_publishing_the_same_draft_make_one_version(
    store: CatalogStore,
) -> None:
    results = run_at_once(2, lambda _: store.publish(draft(), seen_at=T0))

    assert all(isinstance(r, catalog.PublishResult) for r in results), results
    assert sorted(r.outcome for r in results) == ["created", "unchanged"]
    [version] = store.get("acme", "shop-orders").versions
    assert version.instances == (instance(),)


# -- opening stores -------------------------------------------------------------------


def test_open_store_keeps_data(db_url: str) -> None:
    with catalog.open_store(db_url) as first:
        first.publish(draft(), seen_at=T0)

    with catalog.open_store(db_url) as reopened:
        assert [a.asset_id for a in reopened.list_assets()] == ["shop-orders"]


def test_open_store_sets_up_sqlite(tmp_path: Path) -> None:
    with catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}") as opened:
        with opened.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000


def test_foreign_keys_are_enforced(store: CatalogStore) -> None:
    with pytest.raises(IntegrityError, match="(?i)foreign key"), store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO catalog_tags (asset_pk, tag) VALUES (:asset, 'orphan')"),
            {"asset": 999},
        )


def test_schema_compiles_for_postgresql() -> None:
    # No server yet: at least the DDL must render, and every constraint name
    # must fit PostgreSQL's 63-character identifiers (longer ones get truncated).
    engine = catalog.create_catalog_engine("postgresql://localhost/catalog")
    dialect = engine.dialect
    engine.dispose()
    names = []
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert "BYTEA" in ddl or table.name != "catalog_files"
        names += [c.name for c in table.constraints] + [i.name for i in table.indexes]
        for index in table.indexes:
            CreateIndex(index).compile(dialect=dialect)
    assert "TIMESTAMP WITH TIME ZONE" in str(
        CreateTable(metadata.tables["catalog_assets"]).compile(dialect=dialect)
    )
    assert names and all(isinstance(n, str) and len(n) <= 63 for n in names), names


@pytest.mark.parametrize(
    "url",
    ["postgresql://meshatlas:secret@localhost/catalog", "postgres://meshatlas@localhost/catalog"],
)
def test_plain_postgresql_urls_use_psycopg_3(url: str) -> None:
    # create_engine does not connect, so no server is needed here.
    engine = catalog.create_catalog_engine(url)
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    finally:
        engine.dispose()


def test_explicit_postgresql_driver_is_kept() -> None:
    engine = catalog.create_catalog_engine("postgresql+psycopg://localhost/catalog")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["http://catalog.example", "mysql://localhost/x", "::not a url"])
def test_unsupported_catalogue_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        catalog.open_store(url)


# -- runs: missing APIs are deprecated, never deleted ---------------------------------


def run(store: CatalogStore, *seen: str, at: datetime = T1, **options: Any) -> catalog.RunSummary:
    return store.record_run(group_id="acme", seen=seen, started_at=at, finished_at=at, **options)


def test_an_api_missed_by_n_complete_runs_is_deprecated_and_kept(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    store.publish(draft(asset_id="shop-cart", instance=instance(service="cart")), seen_at=T0)
    store.set_lifecycle("acme", "shop-cart", status="stable")

    first = run(store, "shop-orders", deprecate_after=2)
    second = run(store, "shop-orders", deprecate_after=2)

    assert (first.missed, first.deprecated) == (("shop-cart",), ())
    assert (second.missed, second.deprecated) == (("shop-cart",), ("shop-cart",))
    assert second.run_id == first.run_id + 1
    cart = store.get("acme", "shop-cart")
    assert cart.lifecycle == "deprecated"
    assert [v.version for v in cart.versions] == ["1.0.0"]
    assert store.get("acme", "shop-orders").lifecycle == "development"


def test_partial_runs_and_runs_of_other_scopes_count_no_misses(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)

    partial = run(store, complete=False, deprecate_after=1)
    other_cluster = run(store, clusters=["west"], deprecate_after=1)
    other_namespace = run(store, namespaces=["billing"], deprecate_after=1)

    assert [r.missed for r in (partial, other_cluster, other_namespace)] == [(), (), ()]
    assert not partial.counted
    assert store.get("acme", "shop-orders").lifecycle == "development"
    assert run(store, clusters=["east"], deprecate_after=1).deprecated == ("shop-orders",)


def test_a_returning_api_gets_its_lifecycle_back_and_misses_reset(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    store.set_lifecycle("acme", "shop-orders", status="stable")
    run(store, deprecate_after=1)
    assert store.get("acme", "shop-orders").lifecycle == "deprecated"

    store.publish(draft(), seen_at=T2)
    back = run(store, "shop-orders", at=T2, deprecate_after=1)

    assert back.restored == ("shop-orders",)
    assert store.get("acme", "shop-orders").lifecycle == "stable"
    # The count starts again: one more miss is needed, not zero.
    assert run(store, deprecate_after=2).deprecated == ()


def test_a_deprecation_by_a_person_is_not_undone_by_a_run(store: CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    run(store, deprecate_after=1)
    store.set_lifecycle("acme", "shop-orders", status="stable")
    store.set_lifecycle("acme", "shop-orders", status="deprecated")

    assert run(store, "shop-orders").restored == ()
    assert store.get("acme", "shop-orders").lifecycle == "deprecated"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"deprecate_after": 0}, "deprecate_after"),
        ({"deprecate_after": True}, "deprecate_after"),
        ({"group_id": "Bad Group"}, "group_id"),
        ({"seen": "shop-orders"}, "seen"),
        ({"seen": ["../x"]}, "seen[0]"),
        ({"started_at": datetime(2024, 1, 1)}, "seen_at"),
    ],
)
def test_record_run_refuses_bad_arguments(
    store: CatalogStore, changes: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "group_id": "acme",
        "seen": [],
        "started_at": T0,
        "finished_at": T0,
        **changes,
    }
    with pytest.raises(InvalidAsset) as caught:
        store.record_run(**arguments)
    assert caught.value.field == field


# -- search: operations, placement, paging --------------------------------------------


@pytest.fixture
def mesh(store: CatalogStore) -> CatalogStore:
    for index, (ns, cluster, ops) in enumerate(
        [
            ("shop", "east", ("GET /orders/{id}", "POST /orders")),
            ("shop", "west", ("GET /carts",)),
            ("billing", "east", ("CreateInvoice",)),
            ("billing", "west", ("GET /ledger",)),
            ("platform", "east", ("GET /search",)),
        ]
    ):
        store.publish(
            draft(
                asset_id=f"api-{index}",
                files=(),
                operations=ops,
                instance=instance(cluster, namespace=ns, service=f"svc-{index}"),
            ),
            seen_at=T0,
        )
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"query": "/orders"}, ["api-0"]),  # a path
        ({"query": "post /ORDERS"}, ["api-0"]),  # method and path, any case
        ({"query": "createinvoice"}, ["api-2"]),  # a SOAP operation name
        ({"namespace": "billing"}, ["api-2", "api-3"]),
        ({"cluster": "west"}, ["api-1", "api-3"]),
        ({"cluster": "west", "namespace": "shop"}, ["api-1"]),
        ({"group_id": "other"}, []),
    ],
)
def test_search_covers_operations_and_placement(
    mesh: CatalogStore, filters: dict[str, str], expected: list[str]
) -> None:
    assert ids(mesh.list_assets(**filters)) == expected
    assert ids(list(mesh.search(**filters).assets)) == expected


def test_search_pages_with_a_stable_total(mesh: CatalogStore) -> None:
    pages = [mesh.search(offset=offset, limit=2) for offset in (0, 2, 4, 6)]

    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [ids(list(p.assets)) for p in pages] == [
        ["api-0", "api-1"],
        ["api-2", "api-3"],
        ["api-4"],
        [],
    ]
    assert mesh.search(cluster="east", limit=1).total == 3


@pytest.mark.parametrize(
    ("paging", "field"),
    [({"offset": -1}, "offset"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
     ({"limit": "5"}, "limit"), ({"offset": True}, "offset")],
)  # fmt: skip
def test_search_refuses_bad_paging(mesh: CatalogStore, paging: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidAsset) as caught:
        mesh.search(**paging)
    assert caught.value.field == field


# -- explicit versions (a publisher names the GAV) ------------------------------------


def test_an_explicit_version_is_published_once(store: CatalogStore) -> None:
    first = store.publish(draft(), seen_at=T0, version="3.0.0")
    assert (first.version, first.outcome) == ("3.0.0", "created")
    assert first.reason == "version named by the publisher"

    with pytest.raises(catalog.VersionExists) as taken:
        store.publish(draft(files=(oas(SPEC_B),)), seen_at=T1, version="3.0.0")
    with pytest.raises(catalog.VersionExists) as same_content:
        store.publish(draft(), seen_at=T1, version="3.1.0")

    assert taken.value.existing is None
    assert same_content.value.existing == "3.0.0"
    assert "already published as 3.0.0" in str(same_content.value)
    assert [v.version for v in store.get("acme", "shop-orders").versions] == ["3.0.0"]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0+build", "01.0.0", ""])
def test_an_explicit_version_must_be_canonical_semver(store: CatalogStore, version: str) -> None:
    with pytest.raises(InvalidAsset) as caught:
        store.publish(draft(), seen_at=T0, version=version)
    assert caught.value.field == "version"
    assert store.list_assets() == []


# -- publishing in batches -----------------------------------------------------


def _many(n: int) -> list[AssetDraft]:
    return [
        draft(asset_id=f"svc-{i:03d}", instance=instance(service=f"svc-{i:03d}")) for i in range(n)
    ]


def test_publish_many_matches_one_by_one(store: CatalogStore) -> None:
    drafts = _many(7)
    first = store.publish_many(drafts, seen_at=T0, batch=3)
    assert [r.outcome for r in first] == ["created"] * 7  # type: ignore[union-attr]
    again = store.publish_many(drafts, seen_at=T0 + timedelta(hours=1), batch=3)
    assert [r.outcome for r in again] == ["unchanged"] * 7  # type: ignore[union-attr]
    assert [r.asset_id for r in again] == [d.asset_id for d in drafts]  # type: ignore[union-attr]
    assert store.get("acme", "svc-006").last_seen == T0 + timedelta(hours=1)
    assert len(store.list_assets()) == 7


def test_a_bad_draft_in_a_batch_costs_only_itself(store: CatalogStore) -> None:
    drafts = _many(5)
    drafts[2] = dataclasses.replace(drafts[2], asset_id="Not Valid!")
    results = store.publish_many(drafts, seen_at=T0, batch=5)
    assert isinstance(results[2], InvalidAsset)
    assert [r.outcome for i, r in enumerate(results) if i != 2] == ["created"] * 4  # type: ignore[union-attr]
    assert sorted(a.asset_id for a in store.list_assets()) == [
        "svc-000",
        "svc-001",
        "svc-003",
        "svc-004",
    ]
