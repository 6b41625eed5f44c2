"""``meshatlas export exchange --publish`` against a loopback imitation of Exchange.

Nothing real installs here (Anypoint Exchange is a hosted service), so the
imitation below follows Exchange's documented v2 publication contract:

* "Publish Assets Using the Exchange API" (docs.mulesoft.com/exchange/exchange-api)
  and the Exchange API portal's "Asset Creation" page (Exchange Experience
  API v2): ``POST /exchange/api/v2/organizations/{organizationId}/assets/
  {groupId}/{assetId}/{version}`` as ``multipart/form-data``; text fields
  ``name``, ``type``, ``description``, ``status``, ``properties.mainFile``,
  ``properties.apiVersion``, ``tags``, ``dependencies``, ``categories.<key>``;
  the spec as the file part ``files.<classifier>.<packaging>`` (``files.oas.json``,
  ``files.wsdl.wsdl``); an ``http-api`` needs no file; authentication with
  ``Authorization: bearer <token>``; ``x-sync-publication: true`` answers when
  the version exists (201), otherwise 202 with a ``publicationStatusLink``;
* the groupId is the organisation's (or a business group's) id;
* a GAV that exists answers 409 (the MuleSoft Terraform provider's Exchange
  resources page: republishing a used GAV returns 409
  ``ASSET_PRE_CONDITIONS_FAILED``); no or a wrong token answers 401.

Expected contents come from the fixture specs the demo mesh serves
(``fixtures/clusters/demo/backends.yaml``), not from meshatlas's output.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from catalog import server
from catalog.exports import exchange_publish
from meshatlas.cli import main
from meshatlas.commands.export import EXCHANGE_TOKEN_ENV

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "fixtures" / "specs"
ORG = "6c2f0c8e-3b1a-4c55-9a3e-0d6f1c2b7a10"
TOKEN = "exchange-test-token"
#: Exchange's asset types this imitation takes (the "Asset Creation" page's list, APIs part).
TYPES = {"rest-api", "soap-api", "http-api", "async-api", "raml-fragment", "custom"}
#: Demo APIs with a description, by asset id → the fixture file the demo serves.
SPEC_FILES = {
    "shop-orders": SPECS / "openapi/3.1/orders-fastapi.json",
    "shop-catalog": SPECS / "openapi/3.0/catalog-springdoc.json",
    "billing-invoice-ws": SPECS / "wsdl/1.1/invoice-soap11.wsdl",
}


@dataclass
class Exchange:
    """What the imitation holds and how it misbehaves on request."""

    assets: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # asset ids answered with 500
    calls: int = 0


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status)


def exchange_app(state: Exchange) -> web.Application:
    async def publish(request: web.Request) -> web.Response:
        state.calls += 1
        org, group = request.match_info["org"], request.match_info["group"]
        asset, version = request.match_info["asset"], request.match_info["version"]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != TOKEN:
            return _problem(401, "Unauthorized")
        if org != ORG:
            return _problem(403, f"no permission in organization {org}")
        if group != org:
            return _problem(400, "groupId must be the organization's or a business group's id")
        if not request.content_type.startswith("multipart/form-data"):
            return _problem(415, "multipart/form-data is expected")
        if asset in state.failing:
            return _problem(500, "internal error")
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        # The standard library's MIME parser reads the whole (small) body at once.
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        message = email.message_from_bytes(head + await request.read(), policy=email.policy.HTTP)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, payload)
            else:
                fields[name] = payload.decode("utf-8")
        for required in ("name", "type"):
            if not fields.get(required):
                return _problem(400, f"{required} is required")
        if fields["type"] not in TYPES:
            return _problem(400, f"type {fields['type']} is not an asset type")
        if fields["type"] in ("rest-api", "soap-api"):
            spec_parts = [p for p in files if p.startswith("files.")]
            if not spec_parts or not fields.get("properties.mainFile"):
                return _problem(400, "an API specification file and properties.mainFile")
            if fields.get("properties.apiVersion") is None:
                return _problem(400, "properties.apiVersion is required")
        key = (group, asset, version)
        if key in state.assets:
            return _problem(409, f"{group}:{asset}:{version} already exists")
        state.assets[key] = {"fields": fields, "files": files}
        if request.headers.get("x-sync-publication") != "true":
            link = f"/exchange/api/v2/organizations/{org}/assets/{group}/{asset}/{version}"
            return web.json_response(
                {"publicationStatusLink": link + "/publication/status/1"}, status=202
            )
        return web.json_response(
            {"groupId": group, "assetId": asset, "version": version}, status=201
        )

    app = web.Application()
    app.router.add_post(
        "/exchange/api/v2/organizations/{org}/assets/{group}/{asset}/{version}", publish
    )
    return app


@pytest.fixture
def exchange() -> Iterator[tuple[Exchange, str]]:
    state = Exchange()
    with server.RunningServer(exchange_app(state)) as running:
        yield state, running.url


def _export(demo_catalog: dict[str, Any], out: Path, url: str, *extra: str) -> int:
    return main(
        ["export", "exchange", "--catalog", demo_catalog["url"], "--out", str(out)]
        + ["--organization-id", ORG, "--environment", "production", "--publish", url, *extra]
    )


def _results(out: Path) -> dict[str, dict[str, Any]]:
    found = json.loads((out / "publish-results.json").read_text())
    return {r["asset"].split("/")[1]: r for r in found}


def test_every_api_exchange_takes_is_published_with_its_spec(
    demo_catalog: dict[str, Any],
    exchange: tuple[Exchange, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, url = exchange
    monkeypatch.setenv(EXCHANGE_TOKEN_ENV, TOKEN)
    assert _export(demo_catalog, tmp_path, url) == 0
    published = {asset: value for (_, asset, _), value in state.assets.items()}
    # The demo's APIs (DESIGN.md): gRPC and GraphQL have no Exchange type and are left out.
    assert "platform-search" not in published and "platform-graphql-gw" not in published
    results = _results(tmp_path)
    assert results["platform-search"]["status"] == "skipped"
    assert "gRPC" in results["platform-search"]["message"]
    assert {"shop-orders", "shop-catalog", "billing-invoice-ws", "billing-ledger"} <= set(published)
    for asset_id, path in SPEC_FILES.items():
        files = published[asset_id]["files"]
        ((part, (filename, content)),) = files.items()
        assert part == ("files.wsdl.wsdl" if path.suffix == ".wsdl" else "files.oas.json")
        assert published[asset_id]["fields"]["properties.mainFile"] == filename
        if path.suffix == ".json":
            assert json.loads(content) == json.loads(path.read_bytes())
        else:
            assert content == path.read_bytes()
    orders = published["shop-orders"]["fields"]
    assert orders["type"] == "rest-api"
    assert orders["name"] == json.loads(SPEC_FILES["shop-orders"].read_bytes())["info"]["title"]
    # Dependencies name Exchange GAVs in the organisation's group, as routes say (DESIGN.md).
    called = {gav.split(":")[1] for gav in orders["dependencies"].split(",")}
    assert called == {"shop-payments", "shop-inventory"}
    assert all(gav.startswith(f"{ORG}:") for gav in orders["dependencies"].split(","))
    # The legacy SOAP endpoint has no WSDL: an http-api, with no file.
    assert published["billing-legacy-soap"]["fields"]["type"] == "http-api"
    assert published["billing-legacy-soap"]["files"] == {}
    descriptor = json.loads(next(tmp_path.rglob("shop-orders/*/exchange.json")).read_text())
    assert descriptor["groupId"] == ORG
    assert {i["environment"] for i in descriptor["instances"]} == {"production"}
    form = json.loads(next(tmp_path.rglob("shop-orders/*/publish.json")).read_text())
    assert "{" not in form["path"] and f"/organizations/{ORG}/assets/{ORG}/" in form["path"]

    # A second run finds every version there: 409s, reported as such, exit 0.
    before = dict(state.assets)
    assert _export(demo_catalog, tmp_path / "again", url) == 0
    assert state.assets == before
    again = _results(tmp_path / "again")
    assert again["shop-orders"]["status"] == "exists"
    assert again["shop-orders"]["httpStatus"] == 409


def test_one_failure_loses_nothing_and_says_which(
    demo_catalog: dict[str, Any],
    exchange: tuple[Exchange, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, url = exchange
    state.failing = {"shop-catalog"}
    monkeypatch.setenv(EXCHANGE_TOKEN_ENV, TOKEN)
    assert _export(demo_catalog, tmp_path, url) == 3
    results = _results(tmp_path)
    assert results["shop-catalog"]["status"] == "failed"
    assert results["shop-catalog"]["httpStatus"] == 500
    assert results["shop-orders"]["status"] == "published"
    assert "shop-catalog" in capsys.readouterr().err
    # The folder is still there, and the next run publishes just what is missing.
    state.failing = set()
    assert _export(demo_catalog, tmp_path, url) == 0
    results = _results(tmp_path)
    assert results["shop-catalog"]["status"] == "published"
    assert results["shop-orders"]["status"] == "exists"


def test_a_refused_token_stops_the_run_and_lists_what_was_not_tried(
    demo_catalog: dict[str, Any],
    exchange: tuple[Exchange, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, url = exchange
    monkeypatch.setenv(EXCHANGE_TOKEN_ENV, "wrong")
    assert _export(demo_catalog, tmp_path, url) == 1
    results = json.loads((tmp_path / "publish-results.json").read_text())
    tried = [r for r in results if r["status"] == "failed"]
    assert len(tried) == 1 and tried[0]["httpStatus"] == 401
    assert "refused" in tried[0]["message"]
    assert state.calls == 1
    assert {r["status"] for r in results} - {"failed", "skipped"} == {"not-attempted"}
    assert state.assets == {}


def test_publish_refuses_before_writing_without_token_org_or_safe_url(
    demo_catalog: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EXCHANGE_TOKEN_ENV, raising=False)
    assert _export(demo_catalog, tmp_path / "a", "http://127.0.0.1:9") == 2
    monkeypatch.setenv(EXCHANGE_TOKEN_ENV, TOKEN)
    # Plain HTTP to a host that is not loopback would carry the token in clear.
    assert _export(demo_catalog, tmp_path / "b", "http://exchange.example.com") == 2
    assert _export(demo_catalog, tmp_path / "c", "https://user:pw@exchange.example.com") == 2
    code = main(
        ["export", "exchange", "--catalog", demo_catalog["url"], "--out", str(tmp_path / "d")]
        + ["--publish", "http://127.0.0.1:9"]
    )
    assert code == 2  # no --organization-id
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_unreachable_server_stops_after_the_first_call(tmp_path: Path) -> None:
    folders = []
    for asset in ("one", "two"):
        folder = tmp_path / "g" / asset / "1.0.0"
        folder.mkdir(parents=True)
        path = f"/exchange/api/v2/organizations/{ORG}/assets/{ORG}/{asset}/1.0.0"
        form = {"path": path, "fields": {"name": asset, "type": "http-api"}, "files": {}}
        (folder / "publish.json").write_text(json.dumps(form))
        folders.append(folder)
    with httpx.Client(timeout=5) as client:
        # Port 9 (discard) on loopback: nothing listens in the test environment.
        outcomes = exchange_publish.publish(
            folders, client=client, base_url="http://127.0.0.1:9", token=TOKEN
        )
    assert [o.status for o in outcomes] == ["failed", "not-attempted"]
    assert "cannot connect" in outcomes[0].message


def test_a_tampered_form_is_refused_per_folder(tmp_path: Path) -> None:
    folder = tmp_path / "g" / "a" / "1.0.0"
    folder.mkdir(parents=True)
    form = {
        "path": f"/exchange/api/v2/organizations/{ORG}/assets/{ORG}/a/1.0.0",
        "fields": {"name": "a", "type": "rest-api"},
        "files": {"files.oas.json": "../../../../etc/passwd"},
    }
    (folder / "publish.json").write_text(json.dumps(form))
    with httpx.Client(timeout=5) as client:
        (outcome,) = exchange_publish.publish(
            [folder], client=client, base_url="http://127.0.0.1:9", token=TOKEN
        )
    assert outcome.status == "failed" and "outside its folder" in outcome.message
