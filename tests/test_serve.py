"""The catalogue's REST API through real HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

import catalog
import catalog.remote.wire
from catalog import server
from catalog.server import Auth, RunningServer
from fixtures.ports import free_port

TOKEN = "s3cret-token-for-tests"
E = "/exchange/api/v2"
M = "/meshatlas/api/v1"
SPEC = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": "not-semver"},
        "paths": {"/orders": {"get": {}}, "/orders/{id}": {"get": {}}},
    }
).encode()


def publication(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "groupId": "acme",
        "assetId": "shop-orders",
        "name": "Orders",
        "type": "rest-api",
        "description": "Order intake",
        "specVersion": None,
        "files": [
            {"classifier": "oas", "packaging": "json", "content": base64.b64encode(SPEC).decode()}
        ],
        "operations": ["GET /orders", "GET /orders/{id}"],
        "tags": ["checkout"],
        "owner": "team-shop",
        "lifecycle": None,
        "instance": {
            "cluster": "east",
            "namespace": "shop",
            "service": "orders",
            "port": 8000,
            "endpointUri": "http://orders.shop.svc:8000",
            "environment": None,
        },
        "dependencies": ["acme:shop-payments"],
        "provenance": {"method": "probe", "detail": "http://orders.shop.svc:8000/openapi.json"},
        "seenAt": "2024-05-01T12:00:00+00:00",
    }
    body.update(changes)
    return body


class Api:
    """A running server, a client for it, and the store behind it."""

    def __init__(self, store: catalog.CatalogStore, running: RunningServer) -> None:
        self.store = store
        self.running = running
        self.http = httpx.Client(base_url=running.url, timeout=30)
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def publish(self, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(f"{M}/publications", json=body or publication(), headers=self.auth)


def start(store: catalog.CatalogStore, **options: Any) -> RunningServer:
    hashes = server.parse_hashes([server.hash_token(TOKEN)])
    auth = Auth(token_hashes=hashes, private=options.pop("private", False))
    return RunningServer(server.make_app(store, auth=auth, **options)).start()


@contextlib.contextmanager
def serving(catalog_url: str, *, max_body: int) -> Iterator[Api]:
    """A server over the catalogue at ``catalog_url``, taking bodies up to ``max_body``."""
    with catalog.open_store(catalog_url) as store:
        running = start(store, max_body=max_body)
        client = Api(store, running)
        try:
            yield client
        finally:
            client.http.close()
            running.stop()


@pytest.fixture
def api(catalog_url: str) -> Iterator[Api]:
    with serving(catalog_url, max_body=256 * 1024) as client:
        yield client


def snapshot(store: catalog.CatalogStore) -> list[catalog.Asset]:
    return store.list_assets()


# -- the document and the probes ------------------------------------------------------


def test_openapi_document_is_valid_and_describes_every_route(api: Api) -> None:
    document = api.http.get("/openapi.json").json()
    validate(document)

    app = server.make_app(api.store)
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routes == described


def test_health_and_readiness(api: Api) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    assert api.http.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "db"
    home.mkdir()
    store = catalog.open_store(f"sqlite:///{home / 'c.db'}")
    try:
        with start(store) as running:
            assert httpx.get(f"{running.url}/readyz").status_code == 200
            store.engine.dispose()
            shutil.rmtree(home)  # no file, no directory: SQLite cannot open it
            response = httpx.get(f"{running.url}/readyz")
            assert httpx.get(f"{running.url}/healthz").status_code == 200
    finally:
        store.close()
    assert response.status_code == 503
    assert response.json()["message"] == "the catalogue database does not answer"


# -- publishing -----------------------------------------------------------------------


def test_publishing_needs_a_valid_bearer_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = api.http.post(f"{M}/publications", json=publication(), headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "bearer token" in response.json()["message"]
    assert snapshot(api.store) == []


def test_a_server_without_tokens_is_read_only(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        with RunningServer(server.make_app(store)) as running:
            response = httpx.post(
                f"{running.url}{M}/publications",
                json=publication(),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert httpx.get(f"{running.url}{E}/assets").status_code == 200
    assert response.status_code == 401
    assert "read-only" in response.json()["message"]


def test_publish_creates_then_reports_unchanged(api: Api) -> None:
    first = api.publish()
    again = api.publish()

    assert first.status_code == 201
    assert first.json() == {
        "groupId": "acme",
        "assetId": "shop-orders",
        "version": "1.0.0",
        "outcome": "created",
        "reason": "first version; spec declares no version, so 1.0.0",
    }
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    asset = api.store.get("acme", "shop-orders")
    assert asset.first_seen == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert asset.latest.files[0].content == SPEC


def test_a_changed_spec_gets_a_bump_with_its_reason(api: Api) -> None:
    api.publish()
    spec = json.loads(SPEC)
    spec["paths"]["/refunds"] = {"post": {}}
    content = base64.b64encode(json.dumps(spec).encode()).decode()
    changed = publication(
        files=[{"classifier": "oas", "packaging": "json", "content": content}],
        operations=["GET /orders", "GET /orders/{id}", "POST /refunds"],
    )
    result = api.publish(changed).json()

    assert result["version"] == "1.1.0"
    assert "minor bump after 1.0.0 (1 operation added: POST /refunds)" in result["reason"]


def test_an_explicit_gav_is_published_once(api: Api) -> None:
    body = publication()
    del body["groupId"], body["assetId"]  # taken from the path
    url = f"{E}/assets/acme/shop-orders/2.0.0"

    created = api.http.post(url, json=body, headers=api.auth)
    again = api.http.post(url, json=body, headers=api.auth)
    other = api.http.post(f"{E}/assets/acme/shop-orders/2.1.0", json=body, headers=api.auth)

    assert (created.status_code, created.json()["version"]) == (201, "2.0.0")
    assert again.status_code == 409
    assert "already published" in again.json()["message"]
    assert other.status_code == 409
    assert "already published as 2.0.0" in other.json()["message"]
    assert [v.version for v in api.store.get("acme", "shop-orders").versions] == ["2.0.0"]


def test_a_body_naming_another_asset_than_the_path_is_refused(api: Api) -> None:
    url = f"{E}/assets/acme/shop-orders/2.0.0"
    response = api.http.post(url, json=publication(assetId="other"), headers=api.auth)
    assert (response.status_code, response.json()["field"]) == (400, "assetId")


# -- reading ----------------------------------------------------------------------------


@pytest.fixture
def filled(api: Api) -> Api:
    api.publish()
    api.publish(
        publication(
            assetId="billing-invoice-ws",
            name="Invoice service",
            type="soap-api",
            files=[],
            operations=["CreateInvoice"],
            tags=["finance"],
            lifecycle="stable",
            dependencies=[],
            instance={**publication()["instance"], "namespace": "billing", "cluster": "west"},
        )
    )
    api.publish(publication(assetId="shop-payments", files=[], operations=["POST /pay"]))
    return api


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["billing-invoice-ws", "shop-orders", "shop-payments"]),
        ("?search=createinvoice", ["billing-invoice-ws"]),
        ("?search=/orders/{id}", ["shop-orders"]),
        ("?search=finance", ["billing-invoice-ws"]),
        ("?types=soap-api", ["billing-invoice-ws"]),
        ("?type=rest-api&namespace=shop", ["shop-orders", "shop-payments"]),
        ("?cluster=west", ["billing-invoice-ws"]),
        ("?lifecycle=stable", ["billing-invoice-ws"]),
        ("?groupId=acme&limit=1&offset=1", ["shop-orders"]),
    ],
)
def test_search(filled: Api, query: str, expected: list[str]) -> None:
    for path in (f"{E}/assets/search", f"{E}/assets"):
        response = filled.http.get(path + query)
        assert response.status_code == 200
        assert [a["assetId"] for a in response.json()] == expected
    total = filled.http.get(f"{E}/assets/search{query}").headers["X-Total-Count"]
    assert int(total) == (3 if "limit" in query else len(expected))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=ten", "limit"),
        ("?offset=-1", "offset"),
        ("?types=soap", "type"),
        ("?lifecycle=retired", "lifecycle"),
        ("?sort=name", "sort"),
    ],
)
def test_search_refuses_bad_parameters(filled: Api, query: str, field: str) -> None:
    response = filled.http.get(f"{E}/assets/search{query}")
    assert (response.status_code, response.json()["field"]) == (400, field)


def test_get_asset_and_its_versions(filled: Api) -> None:
    asset = filled.http.get(f"{E}/assets/acme/shop-orders").json()

    assert (asset["groupId"], asset["assetId"], asset["version"]) == (
        "acme",
        "shop-orders",
        "1.0.0",
    )
    assert asset["type"] == "rest-api" and asset["lifecycle"] == "development"
    assert asset["tags"] == ["checkout"] and asset["owner"] == "team-shop"
    assert asset["dependencies"] == [
        {"groupId": "acme", "assetId": "shop-payments", "version": "1.0.0"}
    ]
    assert [v["version"] for v in asset["versions"]] == ["1.0.0"]
    [file] = asset["files"]
    assert file["downloadURL"] == f"{E}/assets/acme/shop-orders/1.0.0/files/oas/json"
    assert file["mainFile"] is True and file["size"] == len(SPEC)

    versions = filled.http.get(f"{E}/assets/acme/shop-orders/versions").json()
    one = filled.http.get(f"{E}/assets/acme/shop-orders/1.0.0").json()
    assert versions == [one]
    assert one["operations"] == ["GET /orders", "GET /orders/{id}"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/assets/acme/nope", 404),
        ("/assets/acme/shop-orders/9.9.9", 404),
        ("/assets/acme/shop-orders/9.9.9/instances", 404),
        ("/assets/acme/shop-orders/1.0", 400),
        ("/assets/ACME/shop-orders", 400),
        ("/assets/acme/shop-orders/1.0.0/files/wsdl/wsdl", 404),
        ("/assets/acme/shop-orders/1.0.0/files/oas", 404),
        ("/nothing-here", 404),
    ],
)
def test_missing_and_malformed_lookups(filled: Api, path: str, status: int) -> None:
    response = filled.http.get(f"{E}{path}")
    assert response.status_code == status
    assert response.json()["status"] == status and response.json()["message"]


def test_download_is_byte_exact(filled: Api) -> None:
    response = filled.http.get(f"{E}/assets/acme/shop-orders/1.0.0/files/oas/json")
    assert response.status_code == 200
    assert response.content == SPEC
    assert response.headers["Content-Type"].startswith("application/json")
    assert "shop-orders-1.0.0-oas.json" in response.headers["Content-Disposition"]
    # Bytes a Service served stay inert on the catalogue's origin.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_the_portal_serves_raw_descriptions_inert(filled: Api) -> None:
    response = filled.http.get("/portal/specs/acme/shop-orders/1.0.0.json")
    assert response.status_code == 200
    assert response.content == SPEC
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    page = filled.http.get("/portal/")
    assert "sandbox" not in page.headers["Content-Security-Policy"]  # the portal itself runs


def test_instances(filled: Api) -> None:
    moved = publication(instance={**publication()["instance"], "cluster": "west"})
    filled.publish(moved)
    everywhere = filled.http.get(f"{E}/assets/acme/shop-orders/instances").json()
    of_version = filled.http.get(f"{E}/assets/acme/shop-orders/1.0.0/instances").json()

    assert [(i["cluster"], i["version"]) for i in everywhere] == [
        ("east", "1.0.0"),
        ("west", "1.0.0"),
    ]
    assert [i["cluster"] for i in of_version] == ["east", "west"]
    assert of_version[0]["endpointUri"] == "http://orders.shop.svc:8000"


def test_lifecycle_changes(filled: Api) -> None:
    url = f"{E}/assets/acme/shop-orders"

    denied = filled.http.patch(url, json={"lifecycle": "stable"})
    moved = filled.http.patch(url, json={"lifecycle": "stable"}, headers=filled.auth)
    refused = filled.http.patch(url, json={"lifecycle": "development"}, headers=filled.auth)
    unknown = filled.http.patch(url, json={"lifecycle": "gone"}, headers=filled.auth)
    extra = filled.http.patch(url, json={"lifecycle": "stable", "name": "x"}, headers=filled.auth)

    assert denied.status_code == 401
    assert (moved.status_code, moved.json()["lifecycle"]) == (200, "stable")
    assert refused.status_code == 400 and "cannot move" in refused.json()["message"]
    assert unknown.status_code == 400 and unknown.json()["field"] == "lifecycle"
    assert extra.status_code == 400 and extra.json()["field"] == "name"
    assert filled.store.get("acme", "shop-orders").lifecycle == "stable"


def test_runs_deprecate_missing_assets(filled: Api) -> None:
    body = {
        "groupId": "acme",
        "seen": ["shop-orders", "shop-payments"],
        "startedAt": "2024-05-02T00:00:00+00:00",
        "finishedAt": "2024-05-02T00:01:00+00:00",
        "deprecateAfter": 1,
    }
    response = filled.http.post(f"{M}/runs", json=body, headers=filled.auth)

    assert response.status_code == 201
    summary = response.json()
    assert (summary["missed"], summary["deprecated"]) == (
        ["billing-invoice-ws"],
        ["billing-invoice-ws"],
    )
    assert filled.store.get("acme", "billing-invoice-ws").lifecycle == "deprecated"


def test_graph(filled: Api) -> None:
    graph = filled.http.get(f"{M}/graph").json()

    assert graph["directed"] is True
    assert [n["id"] for n in graph["nodes"]] == [
        "acme:billing-invoice-ws",
        "acme:shop-orders",
        "acme:shop-payments",
    ]
    assert {(e["source"], e["target"], e["version"]) for e in graph["edges"]} == {
        ("acme:shop-orders", "acme:shop-payments", "1.0.0"),
        ("acme:shop-payments", "acme:shop-payments", "1.0.0"),
    }
    assert filled.http.get(f"{M}/graph?groupId=other").json()["nodes"] == []
    assert filled.http.get(f"{M}/graph?group=acme").status_code == 400


# -- bad input: 4xx, a clear message, nothing changed -----------------------------------


def _content(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


BAD_BODIES: list[tuple[str, bytes, str, int, str | None]] = [
    ("malformed JSON", b'{"groupId": ', "application/json", 400, "body"),
    ("not UTF-8", b"\xff\xfe{}", "application/json", 400, "body"),
    ("not an object", b"[1, 2]", "application/json", 400, "body"),
    ("wrong content type", _content(publication()), "text/plain", 415, None),
    ("unknown field", _content(publication(color="red")), "application/json", 400, "color"),
    ("missing field", _content({"groupId": "acme"}), "application/json", 400, "assetId"),
    ("port as string", _content(publication(instance={**publication()["instance"], "port": "80"})),
     "application/json", 400, "instance.port"),
    ("tags as string", _content(publication(tags="a,b")), "application/json", 400, "tags"),
    ("bad base64", _content(publication(files=[{"classifier": "oas", "packaging": "json",
     "content": "%%%"}])), "application/json", 400, "files[0].content"),
    ("unknown type", _content(publication(type="soap")), "application/json", 400, "type"),
    ("traversal in asset id", _content(publication(assetId="../../etc")), "application/json",
     400, "asset_id"),
    ("naive seenAt", _content(publication(seenAt="2024-05-01T12:00:00")), "application/json",
     400, "seenAt"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_publications_change_nothing(
    filled: Api, content: bytes, content_type: str, status: int, field: str | None
) -> None:
    before = snapshot(filled.store)
    headers = {**filled.auth, "Content-Type": content_type}

    response = filled.http.post(f"{M}/publications", content=content, headers=headers)

    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["status"] == status and problem["message"]
    assert problem.get("field") == field
    assert snapshot(filled.store) == before


def test_an_oversized_body_is_refused(filled: Api) -> None:
    before = snapshot(filled.store)
    huge = base64.b64encode(b"x" * 300 * 1024).decode()
    body = publication(files=[{"classifier": "oas", "packaging": "json", "content": huge}])

    response = filled.http.post(f"{M}/publications", json=body, headers=filled.auth)

    assert response.status_code == 413
    assert "too large" in response.json()["message"].lower()
    assert snapshot(filled.store) == before


def test_a_huge_declared_body_is_refused_before_any_of_it_is_sent(filled: Api) -> None:
    # A raw socket: claim 10^11 bytes, send none, and read the answer at once.
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(filled.running.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST {M}/publications HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000000\r\n\r\n".encode()
        )
        head = sock.recv(4096).decode("latin-1")
        while sock.recv(4096):  # the server closes the connection soon after
            pass
    assert head.startswith("HTTP/1.1 413")
    assert "100000000000 bytes" in head


@pytest.mark.parametrize(
    "path",
    [
        "/assets/acme/..%2F..%2Fetc/1.0.0",
        "/assets/%2e%2e/shop-orders/1.0.0",
        "/assets/acme/shop-orders%00/1.0.0",
        "/assets/acme/shop-orders/1.0.0%2F..",
    ],
)
def test_traversal_in_path_names_is_refused(filled: Api, path: str) -> None:
    before = snapshot(filled.store)
    # Sent raw: httpx would normalise "..", which is what an attacker avoids.
    request = filled.http.build_request("POST", f"{E}/assets/acme/x/1.0.0", json=publication())
    request.url = request.url.copy_with(raw_path=f"{E}{path}".encode())
    response = filled.http.send(request)

    assert response.status_code in (400, 401, 404)
    assert response.status_code != 401 or "token" in response.json()["message"]
    request.headers.update(filled.auth)
    response = filled.http.send(request)
    assert response.status_code in (400, 404), response.text
    assert snapshot(filled.store) == before


def test_bad_run_bodies_are_refused(filled: Api) -> None:
    before = snapshot(filled.store)
    bodies = [
        {"groupId": "acme", "seen": "shop-orders", "startedAt": "x", "finishedAt": "x"},
        {"groupId": "acme", "seen": [], "startedAt": "yesterday", "finishedAt": "now"},
        {"groupId": "acme", "seen": [], "startedAt": "2024-05-01T00:00:00+00:00",
         "finishedAt": "2024-05-01T00:00:00+00:00", "deprecateAfter": 0},
        {"groupId": "acme", "seen": [], "startedAt": "2024-05-01T00:00:00+00:00",
         "finishedAt": "2024-05-01T00:00:00+00:00", "complete": "yes"},
    ]  # fmt: skip
    for body in bodies:
        response = filled.http.post(f"{M}/runs", json=body, headers=filled.auth)
        assert response.status_code == 400, body
        assert response.json()["field"]
    assert snapshot(filled.store) == before


# -- private reading --------------------------------------------------------------------


def test_a_private_server_needs_a_token_to_read(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store, start(store, private=True) as running:
        anonymous = httpx.get(f"{running.url}{E}/assets")
        with_token = httpx.get(
            f"{running.url}{E}/assets", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        probes = [httpx.get(f"{running.url}{p}").status_code for p in ("/healthz", "/readyz")]
    assert anonymous.status_code == 401
    assert with_token.status_code == 200
    assert probes == [200, 200]


def test_token_hashes_must_be_hashes() -> None:
    with pytest.raises(ValueError, match="sha256"):
        server.parse_hashes([TOKEN])
    assert server.parse_hashes(["# comment", "", server.hash_token(TOKEN)]) == {
        bytes.fromhex(server.hash_token(TOKEN).removeprefix("sha256:"))
    }


# -- the command ------------------------------------------------------------------------


def test_meshatlas_serve_runs_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    hashes = tmp_path / "tokens"
    hashes.write_text(f"# ci publisher\n{server.hash_token(TOKEN)}\n")
    command = [sys.executable, "-m", "meshatlas.cli", "serve", "--port", str(port)]
    command += ["--catalog", f"sqlite:///{tmp_path / 'c.db'}", "--create"]
    command += ["--token-file", str(hashes)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        published = httpx.post(
            f"http://127.0.0.1:{port}{M}/publications",
            json=publication(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert ready.status_code == 200
    assert published.status_code == 201
    assert process.returncode == 0
    assert f"on http://127.0.0.1:{port} (1 token(s))" in " ".join(stderr.split())


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--token-file", "/nonexistent/tokens"], {}, "token hashes"),
        ([], {"MESHATLAS_TOKEN_SHA256": "plain-token"}, "sha256:<64 hex digits>"),
        (["--private"], {}, "--private needs token hashes"),
        (["--catalog", "http://elsewhere"], {}, "serve needs a database"),
    ],
)
def test_meshatlas_serve_usage_errors(
    argv: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from meshatlas.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["serve", "--catalog", f"sqlite:///{tmp_path / 'c.db'}", *argv])
    assert code == 2
    assert message in capsys.readouterr().err


# -- the HTTP publish target --------------------------------------------------------------


def _draft() -> catalog.AssetDraft:
    draft, _ = catalog.remote.wire.publication_from_json(publication())
    return draft


def test_http_target_publishes_and_records_runs(api: Api) -> None:
    seen_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    with catalog.open_target(api.running.url, token=TOKEN) as target:
        first = target.publish(_draft(), seen_at=seen_at)
        again = target.publish(_draft(), seen_at=seen_at)
        run = target.record_run(
            group_id="acme", seen=["shop-orders"], started_at=seen_at, finished_at=seen_at
        )
    assert (first.outcome, again.outcome) == ("created", "unchanged")
    assert (run.counted, run.seen, run.missed) == (True, ("shop-orders",), ())


def test_http_target_errors(api: Api) -> None:
    seen_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    with catalog.HttpTarget(api.running.url, token="wrong") as target:
        with pytest.raises(catalog.RemoteError) as denied:
            target.publish(_draft(), seen_at=seen_at)
    with catalog.HttpTarget(api.running.url, token=TOKEN) as target:
        with pytest.raises(catalog.InvalidAsset) as refused:
            target.publish(dataclasses.replace(_draft(), asset_id="Bad"), seen_at=seen_at)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with catalog.HttpTarget(nobody, token=TOKEN) as target:
        with pytest.raises(catalog.RemoteError) as unreachable:
            target.publish(_draft(), seen_at=seen_at)

    assert denied.value.status == 401 and "bearer token" in str(denied.value)
    assert refused.value.field == "asset_id"
    assert unreachable.value.status is None and "did not answer" in str(unreachable.value)


def test_graph_is_node_link_json_for_networkx(filled: Api) -> None:
    import networkx as nx

    data = filled.http.get(f"{M}/graph").json()
    graph = nx.node_link_graph(data, edges="edges")

    assert graph.has_edge("acme:shop-orders", "acme:shop-payments")
    assert graph.nodes["acme:shop-orders"]["version"] == "1.0.0"
