"""Backstage entities for the demo mesh, checked against Backstage's own schemas.

The schemas come from the npm package ``@backstage/catalog-model`` that
``make node-deps`` installs under ``.node/``; node prints them and jsonschema
validates every entity, the relations are compared with the discovered graph,
every reference must name an entity of the export, and ``meshatlas serve``
serves the same entities as a catalog location, one document per namespace.

The Kubernetes plugin's rule (Backstage docs, "Kubernetes: configuration",
and @backstage/plugin-kubernetes-common's ``KUBERNETES_LABEL_SELECTOR_QUERY_ANNOTATION``):
an entity's resources are those whose labels match its
``backstage.io/kubernetes-label-selector`` when it has one, else the label
``backstage.io/kubernetes-id=<annotation value>``, within
``backstage.io/kubernetes-namespace`` when given. The tests apply that rule
to the demo mesh's own Service manifests.
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
    "dist/schema/kinds/Group.v1alpha1.schema.json.cjs.js",
    "dist/schema/kinds/User.v1alpha1.schema.json.cjs.js",
    "dist/schema/kinds/Location.v1alpha1.schema.json.cjs.js",
]
SERVICES = ROOT / "fixtures" / "clusters" / "demo" / "services.yaml"
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
    assert kind_schema["$id"].lower() == f"{entity['kind']}V1alpha1".lower()
    jsonschema.Draft7Validator(kind_schema, registry=registry).validate(entity)
    assert NAME.match(entity["metadata"]["name"]) and len(entity["metadata"]["name"]) <= 63


@pytest.fixture(scope="module")
def exported(
    demo_catalog: dict[str, Any], demo_mesh: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("backstage")
    command = ["export", "backstage", "--catalog", demo_catalog["url"], "--out", str(out)]
    assert main([*command, "--kubeconfig", str(demo_mesh.kubeconfig)]) == 0
    return out / "catalog-info.yaml"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [e for e in yaml.safe_load_all(path.read_text()) if e is not None]


def _entities(path: Path) -> list[dict[str, Any]]:
    """Every entity reachable from ``path``, following Locations as Backstage does."""
    found = []
    for entity in _documents(path):
        if entity["kind"] == "Location":
            for target in entity["spec"]["targets"]:
                found += _entities((path.parent / target).resolve())
        else:
            found.append(entity)
    return found


def _assert_references_resolve(entities: list[dict[str, Any]]) -> None:
    defined = {(e["kind"].lower(), e["metadata"]["name"]) for e in entities}
    for entity in entities:
        for ref in backstage.references(entity):
            assert ref in defined, (entity["kind"], entity["metadata"]["name"], ref)


def _labels_match(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes' equality-based selector rule (``a=b,c=d``: every pair present)."""
    pairs = [item.split("=", 1) for item in selector.split(",")]
    return all(labels.get(key) == value for key, value in pairs)


def _plugin_matches(entity: dict[str, Any], resources: list[dict[str, Any]]) -> set[str]:
    """``namespace/name`` of the resources the Kubernetes plugin shows for ``entity``."""
    notes = entity["metadata"].get("annotations", {})
    selector = notes.get("backstage.io/kubernetes-label-selector")
    if selector is None and "backstage.io/kubernetes-id" in notes:
        selector = f"backstage.io/kubernetes-id={notes['backstage.io/kubernetes-id']}"
    if selector is None:
        return set()
    namespace = notes.get("backstage.io/kubernetes-namespace")
    return {
        f"{r['metadata']['namespace']}/{r['metadata']['name']}"
        for r in resources
        if (namespace is None or r["metadata"]["namespace"] == namespace)
        and _labels_match(selector, r["metadata"].get("labels", {}))
    }


def test_every_entity_validates_against_backstage_schemas(
    exported: Path, schemas: dict[str, Any]
) -> None:
    entities = _entities(exported)
    kinds = [e["kind"] for e in entities]
    assert kinds.count("API") == 14
    assert kinds.count("System") == 3  # shop, billing, platform
    assert kinds.count("Component") == 14
    for entity in [*entities, *_documents(exported)]:
        _validate(entity, schemas)
    refs = {(e["kind"], e["metadata"]["name"]) for e in entities}
    assert len(refs) == len(entities)  # names are unique per kind, across the files
    _assert_references_resolve(entities)
    # Owners are Groups of the export: the demo's annotation, and the default.
    groups = {e["metadata"]["name"] for e in entities if e["kind"] == "Group"}
    assert {"team-catalog", "unowned"} <= groups
    # One document per namespace, listed by a Location.
    (location,) = _documents(exported)
    assert location["kind"] == "Location"
    assert sorted(location["spec"]["targets"]) == [
        "./groups.yaml",
        "./namespaces/billing.yaml",
        "./namespaces/platform.yaml",
        "./namespaces/shop.yaml",
    ]
    shop = _documents(exported.parent / "namespaces" / "shop.yaml")
    assert {e["metadata"]["annotations"]["backstage.io/kubernetes-namespace"] for e in shop} == {
        "shop"
    }


def test_the_kubernetes_plugin_finds_each_components_own_service(exported: Path) -> None:
    manifests = [d for d in yaml.safe_load_all(SERVICES.read_text()) if d]
    services = [m for m in manifests if m["kind"] == "Service"]
    components = [e for e in _entities(exported) if e["kind"] == "Component"]
    assert components
    for component in components:
        wanted = component["metadata"]["title"]  # namespace/service
        manifest = next(
            m for m in services if f"{m['metadata']['namespace']}/{m['metadata']['name']}" == wanted
        )
        notes = component["metadata"]["annotations"]
        if manifest["spec"].get("selector"):
            selector = notes["backstage.io/kubernetes-label-selector"]
            assert _labels_match(selector, manifest["spec"]["selector"])
            # The Service's Pods carry its selector's labels; so does the Service here.
            pod = {
                "metadata": {
                    "namespace": manifest["metadata"]["namespace"],
                    "name": "pod",
                    "labels": dict(manifest["spec"]["selector"]),
                }
            }
            assert _plugin_matches(component, [pod]) == {f"{pod['metadata']['namespace']}/pod"}
            assert wanted in _plugin_matches(component, services)
        else:  # headless or ExternalName without a selector: no label selector invented
            assert "backstage.io/kubernetes-label-selector" not in notes


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
    assert apis["shop-catalog"]["spec"]["owner"] == "group:team-catalog"
    assert (
        apis["shop-orders"]["metadata"]["annotations"]["backstage.io/kubernetes-label-selector"]
        == "app=orders"
    )  # the demo Service's spec.selector
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
    assert {e["kind"] for e in entities} == {"API", "Component", "Group"}
    assert all("system" not in e["spec"] for e in entities)
    notes = next(e for e in entities if e["metadata"]["name"] == "platform-notes")
    assert notes["spec"]["owner"] == "group:platform"
    assert {e["metadata"]["name"] for e in entities if e["kind"] == "Group"} >= {"platform"}
    _assert_references_resolve(entities)


def _served(url: str) -> list[dict[str, Any]]:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    found = []
    for entity in (e for e in yaml.safe_load_all(response.text) if e is not None):
        if entity["kind"] == "Location":
            assert entity["spec"]["type"] == "url"
            for target in entity["spec"]["targets"]:
                found += _served(target)
        else:
            found.append(entity)
    return found


def test_served_as_a_catalog_location(
    demo_catalog: dict[str, Any], exported: Path, schemas: dict[str, Any]
) -> None:
    with (
        catalog.open_store(demo_catalog["url"]) as store,
        server.RunningServer(server.make_app(store)) as running,
    ):
        location = f"{running.url}/meshatlas/api/v1/backstage/catalog-info.yaml"
        root = [e for e in yaml.safe_load_all(httpx.get(location).text) if e]
        served = _served(location)
        shop = _served(location + "?namespace=shop")
        deprecated = _served(location + "?lifecycle=deprecated")
        owned = _served(location + "?owner=team-catalog")
        elsewhere = _served(location + "?cluster=no-such-cluster")
        refused = httpx.get(location + "?colour=blue")
        bad_lifecycle = httpx.get(location + "?lifecycle=retired")
    (entity,) = root
    assert entity["kind"] == "Location"
    assert all(t.startswith(location + "?") for t in entity["spec"]["targets"])
    for entity in [*served, *root]:
        _validate(entity, schemas)
    _assert_references_resolve(served)
    links = {(e["kind"], e["metadata"]["name"]): e["metadata"].get("links") for e in served}
    assert links["API", "shop-orders"] == [
        {
            "url": f"{running.url}/portal/apis/meshatlas/shop-orders.html",
            "title": "meshatlas portal",
        }
    ]
    # The file export and the served location hold the same entities; the file
    # export read the selectors from the cluster, the server has no cluster.
    for entity in served:
        entity["metadata"].pop("links", None)
    for entity in (exported_entities := _entities(exported)):
        entity["metadata"].get("annotations", {}).pop(
            "backstage.io/kubernetes-label-selector", None
        )
    key = lambda e: (e["kind"], e["metadata"]["name"])  # noqa: E731
    assert sorted(served, key=key) == sorted(exported_entities, key=key)
    # Filters: one namespace; one lifecycle; one owner; a cluster with nothing.
    assert {e["metadata"]["annotations"]["backstage.io/kubernetes-namespace"] for e in shop} == {
        "shop"
    }
    assert {e["metadata"]["name"] for e in deprecated if e["kind"] == "API"} == {
        "billing-legacy-soap"
    }
    _assert_references_resolve(deprecated)
    assert {e["metadata"]["name"] for e in owned if e["kind"] == "API"} == {"shop-catalog"}
    _assert_references_resolve(owned)
    assert {e["kind"] for e in elsewhere} <= {"Group"}
    assert refused.status_code == 400 and "colour" in refused.text
    assert bad_lifecycle.status_code == 400


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
    assert api["spec"]["owner"] == "group:Team-Payments-Co"
    _assert_references_resolve(entities)
    assert api["metadata"]["tags"] == ["i", "ok", "tag-with-spaces"]
    assert api["spec"]["type"] == "http"  # a REST API without a description
    assert api["spec"]["definition"].startswith("# <b>Odd</b>: no machine-readable")


def test_public_surface() -> None:
    from catalog import exports, portal

    assert sorted(exports.__all__) == [
        "BackstageOptions",
        "ExchangeOptions",
        "SpecFormat",
        "backstage",
        "backstage_name",
        "exchange",
        "exchange_publish",
        "specs",
    ]
    assert sorted(portal.__all__) == ["CSP", "LiveSite", "Page", "Site", "write"]
