"""Gateway API, ingress exposure, ambient mode and subsets, read through the fixture API server.

Expected values come from the Gateway API specification (GAMMA producer and
consumer routes, ``backendRefs`` weights, ReferenceGrant, route status), from
Istio's networking and ambient references (Gateway ``servers``,
VirtualService ``gateways``, ``istio.io/dataplane-mode``,
``istio.io/use-waypoint``) and from the ambient fixture cluster's shared
description (/fixtures/clusters/ambient), never from meshatlas's own output.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discovery import inventory, kube
from discovery.mesh.model import Exposure, Waypoint
from discovery.model import Inventory, ServiceKey
from fixtures.mesh import Mesh
from tests.conftest import mesh_octet

GW = "gateway.networking.k8s.io/v1"
ACCEPTED = [{"type": "Accepted", "status": "True", "reason": "Accepted"}]


def read(docs: list[dict[str, Any]], tmp: Path, **state: Any) -> tuple[Inventory, list[str]]:
    with Mesh(["r"], workdir=tmp, with_backends=False, generated={"r": docs}) as mesh:
        for name, value in state.items():
            setattr(mesh.state("r"), name, value)
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))
        return inv, list(mesh.state("r").log)


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def svc(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080}]},
    }


def http_route(
    namespace: str,
    name: str,
    parents: list[dict[str, Any]],
    backends: list[dict[str, Any]],
    *,
    matches: list[dict[str, Any]] | None = None,
    status: list[dict[str, Any]] | None = None,
    hostnames: list[str] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": backends}
    if matches is not None:
        rule["matches"] = matches
    spec: dict[str, Any] = {"parentRefs": parents, "rules": [rule]}
    if hostnames:
        spec["hostnames"] = hostnames
    doc: dict[str, Any] = {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    if status is not None:
        doc["status"] = {"parents": status}
    return doc


def key(namespace: str, name: str, cluster: str = "r") -> ServiceKey:
    return ServiceKey(cluster, namespace, name)


# --- the ambient fixture cluster --------------------------------------------------------


@pytest.fixture(scope="module")
def ambient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    workdir = tmp_path_factory.mktemp("ambient")
    with Mesh(["ambient"], octet=mesh_octet(3), workdir=workdir, with_backends=False) as mesh:
        yield inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))


def a(namespace: str, name: str) -> ServiceKey:
    return ServiceKey("ambient", namespace, name)


def test_ambient_fixture_reads_without_problems(ambient: Inventory) -> None:
    assert ambient.problems == ()
    assert [h.host for h in ambient.external_hosts] == ["api.bank.example"]


def test_ingress_exposure_of_both_gateway_flavours(ambient: Inventory) -> None:
    assert set(ambient.mesh.exposures) == {
        Exposure(
            service=a("store", "web"),
            gateway="istio-ingress/public",
            flavour="gateway-api",
            host="shop.example.com",
            port=80,
            protocol="HTTP",
            path="/",
            path_match="prefix",
            route="HTTPRoute store/web",
            service_port=8080,
        ),
        Exposure(
            service=a("legacy", "billing"),
            gateway="istio-ingress/edge",
            flavour="istio",
            host="billing.example.com",
            port=80,
            protocol="HTTP",
            path="/billing",
            path_match="prefix",
            route="VirtualService legacy/billing",
            service_port=8080,
        ),
    }
    # Everything else is mesh-internal.
    assert ambient.mesh.exposed(a("store", "cart")) == ()
    assert ambient.mesh.exposed(a("ledger", "accounts")) == ()
    # A route to port 8080 does not expose another port of the Service.
    assert ambient.mesh.exposed(a("store", "web"), 9090) == ()


def test_gamma_producer_route_splits_with_its_weights(ambient: Inventory) -> None:
    split = [(r.source, r.target, r.weight) for r in ambient.routes if r.via.endswith("cart-split")]
    # A producer route (the parent Service's own namespace) applies to every client.
    assert split == [(None, a("store", "cart"), 90), (None, a("store", "cart-canary"), 10)]


def test_waypoints_and_l7_blind_services(ambient: Inventory) -> None:
    amb = ambient.mesh.ambient
    assert amb.waypoints == (
        Waypoint(
            cluster="ambient",
            namespace="store",
            name="waypoint",
            workload="waypoint",
            service_account="waypoint",
            traffic_for="service",
            serves=(a("store", "cart"), a("store", "cart-canary"), a("store", "web")),
        ),
    )
    assert amb.waypoints[0].principal() == "spiffe://cluster.local/ns/store/sa/waypoint"
    assert amb.is_waypoint("ambient", "store", "waypoint")
    assert amb.l7_blind == {a("ledger", "accounts")}
    planes = {str(p.service): (p.dataplane, p.waypoint) for p in amb.services}
    assert planes == {
        "ambient/store/web": ("ambient", "store/waypoint"),
        "ambient/store/cart": ("ambient", "store/waypoint"),
        "ambient/store/cart-canary": ("ambient", "store/waypoint"),
        "ambient/ledger/accounts": ("ambient", None),
        "ambient/legacy/billing": ("sidecar", None),
    }
    assert amb.ambient_namespaces == {("ambient", "store"), ("ambient", "ledger")}


def test_destination_rule_subsets_are_versions(ambient: Inventory) -> None:
    versions = ambient.mesh.versions(a("store", "cart"))
    assert [(s.name, s.version) for s in versions] == [("v1", "v1"), ("v2", "v2")]
    assert ambient.mesh.versions(a("store", "web")) == ()


# --- one cluster rendered both ways --------------------------------------------------------

BASE: list[dict[str, Any]] = [
    ns("shop"),
    ns("edge"),
    svc("shop", "front"),
    svc("shop", "cart"),
    svc("shop", "cart-canary"),
    svc("shop", "orders"),
]
ISTIO_WAY: list[dict[str, Any]] = [
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "edge"},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 80, "protocol": "HTTP"}, "hosts": ["*/shop.example.com"]}
            ],
        },
    },
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "front", "namespace": "shop"},
        "spec": {
            "hosts": ["shop.example.com"],
            "gateways": ["edge/public"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/orders"}}],
                    "route": [{"destination": {"host": "orders", "port": {"number": 8080}}}],
                },
                {
                    "match": [{"uri": {"prefix": "/"}}],
                    "route": [{"destination": {"host": "front", "port": {"number": 8080}}}],
                },
            ],
        },
    },
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "cart", "namespace": "shop"},
        "spec": {
            "hosts": ["cart"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "cart"}, "weight": 80},
                        {"destination": {"host": "cart-canary"}, "weight": 20},
                    ]
                }
            ],
        },
    },
]
GATEWAY_API_WAY: list[dict[str, Any]] = [
    {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "edge"},
        "spec": {
            "gatewayClassName": "istio",
            "listeners": [
                {
                    "name": "http",
                    "port": 80,
                    "protocol": "HTTP",
                    "hostname": "shop.example.com",
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                }
            ],
        },
    },
    {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": "front", "namespace": "shop"},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "edge"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/orders"}}],
                    "backendRefs": [{"name": "orders", "port": 8080}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "front", "port": 8080}],
                },
            ],
        },
    },
    # backendRefs weights are relative: 4:1 is the VirtualService's 80/20.
    http_route(
        "shop",
        "cart",
        [{"group": "", "kind": "Service", "name": "cart", "port": 8080}],
        [
            {"name": "cart", "port": 8080, "weight": 4},
            {"name": "cart-canary", "port": 8080, "weight": 1},
        ],
    ),
]


def _shape(inv: Inventory) -> tuple[set[Any], set[Any], dict[str, tuple[str, ...]]]:
    routes = {(r.source, r.target, r.weight) for r in inv.routes}
    exposures = {
        (e.service, e.gateway, e.host, e.port, e.protocol, e.path, e.path_match, e.service_port)
        for e in inv.mesh.exposures
    }
    return routes, exposures, {s.key.name: s.path_prefixes for s in inv.services}


def test_gateway_api_routes_equal_the_virtual_services(tmp_path: Path) -> None:
    istio, _ = read(BASE + ISTIO_WAY, tmp_path / "istio")
    gateway_api, _ = read(BASE + GATEWAY_API_WAY, tmp_path / "gw")
    assert istio.problems == gateway_api.problems == ()
    assert _shape(istio) == _shape(gateway_api)
    routes, exposures, prefixes = _shape(gateway_api)
    assert routes == {
        (None, key("shop", "orders"), 100),
        (None, key("shop", "front"), 100),
        (None, key("shop", "cart"), 80),
        (None, key("shop", "cart-canary"), 20),
    }
    assert {(e[0].name, e[2], e[5]) for e in exposures} == {
        ("orders", "shop.example.com", "/orders"),
        ("front", "shop.example.com", "/"),
    }
    assert prefixes["orders"] == ("/orders",)


# --- GAMMA consumer routes, status, ReferenceGrant, listeners ------------------------------


def test_consumer_route_applies_to_clients_of_its_namespace(tmp_path: Path) -> None:
    docs = [
        ns("app"),
        ns("db"),
        svc("app", "web"),
        svc("app", "worker"),
        svc("db", "pg"),
        svc("db", "pg-replica"),
        svc("other", "cron"),
        ns("other"),
        # In "app", about a Service of "db": a consumer route. Its backend in
        # "db" needs a ReferenceGrant there.
        http_route(
            "app",
            "reads",
            [{"group": "", "kind": "Service", "name": "pg", "namespace": "db"}],
            [{"name": "pg-replica", "namespace": "db", "port": 8080}],
        ),
        {
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "ReferenceGrant",
            "metadata": {"name": "from-app", "namespace": "db"},
            "spec": {
                "from": [
                    {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "app"}
                ],
                "to": [{"group": "", "kind": "Service"}],
            },
        },
    ]
    inv, _ = read(docs, tmp_path)
    assert {(r.source, r.target) for r in inv.routes} == {
        (key("app", "web"), key("db", "pg-replica")),
        (key("app", "worker"), key("db", "pg-replica")),
    }


def test_cross_namespace_backend_without_grant_gives_no_route(tmp_path: Path) -> None:
    docs = [
        ns("app"),
        ns("db"),
        svc("app", "web"),
        svc("db", "pg"),
        http_route(
            "app",
            "direct",
            [{"group": "", "kind": "Service", "name": "web"}],
            [{"name": "pg", "namespace": "db", "port": 8080}],
        ),
        # A grant for another kind of route does not count.
        {
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "ReferenceGrant",
            "metadata": {"name": "grpc-only", "namespace": "db"},
            "spec": {
                "from": [
                    {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "namespace": "app"}
                ],
                "to": [{"group": "", "kind": "Service"}],
            },
        },
    ]
    inv, _ = read(docs, tmp_path)
    assert inv.routes == () and inv.problems == ()
    assert any("db/pg" in n and "ReferenceGrant" in n for n in inv.notes)


def test_route_not_accepted_gives_no_route_and_a_note(tmp_path: Path) -> None:
    refused = [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners"}]
    parent = {"group": "", "kind": "Service", "name": "api"}
    docs = [
        ns("s"),
        svc("s", "api"),
        svc("s", "api-v2"),
        http_route(
            "s",
            "refused",
            [parent],
            [{"name": "api-v2", "port": 8080}],
            status=[
                {"parentRef": parent, "controllerName": "istio.io/mesh", "conditions": refused}
            ],
        ),
        http_route(
            "s",
            "taken",
            [parent],
            [{"name": "api", "port": 8080}],
            status=[
                {"parentRef": parent, "controllerName": "istio.io/mesh", "conditions": ACCEPTED}
            ],
        ),
    ]
    inv, _ = read(docs, tmp_path)
    assert [(r.target, r.via) for r in inv.routes] == [(key("s", "api"), "HTTPRoute s/taken")]
    assert any("s/refused" in n and "NotAllowedByListeners" in n for n in inv.notes)


def test_listeners_decide_attachment_and_hostnames(tmp_path: Path) -> None:
    gateway = {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "edge"},
        "spec": {
            "gatewayClassName": "istio",
            "listeners": [
                # Routes from the Gateway's own namespace only (the default).
                {"name": "same", "port": 80, "protocol": "HTTP", "hostname": "*.example.com"},
                {
                    "name": "team",
                    "port": 8443,
                    "protocol": "HTTPS",
                    "allowedRoutes": {
                        "namespaces": {
                            "from": "Selector",
                            "selector": {"matchLabels": {"team": "a"}},
                        }
                    },
                },
            ],
        },
    }
    docs = [
        ns("edge"),
        ns("a", team="a"),
        ns("b", team="b"),
        svc("a", "api"),
        svc("b", "api"),
        gateway,
        http_route(
            "a",
            "in-a",
            [{"name": "gw", "namespace": "edge"}],
            [{"name": "api", "port": 8080}],
            hostnames=["api.example.com"],
        ),
        http_route(
            "b", "in-b", [{"name": "gw", "namespace": "edge"}], [{"name": "api", "port": 8080}]
        ),
    ]
    inv, _ = read(docs, tmp_path)
    # "a" attaches to the selector listener only (not the Same one): its hostname stays its own.
    assert {(e.service, e.port, e.host) for e in inv.mesh.exposures} == {
        (key("a", "api"), 8443, "api.example.com")
    }
    assert any("b/in-b" in n and "no listener" in n for n in inv.notes)


def test_cluster_without_the_gateway_api_is_a_note(tmp_path: Path) -> None:
    docs = [ns("s"), svc("s", "api")]
    inv, log = read(docs, tmp_path, gateway_api=False, istio=False)
    assert inv.problems == ()
    assert any("no Gateway API" in n for n in inv.notes)
    # Only the Gateway list is tried (each version once); routes are not asked for.
    assert [line for line in log if "gateway.networking.k8s.io" in line] == [
        "GET /apis/gateway.networking.k8s.io/v1/gateways?limit=500",
        "GET /apis/gateway.networking.k8s.io/v1beta1/gateways?limit=500",
    ]


# --- ambient detection from Pods ---------------------------------------------------------


def _pod(namespace: str, name: str, app: str, mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": app, "istio.io/dataplane-mode": mode},
        },
        "spec": {"containers": [{"name": "c", "env": [{"name": "TOKEN", "value": "hunter2"}]}]},
    }


POD_DOCS: list[dict[str, Any]] = [
    ns("amb", **{"istio.io/dataplane-mode": "ambient"}),
    ns("side", **{"istio-injection": "enabled"}),
    svc("amb", "stays"),
    svc("amb", "leaves"),
    svc("side", "joins"),
    svc("side", "plain"),
    _pod("amb", "leaves-1", "leaves", "none"),
    _pod("side", "joins-1", "joins", "ambient"),
]


def test_pod_labels_move_services_in_and_out_of_ambient(tmp_path: Path) -> None:
    with Mesh(["r"], workdir=tmp_path, with_backends=False, generated={"r": POD_DOCS}) as mesh:
        (conn,) = kube.connect(kubeconfig=str(mesh.kubeconfig))
        inv = inventory.read_inventory([conn])
        # What meshatlas receives of Pods: metadata, never a spec.
        pods = list(kube.Lister(conn).list(kube.ListTarget("pods", metadata_only=True)))
    planes = {p.service.name: p.dataplane for p in inv.mesh.ambient.services}
    assert planes == {"stays": "ambient", "leaves": "none", "joins": "ambient", "plain": "sidecar"}
    assert inv.mesh.ambient.l7_blind == {key("amb", "stays"), key("side", "joins")}
    assert pods and all(set(p) == {"kind", "apiVersion", "metadata"} for p in pods)


def test_pods_not_readable_is_a_note(tmp_path: Path) -> None:
    inv, _ = read(copy.deepcopy(POD_DOCS), tmp_path, forbidden=frozenset({"pods"}))
    assert inv.problems == ()
    assert any("pods not readable" in n for n in inv.notes)
    planes = {p.service.name: p.dataplane for p in inv.mesh.ambient.services}
    # Without Pods, the Namespace label decides.
    assert planes["leaves"] == "ambient" and planes["joins"] == "sidecar"


def test_waypoint_named_but_absent_is_l7_blind(tmp_path: Path) -> None:
    docs = [
        ns("amb", **{"istio.io/dataplane-mode": "ambient"}),
        svc("amb", "api", **{"istio.io/use-waypoint": "wp"}),
        svc("amb", "opted-out", **{"istio.io/use-waypoint": "none"}),
    ]
    inv, _ = read(docs, tmp_path)
    assert inv.mesh.ambient.l7_blind == {key("amb", "api"), key("amb", "opted-out")}
    assert any("amb/wp" in n for n in inv.notes)


def test_gateway_api_group_serves_each_kind_at_its_versions(tmp_path: Path) -> None:
    import kubernetes

    with Mesh(["ambient"], octet=mesh_octet(4), workdir=tmp_path, with_backends=False) as mesh:
        client = kubernetes.config.new_client_from_config(config_file=str(mesh.kubeconfig))
        groups = kubernetes.client.ApisApi(client).get_api_versions().groups
        custom = kubernetes.client.CustomObjectsApi(client)
        routes = custom.list_cluster_custom_object("gateway.networking.k8s.io", "v1", "httproutes")
        istio_gateways = custom.list_cluster_custom_object("networking.istio.io", "v1", "gateways")
    served = {g.name: [v.version for v in g.versions] for g in groups}
    # The Gateway API v1.2 release: v1 (and v1beta1) for Gateway and HTTPRoute,
    # v1alpha2 for the experimental TLSRoute and TCPRoute.
    assert served["gateway.networking.k8s.io"] == ["v1", "v1beta1", "v1alpha2"]
    assert [r["metadata"]["name"] for r in routes["items"]] == ["cart-split", "web"]
    # Istio's Gateway kind is kept apart from the Gateway API's.
    assert [g["metadata"]["name"] for g in istio_gateways["items"]] == ["edge"]
