"""The store's light reads (describe, file), on a SQLite file and on a real PostgreSQL.

These are what the REST API answers one-asset routes with. Each read is
checked against what was published (the drafts below are the truth), and
against the full ORM read of the same asset, which walks the same rows by a
different road.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import catalog
from catalog import AssetDraft, AssetFile, CatalogStore, Instance, NotFound, Provenance

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SPEC_1 = b'{"openapi": "3.0.3", "info": {"title": "Pay", "version": "1"}, "paths": {"/a": {}}}'
SPEC_2 = b'{"openapi": "3.0.3", "info": {"title": "Pay", "version": "2"}, "paths": {"/b": {}}}'
WSDL = b"<definitions xmlns='http://schemas.xmlsoap.org/wsdl/'/>"


def instance(cluster: str, service: str = "pay", port: int = 8080) -> Instance:
    return Instance(
        cluster=cluster,
        namespace="money",
        service=service,
        port=port,
        endpoint_uri=f"http://{service}.money.svc:{port}",
        environment="prod" if cluster == "east" else None,
    )


def pay(**changes: object) -> AssetDraft:
    base = AssetDraft(
        group_id="acme",
        asset_id="money-pay",
        name="Payments",
        type="rest-api",
        description="Takes money",
        spec_version_hint=None,
        files=(AssetFile(classifier="oas", packaging="json", content=SPEC_1),),
        operations=("GET /a",),
        tags=("money", "core"),
        owner="team-money",
        lifecycle=None,
        instance=instance("east"),
        dependencies=("acme:money-ledger", "acme:not-catalogued"),
        provenance=Provenance(method="probe", detail="http://pay.money.svc:8080/openapi.json"),
    )
    return dataclasses.replace(base, **changes)


def ledger() -> AssetDraft:
    return dataclasses.replace(
        pay(),
        asset_id="money-ledger",
        name="Ledger",
        type="soap-api",
        files=(AssetFile(classifier="wsdl", packaging="wsdl", content=WSDL),),
        operations=("Post",),
        tags=(),
        dependencies=(),
        instance=instance("east", service="ledger"),
    )


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    with catalog.open_store(catalog_url) as opened:
        opened.publish(ledger(), seen_at=T0)
        opened.publish(pay(), seen_at=T0)
        second = pay(
            files=(AssetFile(classifier="oas", packaging="json", content=SPEC_2),),
            operations=("GET /b", "POST /b"),
            instance=instance("west"),
        )
        opened.publish(second, seen_at=T0 + timedelta(hours=1))
        yield opened


def test_describe_reads_the_latest_version_as_published(store: CatalogStore) -> None:
    found = store.describe("acme", "money-pay")
    asset = found.asset

    assert (asset.name, asset.type, asset.owner, asset.lifecycle) == (
        "Payments",
        "rest-api",
        "team-money",
        "development",
    )
    assert asset.tags == ("core", "money")
    assert [v.version for v in asset.versions] == ["1.0.0", "2.0.0"]
    assert asset.first_seen == T0 and asset.last_seen == T0 + timedelta(hours=1)
    latest = asset.latest
    # An operation removed: a major bump.
    assert latest.version == "2.0.0"
    assert latest.operations == ("GET /b", "POST /b")
    assert [(f.classifier, f.packaging, f.size) for f in latest.files] == [
        ("oas", "json", len(SPEC_2))
    ]
    assert latest.instances == (instance("west"),)
    # The called asset that is catalogued resolves to its latest version.
    assert latest.dependencies == ("acme:money-ledger:1.0.0", "acme:not-catalogued")
    assert found.versions == (latest,)


def test_describe_agrees_with_the_full_read(store: CatalogStore) -> None:
    full = store.get("acme", "money-pay")

    assert store.describe("acme", "money-pay").asset == full.summary()
    every = store.describe("acme", "money-pay", every=True)
    assert every.versions == tuple(v.summary() for v in full.versions)
    assert every.asset == full.summary()


def test_describe_one_older_version(store: CatalogStore) -> None:
    found = store.describe("acme", "money-pay", version="1.0.0")

    (older,) = found.versions
    assert older.version == "1.0.0"
    assert older.operations == ("GET /a",)
    assert older.instances == (instance("east"),)
    assert found.asset.latest.version == "2.0.0"  # the asset still shows its latest


def test_describe_refuses_what_is_not_there(store: CatalogStore) -> None:
    with pytest.raises(NotFound) as missing:
        store.describe("acme", "nope")
    assert missing.value.version is None
    with pytest.raises(NotFound) as no_version:
        store.describe("acme", "money-pay", version="9.9.9")
    assert no_version.value.version == "9.9.9"


def test_file_returns_the_published_bytes(store: CatalogStore) -> None:
    first = store.file("acme", "money-pay", version="1.0.0", classifier="oas", packaging="json")
    latest = store.file("acme", "money-pay", version="2.0.0")
    soap = store.file("acme", "money-ledger", version="1.0.0", classifier="wsdl")

    assert first is not None and first.content == SPEC_1
    assert latest is not None and latest.content == SPEC_2
    assert soap is not None and (soap.packaging, soap.content) == ("wsdl", WSDL)


def test_file_of_another_kind_is_none_and_a_missing_version_is_not_found(
    store: CatalogStore,
) -> None:
    assert store.file("acme", "money-pay", version="1.0.0", classifier="wsdl") is None
    assert store.file("acme", "money-pay", version="1.0.0", packaging="yaml") is None
    with pytest.raises(NotFound):
        store.file("acme", "money-pay", version="3.0.0")
    with pytest.raises(NotFound):
        store.file("acme", "nope", version="1.0.0")
