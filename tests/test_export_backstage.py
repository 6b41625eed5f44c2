"""Backstage entities for the demo mesh, checked against Backstage's own schemas.

The schemas come from the npm package ``@backstage/catalog-model`` that
``make node-deps`` installs under ``.node/``; node prints them and jsonschema
validates every entity, the relations are compared with the discovered graph,
and ``meshatlas serve`` serves the same YAML as a catalog location.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

import catalog
from catalog import server
from catalog.exports import BackstageOptions, backstage, backstage_name
from meshatlas.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / ".node" / "node_modules" / "@backstage" / "catalog-model"
SCHEMA_FILES = [
    "dist/schema/Entity.schema.json.cjs.js",
    "dist/schema/EntityEnvelope.schema.json.cjs.js",
    "dist/schema/EntityMeta.schema.json.cjs.js",
    "dist/schema/shared/common.schema.json.cjs.js",
    "dist/schema/kinds/API.v1alpha1.schema.json.cjs.js",
    "dist/schema/kinds/Component.v1alpha1.schema.json.cjs.js",
    "dist/schema/kinds/System.v1alpha1.schema.json.cjs.js",
]
#: Backstage's own rule for names (KubernetesValidatorFunctions), not in the JSON schemas.
NAME = re.compile(r"^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$")


@pytest.fixture(scope="session")
def schemas() -> dict[str, Any]:
    """Backstage's JSON schemas by ``$id``, as the installed package ships them."""
    node = shutil.which("node")
    if node is None or not MODEL.is_dir():
        pytest.fail("run `make node-deps` first: node and @backstage/catalog-model are needed")
    version = json.loads((MODEL / "package.json").read_text())["version"]
    assert version.startswith("1.10."), version
    script = (
        "const out = {};"
        "for (const f of process.argv.slice(1)) {"
        " const m = require(f); const s = m.default || m; out[s.$id] = s; }"
        "process.stdout.write(JSON.stringify(out));"
    )
    done = subprocess.run(
        [node, "-e", script, *(str(MODEL / f) for f in SCHEMA_FILES)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    assert {"Entity", "EntityMeta", "ApiV1alpha1", "ComponentV1alpha1", "SystemV1alpha1"} <= set(
        found
    )
    return found


def _validate(entity: dict[str, Any], schemas: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry().with_resources(
        (key, Resource.from_contents(value)) for key, value in schemas.items()
    )
    kind_schema = schemas[f"{entity['kind']}V1alpha1".replace("APIV", "ApiV")]
    jsonschema.Draft7Validator(kind_schema, registry=registry).validate(entity)
    assert NAME.match(entity["metadata"]["name"]) and len(entity["metadata"]["name"]) <= 63


@pytest.fixture(scope="module")
def exported(demo_catalog: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("backstage")
    assert main(["export", "backstage", "--catalog", demo_catalog["url"], "--out", str(out)]) == 0
    return out / "catalog-info.yaml"


def _entities(path: Path) -> list[dict[str, Any]]:
    return [e for e in yaml.safe_load_all(path.read_text()) if e is not None]


def test_every_entity_validates_against_backstage_schemas(
    exported: Path, schemas: dict[str, Any]
) -> None:
    entities = _entities(exported)
    kinds = [e["kind"] for e in entities]
    assert kinds.count("API") == 13
    assert kinds.count("System") == 3  # shop, billing, platform
    assert kinds.count("Component") == 13
    for entity in entities:
        _validate(entity, schemas)
    refs = {(e["kind"], e["metadata"]["name"]) for e in entities}
    assert len(refs) == len(entities)  # names are unique per kind


def test_apis_carry_their_specs_types_and_annotations(
    exported: Path, demo_catalog: dict[str, Any]
) -> None:
    apis = {e["metadata"]["name"]: e for e in _entities(exported) if e["kind"] == "API"}
    types = {name: api["spec"]["type"] for name, api in apis.items()}
    assert types["shop-orders"] == "openapi"
    assert types["billing-invoice-ws"] == "wsdl"
    assert types["platform-search"] == "grpc"
    assert types["platform-graphql-gw"] == "graphql"
    assert types["shop-frontend"] == "http"
    with catalog.open_store(demo_catalog["url"]) as store:
        spec = store.spec_file("meshatlas", "shop-orders", version="2.3.1")
    assert spec is not None
    assert apis["shop-orders"]["spec"]["definition"] == spec.content.decode()
    orders = apis["shop-orders"]
    assert orders["spec"]["system"] == "shop"
    assert orders["metadata"]["annotations"]["backstage.io/kubernetes-id"] == "orders"
    assert orders["metadata"]["annotations"]["meshatlas.io/asset"] == "meshatlas:shop-orders:2.3.1"
    assert apis["shop-catalog"]["spec"]["owner"] == "team-catalog"
    assert apis["billing-legacy-soap"]["spec"]["lifecycle"] == "deprecated"


def test_relations_match_the_discovered_graph(exported: Path, demo_catalog: dict[str, Any]) -> None:
    components = {
        e["metadata"]["title"]: e["spec"] for e in _entities(exported) if e["kind"] == "Component"
    }
    with_api = set(components)
    expected: dict[str, set[str]] = {}
    for edge in demo_catalog["report"]["edges"]:
        source, target = ("/".join(edge[end].split("/")[-2:]) for end in ("source", "target"))
        if source in with_api and target in with_api:
            expected.setdefault(source, set()).add(target)
    assert expected  # the demo's config routes: frontend -> catalog, orders -> payments...
    for title, spec in components.items():
        depends = {ref.removeprefix("component:") for ref in spec.get("dependsOn", [])}
        wanted = {backstage_name(t.replace("/", "-")) for t in expected.get(title, set())}
        assert depends == wanted, title
        consumes = {ref.removeprefix("api:") for ref in spec.get("consumesApis", [])}
        assert consumes == wanted, title  # one API per demo service, named like it
        namespace, service = title.split("/")
        assert spec["providesApis"] == [f"api:{namespace}-{service}"]


def test_names_are_made_legal() -> None:
    assert backstage_name("shop-orders") == "shop-orders"
    assert backstage_name("a..b--c_") == "a-b-c"
    long = backstage_name("x" * 70 + ".y")
    assert len(long) <= 63 and NAME.match(long)
    assert backstage_name("x" * 70 + ".y") != backstage_name("x" * 70 + ".z")


def test_options_drop_systems_and_set_the_owner(demo_catalog: dict[str, Any]) -> None:
    with catalog.open_store(demo_catalog["url"]) as store:
        assets = store.list_assets()
    options = BackstageOptions(default_owner="group:platform", systems=False)
    entities = backstage.entities(assets, options=options)
    assert {e["kind"] for e in entities} == {"API", "Component"}
    assert all("system" not in e["spec"] for e in entities)
    notes = next(e for e in entities if e["metadata"]["name"] == "platform-notes")
    assert notes["spec"]["owner"] == "group:platform"


def test_served_as_a_catalog_location(
    demo_catalog: dict[str, Any], exported: Path, schemas: dict[str, Any]
) -> None:
    with (
        catalog.open_store(demo_catalog["url"]) as store,
        server.RunningServer(server.make_app(store)) as running,
    ):
        response = httpx.get(f"{running.url}/meshatlas/api/v1/backstage/catalog-info.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    served = [e for e in yaml.safe_load_all(response.text) if e is not None]
    for entity in served:
        _validate(entity, schemas)
    links = {(e["kind"], e["metadata"]["name"]): e["metadata"].get("links") for e in served}
    assert links["API", "shop-orders"] == [
        {
            "url": f"{running.url}/portal/apis/meshatlas/shop-orders.html",
            "title": "meshatlas portal",
        }
    ]
    # The file export and the served location hold the same entities, links aside.
    for entity in served:
        entity["metadata"].pop("links", None)
    assert served == _entities(exported)


def test_odd_owners_tags_and_long_ids_still_validate(
    tmp_path: Path, schemas: dict[str, Any]
) -> None:
    from datetime import UTC, datetime

    asset_id = "team.very-long-" + "x" * 80
    draft = catalog.AssetDraft(
        group_id="meshatlas",
        asset_id=asset_id,
        name="<b>Odd</b>",
        type="rest-api",
        description=None,
        spec_version_hint=None,
        files=(),
        operations=("GET /x",),
        tags=("Tag With Spaces", "<i>", "ok"),
        owner="Team <Payments> & Co",
        lifecycle=None,
        instance=catalog.Instance("c1", "ns.with.dots", "svc", 80, "http://svc.ns:80"),
        dependencies=(),
        provenance=catalog.Provenance("probe", "http://svc.ns:80/"),
    )
    with catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        store.publish(draft, seen_at=datetime.now(UTC))
        entities = backstage.entities(store.list_assets())
    for entity in entities:
        _validate(entity, schemas)
    api = next(e for e in entities if e["kind"] == "API")
    assert api["spec"]["owner"] == "Team-Payments-Co"
    assert api["metadata"]["tags"] == ["i", "ok", "tag-with-spaces"]
    assert api["spec"]["type"] == "http"  # a REST API without a description
    assert api["spec"]["definition"].startswith("# <b>Odd</b>: no machine-readable")


def test_public_surface() -> None:
    from catalog import exports, portal

    assert sorted(exports.__all__) == [
        "BackstageOptions",
        "SpecFormat",
        "backstage",
        "backstage_name",
        "exchange",
        "specs",
    ]
    assert sorted(portal.__all__) == ["CSP", "LiveSite", "Page", "Site", "write"]
