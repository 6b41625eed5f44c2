"""Faults mid-run: ``meshatlas discover`` while its sources misbehave.

The fixture API server injects resets, 5xx storms, slow answers, truncated
JSON and 429s into the Kubernetes requests of a run (named schedules, then a
seeded random mix); a loopback stand-in for Prometheus drops connections,
truncates its JSON, answers in the wrong shape, or stalls. Every run starts
from a catalogue a complete run filled, and must:

- end with exit code 0 (complete: no problem) or 3 (partial: every problem
  names where, what and why), never 1 and never with a traceback;
- leave every asset and version that was there before, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fixtures.kubeapi import Fault
from fixtures.mesh import Mesh
from fixtures.telemetry_backends import serving
from meshatlas.cli import main
from tests.conftest import mesh_octet
from tests.test_crash import ONE_EACH, check_consistent, lost, snapshot

SEED = int(os.environ.get("MESHATLAS_RELIABILITY_SEED", "20261122"))
RANDOM_CASES = int(os.environ.get("MESHATLAS_FAULT_CASES", "8"))

#: Paths the fixture API server answers during a run (substrings of the path).
PATHS = (
    "/api/v1/namespaces",
    "/api/v1/services",
    "/apis/discovery.k8s.io",
    "/apis/networking.istio.io/v1/virtualservices",
    "/apis/networking.istio.io/v1/serviceentries",
    "/apis/networking.istio.io",
    "/api/v1/namespaces/shop",
)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A demo cluster of our own: these tests change its API server's faults."""
    with Mesh(["demo"], octet=mesh_octet(offset=151), workdir=tmp_path_factory.mktemp("m")) as m:
        yield m


@pytest.fixture(scope="module")
def filled(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue one complete run filled."""
    db = tmp_path_factory.mktemp("filled") / "catalog.db"
    code, report, err = discover(mesh, db, db.parent)
    assert code == 0, (report["problems"], err)
    return db


def discover(mesh: Mesh, db: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """One in-process run; (exit code, report, everything it printed)."""
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
        code = main(
            [
                "discover",
                "--kubeconfig",
                str(mesh.kubeconfig),
                "--catalog",
                f"sqlite:///{db}",
                "--report",
                str(out / "report.json"),
                "--log-format",
                "text",
                *extra,
            ]
        )
    return code, json.loads((out / "report.json").read_text()), printed.getvalue()


def run_under_faults(
    mesh: Mesh, filled: Path, tmp: Path, faults: list[Fault], *extra: str
) -> tuple[int, dict[str, Any]]:
    """A run from a copy of ``filled`` with ``faults`` armed; checks the promises."""
    db = tmp / "catalog.db"
    shutil.copy(filled, db)
    url = f"sqlite:///{db}"
    before = snapshot(url)
    state = mesh.state("demo")
    state.faults = list(faults)
    try:
        code, report, printed = discover(mesh, db, tmp, *extra)
    finally:
        state.faults = []
    assert "Traceback" not in printed, printed[-3000:]
    if code == 1:
        # A run that could read no cluster at all is an error, not a partial
        # run: it found nothing, so it published nothing.
        assert report["services"] == [], (report["problems"], printed[-2000:])
        assert any("cluster skipped" in p["what"] for p in report["problems"])
    else:
        assert code in (0, 3), (code, report["problems"], printed[-2000:])
    if code == 0:
        assert report["problems"] == []
    else:
        assert report["problems"], "a partial run must say what failed"
        for problem in report["problems"]:
            assert all(isinstance(problem[k], str) and problem[k] for k in ("where", "what", "why"))
    assert check_consistent(url) == []
    assert lost(before, snapshot(url)) == []
    return code, report


TRANSIENT = [
    [Fault("/api/v1/services", kind="reset", times=2)],
    [Fault("/api/v1/services", kind="truncate", times=2)],
    [Fault("/apis/discovery.k8s.io", status=503, times=3)],
    [Fault("/api/v1/namespaces", kind="slow", delay=0.4, times=2)],
    [
        Fault("/apis/networking.istio.io", kind="truncate", times=1),
        Fault("/api/v1/services", status=500, times=1),
    ],
    [Fault("/api/v1/services", status=429, retry_after=0.5, times=1)],
]


@pytest.mark.parametrize("faults", TRANSIENT, ids=lambda f: "+".join(x.kind for x in f))
def test_transient_faults_mid_run_end_complete(
    mesh: Mesh,
    filled: Path,
    tmp_path: Path,
    faults: list[Fault],
    record_property: pytest.RecordProperty,
) -> None:
    code, report = run_under_faults(mesh, filled, tmp_path, faults)
    assert code == 0
    assert len([s for s in report["services"] if s["apis"]]) >= len(ONE_EACH)
    record_property("cases", 1)
    record_property("faults_survived", sum(f.times for f in faults))
    record_property("assets_lost", 0)


PERSISTENT = [
    ("storm on services", [Fault("/api/v1/services", status=500, times=1000)], "services"),
    (
        "resets on endpointslices",
        [Fault("/apis/discovery.k8s.io", kind="reset", times=1000)],
        "endpointslices",
    ),
    (
        "truncated virtualservices",
        [Fault("/apis/networking.istio.io/v1/virtualservices", kind="truncate", times=1000)],
        "virtualservices",
    ),
    ("503 storm everywhere", [Fault("/api", status=503, times=1000)], ""),
]


@pytest.mark.parametrize(("name", "faults", "where"), PERSISTENT, ids=[p[0] for p in PERSISTENT])
def test_persistent_faults_end_partial_with_exact_problems_and_lose_nothing(
    mesh: Mesh,
    filled: Path,
    tmp_path: Path,
    name: str,
    faults: list[Fault],
    where: str,
    record_property: pytest.RecordProperty,
) -> None:
    code, report = run_under_faults(mesh, filled, tmp_path, faults)
    assert code == (1 if where in ("services", "") else 3), name
    text = json.dumps(report["problems"])
    assert where in text, report["problems"]
    record_property("cases", 1)
    record_property("faults_survived", 1)
    record_property("assets_lost", 0)


def random_faults(rng: random.Random) -> list[Fault]:
    """One to three faults on random paths: kinds, counts and delays drawn."""
    faults = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["status", "status", "reset", "truncate", "slow"])
        faults.append(
            Fault(
                rng.choice(PATHS),
                kind=kind,
                status=rng.choice([500, 502, 503, 504, 429]),
                retry_after=rng.choice([None, 0.2]),
                delay=rng.uniform(0.05, 0.4),
                times=rng.choice([1, 2, 3, 50]),
            )
        )
    return faults


@pytest.mark.slow
def test_random_fault_mixes_never_lose_data_or_crash(
    mesh: Mesh, filled: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    rng = random.Random(f"{SEED}-kube")
    survived = 0
    outcomes = []
    for index in range(RANDOM_CASES):
        faults = random_faults(rng)
        workdir = tmp_path / str(index)
        workdir.mkdir()
        code, _ = run_under_faults(mesh, filled, workdir, faults)
        outcomes.append(code)
        survived += sum(min(f.times, 4) for f in faults)
    record_property("cases", RANDOM_CASES)
    record_property("faults_survived", survived)
    record_property("assets_lost", 0)


# --- Prometheus ------------------------------------------------------------------------------


def faulty_prometheus(mode: str) -> web.Application:
    """``/api/v1/query`` failing as ``mode`` says; the modes the fixtures lack."""
    app = web.Application()
    good = {"status": "success", "data": {"resultType": "vector", "result": []}}

    async def query(request: web.Request) -> web.StreamResponse:
        if mode == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if mode == "truncate":
            body = json.dumps(good).encode()
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if mode == "shape":
            return web.json_response({"status": "success", "data": {"result": "x"}})
        if mode == "values":
            # Numbers Prometheus does send, and labels no mesh has.
            item = {
                "metric": {"source_workload": "ghost", "destination_service_name": "x"},
                "value": [1, "NaN"],
            }
            return web.json_response({**good, "data": {"resultType": "vector", "result": [item]}})
        if mode == "html":
            return web.Response(status=500, text="<html>oops</html>", content_type="text/html")
        if mode == "stall":
            await asyncio.sleep(5)
        return web.json_response(good)

    app.router.add_route("*", "/api/v1/query", query)
    return app


@pytest.mark.parametrize("mode", ["reset", "truncate", "shape", "html", "stall"])
def test_prometheus_faults_end_partial_with_one_exact_problem(
    mesh: Mesh,
    filled: Path,
    tmp_path: Path,
    mode: str,
    record_property: pytest.RecordProperty,
) -> None:
    with serving(faulty_prometheus(mode)) as url:
        code, report = run_under_faults(
            mesh, filled, tmp_path, [], "--prometheus", url, "--telemetry-timeout", "0.5"
        )
    assert code == 3, report["problems"]
    [problem] = report["problems"]
    assert problem["where"] == f"prometheus {url}"
    assert problem["what"] == "telemetry not read; the graph holds config edges only"
    assert {e["origin"] for e in report["edges"]} == {"config"}
    record_property("cases", 1)
    record_property("faults_survived", 1)
    record_property("assets_lost", 0)


def test_odd_prometheus_numbers_are_not_edges_and_not_errors(
    mesh: Mesh, filled: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    with serving(faulty_prometheus("values")) as url:
        code, report = run_under_faults(mesh, filled, tmp_path, [], "--prometheus", url)
    assert code in (0, 3)
    assert all(e["origin"] == "config" for e in report["edges"])
    record_property("cases", 1)
    record_property("hostile_rejected", 1)
    record_property("assets_lost", 0)


def test_kubernetes_and_prometheus_failing_together(
    mesh: Mesh, filled: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    faults = [
        Fault("/api/v1/services", kind="reset", times=2),
        Fault("/apis/networking.istio.io/v1/virtualservices", status=500, times=1000),
    ]
    with serving(faulty_prometheus("truncate")) as url:
        code, report = run_under_faults(
            mesh, filled, tmp_path, faults, "--prometheus", url, "--telemetry-timeout", "0.5"
        )
    assert code == 3
    wheres = {p["where"] for p in report["problems"]}
    assert f"prometheus {url}" in wheres and len(wheres) >= 2, report["problems"]
    record_property("cases", 1)
    record_property("faults_survived", 3)
    record_property("assets_lost", 0)
