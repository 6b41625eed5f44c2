"""An interrupted probe is a problem of its run, never a fact: the next run finds the API.

Issue 21 saw a Quarkus Service whose probe hit a timeout published as an
``http-api`` without a description; warm runs then kept that "fact", and the
real description, found later by a cold run, ranked below it. Here a real
backend (``flaky-once``) stalls the first request to each of its description
locations until the client gives up, and answers from then on. Two real
``meshatlas discover`` runs, each in its own process, publish into one
SQLite catalogue:

1. the first meets the outage: the port is a ``problems`` entry, nothing is
   published for it, and nothing about it is learnt (no instance to steer the
   next run, no quiet port: it answered, it just did not finish);
2. the second probes it in full, finds the description, and publishes it as
   the latest version, numbered by the description's own ``1.0.0-SNAPSHOT``.

And the catalogue issue 21 was left with: an older meshatlas had published
the interrupted port as a spec-less ``http-api`` 1.0.0. The same two runs
leave that version alone while the outage lasts, then publish the description
above it, so ``meshatlas get`` (and everything reading the catalogue) sees
the version with a contract as the latest.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import catalog
from catalog import AssetDraft, Instance, Provenance
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from tests import manifests
from tests.conftest import mesh_octet

ROOT = Path(__file__).resolve().parent.parent
NS = "shop"


def _snapshot_spec(path: Path) -> Path:
    """Quarkus's default: the application's version is ``1.0.0-SNAPSHOT``."""
    document = json.loads((SPECS_DIR / "openapi/3.1/orders-fastapi.json").read_text())
    document["info"]["version"] = "1.0.0-SNAPSHOT"
    path.write_text(json.dumps(document))
    return path


def _flaky_mesh(tmp: Path, octet: int) -> Mesh:
    flaky, plain = f"127.{octet}.1.10", f"127.{octet}.1.11"
    docs = [
        manifests.namespace(NS),
        *manifests.service_at(NS, "inventory", flaky, [8080]),
        *manifests.service_at(NS, "orders", plain, [8000]),
    ]
    spec = _snapshot_spec(tmp / "inventory.json")
    backends = [
        Backend(f"{NS}/inventory", flaky, 8080, "flaky-once", spec=spec),
        Backend(
            f"{NS}/orders",
            plain,
            8000,
            "fastapi",
            spec=SPECS_DIR / "openapi/3.1/orders-fastapi.json",
        ),
    ]
    return Mesh(
        [NS],
        octet=octet,
        workdir=tmp / "mesh",
        generated={NS: docs},
        generated_backends={NS: backends},
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with _flaky_mesh(tmp_path_factory.mktemp("interrupted"), mesh_octet(offset=43)) as running:
        yield running


@pytest.fixture(scope="module")
def older_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The same mesh with a backend of its own: its outage is still to come."""
    with _flaky_mesh(tmp_path_factory.mktemp("older"), mesh_octet(offset=113)) as running:
        yield running


def _meshatlas(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHATLAS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "meshatlas.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _discover(mesh: Mesh, db: Path, report: Path) -> tuple[int, dict[str, Any]]:
    argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", f"sqlite:///{db}"]
    argv += ["--timeout", "1", "--report", str(report)]
    proc = _meshatlas(*argv)
    return proc.returncode, json.loads(report.read_text())


def _apis(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (service,) = [s for s in report["services"] if s["name"] == name]
    apis: list[dict[str, Any]] = service["apis"]
    return apis


def test_a_probe_that_timed_out_once_is_found_in_full_next_run(
    mesh: Mesh, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    db = tmp_path / "catalog.db"
    code, first = _discover(mesh, db, tmp_path / "first.json")

    # The outage is a problem of the run, not an API without a description.
    assert code != 1
    assert _apis(first, "inventory") == []
    (problem,) = [p for p in first["problems"] if p["where"].endswith(f"/{NS}/inventory:8080")]
    assert problem["what"] == "probe failed"
    assert "no complete answer within 1s" in problem["why"]
    (orders,) = _apis(first, "orders")
    assert orders["spec"]["valid"]

    # Nothing about it was learnt: not published, not remembered as quiet.
    with catalog.open_store(f"sqlite:///{db}") as store:
        with pytest.raises(catalog.NotFound):
            store.get("meshatlas", f"{NS}-inventory")
        assert store.get("meshatlas", f"{NS}-orders").latest.files
    with sqlite3.connect(db) as connection:
        quiet = connection.execute("SELECT service FROM catalog_quiet_ports").fetchall()
    assert ("inventory",) not in quiet

    code, second = _discover(mesh, db, tmp_path / "second.json")
    assert code == 0, second["problems"]
    (api,) = _apis(second, "inventory")
    assert api["kind"] == "rest" and api["spec"]["valid"]
    assert not any(e["check"] == "remembered" for e in api["evidence"])  # probed in full
    assert api["asset"]["version"] == "1.0.0-SNAPSHOT"
    with catalog.open_store(f"sqlite:///{db}") as store:
        asset = store.get("meshatlas", f"{NS}-inventory")
    assert asset.type == "rest-api"
    assert [v.version for v in asset.versions] == ["1.0.0-SNAPSHOT"]
    assert asset.latest.files
    record_property("cases", 1)
    record_property("faults_survived", 1)
    record_property("crawls_completed", 2)


def test_a_spec_less_version_an_older_run_left_never_outranks_the_description(
    older_mesh: Mesh, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    db = tmp_path / "catalog.db"
    cluster = older_mesh.clusters[0].name
    # As an older meshatlas left it: the interrupted port published without a description.
    with catalog.open_store(f"sqlite:///{db}") as store:
        store.publish(
            AssetDraft(
                group_id="meshatlas",
                asset_id=f"{NS}-inventory",
                name="inventory",
                type="http-api",
                description=None,
                spec_version_hint=None,
                files=(),
                operations=(),
                tags=(),
                owner=None,
                lifecycle=None,
                instance=Instance(
                    cluster=cluster,
                    namespace=NS,
                    service="inventory",
                    port=8080,
                    endpoint_uri=f"http://inventory.{NS}.svc.cluster.local:8080",
                ),
                dependencies=(),
                provenance=Provenance(method="probe", detail="answers HTTP"),
            ),
            seen_at=datetime.now(UTC) - timedelta(days=1),
        )

    code, first = _discover(older_mesh, db, tmp_path / "first.json")
    assert code != 1
    assert _apis(first, "inventory") == []  # the outage: a problem, not "no description"
    assert any(p["where"].endswith(f"/{NS}/inventory:8080") for p in first["problems"])
    with catalog.open_store(f"sqlite:///{db}") as store:
        assert [v.version for v in store.get("meshatlas", f"{NS}-inventory").versions] == ["1.0.0"]

    code, second = _discover(older_mesh, db, tmp_path / "second.json")
    assert code == 0, second["problems"]
    (api,) = _apis(second, "inventory")
    assert api["spec"]["valid"] and api["spec"]["api_version"] == "1.0.0-SNAPSHOT"

    # What a person asks the catalogue: the described version is the latest.
    listed = _meshatlas(
        "get", "versions", f"{NS}-inventory", "-o", "json", "--catalog", f"sqlite:///{db}"
    )
    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)["items"]
    assert [v["files"] != [] for v in versions] == [False, True]
    (latest,) = [v for v in versions if v["latest"]]
    assert latest["files"][0]["classifier"] == "oas"
    assert "published without a contract" in latest["reason"]
    assert versions[-1] is latest  # above 1.0.0 in semver precedence
    record_property("cases", 1)
    record_property("faults_survived", 1)
    record_property("crawls_completed", 2)
