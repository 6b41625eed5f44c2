"""Where each catalogue instance is reachable from outside the mesh, and its subsets.

Exposure is published with an instance, kept per instance (revision 0007),
read back through the store, the REST API and the portal, and carried into
Backstage; a republish without the route makes the instance mesh-internal.
The versions DestinationRule subsets name for the instance's Service travel
the same way. On SQLite and PostgreSQL, in-process and through ``meshatlas serve``.

Expected values are the drafts' own (what was published); Backstage's
annotation and tag rules come from its entity schemas
(``@backstage/catalog-model``), checked as tests/test_export_backstage.py does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import catalog
from catalog.exports import backstage
from catalog.model import AssetDraft, Instance, InstanceExposure, InstanceSubset, Provenance
from catalog.remote.targets import HttpTarget
from catalog.storage import migrate
from catalog.storage.rows import (
    exposure_from_text,
    exposure_text,
    subsets_from_text,
    subsets_text,
)
from tests.serving import serve_process
from tests.test_export_backstage import _validate, schemas

__all__ = ["schemas"]  # the Backstage schema fixture, shared with the export tests

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "exposure-test-token"
E = "/exchange/api/v2"
SPEC = json.dumps(
    {"openapi": "3.0.3", "info": {"title": "Web", "version": "1.0.0"}, "paths": {"/": {"get": {}}}}
).encode()

PUBLIC = InstanceExposure(
    gateway="istio-ingress/public",
    source="gateway-api",
    host="shop.example.com",
    port=80,
    path="/",
    path_match="prefix",
    protocol="HTTP",
    route="HTTPRoute store/web",
)
EDGE = InstanceExposure(
    gateway="istio-ingress/edge",
    source="istio",
    host="www.example.com",
    port=443,
    path=None,
    path_match=None,
    protocol="HTTPS",
    route="VirtualService store/web",
)
V1 = InstanceSubset(name="v1", version="v1", rule="DestinationRule store/web")
CANARY = InstanceSubset(name="canary", version=None, rule="DestinationRule store/web")


def draft(exposure: tuple[InstanceExposure, ...] = (PUBLIC, EDGE), **changes: Any) -> AssetDraft:
    base = AssetDraft(
        group_id="acme",
        asset_id="store-web",
        name="Web",
        type="rest-api",
        description=None,
        spec_version_hint="1.0.0",
        files=(catalog.AssetFile("oas", "json", SPEC),),
        operations=("GET /",),
        tags=("store",),
        owner="team-store",
        lifecycle=None,
        instance=Instance(
            cluster="ambient",
            namespace="store",
            service="web",
            port=8080,
            endpoint_uri="http://web.store.svc:8080",
            exposure=exposure,
            subsets=(V1, CANARY),
        ),
        dependencies=(),
        provenance=Provenance(method="probe", detail="http://web.store.svc:8080/openapi.json"),
    )
    return dataclasses.replace(base, **changes)


def internal() -> AssetDraft:
    """A second API, behind no gateway."""
    place = Instance("ambient", "ledger", "accounts", 8080, "http://accounts.ledger.svc:8080")
    return draft((), asset_id="ledger-accounts", name="Accounts", instance=place)


def _exposure_json(place: InstanceExposure) -> dict[str, Any]:
    return {
        "gateway": place.gateway,
        "source": place.source,
        "host": place.host,
        "port": place.port,
        "path": place.path,
        "pathMatch": place.path_match,
        "protocol": place.protocol,
        "route": place.route,
    }


def _stored(store: catalog.CatalogStore, asset_id: str) -> set[InstanceExposure]:
    """What each read path says of the instance: they must agree."""
    full = store.get("acme", asset_id).latest.instances
    described = store.describe("acme", asset_id).versions[-1].instances
    listed = next(
        a for a in store.search(offset=0, limit=10).assets if a.asset_id == asset_id
    ).latest.instances
    assert len(full) == len(described) == len(listed) == 1
    assert full[0].exposure == described[0].exposure == listed[0].exposure
    return set(full[0].exposure)


@pytest.fixture
def store(catalog_url: str) -> Iterator[catalog.CatalogStore]:
    with catalog.open_store(catalog_url) as opened:
        yield opened


# -- the store ----------------------------------------------------------------------------


def test_published_exposure_reads_back_on_every_path(store: catalog.CatalogStore) -> None:
    store.publish(draft(), seen_at=T0)
    store.publish(internal(), seen_at=T0)
    assert _stored(store, "store-web") == {PUBLIC, EDGE}
    assert _stored(store, "ledger-accounts") == set()
    assert store.get("acme", "ledger-accounts").latest.instances[0].mesh_internal


def test_republishing_without_the_route_makes_it_mesh_internal(
    store: catalog.CatalogStore,
) -> None:
    first = store.publish(draft(), seen_at=T0)
    # The Istio Gateway's route is removed: only the Gateway API one is left.
    again = store.publish(draft((PUBLIC,)), seen_at=T0 + timedelta(minutes=10))
    assert _stored(store, "store-web") == {PUBLIC}
    # Exposure is where the instance is, not what it serves: no new version.
    assert (first.outcome, again.outcome, again.version) == ("created", "unchanged", first.version)
    store.publish_many([draft(())], seen_at=T0 + timedelta(minutes=20))
    assert _stored(store, "store-web") == set()
    # And back, through the batch path.
    store.publish_many([draft()], seen_at=T0 + timedelta(minutes=30))
    assert _stored(store, "store-web") == {PUBLIC, EDGE}


def test_a_draft_with_a_bad_exposure_is_refused(store: catalog.CatalogStore) -> None:
    bad = [
        dataclasses.replace(PUBLIC, source="nginx"),  # type: ignore[arg-type]
        dataclasses.replace(PUBLIC, port=0),
        dataclasses.replace(PUBLIC, host=" "),
        dataclasses.replace(PUBLIC, path_match="glob"),
    ]
    for place in bad:
        with pytest.raises(catalog.InvalidAsset) as refused:
            store.publish(draft((place,)), seen_at=T0)
        assert refused.value.field.startswith("instance.exposure[0]")
    with pytest.raises(catalog.InvalidAsset):
        store.publish(draft((PUBLIC,) * 65), seen_at=T0)
    assert store.list_assets() == []


def test_the_stored_text_is_stable_and_tolerant() -> None:
    # Order and repeats do not change what is written, so a republish is no update.
    assert exposure_text([EDGE, PUBLIC, EDGE]) == exposure_text([PUBLIC, EDGE])
    assert set(exposure_from_text(exposure_text([PUBLIC, EDGE]))) == {PUBLIC, EDGE}
    assert exposure_from_text("[]") == exposure_from_text(None) == ()
    # A value another tool wrote badly reads as mesh-internal, not as an error.
    assert exposure_from_text("{not json") == exposure_from_text('[{"host": 1}]') == ()


def test_instances_published_before_revision_0007_read_as_mesh_internal(
    catalog_url: str,
) -> None:
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision="0006")
        at = T0.replace(tzinfo=None) if catalog_url.startswith("sqlite") else T0
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO catalog_assets (id, group_id, asset_id, name, type, lifecycle,"
                    " first_seen, last_seen) VALUES (1, 'acme', 'store-web', 'Web', 'rest-api',"
                    " 'stable', :t, :t)"
                ),
                {"t": at},
            )
            connection.execute(
                text(
                    "INSERT INTO catalog_versions (id, asset_pk, version, content_key, type,"
                    " created_at, reason, provenance_method, provenance_detail)"
                    " VALUES (1, 1, '1.0.0', :key, 'rest-api', :t, 'first version', 'probe', '')"
                ),
                {"key": "0" * 64, "t": at},
            )
            connection.execute(
                text(
                    "INSERT INTO catalog_instances (id, asset_pk, version_pk, cluster, namespace,"
                    " service, port, endpoint_uri, first_seen, last_seen) VALUES (1, 1, 1,"
                    " 'ambient', 'store', 'web', 8080, 'http://web.store.svc:8080', :t, :t)"
                ),
                {"t": at},
            )
    finally:
        engine.dispose()
    with catalog.open_store(catalog_url) as store:
        [place] = store.get("acme", "store-web").latest.instances
        assert place.mesh_internal
        # The next publish brings its exposure.
        store.publish(draft(spec_version_hint=None), seen_at=T0 + timedelta(hours=1))
        assert _stored(store, "store-web") == {PUBLIC, EDGE}
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT exposure FROM catalog_instances")).scalar()
        assert json.loads(stored) == sorted(
            (_exposure_json(p) for p in (PUBLIC, EDGE)), key=lambda d: d["gateway"]
        )
    finally:
        engine.dispose()


# -- through meshatlas serve: REST, the portal, Backstage -------------------------------------


@pytest.fixture
def served(catalog_url: str, tmp_path: Path) -> Iterator[str]:
    with serve_process(catalog_url, tmp_path, token=TOKEN) as url:
        yield url


def _instances(client: httpx.Client, asset_id: str) -> list[dict[str, Any]]:
    found = client.get(f"{E}/assets/acme/{asset_id}")
    assert found.status_code == 200, found.text
    listed = client.get(f"{E}/assets/acme/{asset_id}/instances")
    assert listed.status_code == 200, listed.text
    instances: list[dict[str, Any]] = found.json()["instances"]
    assert [i["exposure"] for i in instances] == [i["exposure"] for i in listed.json()]
    return instances


def test_a_publish_through_serve_carries_exposure_to_rest(served: str) -> None:
    target = HttpTarget(served, token=TOKEN)
    try:
        results = target.publish_many([draft(), internal()], seen_at=T0)
        assert [r.outcome for r in results] == ["created", "created"]  # type: ignore[union-attr]
        with httpx.Client(base_url=served, timeout=30, trust_env=False) as client:
            [web] = _instances(client, "store-web")
            assert sorted(web["exposure"], key=lambda d: d["gateway"]) == [
                _exposure_json(EDGE),
                _exposure_json(PUBLIC),
            ]
            [accounts] = _instances(client, "ledger-accounts")
            assert accounts["exposure"] == []
            # The OpenAPI document describes the field it answers.
            schemas_ = client.get("/openapi.json").json()["components"]["schemas"]
            assert "exposure" in schemas_["Instance"]["properties"]
            assert set(schemas_["Exposure"]["required"]) == {"gateway", "source", "host"}
            # Republished without its routes: mesh-internal.
            target.publish_many([draft(())], seen_at=T0 + timedelta(minutes=5))
            [web] = _instances(client, "store-web")
            assert web["exposure"] == []
    finally:
        target.close()


def test_the_portal_api_page_says_where_each_instance_is_exposed(served: str) -> None:
    target = HttpTarget(served, token=TOKEN)
    try:
        target.publish_many([draft(), internal()], seen_at=T0)
    finally:
        target.close()
    with httpx.Client(base_url=served, timeout=30, trust_env=False) as client:
        page = client.get("/portal/apis/acme/store-web.html")
        assert page.status_code == 200
        assert "<th>Exposed at</th>" in page.text
        row = page.text.split('<td class="exposure">', 1)[1].split("</td>", 1)[0]
        assert "<code>shop.example.com:80/</code> via istio-ingress/public (Gateway API)" in row
        assert "<code>www.example.com:443</code> via istio-ingress/edge (Istio Gateway)" in row
        other = client.get("/portal/apis/acme/ledger-accounts.html").text
        assert '<td class="exposure">mesh-internal</td>' in other


def test_the_backstage_api_entity_carries_exposure(
    store: catalog.CatalogStore, schemas: dict[str, Any]
) -> None:
    store.publish(draft(), seen_at=T0)
    store.publish(internal(), seen_at=T0)
    found = backstage.entities(store.list_assets())
    apis = {e["metadata"]["title"]: e for e in found if e["kind"] == "API"}
    web, accounts = apis["Web"], apis["Accounts"]
    assert web["metadata"]["annotations"]["meshatlas.io/exposed-at"] == (
        "shop.example.com:80/ (istio-ingress/public), www.example.com:443 (istio-ingress/edge)"
    )
    assert "exposed" in web["metadata"]["tags"]
    assert "meshatlas.io/exposed-at" not in accounts["metadata"]["annotations"]
    assert "exposed" not in accounts["metadata"].get("tags", [])
    for entity in found:
        _validate(entity, schemas)


# -- subsets ------------------------------------------------------------------------------


def _subsets(store: catalog.CatalogStore, asset_id: str) -> set[InstanceSubset]:
    full = store.get("acme", asset_id).latest.instances[0].subsets
    described = store.describe("acme", asset_id).versions[-1].instances[0].subsets
    assert full == described
    return set(full)


def test_subsets_are_kept_per_instance_and_follow_the_last_publish(
    store: catalog.CatalogStore,
) -> None:
    store.publish(draft(), seen_at=T0)
    store.publish(internal(), seen_at=T0)
    assert _subsets(store, "store-web") == {V1, CANARY}
    assert _subsets(store, "ledger-accounts") == set()
    place = dataclasses.replace(draft().instance, subsets=(V1,))
    store.publish_many([draft(instance=place)], seen_at=T0 + timedelta(minutes=1))
    assert _subsets(store, "store-web") == {V1}
    assert set(subsets_from_text(subsets_text([CANARY, V1, CANARY]))) == {V1, CANARY}
    with pytest.raises(catalog.InvalidAsset) as refused:
        bad = dataclasses.replace(place, subsets=(InstanceSubset(name=""),))
        store.publish(draft(instance=bad), seen_at=T0)
    assert refused.value.field == "instance.subsets[0].name"


def test_subsets_reach_rest_through_serve(served: str) -> None:
    with HttpTarget(served, token=TOKEN) as target:
        target.publish_many([draft(), internal()], seen_at=T0)
    with httpx.Client(base_url=served, timeout=30, trust_env=False) as client:
        [web] = _instances(client, "store-web")
        assert sorted(web["subsets"], key=lambda d: d["name"]) == [
            {"name": "canary", "version": None, "rule": "DestinationRule store/web"},
            {"name": "v1", "version": "v1", "rule": "DestinationRule store/web"},
        ]
        [accounts] = _instances(client, "ledger-accounts")
        assert accounts["subsets"] == []
        page = client.get("/portal/apis/acme/store-web.html").text
        # Stored sorted by name; a subset without a version label shows its name alone.
        assert '<td class="subsets">canary, v1</td>' in page
