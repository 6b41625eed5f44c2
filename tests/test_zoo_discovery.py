"""meshatlas against the framework zoo: real framework apps, default settings.

Every expectation comes from the apps themselves (``zoo.truth``: what each
framework really serves at its documented location, read without meshatlas),
so these tests judge the prober against the real thing. A cold crawl must
find every description with its format, version and operation count, and
classify every API; a warm crawl must cost one request per API; ``meshatlas
probe`` must show the whole trail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from discovery.probing.probe import DEFAULT_BUDGET
from fixtures.mesh import Mesh
from fixtures.zoo import Zoo, ZooApp, load_apps
from meshatlas.cli import main

APPS = load_apps()


@pytest.fixture(scope="module")
def crawled(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("zoo-crawl")
    with Mesh(
        ["zoo"],
        octet=zoo.octet,
        workdir=tmp / "mesh",
        generated={"zoo": zoo.manifests()},
        generated_backends={"zoo": []},
    ) as mesh:
        argv = ["discover", "--kubeconfig", str(mesh.kubeconfig)]
        argv += ["--catalog", f"sqlite:///{tmp / 'catalog.db'}"]
        cold = main([*argv, "--report", str(tmp / "cold.json")])
        warm = main([*argv, "--report", str(tmp / "warm.json")])
        yield {
            "codes": (cold, warm),
            "cold": _by_key(json.loads((tmp / "cold.json").read_text())),
            "warm": _by_key(json.loads((tmp / "warm.json").read_text())),
            "kubeconfig": mesh.kubeconfig,
        }


def _document(url: str) -> Any:
    with httpx.Client(trust_env=False, timeout=10) as client:
        response = client.get(url, follow_redirects=True)
    response.raise_for_status()
    return yaml.safe_load(response.content)


def _by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{s['namespace']}/{s['name']}": s for s in report["services"]}


def test_both_crawls_complete(crawled: dict[str, Any]) -> None:
    assert crawled["codes"] == (0, 0)
    assert set(crawled["cold"]) == {app.key for app in APPS}


@pytest.mark.parametrize("app", APPS, ids=[a.key for a in APPS])
def test_every_api_is_found_as_its_framework_serves_it(
    zoo: Zoo,
    crawled: dict[str, Any],
    app: ZooApp,
) -> None:
    truth = zoo.truth[app.key]
    service = crawled["cold"][app.key]
    (api,) = service["apis"]
    assert api["kind"] == truth.kind
    spec = api["spec"]
    if truth.format in ("openapi", "swagger", "wsdl"):
        assert spec is not None, api["evidence"]
        assert spec["valid"], spec["errors"]
        assert spec["format"] == truth.format
        assert spec["version"] == truth.spec_version
        assert spec["operation_count"] == truth.operations
        url = urlsplit(spec["url"])
        found = url.path + (f"?{url.query}" if url.query else "")
        if found != truth.location:
            # Some frameworks serve one document at several URLs (drf-yasg's
            # /swagger.json/ and /swagger/?format=openapi): the same document.
            base = f"{url.scheme}://{url.netloc}"
            assert _document(base + found) == _document(base + str(truth.location))
    else:
        assert spec is None
    if truth.kind == "graphql":
        (answered,) = [e for e in api["evidence"] if e["check"] == "graphql"]
        if urlsplit(answered["url"]).path != truth.location:
            # Apollo's standalone server answers GraphQL on every path.
            with httpx.Client(trust_env=False, timeout=10) as client:
                reply = client.post(answered["url"], json={"query": "{ __typename }"})
            assert isinstance(reply.json()["data"]["__typename"], str)
    assert service["requests"] <= DEFAULT_BUDGET


def test_a_warm_crawl_costs_one_request_per_api(crawled: dict[str, Any]) -> None:
    for key, service in crawled["warm"].items():
        before = crawled["cold"][key]
        (api,) = service["apis"]
        (old,) = before["apis"]
        assert api["kind"] == old["kind"], key
        assert (api["spec"] or {}).get("url") == (old["spec"] or {}).get("url"), key
        assert service["requests"] == 1, key


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshatlas.cli", "probe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_probe_shows_the_trail_to_a_description(zoo: Zoo) -> None:
    (placement,) = [p for p in zoo.placements if p.app.name == "ninja-flights"]
    truth = zoo.truth[placement.app.key]
    done = _probe(f"http://{placement.address}:{placement.app.port}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    steps = [line for line in lines if line.startswith(("  GET ", "  POST"))]
    assert steps[0].split()[1].endswith(f":{placement.app.port}/")  # the root comes first
    assert truth.location is not None and truth.location in steps[-1]
    assert f"{truth.operations} operations" in steps[-1]
    assert any(line.startswith("verdict: rest") for line in lines)


def test_probe_shows_every_request_when_nothing_is_found(zoo: Zoo) -> None:
    (placement,) = [p for p in zoo.placements if p.app.name == "bakery-site"]
    done = _probe(f"http://{placement.address}:{placement.app.port}", "--probe-budget", "8")
    assert done.returncode == 0, done.stderr  # an API was found: plain HTTP
    steps = [line for line in done.stdout.splitlines() if line.startswith(("  GET ", "  POST"))]
    assert len(steps) == 8
    assert "verdict: http" in done.stdout
    assert "no API description found" in done.stdout


def test_probe_reads_the_service_from_the_cluster(
    zoo: Zoo,
    crawled: dict[str, Any],
) -> None:
    kubeconfig = str(crawled["kubeconfig"])
    done = _probe("--service", "zoo-node/nestjs-tickets", "--kubeconfig", kubeconfig)
    assert done.returncode == 0, done.stderr
    assert "probing zoo-node/nestjs-tickets port 3000" in done.stdout
    assert "/api-json" in done.stdout


def test_probe_refuses_a_name_as_the_address() -> None:
    done = _probe("http://payments.shop.svc.cluster.local:8080")
    assert done.returncode == 2
    assert "must be an IP address" in done.stderr


def test_probe_refuses_what_is_not_http(tmp_path: Path) -> None:
    done = _probe("ftp://127.0.0.1:21")
    assert done.returncode == 2
    assert "http://ADDRESS:PORT" in done.stderr
