"""Two clusters' crawlers publishing over HTTP to one ``meshatlas serve``.

What a fleet of CronJobs does: the real ``meshatlas serve`` command in its own
process (token hashes from ``MESHATLAS_TOKEN_SHA256``, as the Deployment sets
them), and one discover run per fixture cluster, the first configured through
``MESHATLAS_*`` variables, the second through a ``meshatlas.yaml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import catalog
from fixtures.mesh import Mesh
from meshatlas.cli import main
from meshatlas.version import VERSION
from tests import serving
from tests.conftest import mesh_octet
from tests.test_discover_demo import EXPECTED

TOKEN = "fleet-token-for-two-clusters"
ASSETS = "/exchange/api/v2/assets"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """Fixture clusters ``demo`` and ``east``, one kubeconfig context each."""
    workdir = tmp_path_factory.mktemp("fleet")
    with Mesh(["demo", "east"], octet=mesh_octet(offset=67), workdir=workdir) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``meshatlas serve`` in its own process; its URL once /readyz answers."""
    workdir = tmp_path_factory.mktemp("serve")
    with serving.serve_process(f"sqlite:///{workdir / 'catalog.db'}", workdir, token=TOKEN) as url:
        yield url


def _get(url: str, path: str, **params: Any) -> httpx.Response:
    response = httpx.get(f"{url}{path}", params=params, trust_env=False, timeout=10)
    response.raise_for_status()
    return response


def _catalogue_state(url: str) -> dict[str, Any]:
    """Every asset's versions and instances, as the REST API shows them."""
    listing = _get(url, ASSETS, limit=100)
    state: dict[str, Any] = {"total": int(listing.headers["X-Total-Count"])}
    for asset in listing.json():
        name = f"{ASSETS}/{asset['groupId']}/{asset['assetId']}"
        state[asset["assetId"]] = sorted(
            (i["cluster"], i["namespace"], i["service"], i["port"], i["version"])
            for i in _get(url, f"{name}/instances").json()
        )
    return state


def _discover(argv: list[str]) -> tuple[int, dict[str, Any]]:
    report = Path(argv[argv.index("--report") + 1]) if "--report" in argv else None
    code = main(["discover", *argv])
    assert report is not None
    return code, json.loads(report.read_text())


def test_two_clusters_publish_to_one_catalogue(
    fleet: Mesh,
    catalogue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # demo's crawler: settings from the environment, as a CronJob's env would.
    monkeypatch.setenv("MESHATLAS_CATALOG", catalogue)
    monkeypatch.setenv("MESHATLAS_TOKEN", TOKEN)
    monkeypatch.setenv("MESHATLAS_CONTEXT", "demo")
    argv = ["--kubeconfig", str(fleet.kubeconfig), "--report", str(tmp_path / "demo.json")]
    code, demo = _discover(argv)
    assert code == 0, demo["problems"]
    assert demo["clusters"] == ["demo"]
    assert demo["stats"]["published"] == {"created": len(EXPECTED)}

    # east's crawler: settings from its meshatlas.yaml.
    for name in ("MESHATLAS_CATALOG", "MESHATLAS_CONTEXT"):
        monkeypatch.delenv(name)
    settings = tmp_path / "meshatlas.yaml"
    settings.write_text(
        f"discover:\n  kubeconfig: {fleet.kubeconfig}\n  context: [east]\n"
        f"  catalog: {catalogue}\n  report: {tmp_path / 'east.json'}\n"
    )
    code = main(["discover", "--config", str(settings)])
    east = json.loads((tmp_path / "east.json").read_text())
    assert code == 0, east["problems"]
    assert east["clusters"] == ["east"]
    # shop/catalog serves the same document in both clusters: the same version.
    # shop/reviews serves another one in east: a version of its own.
    assert east["stats"]["published"] == {"unchanged": 1, "new-version": 1}

    state = _catalogue_state(catalogue)
    # east added instances, not assets: the same service is one asset.
    assert state["total"] == len(EXPECTED)
    catalog_instances = state["shop-catalog"]
    assert [i[0] for i in catalog_instances] == ["demo", "east"]
    assert len({i[4] for i in catalog_instances}) == 1
    reviews = {i[0]: i[4] for i in state["shop-reviews"]}
    assert set(reviews) == {"demo", "east"} and reviews["demo"] != reviews["east"]
    # Every other asset runs only in demo, untouched by east's run.
    for asset_id, instances in state.items():
        if asset_id not in ("total", "shop-catalog", "shop-reviews"):
            assert {i[0] for i in instances} == {"demo"}, asset_id
    in_east = _get(catalogue, ASSETS, cluster="east", limit=100).json()
    assert sorted(a["assetId"] for a in in_east) == ["shop-catalog", "shop-reviews"]

    # demo again: nothing changes, and east's instances stay.
    monkeypatch.setenv("MESHATLAS_CATALOG", catalogue)
    monkeypatch.setenv("MESHATLAS_CONTEXT", "demo")
    argv = ["--kubeconfig", str(fleet.kubeconfig), "--report", str(tmp_path / "again.json")]
    code, again = _discover(argv)
    assert code == 0
    assert again["stats"]["published"] == {"unchanged": len(EXPECTED)}
    assert _catalogue_state(catalogue) == state


def test_a_crawler_without_the_token_is_refused_and_publishes_nothing(
    fleet: Mesh,
    catalogue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _catalogue_state(catalogue)
    monkeypatch.delenv("MESHATLAS_TOKEN", raising=False)
    argv = ["--kubeconfig", str(fleet.kubeconfig), "--context", "east", "--catalog", catalogue]
    # The token is checked before anything is probed: a usage error (exit 2),
    # no report, nothing published, whether the token is missing or wrong.
    for token in (None, "a-wrong-token"):
        if token is not None:
            monkeypatch.setenv("MESHATLAS_TOKEN", token)
        report = tmp_path / f"refused-{token}.json"
        assert main(["discover", *argv, "--report", str(report)]) == 2
        assert not report.exists()
    # The server says 401 to anyone without a valid token.
    for headers in ({}, {"Authorization": "Bearer a-wrong-token"}):
        response = httpx.post(
            f"{catalogue}/meshatlas/api/v1/publications",
            json={},
            headers=headers,
            trust_env=False,
        )
        assert response.status_code == 401
    assert _catalogue_state(catalogue) == before


def test_serve_exposes_metrics(catalogue: str) -> None:
    httpx.get(f"{catalogue}{ASSETS}/meshatlas/no-such-asset", trust_env=False)
    httpx.post(f"{catalogue}/meshatlas/api/v1/publications", json={}, trust_env=False)
    response = _get(catalogue, "/metrics")
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    route = "/exchange/api/v2/assets/{groupId}/{assetId}"
    key = ("method", "GET"), ("route", route), ("status", "404")
    assert samples[("meshatlas_http_requests_total", key)] >= 1
    refused = ("method", "POST"), ("route", "/meshatlas/api/v1/publications"), ("status", "401")
    assert samples[("meshatlas_http_requests_total", refused)] >= 1
    # Route templates, never concrete paths: the series stay few.
    concrete = ("route", f"{ASSETS}/meshatlas/no-such-asset")
    assert not [labels for _, labels in samples if concrete in labels]
    ready = ("method", "GET"), ("route", "/readyz")
    assert samples[("meshatlas_http_request_duration_seconds_count", ready)] >= 1
    assert samples[("meshatlas_build_info", (("version", VERSION),))] == 1
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def test_a_cluster_name_replaces_the_context_name(
    fleet: Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import catalog

    db = f"sqlite:///{tmp_path / 'named.db'}"
    monkeypatch.setenv("MESHATLAS_CLUSTER_NAME", "prod-eu")
    argv = ["--kubeconfig", str(fleet.kubeconfig), "--context", "east", "--catalog", db]
    code, report = _discover([*argv, "--report", str(tmp_path / "named.json")])

    assert code == 0, report["problems"]
    assert report["clusters"] == ["prod-eu"]
    assert {s["cluster"] for s in report["services"]} == {"prod-eu"}
    assert not any("cluster-name" in note for note in report["notes"])
    with catalog.open_store(db) as store:
        instances = [i for a in store.list_assets() for i in a.latest.instances]
    assert instances and {i.cluster for i in instances} == {"prod-eu"}


def test_one_cluster_name_cannot_name_several_contexts(
    fleet: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--kubeconfig", str(fleet.kubeconfig), "--context", "demo", "--context", "east"]
    code = main(["discover", *argv, "--cluster-name", "prod", "--dry-run"])

    assert code == 2
    assert "--cluster-name names one cluster" in capsys.readouterr().err


def test_a_pods_crawl_publishing_to_a_server_is_told_to_name_its_cluster() -> None:
    from discovery.model import Discovery, Inventory
    from meshatlas.job import pipeline

    def found(cluster: str) -> Discovery:
        inventory = Inventory(
            clusters=(cluster,), services=(), external_hosts=(), routes=(), problems=()
        )
        return Discovery(inventory, findings=(), edges=(), problems=())

    [note] = pipeline._note_unnamed(found("in-cluster")).inventory.notes
    assert "--cluster-name" in note and "'in-cluster'" in note
    assert pipeline._note_unnamed(found("prod-eu")).inventory.notes == ()


def test_one_run_over_two_clusters_says_each_instances_own_version(
    fleet: Mesh, tmp_path: Path
) -> None:
    # shop/reviews serves a different document in each cluster: one asset, two
    # versions. The report and the table must give each cluster's instance the
    # version the catalogue holds for it, not the last one published.
    db = f"sqlite:///{tmp_path / 'both.db'}"
    report_path = tmp_path / "both.json"
    command = [sys.executable, "-m", "meshatlas.cli", "discover", "--kubeconfig"]
    command += [str(fleet.kubeconfig), "--context", "demo", "--context", "east"]
    command += ["--catalog", db, "--report", str(report_path), "--log-format", "text"]
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    with catalog.open_store(db) as store:
        truth = {
            (i.cluster, i.namespace, i.service, i.port): v.version
            for a in store.list_assets()
            for v in a.versions
            for i in v.instances
        }
    said = {
        (s["cluster"], s["namespace"], s["name"], api["port"]): api["asset"]["version"]
        for s in report["services"]
        for api in s["apis"]
    }
    assert said == truth
    reviews = {k[0]: v for k, v in truth.items() if k[2] == "reviews"}
    assert set(reviews) == {"demo", "east"} and reviews["demo"] != reviews["east"]
    # The table has a cluster column, and each reviews row its own version.
    lines = [line for line in done.stdout.splitlines() if "shop/reviews" in line]
    assert len(lines) == 2, done.stdout
    for line in lines:
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert f"shop-reviews:{reviews[cells[0]]}" in cells, cells
