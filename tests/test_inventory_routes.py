"""VirtualService routes resolved against a cluster's Services, read through the fixture API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discovery import inventory, kube
from discovery.model import ConfigRoute, ServiceKey
from fixtures.mesh import Mesh


def _service(ns: str, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80}]},
    }


def _vs(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def _to(*hosts: str) -> list[dict[str, Any]]:
    return [{"destination": {"host": h}} for h in hosts]


DOCS: list[dict[str, Any]] = [
    *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("a", "b")),
    _service("a", "web", {"app": "web", "tier": "front"}),
    _service("a", "api", {"app": "api"}),
    _service("a", "worker", {"app": "worker", "tier": "back"}),
    _service("b", "web", {"app": "web", "tier": "front"}),
    _service("b", "db", {"app": "db"}),
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "stripe", "namespace": "a"},
        "spec": {"hosts": ["api.stripe.example"], "ports": [{"number": 443}]},
    },
    # Host forms: short, name.ns, name.ns.svc..., external, unknown, another namespace.
    _vs(
        "a",
        "hosts",
        http=[
            {
                "route": _to(
                    "api",
                    "db.b",
                    "web.b.svc.cluster.local",
                    "api.stripe.example",
                    "nowhere",
                    "ghost.b.svc",
                    "worker.a.svc",
                )
            },
            {"route": _to("api", "")},  # a repeat and an empty host
        ],
    ),
    # sourceLabels name the callers, in the VirtualService's namespace or sourceNamespace.
    _vs(
        "a",
        "callers",
        http=[
            {"match": [{"sourceLabels": {"tier": "front"}}], "route": _to("api")},
            {
                "match": [{"sourceLabels": {"app": "web"}, "sourceNamespace": "b"}],
                "route": _to("db.b"),
            },
            # A conflicting label excludes a Service; one with no shared label never matches.
            {"match": [{"sourceLabels": {"app": "web", "tier": "back"}}], "route": _to("api")},
            {"match": [{"sourceLabels": {"role": "x"}}], "route": _to("worker")},
        ],
        tcp=[{"match": [{"sourceLabels": {"app": "api"}}], "route": _to("worker.a")}],
    ),
]


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ConfigRoute]]:
    workdir: Path = tmp_path_factory.mktemp("routes")
    with Mesh(["r"], workdir=workdir, with_backends=False, generated={"r": DOCS}) as mesh:
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))
        assert inv.problems == ()
        yield list(inv.routes)


def key(ns: str, name: str) -> ServiceKey:
    return ServiceKey("r", ns, name)


def test_destination_hosts_resolve_to_services_or_stay_hosts(routes: list[ConfigRoute]) -> None:
    via = "VirtualService a/hosts"
    assert [(r.source, r.target) for r in routes if r.via == via] == [
        (None, key("a", "api")),
        (None, key("b", "db")),
        (None, key("b", "web")),
        (None, "api.stripe.example"),
        (None, "nowhere"),
        (None, "ghost.b.svc"),
        (None, key("a", "worker")),
    ]


def test_source_labels_name_the_calling_services(routes: list[ConfigRoute]) -> None:
    via = "VirtualService a/callers"
    assert [(r.source, r.target) for r in routes if r.via == via] == [
        (key("a", "web"), key("a", "api")),
        (key("b", "web"), key("b", "db")),
        (None, key("a", "api")),
        (None, key("a", "worker")),
        (key("a", "api"), key("a", "worker")),
    ]


PREFIX_DOCS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p"}},
    _service("p", "orders", {"app": "orders"}),
    _service("p", "legacy", {"app": "legacy"}),
    _service("p", "plain", {"app": "plain"}),
    _vs(
        "p",
        "edge",
        hosts=["orders", "legacy"],
        http=[
            # Mounted where Istio routes it: the Service sees the prefix.
            {"match": [{"uri": {"prefix": "/api/orders/"}}], "route": _to("orders")},
            # Rewritten before it arrives: the Service sees the rewrite's target.
            {
                "match": [{"uri": {"prefix": "/old"}}],
                "rewrite": {"uri": "/v1"},
                "route": _to("legacy.p.svc.cluster.local"),
            },
            {
                "match": [{"uri": {"prefix": "/gone"}}],
                "rewrite": {"uri": "/"},
                "route": _to("plain"),
            },
            {"match": [{"uri": {"exact": "/health"}}], "route": _to("plain")},
        ],
    ),
]


def test_route_prefixes_say_where_each_service_is_mounted(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir: Path = tmp_path_factory.mktemp("prefixes")
    with Mesh(["r"], workdir=workdir, with_backends=False, generated={"r": PREFIX_DOCS}) as mesh:
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))
    prefixes = {s.key.name: s.path_prefixes for s in inv.services}
    assert prefixes == {"orders": ("/api/orders",), "legacy": ("/v1",), "plain": ()}


def test_fqdn_endpoints_are_never_taken_for_addresses(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    headless = _service("p", "names", {"app": "names"})
    headless["spec"]["clusterIP"] = "None"
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p"}},
        headless,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "names-x",
                "namespace": "p",
                "labels": {"kubernetes.io/service-name": "names"},
            },
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["localhost"], "conditions": {"ready": True}}],
        },
    ]
    workdir: Path = tmp_path_factory.mktemp("fqdn")
    with Mesh(["r"], workdir=workdir, with_backends=False, generated={"r": docs}) as mesh:
        inv = inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))
    (service,) = inv.services
    assert service.ready_addresses == ()
    assert any("FQDNs, not addresses" in note for note in inv.notes)
