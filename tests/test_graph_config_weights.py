"""Route weights on config edges, and ingress gateways as callers, in the graph.

The mesh config is served by the fixture Kubernetes API server and read by
discovery as a crawl reads it. Expected weights and callers come from the
manifests below and the specifications they follow: Istio's VirtualService
``route[].weight`` is a percentage; Gateway API ``backendRefs[].weight`` is
relative ("proportional to the sum of all weights in this backendRefs
list"), so 9:1 is 90/10 and a lone backend takes everything; a GAMMA route
in the parent Service's namespace is a producer route (every client), one
in another namespace a consumer route (that namespace's clients only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from discovery import crawl, inventory, kube
from discovery.model import Edge, Inventory
from fixtures.mesh import Mesh
from graph.build import build_graph, ingress_node
from graph.export import to_graphml, to_json
from graph.load import from_node_link

GW = "gateway.networking.k8s.io/v1"
ISTIO = "networking.istio.io/v1"


def _ns(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _svc(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080}]},
    }


DOCS: list[dict[str, Any]] = [
    *(_ns(n) for n in ("shop", "app", "db", "edge")),
    *(_svc("shop", n) for n in ("front", "reviews", "reviews-canary")),
    *(_svc("app", n) for n in ("web", "worker")),
    *(_svc("db", n) for n in ("pg", "pg-canary")),
    # Mesh routing from front (sourceLabels), 90/10 in percent.
    {
        "apiVersion": ISTIO,
        "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "shop"},
        "spec": {
            "hosts": ["reviews"],
            "http": [
                {
                    "match": [{"sourceLabels": {"app": "front"}}],
                    "route": [
                        {"destination": {"host": "reviews"}, "weight": 90},
                        {"destination": {"host": "reviews-canary"}, "weight": 10},
                    ],
                }
            ],
        },
    },
    # A GAMMA consumer route: app's clients of db/pg, split 9:1.
    {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": "pg-split", "namespace": "app"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "pg", "namespace": "db"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "pg", "namespace": "db", "port": 8080, "weight": 9},
                        {"name": "pg-canary", "namespace": "db", "port": 8080, "weight": 1},
                    ]
                }
            ],
        },
    },
    {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "from-app", "namespace": "db"},
        "spec": {
            "from": [{"group": GW.split("/")[0], "kind": "HTTPRoute", "namespace": "app"}],
            "to": [{"group": "", "kind": "Service"}],
        },
    },
    # Gateway API ingress: one backend, so all of it.
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
            "rules": [{"backendRefs": [{"name": "front", "port": 8080}]}],
        },
    },
    # Classic Istio ingress, split 70/30 at the gateway.
    {
        "apiVersion": ISTIO,
        "kind": "Gateway",
        "metadata": {"name": "classic", "namespace": "edge"},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 443, "protocol": "HTTPS"}, "hosts": ["*/reviews.example.com"]}
            ],
        },
    },
    {
        "apiVersion": ISTIO,
        "kind": "VirtualService",
        "metadata": {"name": "public-reviews", "namespace": "shop"},
        "spec": {
            "hosts": ["reviews.example.com"],
            "gateways": ["edge/classic"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "reviews"}, "weight": 70},
                        {"destination": {"host": "reviews-canary"}, "weight": 30},
                    ]
                }
            ],
        },
    },
]

FRONT, REVIEWS, CANARY = "r/shop/front", "r/shop/reviews", "r/shop/reviews-canary"
WEB, WORKER, PG, PG_CANARY = "r/app/web", "r/app/worker", "r/db/pg", "r/db/pg-canary"
PUBLIC, CLASSIC = "ingress:r/edge/public", "ingress:r/edge/classic"
#: (source, target) -> weight, from the manifests above.
EXPECTED = {
    (FRONT, REVIEWS): 90,
    (FRONT, CANARY): 10,
    (WEB, PG): 90,
    (WEB, PG_CANARY): 10,
    (WORKER, PG): 90,
    (WORKER, PG_CANARY): 10,
    (PUBLIC, FRONT): 100,
    (CLASSIC, REVIEWS): 70,
    (CLASSIC, CANARY): 30,
}


@pytest.fixture(scope="module")
def read(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    workdir: Path = tmp_path_factory.mktemp("weights")
    with Mesh(["r"], workdir=workdir, with_backends=False, generated={"r": DOCS}) as mesh:
        return inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))


def _graph(inv: Inventory, *extra: Edge) -> nx.DiGraph:
    return build_graph(
        services=inv.services,
        external_hosts=inv.external_hosts,
        edges=[*crawl.config_edges(inv), *extra],
        routes=inv.routes,
        exposures=inv.mesh.exposures,
    )


def test_the_manifests_read_cleanly(read: Inventory) -> None:
    assert read.problems == ()
    assert len(read.mesh.exposures) == 3


def test_config_edges_carry_their_weights_in_the_graph_json(read: Inventory) -> None:
    document = json.loads(to_json(_graph(read)))
    weights = {(e["source"], e["target"]): e.get("weight") for e in document["edges"]}
    assert weights == EXPECTED
    assert all(e["origin"] == "config" for e in document["edges"])


def test_weights_survive_graphml_and_reading_back(read: Inventory) -> None:
    graph = _graph(read)
    back = from_node_link(to_json(graph))
    assert {pair: back.edges[pair]["weight"] for pair in back.edges} == EXPECTED
    graphml = nx.parse_graphml(to_graphml(graph).decode())
    assert int(graphml.edges[FRONT, CANARY]["weight"]) == 10


def test_gateways_are_ingress_callers_of_what_they_expose(read: Inventory) -> None:
    graph = _graph(read)
    assert ingress_node("r", "edge/public") == PUBLIC
    for node, name in ((PUBLIC, "public"), (CLASSIC, "classic")):
        attributes = graph.nodes[node]
        assert attributes["kind"] == "ingress"
        assert (attributes["cluster"], attributes["namespace"], attributes["name"]) == (
            "r",
            "edge",
            name,
        )
        assert attributes["label"] == f"ingress edge/{name}"
    assert sorted(graph.successors(PUBLIC)) == [FRONT]
    assert sorted(graph.successors(CLASSIC)) == [REVIEWS, CANARY]
    assert list(graph.predecessors(PUBLIC)) == list(graph.predecessors(CLASSIC)) == []
    # HTTPS terminated at the gateway: HTTP to the Service.
    assert graph.edges[CLASSIC, REVIEWS]["protocol"] == "http"
    # The Services' own nodes stay Services.
    assert graph.nodes[FRONT]["kind"] == "service"


def test_telemetry_keeps_the_weight_of_the_config_edge_it_merges_with(read: Inventory) -> None:
    observed = (
        Edge(FRONT, REVIEWS, "http", "telemetry", rps=9.0),
        # Seen only in telemetry: no route, so no weight.
        Edge(WEB, REVIEWS, "http", "telemetry", rps=1.0),
    )
    graph = _graph(read, *observed)
    merged = graph.edges[FRONT, REVIEWS]
    assert (merged["origin"], merged["rps"], merged["weight"]) == ("both", 9.0, 90)
    assert "weight" not in graph.edges[WEB, REVIEWS]


def test_without_routes_the_graph_has_no_weights_and_no_ingress(read: Inventory) -> None:
    graph = build_graph(services=read.services, external_hosts=(), edges=crawl.config_edges(read))
    assert not any("weight" in a for *_, a in graph.edges(data=True))
    assert PUBLIC not in graph and CLASSIC not in graph


def test_telemetry_from_the_gateways_workload_is_the_ingress_nodes(read: Inventory) -> None:
    # Istio deploys Gateway API Gateway edge/public (class istio) as edge/public-istio.
    observed = Edge("r/edge/public-istio", FRONT, "http", "telemetry", rps=10.0)
    graph = _graph(read, observed)
    assert "r/edge/public-istio" not in graph
    edge = graph.edges[PUBLIC, FRONT]
    assert (edge["origin"], edge["rps"], edge["weight"]) == ("both", 10.0, 100)
    # A classic Istio Gateway's Pods are chosen by selector: config cannot name them.
    classic = Edge("r/edge/istio-ingressgateway", REVIEWS, "http", "telemetry", rps=1.0)
    assert "r/edge/istio-ingressgateway" in _graph(read, classic)
