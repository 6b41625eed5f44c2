"""The fixture Kubernetes API, driven by the real ``kubernetes`` client over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from discovery import inventory, kube
from fixtures import labels
from fixtures.mesh import Mesh, load_manifests
from tests.conftest import mesh_octet


@pytest.fixture(scope="module")
def api_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir: Path = tmp_path_factory.mktemp("kubeapi")
    with Mesh(["demo"], octet=mesh_octet(1), workdir=workdir, with_backends=False) as mesh:
        yield mesh


@pytest.fixture
def client(api_mesh: Mesh) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(api_mesh.kubeconfig))


def test_version_and_discovery_documents(client: kubernetes.client.ApiClient) -> None:
    version = kubernetes.client.VersionApi(client).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.31")
    groups = kubernetes.client.ApisApi(client).get_api_versions()
    names = {g.name: [v.version for v in g.versions] for g in groups.groups}
    assert names["networking.istio.io"] == ["v1", "v1beta1"]
    assert "discovery.k8s.io" in names
    resources = kubernetes.client.CoreV1Api(client).get_api_resources()
    # Pods are served for metadata-only lists (ambient-mode labels).
    assert {r.name for r in resources.resources} == {"namespaces", "pods", "services"}
    # The demo cluster has no Gateway API objects: its CRDs are not installed.
    assert "gateway.networking.k8s.io" not in names


def test_pagination_returns_every_service_once(client: kubernetes.client.ApiClient) -> None:
    # As many as the demo cluster's manifests hold (other tests add Services to it).
    total = sum(1 for d in load_manifests("demo") if d["kind"] == "Service")
    core = kubernetes.client.CoreV1Api(client)
    first = core.list_service_for_all_namespaces(limit=4)
    assert len(first.items) == 4
    assert first.metadata.remaining_item_count == total - 4
    seen = [(s.metadata.namespace, s.metadata.name) for s in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_service_for_all_namespaces(limit=4, _continue=token)
        seen.extend((s.metadata.namespace, s.metadata.name) for s in page.items)
        token = page.metadata._continue
    everything = core.list_service_for_all_namespaces()
    assert seen == [(s.metadata.namespace, s.metadata.name) for s in everything.items]
    assert len(set(seen)) == total


def test_label_selectors_and_namespaced_lists(client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(client)
    picked = core.list_service_for_all_namespaces(label_selector="app in (catalog,orders)")
    assert sorted(s.metadata.name for s in picked.items) == ["catalog", "orders"]
    not_shop = core.list_namespaced_service("billing", label_selector="app!=ledger")
    assert sorted(s.metadata.name for s in not_shop.items) == [
        "invoice-ws",
        "legacy-soap",
        "tax-calc",
    ]
    in_shop = [d for d in load_manifests("demo") if d["kind"] == "Service"]
    in_shop = [d for d in in_shop if d["metadata"]["namespace"] == "shop"]
    assert len(core.list_namespaced_service("shop").items) == len(in_shop)
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.list_service_for_all_namespaces(label_selector="app in (a")
    assert info.value.status == 400


def test_errors_are_kubernetes_status_bodies(client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(client)
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.read_namespaced_service("nope", "shop")
    body = json.loads(info.value.body)
    assert info.value.status == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "group": "", "kind": "services"}
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.list_service_for_all_namespaces(limit=2, _continue="not-a-token")
    assert info.value.status == 400


def test_stale_continue_token_is_gone(api_mesh: Mesh, client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(client)
    token = core.list_service_for_all_namespaces(limit=3).metadata._continue
    state = api_mesh.state("demo")
    state.resource_version += 1
    try:
        with pytest.raises(kubernetes.client.ApiException) as info:
            core.list_service_for_all_namespaces(limit=3, _continue=token)
        assert info.value.status == 410
        assert json.loads(info.value.body)["reason"] == "Expired"
    finally:
        state.resource_version -= 1


def test_requests_without_the_token_are_refused(api_mesh: Mesh) -> None:
    config = kubernetes.client.Configuration()
    config.host = api_mesh.clusters[0].server
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.list_namespace()
    assert info.value.status == 401


def test_istio_custom_objects_in_both_versions(client: kubernetes.client.ApiClient) -> None:
    custom = kubernetes.client.CustomObjectsApi(client)
    for version in ("v1", "v1beta1"):
        listed = custom.list_cluster_custom_object(
            "networking.istio.io", version, "virtualservices"
        )
        assert [o["metadata"]["name"] for o in listed["items"]] == ["catalog", "checkout", "orders"]
        assert {o["apiVersion"] for o in listed["items"]} == {f"networking.istio.io/{version}"}


def test_endpointslices_list(client: kubernetes.client.ApiClient) -> None:
    slices = kubernetes.client.DiscoveryV1Api(client).list_namespaced_endpoint_slice("platform")
    idle = next(
        s for s in slices.items if s.metadata.labels["kubernetes.io/service-name"] == "idle"
    )
    assert idle.endpoints[0].conditions.ready is False


def test_forbidden_endpointslices_become_problems(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    state.forbidden = frozenset({"endpointslices"})
    try:
        conns = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
        inv = inventory.read_inventory(conns)
    finally:
        state.forbidden = frozenset()
    # The cluster-wide list is refused, then each namespace is tried and refused.
    assert sorted(p.what for p in inv.problems) == [
        f"endpointslices in namespace {ns} not readable" for ns in ("billing", "platform", "shop")
    ]
    assert all("HTTP 403" in p.why for p in inv.problems)
    catalog = next(s for s in inv.services if s.key.name == "catalog")
    # Without endpoint information the cluster IP is the only address to use.
    assert catalog.ready_addresses == catalog.cluster_ips


def test_forbidden_cluster_wide_list_falls_back_to_namespaces(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    full = inventory.read_inventory(kube.connect(kubeconfig=str(api_mesh.kubeconfig)))
    state.forbidden = frozenset({"services@cluster", "services@billing"})
    state.log.clear()
    try:
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(api_mesh.kubeconfig)))
    finally:
        state.forbidden = frozenset()
    assert "GET /api/v1/namespaces/shop/services?limit=500" in state.log
    (problem,) = inv.problems
    assert problem.what == "services in namespace billing not readable"
    assert problem.where.endswith("/api/v1/namespaces/billing/services")
    expected = sorted(str(s.key) for s in full.services if s.key.namespace != "billing")
    assert sorted(str(s.key) for s in inv.services) == expected


def test_cluster_without_istio_is_noted_not_a_problem(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    state.istio = False
    try:
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(api_mesh.kubeconfig)))
    finally:
        state.istio = True
    assert inv.problems == ()
    assert inv.routes == () and inv.external_hosts == ()
    assert any("no Istio config" in n for n in inv.notes)


def test_small_pages_give_the_same_inventory(api_mesh: Mesh) -> None:
    conns = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
    small = inventory.read_inventory(conns, page_size=2)
    large = inventory.read_inventory(conns, page_size=500)
    assert [s.key for s in small.services] == [s.key for s in large.services]
    assert small.requests > large.requests


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=a", True),
        ("app==a,tier", True),
        ("app!=a", False),
        ("app in (a, b)", True),
        ("app notin (a)", False),
        ("!tier", False),
        ("!missing", True),
        ("missing", False),
    ],
)
def test_label_selector_semantics(selector: str, expected: bool) -> None:
    assert labels.matches(labels.parse(selector), {"app": "a", "tier": "web"}) is expected
