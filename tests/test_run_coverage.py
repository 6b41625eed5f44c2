"""What a run can tell, Service by Service: :func:`meshatlas.job.publishing.coverage`.

Narrow tests over discovery's own values; the same rules end to end, against a
fixture cluster and a real catalogue, are in ``tests/test_lifecycle_mesh.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

import catalog
from catalog.remote import wire
from catalog.server import RunningServer
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.model import (
    Discovery,
    Inventory,
    Overrides,
    Problem,
    Service,
    ServiceFindings,
    ServiceKey,
    ServicePort,
)
from meshatlas.job import publishing
from meshatlas.job.publishing import coverage


def port(number: int, protocol: str = "http") -> ServicePort:
    return ServicePort(f"{protocol}-{number}", number, number, "TCP", None, protocol)  # type: ignore[arg-type]


def service(name: str, *ports: ServicePort, cluster: str = "east", **changes: Any) -> Service:
    base: dict[str, Any] = {
        "key": ServiceKey(cluster, "shop", name),
        "type": "ClusterIP",
        "headless": False,
        "cluster_ips": ("127.0.0.1",),
        "external_name": None,
        "ports": ports or (port(8080),),
        "ready_addresses": ("127.0.0.1",),
    }
    return Service(**{**base, **changes})


def found(
    *findings: ServiceFindings,
    problems: tuple[Problem, ...] = (),
    clusters: tuple[str, ...] = ("east",),
) -> Discovery:
    inventory = Inventory(
        clusters=clusters,
        services=tuple(f.service for f in findings),
        external_hosts=(),
        routes=(),
        problems=problems,
    )
    every = problems + tuple(p for f in findings for p in f.problems)  # as discovery says them
    return Discovery(inventory=inventory, findings=findings, edges=(), problems=every)


def probed(svc: Service, *problems: Problem) -> ServiceFindings:
    return ServiceFindings(service=svc, apis=(), skipped=(), requests=1, problems=problems)


def judge(discovery: Discovery, **options: Any) -> Any:
    arguments: dict[str, Any] = {
        "namespaces": (),
        "exclude_namespaces": DEFAULT_EXCLUDED,
        "selector": None,
        **options,
    }
    return coverage(discovery, **arguments)


def ref(name: str, cluster: str = "east") -> tuple[str, str, str]:
    return (cluster, "shop", name)


def test_services_that_answered_and_those_that_could_not_say() -> None:
    timeout = Problem("east/shop/silent:8080", "probe failed", "no complete answer within 1s")
    discovery = found(
        probed(service("orders")),
        probed(service("silent"), timeout),
        probed(service("idle", ready_addresses=())),  # scaled to zero
        probed(service("wide", *(port(8000 + n) for n in range(3)))),
        probed(service("ext", type="ExternalName", external_name="api.example", ports=())),
        probed(service("pinned", port(80), port(81), overrides=Overrides(port="80"))),
        probed(service("tcp", port(6379, "redis"))),
        probed(service("refused")),
    )

    clusters, covered = judge(discovery, max_ports=2, unpublished={ref("refused")})

    assert clusters == ("east",)
    assert covered.answered == {ref("orders"), ref("ext"), ref("pinned"), ref("tcp")}
    # wide has more ports to probe than --probe-max-ports: not read in full.
    assert covered.unsure == {ref("silent"), ref("idle"), ref("wide"), ref("refused")}
    assert covered.listed and covered.unlisted == frozenset()
    assert covered.excluded == frozenset(DEFAULT_EXCLUDED)


def test_inventory_problems_decide_what_was_listed() -> None:
    name = "arn:aws:eks:eu-west-1:1:cluster/east"  # a context name with colons
    problems = (
        Problem(f"{name}:/api/v1/namespaces/pay/services", "services in namespace pay not readable",
                "HTTP 403: forbidden"),
        Problem(f"{name}:/apis/discovery.k8s.io/v1/endpointslices",
                "endpointslices not readable; every Service is probed by cluster IP", "HTTP 500"),
        Problem(f"{name}:/apis/networking.istio.io/v1/virtualservices",
                "Istio virtualservices not readable", "HTTP 403"),
        Problem("west:/api/v1/namespaces", "namespaces not readable; namespace annotations ignored",
                "HTTP 403"),
    )  # fmt: skip
    discovery = found(
        probed(service("orders", cluster=name)),
        probed(service("orders", cluster="west")),
        problems=problems,
        clusters=(name, "west"),
    )

    clusters, covered = judge(discovery)

    assert clusters == (name,)  # west's namespace annotations were lost
    assert covered.unlisted == {(name, "pay")}
    assert covered.answered == {ref("orders", name)}


def test_a_problem_that_names_no_cluster_leaves_nothing_judged() -> None:
    problem = Problem("/apis/x", "meshatlas does not read /apis/x", "")
    clusters, covered = judge(found(probed(service("orders")), problems=(problem,)))
    assert clusters == () and covered.answered == frozenset()


def test_a_selector_and_named_namespaces_narrow_what_absence_means() -> None:
    _, selected = judge(found(probed(service("orders"))), selector="team=shop")
    _, named = judge(found(probed(service("orders"))), namespaces=("shop",))
    assert not selected.listed and selected.answered == {ref("orders")}
    assert named.listed and named.excluded == frozenset()


# -- a catalogue server from before per-Service judgement ------------------------------

_OLD_RUN_FIELDS = {
    "groupId": True,
    "seen": True,
    "startedAt": True,
    "finishedAt": True,
    "complete": False,
    "deprecateAfter": False,
    "clusters": False,
    "namespaces": False,
}


def _older_server(store: catalog.CatalogStore, bodies: list[dict[str, Any]]) -> web.Application:
    """Takes runs as meshatlas did before coverage: unknown fields are a 400 naming them."""

    async def record(request: web.Request) -> web.Response:
        body = await request.json()
        bodies.append(body)
        try:
            wire.read_object("", body, _OLD_RUN_FIELDS)
        except catalog.InvalidAsset as exc:
            answer = {"status": 400, "error": "Bad Request", "message": str(exc)}
            return web.json_response({**answer, "field": exc.field}, status=400)
        summary = store.record_run(**wire.run_from_json(body))
        old = {k: v for k, v in wire.summary_json(summary).items() if k not in ("held", "stale")}
        return web.json_response(old, status=201)

    app = web.Application()
    app.router.add_post("/meshatlas/api/v1/runs", record)
    return app


def test_an_older_server_gets_the_run_judged_as_a_whole(catalog_url: str) -> None:
    started = datetime(2024, 5, 1, 12, tzinfo=UTC)
    timeout = Problem("east/shop/silent:8080", "probe failed", "no complete answer within 1s")
    discovery = found(probed(service("orders")), probed(service("silent"), timeout))
    bodies: list[dict[str, Any]] = []
    with catalog.open_store(catalog_url) as store:
        running = RunningServer(_older_server(store, bodies)).start()
        try:
            with catalog.HttpTarget(running.url, token="t") as target:
                done = publishing.publish_all(
                    target=target,
                    shown_url=running.url,
                    group_id="acme",
                    planned=[],
                    found=discovery,
                    started=started,
                    namespaces=(),
                    exclude_namespaces=DEFAULT_EXCLUDED,
                    selector=None,
                    deprecate_after=3,
                )
        finally:
            running.stop()
    assert len(bodies) == 2 and bodies[0]["coverage"]["unsure"] == [
        {"cluster": "east", "namespace": "shop", "service": "silent"}
    ]
    assert "coverage" not in bodies[1] and "staleAfter" not in bodies[1]
    assert bodies[1]["complete"] is False  # a Service had a problem: counted as a whole
    assert done.run is not None and not done.run.counted
    assert done.problems == []
