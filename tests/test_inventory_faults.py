"""Inventory under API faults, across clusters, and at scale.

Faults are injected by the fixture API server; each run ends with the full
inventory or an exact ``problems`` entry.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import catalog
from discovery import inventory, kube
from fixtures import synthetic
from fixtures.kubeapi import Fault
from fixtures.mesh import Mesh
from meshatlas.cli import main
from tests.conftest import mesh_octet


@pytest.fixture(scope="module")
def api_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir: Path = tmp_path_factory.mktemp("faults")
    with Mesh(["demo"], octet=mesh_octet(3), workdir=workdir, with_backends=False) as mesh:
        yield mesh


def _read(mesh: Mesh, **kwargs: object) -> inventory.Inventory:
    conns = kube.connect(kubeconfig=str(mesh.kubeconfig))
    return inventory.read_inventory(conns, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def baseline(api_mesh: Mesh) -> list[str]:
    return sorted(str(s.key) for s in _read(api_mesh).services)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("/api/v1/services", kind="status", status=503, times=2),
        Fault("/api/v1/services", kind="reset", times=2),
        Fault("/api/v1/services", kind="truncate", times=1),
        Fault("/apis/discovery.k8s.io", kind="status", status=500, times=3),
        Fault("/api/v1/services", kind="slow", delay=0.3, times=2),
    ],
    ids=["5xx", "reset", "truncated-json", "5xx-storm", "slow"],
)
def test_transient_faults_are_retried_to_a_full_inventory(
    api_mesh: Mesh, baseline: list[str], fault: Fault
) -> None:
    state = api_mesh.state("demo")
    state.faults = [fault]
    try:
        inv = _read(api_mesh, page_size=5)
    finally:
        state.faults = []
    assert fault.times == 0  # the fault was really hit
    assert inv.problems == ()
    assert sorted(str(s.key) for s in inv.services) == baseline


def test_429_retry_after_is_honoured(api_mesh: Mesh, baseline: list[str]) -> None:
    waits: list[float] = []
    state = api_mesh.state("demo")
    state.faults = [Fault("/api/v1/services", status=429, retry_after=2, times=1)]
    try:
        (conn,) = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
        lister = kube.Lister(conn, sleep=waits.append)
        items = list(lister.list(kube.ListTarget("services")))
    finally:
        state.faults = []
    assert waits == [2.0]
    assert len(items) == 21


def test_a_huge_retry_after_is_capped(api_mesh: Mesh) -> None:
    waits: list[float] = []
    state = api_mesh.state("demo")
    state.faults = [Fault("/api/v1/namespaces", status=503, retry_after=3600, times=1)]
    try:
        (conn,) = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
        items = list(kube.Lister(conn, sleep=waits.append).list(kube.ListTarget("namespaces")))
    finally:
        state.faults = []
    assert waits == [kube.MAX_RETRY_AFTER]
    assert len(items) == 5


def test_a_persistent_storm_becomes_an_exact_problem(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    state.faults = [Fault("/apis/networking.istio.io/v1/virtualservices", status=500, times=100)]
    try:
        inv = _read(api_mesh)
    finally:
        state.faults = []
    (problem,) = inv.problems
    assert problem.what == "Istio virtualservices not readable"
    assert problem.why == "HTTP 500: injected fault: HTTP 500"
    assert problem.where.endswith("/apis/networking.istio.io/v1/virtualservices")
    assert inv.routes == ()  # nothing invented
    assert len(inv.services) == 18


def test_stale_continue_restarts_the_list(api_mesh: Mesh, baseline: list[str]) -> None:
    state = api_mesh.state("demo")
    state.faults = [
        Fault("/api/v1/services", status=410, query="continue=", times=1),
    ]
    try:
        inv = _read(api_mesh, page_size=4)
    finally:
        state.faults = []
    assert inv.problems == ()
    assert sorted(str(s.key) for s in inv.services) == baseline


def test_istio_v1beta1_fallback(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    # A cluster whose Istio predates networking.istio.io/v1.
    state.faults = [Fault("/apis/networking.istio.io/v1/", status=404, times=100)]
    try:
        inv = _read(api_mesh)
    finally:
        state.faults = []
    assert inv.problems == ()
    assert len(inv.routes) == 4
    assert [h.host for h in inv.external_hosts] == ["api.stripe.example"]


def test_five_thousand_services_are_read_in_pages(tmp_path: Path) -> None:
    docs = synthetic.cluster(5000, namespaces=20)
    with Mesh(["big"], workdir=tmp_path, with_backends=False, generated={"big": docs}) as mesh:
        state = mesh.state("big")
        tracemalloc.start()
        try:
            inv = _read(mesh, page_size=500)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(inv.services) == 5000
    assert len({str(s.key) for s in inv.services}) == 5000
    service_pages = [r for r in state.log if r.startswith("GET /api/v1/services?")]
    assert len(service_pages) == 10
    assert all("limit=500" in r for r in service_pages)
    # Raw pages are dropped as they are converted: far below all pages at once.
    assert peak < 120 * 1024 * 1024, peak


def test_two_clusters_make_one_inventory_and_shared_assets(tmp_path: Path) -> None:
    with Mesh(["demo", "east"], octet=mesh_octet(4), workdir=tmp_path / "mesh") as mesh:
        code = main(
            [
                "discover",
                "--kubeconfig",
                str(mesh.kubeconfig),
                "--context",
                "demo",
                "--context",
                "east",
                "--namespace",
                "shop",
                "--catalog",
                f"sqlite:///{tmp_path / 'c.db'}",
                "--report",
                str(tmp_path / "r.json"),
            ]
        )
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, report["problems"]
    assert report["clusters"] == ["demo", "east"]
    names = {f"{s['cluster']}/{s['namespace']}/{s['name']}" for s in report["services"]}
    assert {"demo/shop/catalog", "east/shop/catalog", "east/shop/reviews"} <= names
    store = catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}")
    catalog_asset = store.get("meshatlas", "shop-catalog")
    # The same content in two clusters: one version, two instances.
    assert [v.version for v in catalog_asset.versions] == ["1.4.0"]
    clusters = sorted(i.cluster for i in catalog_asset.versions[0].instances)
    assert clusters == ["demo", "east"]
    # Different content: each is its own version, each instance on the one it serves.
    reviews = store.get("meshatlas", "shop-reviews")
    served = {i.cluster: v.version for v in reviews.versions for i in v.instances}
    assert served == {"demo": "1.0.0", "east": "2.0.0"}
