"""Concurrent publishers: several ``meshatlas discover`` runs into one catalogue at once.

What a fleet of CronJobs that fire on the same minute does. Two or four real
``discover`` processes start together over the same and overlapping fixture
clusters (``demo``, ``east``, both) and publish into one catalogue: SQLite,
PostgreSQL, or a ``meshatlas serve`` in front of SQLite. ``east`` serves
``shop/catalog`` with the same content as ``demo`` and ``shop/reviews`` with
different content, so the runs race for the same asset, the same version and
the next version number.

Afterwards the catalogue must equal the one sequential runs leave: the same
versions with the same bytes (no duplicate, none lost), every instance on the
version it serves (no lost update), and every run exited 0 with no problem
and no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import catalog
from catalog import server
from fixtures.mesh import Mesh
from tests.conftest import mesh_octet
from tests.test_crash import ROOT, VersionKey, _engine, check_consistent, snapshot

TOKEN = "concurrent-publishers-token"
#: Which clusters each of the simultaneous runs reads.
RUNS: tuple[tuple[str, ...], ...] = (("demo",), ("demo", "east"), ("east",), ("demo", "east"))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("concurrency")
    with Mesh(["demo", "east"], octet=mesh_octet(offset=131), workdir=workdir) as mesh:
        yield mesh


def start_discover(
    fleet: Mesh, url: str, contexts: tuple[str, ...], tmp: Path
) -> subprocess.Popen[str]:
    argv = [
        "discover",
        "--kubeconfig",
        str(fleet.kubeconfig),
        "--catalog",
        url,
        "--report",
        str(tmp / "report.json"),
        "--log-format",
        "text",
    ]
    for context in contexts:
        argv += ["--context", context]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MESHATLAS_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "meshatlas.cli", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_together(fleet: Mesh, url: str, runs: tuple[tuple[str, ...], ...], tmp: Path) -> list[str]:
    """Start every run at once; what went wrong in any of them (empty when none)."""
    procs = []
    for index, contexts in enumerate(runs):
        workdir = tmp / f"run-{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        procs.append((contexts, workdir, start_discover(fleet, url, contexts, workdir)))
    wrong = []
    for contexts, workdir, proc in procs:
        _, stderr = proc.communicate(timeout=180)
        if proc.returncode != 0 or "Traceback" in stderr:
            wrong.append(f"{contexts}: exit {proc.returncode}: {stderr[-1500:]}")
            continue
        report = json.loads((workdir / "report.json").read_text())
        if report["problems"]:
            wrong.append(f"{contexts}: problems {report['problems']}")
    return wrong


def instances(url: str) -> set[tuple[str, str, str, str]]:
    """(asset, version, cluster, service) of every instance."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT a.asset_id, v.version, i.cluster, i.namespace || '/' || i.service"
                    " FROM catalog_instances i JOIN catalog_versions v ON v.id = i.version_pk"
                    " JOIN catalog_assets a ON a.id = i.asset_pk"
                )
            ).all()
    finally:
        engine.dispose()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


Catalogue = tuple[dict[VersionKey, tuple[bytes, ...]], set[tuple[str, str, str, str]]]


@pytest.fixture(scope="module")
def sequential(fleet: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """The catalogue one run over both clusters leaves (as any sequence of RUNS does)."""
    tmp = tmp_path_factory.mktemp("sequential")
    url = f"sqlite:///{tmp / 'sequential.db'}"
    assert run_together(fleet, url, (("demo", "east"),), tmp) == []
    return snapshot(url), instances(url)


@pytest.fixture(params=["sqlite", "postgresql", "serve"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL the runs publish to, URL the test reads the database through)."""
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_server").new_database())
        yield url, url
        return
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    if request.param == "sqlite":
        yield db, db
        return
    with catalog.open_store(db) as store:
        auth = server.Auth(token_hashes=server.parse_hashes([server.hash_token(TOKEN)]))
        with server.RunningServer(server.make_app(store, auth=auth)) as running:
            yield running.url, db


def _check(fleet: Mesh, target: tuple[str, str], runs: int, tmp: Path, expected: Catalogue) -> None:
    publish_to, read_from = target
    assert run_together(fleet, publish_to, RUNS[:runs], tmp) == []
    assert check_consistent(read_from) == []
    versions, where = expected
    # The first ``runs`` entries of RUNS read both clusters at least once.
    assert snapshot(read_from) == versions
    assert instances(read_from) == where


def test_two_runs_at_once_into_sqlite(
    fleet: Mesh,
    sequential: Catalogue,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    db = f"sqlite:///{tmp_path / 'two.db'}"
    _check(fleet, (db, db), 2, tmp_path, sequential)
    record_property("cases", 2)
    record_property("assets_lost", 0)


@pytest.mark.slow
@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_runs_leave_what_sequential_runs_leave(
    fleet: Mesh,
    sequential: Catalogue,
    target: tuple[str, str],
    runs: int,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    _check(fleet, target, runs, tmp_path, sequential)
    record_property("cases", runs)
    record_property("assets_lost", 0)
