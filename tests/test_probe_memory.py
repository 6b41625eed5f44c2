"""Crawls learn from the last one: silent ports get a short re-check, validation is reused.

A small generated cluster on loopback (some Services accept and never answer),
``meshatlas discover`` run in its own process each time (so nothing is shared
in memory between runs: what the second run knows, it read from the catalogue).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures import synthetic
from fixtures.mesh import Mesh
from tests.conftest import mesh_octet
from tests.serving import serve_process

N = 40
BLACKHOLED = 0.1  # every tenth Service hangs
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    octet = mesh_octet(offset=171)
    with Mesh(
        ["small"],
        octet=octet,
        workdir=tmp_path_factory.mktemp("small-mesh"),
        generated={"small": synthetic.cluster(N, octet=octet, blackholed=BLACKHOLED)},
        generated_backends={"small": synthetic.backends(N, octet=octet, blackholed=BLACKHOLED)},
    ) as mesh:
        yield mesh


def _discover(
    mesh: Mesh, db: Path | str, report: Path, *extra: str, token: str | None = None
) -> dict[str, Any]:
    code = "import sys; from meshatlas.cli import main; sys.exit(main(sys.argv[1:]))"
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", url]
    env = {k: v for k, v in os.environ.items() if k != "MESHATLAS_TOKEN"}
    if token is not None:
        env["MESHATLAS_TOKEN"] = token
    subprocess.run(
        [sys.executable, "-c", code, *argv, "--timeout", "2", "--report", str(report), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    doc: dict[str, Any] = json.loads(report.read_text())
    return doc


def _silent(report: dict[str, Any]) -> dict[str, str]:
    return {p["where"]: p["why"] for p in report["problems"] if p["what"] == "probe failed"}


def test_silent_ports_are_rechecked_briefly_and_validation_is_reused(
    small_mesh: Mesh, tmp_path: Path
) -> None:
    db = tmp_path / "catalog.db"
    hanging = {
        f"small/team-{i % 10:03d}/svc-{i:05d}:8080"
        for i in range(N)
        if synthetic.kind_of(i, blackholed=BLACKHOLED) is synthetic.BLACKHOLE
    }
    first = _discover(small_mesh, db, tmp_path / "first.json")
    assert set(_silent(first)) == hanging
    assert all("within 2s" in why for why in _silent(first).values())

    # What the first run validated is in the catalogue; tamper with one outcome
    # so that reusing it (rather than validating again) shows in the report.
    with sqlite3.connect(db) as connection:
        keys = [k for (k,) in connection.execute("SELECT check_key FROM catalog_spec_checks")]
        assert keys
        connection.execute(
            "UPDATE catalog_spec_checks SET errors = ? WHERE check_key = ?",
            (json.dumps(["recorded by an earlier run"]), keys[0]),
        )

    second = _discover(small_mesh, db, tmp_path / "second.json")
    silent = _silent(second)
    assert set(silent) == hanging
    assert all("within 1s" in why and "silent last run too" in why for why in silent.values())
    specs = [a["spec"] for s in second["services"] for a in s["apis"] if a["spec"] is not None]
    assert specs
    reused = [s for s in specs if s["errors"] == ["recorded by an earlier run"]]
    # Every Service serving those bytes got the recorded outcome; the others validated clean.
    assert reused and all(not s["valid"] for s in reused)
    assert all(s["valid"] for s in specs if s not in reused)

    # --cold forgets both: full deadline, fresh validation.
    cold = _discover(small_mesh, db, tmp_path / "cold.json", "--cold")
    assert all("within 2s" in why for why in _silent(cold).values())
    cold_specs = [a["spec"] for s in cold["services"] for a in s["apis"] if a["spec"] is not None]
    assert all(s["valid"] for s in cold_specs)


def _how(report: dict[str, Any]) -> list[str]:
    """How each API's description was found: its first evidence's check."""
    return [
        api["evidence"][0]["check"] if api["evidence"] else ""
        for service in report["services"]
        for api in service["apis"]
        if api["spec"] is not None
    ]


def test_a_crawl_through_a_catalogue_server_learns_as_one_into_the_database(
    small_mesh: Mesh, tmp_path: Path
) -> None:
    token = "crawls-through-the-server"
    local = tmp_path / "local.db"
    with serve_process(f"sqlite:///{tmp_path / 'served.db'}", tmp_path, token=token) as url:
        first = _discover(small_mesh, url, tmp_path / "first.json", token=token)
        second = _discover(small_mesh, url, tmp_path / "second.json", token=token)
    _discover(small_mesh, local, tmp_path / "local-first.json")
    local_second = _discover(small_mesh, local, tmp_path / "local-second.json")

    apis = first["stats"]["apis"]
    assert (first["stats"]["published"], second["stats"]["published"]) == (
        {"created": apis},
        {"unchanged": apis},
    )
    # The second crawl through the server went straight to what worked, as locally...
    assert second["stats"]["requests"] == local_second["stats"]["requests"]
    assert second["stats"]["requests"] < first["stats"]["requests"]
    assert set(_how(second)) == {"remembered"}
    # ...and gave the silent ports only the short re-check.
    silent = _silent(second)
    assert silent and set(silent) == set(_silent(first))
    assert all("within 1s" in why and "silent last run too" in why for why in silent.values())
