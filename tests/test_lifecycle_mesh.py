"""Lifecycle in a mesh that is never all well: real ``meshatlas discover`` runs.

A fixture cluster (the Kubernetes API server of ``fixtures/``) with real
loopback backends, crawled again and again into one catalogue, on SQLite and
on PostgreSQL. Between runs the cluster changes as a real one does:

- ``cart`` stops answering (its Service now leads to a port that accepts and
  never answers), and stays so: every run has a problem from then on;
- ``search`` is deleted;
- ``ledger`` moves: its Service is replaced by ``ledger-v2``, which serves
  the same API (``meshatlas.io/asset-id: ledger``).

After ``--deprecate-after 2`` runs the vanished API is deprecated, the silent
one is untouched however long it stays silent, and after ``--stale-after 2``
the instance ledger left behind is stale while the asset stays.

A second mesh has its namespace's Service list refused for one run: a run
that could not list a namespace judges nothing in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import catalog
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from meshatlas.cli import main
from tests import manifests
from tests.conftest import mesh_octet

CLUSTER, NS = "east", "shop"
SPEC = SPECS_DIR / "openapi/3.1/orders-fastapi.json"


def _service(name: str, address: str, **annotations: str) -> list[dict[str, Any]]:
    docs = manifests.service_at(NS, name, address, [8080])
    if annotations:
        docs[0]["metadata"]["annotations"] = annotations
    return docs


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("MESHATLAS_")]:
        monkeypatch.delenv(name)


def _discover(mesh: Mesh, url: str, report: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", url,
            "--timeout", "1", "--report", str(report), "--log-format", "text",
            "--deprecate-after", "2", "--stale-after", "2", *flags,
        ]
    )  # fmt: skip
    return code, orjson.loads(report.read_bytes())


@pytest.fixture
def changing(tmp_path: Path) -> Iterator[tuple[Mesh, dict[str, str]]]:
    octet = mesh_octet(offset=47)
    addresses = {
        name: f"127.{octet}.1.{10 + i}"
        for i, name in enumerate(["orders", "cart", "search", "ledger", "ledger-v2", "hole"])
    }
    docs = [
        manifests.namespace(NS),
        *_service("orders", addresses["orders"]),
        *_service("cart", addresses["cart"]),
        *_service("search", addresses["search"]),
        *_service("ledger", addresses["ledger"], **{"meshatlas.io/asset-id": "ledger"}),
    ]
    backends = [
        Backend(f"{NS}/{name}", addresses[name], 8080, "fastapi", spec=SPEC)
        for name in ("orders", "cart", "search", "ledger", "ledger-v2")
    ]
    backends.append(Backend(f"{NS}/hole", addresses["hole"], 8080, "blackhole"))
    with Mesh(
        [CLUSTER],
        octet=octet,
        workdir=tmp_path / "mesh",
        generated={CLUSTER: docs},
        generated_backends={CLUSTER: backends},
    ) as mesh:
        yield mesh, addresses


def _change_the_cluster(mesh: Mesh, addresses: dict[str, str]) -> None:
    """Cart goes silent, search is deleted, ledger moves to ledger-v2."""
    objects = mesh.state(CLUSTER).objects
    hole = addresses["hole"]
    for doc in objects["services"]:
        if doc["metadata"]["name"] == "cart":
            doc["spec"]["clusterIP"], doc["spec"]["clusterIPs"] = hole, [hole]
    for doc in objects["endpointslices"]:
        if doc["metadata"]["labels"]["kubernetes.io/service-name"] == "cart":
            doc["endpoints"][0]["addresses"] = [hole]
    _delete(mesh, "search", "ledger")
    moved = _service("ledger-v2", addresses["ledger-v2"], **{"meshatlas.io/asset-id": "ledger"})
    objects["services"].append(moved[0])
    objects["endpointslices"].append(moved[1])


def _delete(mesh: Mesh, *names: str) -> None:
    """Delete these Services of the namespace, and their EndpointSlices."""
    objects = mesh.state(CLUSTER).objects
    objects["services"][:] = [d for d in objects["services"] if d["metadata"]["name"] not in names]
    objects["endpointslices"][:] = [
        d
        for d in objects["endpointslices"]
        if d["metadata"]["labels"]["kubernetes.io/service-name"] not in names
    ]


def _apis(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (service,) = [s for s in report["services"] if s["name"] == name]
    apis: list[dict[str, Any]] = service["apis"]
    return apis


def _instances(store: catalog.CatalogStore, asset_id: str) -> dict[str, tuple[bool | None, Any]]:
    found = store.describe("meshatlas", asset_id, every=True)
    return {i.service: (i.stale, i.last_seen) for v in found.versions for i in v.instances}


def test_a_vanished_api_is_deprecated_while_a_silent_one_is_untouched(
    changing: tuple[Mesh, dict[str, str]], catalog_url: str, tmp_path: Path
) -> None:
    mesh, addresses = changing
    code, first = _discover(mesh, catalog_url, tmp_path / "first.json")
    assert code == 0 and first["problems"] == [], first["problems"]
    published = sorted(a["asset"]["asset_id"] for s in first["services"] for a in s["apis"])
    assert published == ["ledger", "shop-cart", "shop-orders", "shop-search"]
    with catalog.open_store(catalog_url) as store:
        store.set_lifecycle("meshatlas", "shop-cart", status="stable")
        first_seen = _instances(store, "shop-cart")["cart"][1]

    _change_the_cluster(mesh, addresses)
    code, second = _discover(mesh, catalog_url, tmp_path / "second.json")
    code_third, third = _discover(mesh, catalog_url, tmp_path / "third.json")

    for done, report in ((code, second), (code_third, third)):
        # A Service that does not answer is a problem of the run, not a failure.
        assert done == 0 and report["outcome"] == "complete"
        assert [p["where"] for p in report["problems"]] == [f"{CLUSTER}/{NS}/cart:8080"]
        assert report["lifecycle"]["held"] == ["shop-cart"]
    assert second["lifecycle"]["missed"] == ["shop-search"]
    assert second["lifecycle"]["deprecated"] == [] and second["lifecycle"]["stale_instances"] == []
    assert third["lifecycle"]["deprecated"] == ["shop-search"]
    assert third["lifecycle"]["stale_instances"] == [
        {"asset_id": "ledger", "cluster": CLUSTER, "namespace": NS, "service": "ledger",
         "port": 8080},
        {"asset_id": "shop-search", "cluster": CLUSTER, "namespace": NS, "service": "search",
         "port": 8080},
    ]  # fmt: skip

    with catalog.open_store(catalog_url) as store:
        lifecycles = {a.asset_id: a.lifecycle for a in store.summaries()}
        assert lifecycles == {
            "ledger": "development",
            "shop-cart": "stable",
            "shop-orders": "development",
            "shop-search": "deprecated",
        }
        assert _instances(store, "shop-cart") == {"cart": (False, first_seen)}
        ledger = _instances(store, "ledger")
        assert ledger["ledger"] == (True, first_seen)
        assert ledger["ledger-v2"][0] is False and ledger["ledger-v2"][1] > first_seen
        assert _instances(store, "shop-search") == {"search": (True, first_seen)}
        # Nothing is deleted: the deprecated API keeps its version.
        versions = [v.version for v in store.get("meshatlas", "shop-search").versions]
        assert versions == [a["asset"]["version"] for a in _apis(first, "search")]


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[Mesh]:
    octet = mesh_octet(offset=53)
    orders, search, till = (f"127.{octet}.1.{n}" for n in (10, 11, 12))
    docs = [
        manifests.namespace(NS),
        *_service("orders", orders),
        *_service("search", search),
        manifests.namespace("pay"),  # another namespace, listed all along
        *manifests.service_at("pay", "till", till, [8080]),
    ]
    backends = [
        Backend(f"{NS}/orders", orders, 8080, "fastapi", spec=SPEC),
        Backend(f"{NS}/search", search, 8080, "fastapi", spec=SPEC),
        Backend("pay/till", till, 8080, "fastapi", spec=SPEC),
    ]
    with Mesh(
        [CLUSTER],
        octet=octet,
        workdir=tmp_path / "mesh",
        generated={CLUSTER: docs},
        generated_backends={CLUSTER: backends},
    ) as mesh:
        yield mesh


def test_a_namespace_whose_services_were_not_listed_is_not_judged(
    refusing: Mesh, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert _discover(refusing, url, tmp_path / "first.json")[0] == 0
    _delete(refusing, "search")
    state = refusing.state(CLUSTER)
    # The cluster-wide list is refused, and so is the namespace's own.
    state.forbidden = frozenset({"services@cluster", f"services@{NS}"})
    try:
        code, refused = _discover(refusing, url, tmp_path / "refused.json", "--deprecate-after=1")
    finally:
        state.forbidden = frozenset()
    code_back, back = _discover(refusing, url, tmp_path / "back.json", "--deprecate-after=1")

    assert code == 3 and refused["outcome"] == "partial"
    assert [p["what"] for p in refused["problems"]] == [f"services in namespace {NS} not readable"]
    assert refused["lifecycle"]["held"] == ["shop-orders", "shop-search"]
    assert refused["lifecycle"]["missed"] == [] and refused["lifecycle"]["deprecated"] == []
    assert [s["name"] for s in refused["services"]] == ["till"]
    # Listed again: only now is search's absence news.
    assert code_back == 0
    assert back["lifecycle"]["deprecated"] == ["shop-search"]
    with catalog.open_store(url) as store:
        assert store.describe("meshatlas", "shop-orders").asset.lifecycle == "development"
