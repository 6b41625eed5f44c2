"""The ambient fixture cluster crawled by the real CLI, its telemetry in a real Prometheus.

``meshatlas discover`` runs as a subprocess against the fixture API server
(cluster ``ambient``) and backends, with the series of
:mod:`fixtures.telemetry_ambient` backfilled into the Debian ``prometheus``.
Expected edges, rates, error rates and latency come from the calls' truth
(:data:`~fixtures.telemetry_ambient.AMBIENT_CALLS`) and the bucket arithmetic
of their latency shares; exposure from the cluster's manifests
(fixtures/clusters/ambient); never from meshatlas's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

import catalog
from catalog.exports.backstage import EXPOSED_AT
from catalog.model import InstanceExposure, InstanceSubset
from fixtures.mesh import Mesh
from fixtures.telemetry import DEMO_END, PrometheusServer, expected_quantile
from fixtures.telemetry_ambient import AMBIENT_CALLS, WAYPOINT, Call, write_openmetrics
from fixtures.telemetry_backends import serving
from meshatlas.job import catalogues
from tests.conftest import mesh_octet
from tests.serving import serve_process

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "ambient"
WAYPOINT_NODE = f"{CLUSTER}/{WAYPOINT[0]}/{WAYPOINT[1]}"
PUBLIC = f"ingress:{CLUSTER}/istio-ingress/public"
EDGE = f"ingress:{CLUSTER}/istio-ingress/edge"
WEB, BILLING = f"{CLUSTER}/store/web", f"{CLUSTER}/legacy/billing"


@dataclass(frozen=True)
class Crawl:
    code: int
    graph: dict[str, Any]
    report: dict[str, Any]
    catalog: str | None


def _node(end: tuple[str, str] | str) -> str:
    return end if isinstance(end, str) else f"{CLUSTER}/{end[0]}/{end[1]}"


def _through_ingress(call: Call) -> bool:
    return call.client[0] == "istio-ingress"


#: (source, target) -> protocol, rate, error rate, latency shares: what each call is.
TRUTH: dict[tuple[str, str], tuple[str, float, float | None, Any]] = {
    (_node(c.client), _node(c.server)): (
        ("tcp", c.connections, None, None)
        if c.path in ("l4", "egress")
        else ("http", c.rps, c.error_rate, c.latency)
    )
    for c in AMBIENT_CALLS
    if not _through_ingress(c)
}


def _crawl(
    mesh: Mesh, prometheus: PrometheusServer, out: Path, *extra: str, catalogue: str | None = None
) -> Crawl:
    db = catalogue or f"sqlite:///{out / 'catalog.db'}"
    command = [sys.executable, "-m", "meshatlas.cli", "discover", "--kubeconfig"]
    command += [str(mesh.kubeconfig), "--out", str(out), "--prometheus", prometheus.url]
    command += ["--telemetry-at", str(DEMO_END), "--catalog", db, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert (out / "graph.json").exists(), done.stderr[-3000:]
    return Crawl(
        code=done.returncode,
        graph=json.loads((out / "graph.json").read_text()),
        report=json.loads((out / "report.json").read_text()),
        catalog=None if "--dry-run" in extra or catalogue else db,
    )


#: What the previous release's server took in a draft's instance (306001f,
#: catalog/remote/wire.py ``_INSTANCE_FIELDS``): anything else is refused.
OLD_INSTANCE_FIELDS = {"cluster", "namespace", "service", "port", "endpointUri", "environment"}


def _older_server(received: list[dict[str, Any]], *, status: int = 400) -> web.Application:
    """A catalogue server answering as the release before exposure did (306001f).

    Its refusal is that release's: ``read_object`` names the first unknown
    field in sorted order, ``"<field>: is not a known field"``, as a 400
    ``{"status", "error", "message", "field"}`` alone and in a batch's slot
    (``crawlwire.batch_results_json``). Routes it did not have (run-graphs)
    answer 404, as aiohttp does for any unknown route.
    """

    def refusal(where: str, body: dict[str, Any]) -> str | None:
        unknown = sorted(set(body["instance"]) - OLD_INSTANCE_FIELDS)
        return f"{where}instance.{unknown[0]}" if unknown else None

    def result(body: dict[str, Any]) -> dict[str, Any]:
        received.append(body)
        return {
            "groupId": body["groupId"],
            "assetId": body["assetId"],
            "version": "1.0.0",
            "outcome": "created",
            "reason": "first publication",
        }

    async def publication(request: web.Request) -> web.Response:
        body = await request.json()
        if "instance" not in body:  # the preflight's empty publication
            field = "groupId"
            message = f"{field}: is required"
            return web.json_response(
                {"status": 400, "error": "Bad Request", "message": message, "field": field},
                status=400,
            )
        field = refusal("", body)
        if field is not None:
            message = f"{field}: is not a known field"
            return web.json_response(
                {"status": status, "error": "Bad Request", "message": message, "field": field},
                status=status,
            )
        return web.json_response(result(body), status=201)

    async def batch(request: web.Request) -> web.Response:
        answers: list[dict[str, Any]] = []
        for index, body in enumerate((await request.json())["publications"]):
            field = refusal(f"publications[{index}].", body)
            if field is None:
                answers.append({"status": 201, "result": result(body)})
            else:
                message = f"{field}: is not a known field"
                answers.append({"status": 400, "message": message, "field": field})
        return web.json_response({"results": answers})

    async def memory(request: web.Request) -> web.Response:
        if request.method == "POST":
            return web.Response(status=204)
        return web.json_response({"sightings": [], "quietPorts": [], "specChecks": {}})

    async def run(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {
                "runId": 1,
                "groupId": body["groupId"],
                "counted": True,
                "seen": body["seen"],
                "missed": [],
                "deprecated": [],
                "restored": [],
                "held": [],
                "stale": [],
            },
            status=201,
        )

    app = web.Application()
    app.router.add_post("/meshatlas/api/v1/publications", publication)
    app.router.add_post("/meshatlas/api/v1/publication-batches", batch)
    app.router.add_route("*", "/meshatlas/api/v1/probe-memory", memory)
    app.router.add_post("/meshatlas/api/v1/runs", run)
    return app


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Crawl]]:
    workdir = tmp_path_factory.mktemp("ambient-crawl")
    with (
        PrometheusServer(workdir / "prometheus", series=write_openmetrics) as prometheus,
        Mesh([CLUSTER], octet=mesh_octet(7), workdir=workdir / "mesh") as mesh,
    ):
        (workdir / "default").mkdir()
        (workdir / "hops").mkdir()
        (workdir / "older").mkdir()
        with serving(_older_server(OLDER_RECEIVED)) as older:
            through_older = _crawl(mesh, prometheus, workdir / "older", catalogue=older)
        yield {
            "default": _crawl(mesh, prometheus, workdir / "default"),
            "hops": _crawl(mesh, prometheus, workdir / "hops", "--show-waypoints", "--dry-run"),
            "older": through_older,
        }


#: The publications the older server took, in order.
OLDER_RECEIVED: list[dict[str, Any]] = []


def _edges(crawl: Crawl) -> dict[tuple[str, str], dict[str, Any]]:
    pairs = [(e["source"], e["target"]) for e in crawl.graph["edges"]]
    assert len(pairs) == len(set(pairs)), "an edge came out twice"
    return {(e["source"], e["target"]): e for e in crawl.graph["edges"]}


def _nodes(crawl: Crawl) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in crawl.graph["nodes"]}


def test_the_crawl_completes_without_problems(crawls: dict[str, Crawl]) -> None:
    for name in ("default", "hops"):
        assert crawls[name].code == 0
        assert crawls[name].report["problems"] == []


def test_an_older_server_takes_the_drafts_without_exposure_and_says_so(
    crawls: dict[str, Crawl],
) -> None:
    older = crawls["older"]
    # Every API of the crawl reached the server once, with what it knows only.
    apis = {
        (s["namespace"], s["name"], a["port"]) for s in older.report["services"] for a in s["apis"]
    }
    taken = {(b["instance"]["namespace"], b["instance"]["service"]) for b in OLDER_RECEIVED}
    assert len(OLDER_RECEIVED) == len(apis) == len(taken)
    assert all(set(b["instance"]) <= OLD_INSTANCE_FIELDS for b in OLDER_RECEIVED)
    # Three instances carry exposure or subsets (fixtures/clusters/ambient: web and
    # billing are exposed, cart has DestinationRule subsets).
    [problem] = older.report["problems"]
    assert problem["what"] == "published in part"
    assert problem["why"].startswith("3 instance(s) published without where they are exposed")
    assert "is not a known field" in problem["why"]
    assert older.code == 3


@pytest.mark.parametrize("pair", sorted(TRUTH))
def test_every_logical_edge_once_with_its_true_rate(
    crawls: dict[str, Crawl], pair: tuple[str, str]
) -> None:
    protocol, rate, error_rate, latency = TRUTH[pair]
    edge = _edges(crawls["default"])[pair]
    assert (edge["protocol"], edge["origin"]) == (protocol, "telemetry")
    assert edge["rps"] == pytest.approx(rate, rel=1e-9)
    if error_rate is None:
        assert edge["error_rate"] is None and edge["p95_ms"] is None
    else:
        assert edge["error_rate"] == pytest.approx(error_rate, abs=1e-12)
        assert edge["p95_ms"] == pytest.approx(expected_quantile(latency, 0.95), rel=1e-9)


def test_the_default_graph_is_the_calls_and_the_gateways(crawls: dict[str, Crawl]) -> None:
    edges = _edges(crawls["default"])
    ingress = {pair for pair in edges if pair not in TRUTH}
    # Each ingress-routed Service has its gateway as caller; the classic Istio
    # Gateway's Pods are picked by selector, so telemetry's name for them stays.
    assert ingress == {
        (PUBLIC, WEB),
        (EDGE, BILLING),
        (f"{CLUSTER}/istio-ingress/istio-ingressgateway", BILLING),
    }
    # The Gateway API Gateway's workload (public-istio) is the ingress node itself.
    assert edges[PUBLIC, WEB]["origin"] == "both"
    assert edges[PUBLIC, WEB]["weight"] == edges[EDGE, BILLING]["weight"] == 100
    assert edges[EDGE, BILLING]["origin"] == "config"
    nodes = _nodes(crawls["default"])
    assert nodes[PUBLIC]["kind"] == nodes[EDGE]["kind"] == "ingress"
    assert not any("waypoint" in n or "ztunnel" in n for n in nodes)


def test_waypoint_hops_are_shown_only_with_the_flag(crawls: dict[str, Crawl]) -> None:
    default, hops = _edges(crawls["default"]), _edges(crawls["hops"])
    assert set(hops) - set(default) == {
        (WEB, WAYPOINT_NODE),
        (WAYPOINT_NODE, f"{CLUSTER}/store/cart"),
        (WAYPOINT_NODE, f"{CLUSTER}/store/cart-canary"),
    }
    # The hops are ztunnel's connections (fixture: 1.8/s to cart, 0.2/s to the canary).
    assert hops[WEB, WAYPOINT_NODE]["rps"] == pytest.approx(2.0)
    assert hops[WAYPOINT_NODE, f"{CLUSTER}/store/cart"]["rps"] == pytest.approx(1.8)
    assert hops[WAYPOINT_NODE, f"{CLUSTER}/store/cart-canary"]["rps"] == pytest.approx(0.2)
    # The logical edges keep their numbers.
    for pair in TRUTH:
        assert hops[pair]["rps"] == default[pair]["rps"]
    assert _nodes(crawls["hops"])[WAYPOINT_NODE]["kind"] == "unknown"


def test_ingress_edges_carry_the_gateways_true_rate(crawls: dict[str, Crawl]) -> None:
    # istio-ingress holds no inventory Service: the gateways' own (client-side)
    # series are read because the server side names them as callers.
    edges = _edges(crawls["default"])
    truth = {_node(c.server): c for c in AMBIENT_CALLS if _through_ingress(c)}
    public = edges[PUBLIC, WEB]
    assert (public["protocol"], public["rps"]) == ("http", truth[WEB].rps)
    classic = edges[f"{CLUSTER}/istio-ingress/istio-ingressgateway", BILLING]
    assert classic["rps"] == pytest.approx(truth[BILLING].rps)
    assert classic["error_rate"] == pytest.approx(truth[BILLING].client_only_errors)


def test_the_catalogue_says_where_each_instance_is_exposed(crawls: dict[str, Crawl]) -> None:
    db = crawls["default"].catalog
    assert db is not None
    with catalog.open_store(db) as store:
        exposure = {
            f"{i.namespace}/{i.service}": set(i.exposure)
            for a in store.list_assets()
            for i in a.latest.instances
        }
    # fixtures/clusters/ambient: HTTPRoute store/web on Gateway istio-ingress/public
    # (listener http, 80, shop.example.com, PathPrefix /); VirtualService legacy/billing
    # on Istio Gateway istio-ingress/edge (HTTP 80, billing.example.com, prefix /billing).
    assert exposure == {
        "store/web": {
            InstanceExposure(
                gateway="istio-ingress/public",
                source="gateway-api",
                host="shop.example.com",
                port=80,
                path="/",
                path_match="prefix",
                protocol="HTTP",
                route="HTTPRoute store/web",
            )
        },
        "legacy/billing": {
            InstanceExposure(
                gateway="istio-ingress/edge",
                source="istio",
                host="billing.example.com",
                port=80,
                path="/billing",
                path_match="prefix",
                protocol="HTTP",
                route="VirtualService legacy/billing",
            )
        },
        "store/cart": set(),
        "store/cart-canary": set(),
        "ledger/accounts": set(),
    }


def test_destination_rule_subsets_are_the_cart_versions(crawls: dict[str, Crawl]) -> None:
    # fixtures/clusters/ambient/istio.yaml: DestinationRule store/cart, subsets v1 and v2
    # by their version labels, for host cart.store.svc.cluster.local only.
    cart = f"{CLUSTER}/store/cart"
    nodes = _nodes(crawls["default"])
    assert nodes[cart]["versions"] == ["v1", "v2"]
    assert "versions" not in nodes[f"{CLUSTER}/store/cart-canary"]
    db = crawls["default"].catalog
    assert db is not None
    with catalog.open_store(db) as store:
        subsets = {
            f"{i.namespace}/{i.service}": set(i.subsets)
            for a in store.list_assets()
            for i in a.latest.instances
        }
    rule = "DestinationRule store/cart"
    assert subsets.pop("store/cart") == {
        InstanceSubset("v1", "v1", rule),
        InstanceSubset("v2", "v2", rule),
    }
    assert all(found == set() for found in subsets.values())


def test_a_served_catalogue_reads_back_exposure_and_subsets(
    crawls: dict[str, Crawl], tmp_path: Path
) -> None:
    db = crawls["default"].catalog
    assert db is not None
    with catalog.open_store(db) as store:
        stored = {
            (a.asset_id, i.service): (i.exposure, i.subsets)
            for a in store.list_assets()
            for i in a.latest.instances
        }
    with serve_process(db, tmp_path, token="t0ken") as url:
        served = catalogues.read_assets(catalogues.parse(url))
        out = tmp_path / "backstage"
        command = [sys.executable, "-m", "meshatlas.cli", "export", "backstage"]
        command += ["--catalog", url, "--out", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    # What the server says is what the database holds, exposure and subsets included.
    assert {
        (a.asset_id, i.service): (i.exposure, i.subsets) for a in served for i in a.latest.instances
    } == stored
    apis = {
        e["metadata"]["name"]: e["metadata"].get("annotations", {})
        for e in _yaml_documents(out)
        if e.get("kind") == "API"
    }
    exposed = {name: a[EXPOSED_AT] for name, a in apis.items() if EXPOSED_AT in a}
    # fixtures/clusters/ambient: the HTTPRoute and the VirtualService above.
    assert sorted(exposed.values()) == [
        "billing.example.com:80/billing (istio-ingress/edge)",
        "shop.example.com:80/ (istio-ingress/public)",
    ]


def _yaml_documents(out: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(out.rglob("*.y*ml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    for path in sorted(out.rglob("*.json")):
        loaded = json.loads(path.read_text())
        found += loaded if isinstance(loaded, list) else [loaded]
    return found


@pytest.mark.parametrize("status", [400, 422])
def test_an_older_server_refusing_one_publication_gets_it_once_without(status: int) -> None:
    received: list[dict[str, Any]] = []
    exposed = InstanceExposure(
        gateway="istio-ingress/public", source="gateway-api", host="a.example"
    )
    place = catalog.Instance(
        "ambient", "store", "web", 8080, "http://web.store.svc:8080", exposure=(exposed,)
    )
    draft = catalog.AssetDraft(
        group_id="acme",
        asset_id="store-web",
        name="Web",
        type="http-api",
        description=None,
        spec_version_hint=None,
        files=(),
        operations=(),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=place,
        dependencies=(),
        provenance=catalog.Provenance(method="probe", detail="http://web.store.svc:8080/"),
    )
    with serving(_older_server(received, status=status)) as url:
        target = catalog.HttpTarget(url)
        try:
            first = target.publish(draft, seen_at=datetime.now(UTC))
            second = target.publish(draft, seen_at=datetime.now(UTC))
        finally:
            target.close()
    # Refused once with exposure, then taken without it; the next is sent without at once.
    assert (first.outcome, second.outcome) == ("created", "created")
    assert [set(b["instance"]) <= OLD_INSTANCE_FIELDS for b in received] == [True, True]
    [note] = target.notes
    assert note.startswith("1 instance(s) published without where they are exposed")
    assert "instance.exposure: is not a known field" in note
