"""The crawler's own routes (publication batches, probe memory) and HttpTarget's use of them.

Real servers on loopback over SQLite and PostgreSQL; an "older server" is a
real aiohttp application with only the routes meshatlas had before batches.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

import catalog
import catalog.remote.wire
from catalog.remote import crawlwire
from catalog.server import RunningServer
from tests.test_serve import TOKEN, Api, M, publication, serving

SEEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


def spec(title: str, padding: int = 0) -> bytes:
    doc = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0", "description": "x" * padding},
        "paths": {"/things": {"get": {}}},
    }
    return json.dumps(doc).encode()


def body(
    asset_id: str, *, cluster: str = "east", padding: int = 0, **changes: Any
) -> dict[str, Any]:
    content = base64.b64encode(spec(asset_id, padding)).decode()
    out = publication(
        assetId=asset_id,
        name=asset_id,
        files=[{"classifier": "oas", "packaging": "json", "content": content}],
        operations=["GET /things"],
        instance={
            "cluster": cluster,
            "namespace": "shop",
            "service": asset_id,
            "port": 8080,
            "endpointUri": f"http://{asset_id}.shop.svc:8080",
            "environment": None,
        },
        provenance={"method": "probe", "detail": f"http://{asset_id}.shop.svc:8080/v3/api-docs"},
        **changes,
    )
    del out["seenAt"]
    return out


def draft(asset_id: str, **options: Any) -> catalog.AssetDraft:
    parsed, _ = catalog.remote.wire.publication_from_json(body(asset_id, **options))
    return parsed


@pytest.fixture
def api(catalog_url: str) -> Iterator[Api]:
    with serving(catalog_url, max_body=96 * 1024) as client:
        yield client


def batch(api: Api, publications: list[Any], **headers: str) -> httpx.Response:
    payload = {"seenAt": SEEN.isoformat(), "publications": publications}
    return api.http.post(f"{M}/publication-batches", json=payload, headers=headers or api.auth)


# -- the routes ---------------------------------------------------------------------


def test_a_batch_answers_each_publication_in_its_slot(api: Api) -> None:
    missing_name = body("shop-b")
    del missing_name["name"]
    answer = batch(api, [body("shop-a"), missing_name, body("Bad"), body("shop-c")])

    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 201]
    assert results[1]["field"] == "publications[1].name"
    assert results[2]["field"] == "asset_id"
    assert [results[i]["result"]["assetId"] for i in (0, 3)] == ["shop-a", "shop-c"]
    assert sorted(a.asset_id for a in api.store.list_assets()) == ["shop-a", "shop-c"]

    again = batch(api, [body("shop-a"), body("shop-c")]).json()["results"]
    assert [(r["status"], r["result"]["outcome"]) for r in again] == [
        (200, "unchanged"),
        (200, "unchanged"),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"publications": []}, "seenAt"),
        ({"seenAt": "2024-05-01T12:00:00", "publications": []}, "seenAt"),
        ({"seenAt": SEEN.isoformat(), "publications": {}}, "publications"),
        ({"seenAt": SEEN.isoformat(), "publications": [{}] * 501}, "publications"),
        ({"seenAt": SEEN.isoformat(), "publications": [], "extra": 1}, "extra"),
    ],
)
def test_a_malformed_batch_is_refused_whole(api: Api, payload: dict[str, Any], field: str) -> None:
    answer = api.http.post(f"{M}/publication-batches", json=payload, headers=api.auth)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert api.store.list_assets() == []


def test_batches_and_probe_memory_need_the_token(api: Api) -> None:
    assert batch(api, [body("shop-a")], Authorization="Bearer wrong").status_code == 401
    # Probe memory is crawlers' working state: not public even on a public server.
    assert api.http.get(f"{M}/probe-memory").status_code == 401
    assert api.http.post(f"{M}/probe-memory", json={}).status_code == 401
    assert api.store.list_assets() == []


def lessons(**changes: Any) -> dict[str, Any]:
    out = crawlwire.lessons_json(
        probed=[("east", "shop", "quiet"), ("west", "shop", "quiet")],
        silent=[("east", "shop", "quiet", 8080), ("west", "shop", "quiet", 8080)],
        short=[],
        checks={"k-valid": (), "k-bad": ("paths: required",)},
        at=SEEN,
    )
    out.update(changes)
    return out


def test_probe_memory_is_kept_and_read_back_by_cluster(api: Api) -> None:
    assert batch(api, [body("shop-a"), body("shop-w", cluster="west")]).status_code == 200
    kept = api.http.post(f"{M}/probe-memory", json=lessons(), headers=api.auth)
    assert kept.status_code == 204

    east = api.http.get(f"{M}/probe-memory", params={"cluster": "east"}, headers=api.auth)
    both = api.http.get(
        f"{M}/probe-memory", params=[("cluster", "east"), ("cluster", "west")], headers=api.auth
    )
    memory = crawlwire.memory_from_json(east.json())
    assert [(s.cluster, s.service, s.detail) for s in memory.sightings] == [
        ("east", "shop-a", "http://shop-a.shop.svc:8080/v3/api-docs")
    ]
    assert [(q.cluster, q.service, q.port) for q in memory.quiet_ports] == [("east", "quiet", 8080)]
    assert memory.spec_checks == {"k-valid": (), "k-bad": ("paths: required",)}
    assert len(crawlwire.memory_from_json(both.json()).sightings) == 2
    assert crawlwire.memory_from_json(both.json()).quiet_ports == tuple(
        api.store.quiet_ports(clusters=["east", "west"])
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"silent": [{"cluster": "east", "namespace": "shop", "service": "q", "port": "80"}]},
            "silent[0].port",
        ),
        (
            {"silent": [{"cluster": "east", "namespace": "shop", "service": "q", "port": 2**70}]},
            "silent[0].port",
        ),
        ({"probed": [{"cluster": "east", "namespace": "", "service": "q"}]}, "probed[0].namespace"),
        ({"checks": {"k" * 257: []}}, "checks"),
        ({"checks": {"k": ["nul\u0000"]}}, "checks.k[0]"),
        ({"checks": {"k": "not a list"}}, "checks.k"),
        ({"at": "yesterday"}, "at"),
        ({"probed": "all"}, "probed"),
    ],
)
def test_malformed_probe_lessons_change_nothing(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    answer = api.http.post(f"{M}/probe-memory", json=lessons(**changes), headers=api.auth)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert api.store.quiet_ports() == [] and api.store.spec_checks() == {}


def test_probe_memory_refuses_unknown_parameters(api: Api) -> None:
    answer = api.http.get(f"{M}/probe-memory", params={"clusters": "east"}, headers=api.auth)
    assert answer.status_code == 400 and answer.json()["field"] == "clusters"


# -- HttpTarget -----------------------------------------------------------------------


class Counted(httpx.Client):
    """A client that notes each request's method, path and answer status."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.statuses: list[int] = []
        hooks = {"request": [self._request], "response": [self._response]}
        super().__init__(timeout=30, trust_env=False, event_hooks=hooks)

    def _request(self, request: httpx.Request) -> None:
        self.calls.append((request.method, request.url.path))

    def _response(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)


def test_http_target_publishes_in_batches_and_halves_what_the_server_refuses(api: Api) -> None:
    # Each padded draft is about 40 KiB as sent and the server takes 96 KiB:
    # the first batch of four is refused (413), its halves fit.
    drafts = [draft(f"shop-{i}", padding=30_000) for i in range(7)]
    drafts.insert(3, draft("Bad"))
    client = Counted()
    with client, catalog.HttpTarget(api.running.url, token=TOKEN, client=client, batch_size=4) as t:
        results = t.publish_many(drafts, seen_at=SEEN)
        first_run = list(client.statuses)
        again = t.publish_many(drafts, seen_at=SEEN)

    assert [type(r).__name__ for r in results] == ["PublishResult"] * 3 + ["InvalidAsset"] + [
        "PublishResult"
    ] * 4
    assert [r.asset_id for r in results if isinstance(r, catalog.PublishResult)] == [
        f"shop-{i}" for i in range(7)
    ]
    assert {path for _, path in client.calls} == {f"{M}/publication-batches"}
    # One refusal, then halves; every later batch is sized to what the server takes.
    assert first_run[:3] == [413, 200, 200]
    assert set(first_run[3:]) == {200} and set(client.statuses[len(first_run) :]) == {200}
    assert {r.outcome for r in again if isinstance(r, catalog.PublishResult)} == {"unchanged"}
    assert len(api.store.list_assets()) == 7


def test_http_target_reads_and_keeps_probe_memory_through_the_server(api: Api) -> None:
    with catalog.HttpTarget(api.running.url, token=TOKEN) as target:
        target.publish_many([draft("shop-a"), draft("shop-w", cluster="west")], seen_at=SEEN)
        target.record_probes(
            probed=[("east", "shop", "quiet")],
            silent=[("east", "shop", "quiet", 9000)],
            short=[],
            checks={"k-bad": ("paths: required",)},
            at=SEEN + timedelta(minutes=1),
        )
    client = Counted()
    with client, catalog.HttpTarget(api.running.url, token=TOKEN, client=client) as target:
        sightings = target.sightings(clusters=["east"])
        quiet = target.quiet_ports(clusters=["east"])
        checks = target.spec_checks()

    assert list(sightings) == api.store.sightings(clusters=["east"])
    assert [s.service for s in sightings] == ["shop-a"]
    assert list(quiet) == api.store.quiet_ports()
    assert dict(checks) == {"k-bad": ("paths: required",)}
    assert client.calls == [("GET", f"{M}/probe-memory")]  # one request for all three


def older_server(store: catalog.CatalogStore) -> web.Application:
    """A catalogue server from before batches and probe memory: one draft per request."""

    async def publish(request: web.Request) -> web.Response:
        draft, seen_at = catalog.remote.wire.publication_from_json(await request.json())
        result = store.publish(draft, seen_at=seen_at or SEEN)
        return web.json_response(catalog.remote.wire.result_json(result), status=201)

    app = web.Application()
    app.router.add_post(f"{M}/publications", publish)
    return app


def test_http_target_works_with_an_older_server(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        running = RunningServer(older_server(store)).start()
        client = Counted()
        try:
            with client, catalog.HttpTarget(running.url, token=TOKEN, client=client) as target:
                assert target.sightings(clusters=["east"]) == ()
                assert target.spec_checks() == {}
                results = target.publish_many([draft(f"shop-{i}") for i in range(3)], seen_at=SEEN)
                target.record_probes(
                    probed=[("east", "shop", "quiet")],
                    silent=[("east", "shop", "quiet", 9000)],
                    short=[],
                    checks={},
                    at=SEEN,
                )
        finally:
            running.stop()
        assert [r.outcome for r in results if isinstance(r, catalog.PublishResult)] == [
            "created"
        ] * 3
        assert len(store.list_assets()) == 3
    assert client.calls == [
        ("GET", f"{M}/probe-memory"),
        ("POST", f"{M}/publication-batches"),
        *[("POST", f"{M}/publications")] * 3,
    ]  # each missing route was tried once; lessons were not sent after the 404


def test_http_target_stops_at_a_refusal_every_draft_would_share(api: Api) -> None:
    with catalog.HttpTarget(api.running.url, token="wrong", batch_size=2) as target:
        results = target.publish_many([draft(f"shop-{i}") for i in range(6)], seen_at=SEEN)

    assert len(results) == 2  # the first batch's two drafts, then it stopped
    assert all(isinstance(r, catalog.RemoteError) and r.status == 401 for r in results)
