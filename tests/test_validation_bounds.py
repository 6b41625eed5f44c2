"""A description that would take hours to validate, beside twenty ordinary Services.

``fixtures/specs/hostile/fanout-allof.json`` is 4 KB of OpenAPI whose schemas
fan out (each ``allOf`` the next one twice, 24 levels): openapi-spec-validator
would walk it for days. Validation runs in worker processes with a CPU-time
limit per document, so the crawl refuses that one with the limit it passed,
and every ordinary Service, each serving its own description, is found and
classified as if it were not there.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from discovery.errors import SpecRefusedError
from discovery.specpool import PoolLimits, SpecPool
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from meshatlas.cli import main
from tests import manifests
from tests.conftest import mesh_octet

FANOUT = SPECS_DIR / "hostile" / "fanout-allof.json"
ORDINARY = 20


def _cluster(octet: int) -> tuple[list[dict[str, Any]], list[Backend]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "v"}}
    ]
    backends: list[Backend] = []
    for index in range(ORDINARY + 1):
        name = "fanout" if index == ORDINARY else f"orders-{index:02d}"
        address = f"127.{octet}.1.{10 + index}"
        docs += manifests.service_at("v", name, address, [8000])
        if name == "fanout":
            backends.append(Backend(f"v/{name}", address, 8000, "hostile-static", spec=FANOUT))
        else:
            spec = SPECS_DIR / "openapi/3.1/orders-fastapi.json"
            backends.append(Backend(f"v/{name}", address, 8000, "fastapi", spec=spec))
    return docs, backends


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("validation")
    octet = mesh_octet(offset=17)
    docs, backends = _cluster(octet)
    with Mesh(
        ["v"],
        octet=octet,
        workdir=tmp / "mesh",
        generated={"v": docs},
        generated_backends={"v": backends},
        unique_specs=True,  # every ordinary Service serves its own bytes
    ) as mesh:
        code = main(
            ["discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run"]
            + ["--validation-cpu", "2", "--report", str(tmp / "report.json")]
        )
    report = json.loads((tmp / "report.json").read_text())
    return {"code": code, "services": {s["name"]: s for s in report["services"]}}


def test_every_ordinary_service_is_found(crawl: dict[str, Any]) -> None:
    assert crawl["code"] == 0
    for index in range(ORDINARY):
        (api,) = crawl["services"][f"orders-{index:02d}"]["apis"]
        assert api["kind"] == "rest"
        assert api["spec"]["valid"] and api["spec"]["operation_count"] == 6


def test_the_fanout_is_refused_with_the_limit_it_passed(crawl: dict[str, Any]) -> None:
    (api,) = crawl["services"]["fanout"]["apis"]
    assert api["spec"] is None
    said = " | ".join(e["matched"] for e in api["evidence"])
    # The kernel's CPU limit (2 s), or on a machine too loaded to give the
    # worker that much CPU in time, the wall-time bound behind it (3 x 2 + 5 s).
    assert re.search(r"validation exceeded (2 s of CPU time|11 s of wall time)", said), said


def test_the_pool_replaces_a_worker_that_passed_its_limit() -> None:
    async def scenario() -> tuple[str, bool]:
        async with SpecPool(limits=PoolLimits(cpu_seconds=1, workers=1)) as pool:
            try:
                await pool.parse(
                    FANOUT.read_bytes(), url="http://a/x", content_type="application/json"
                )
            except SpecRefusedError as exc:
                refused = exc.message
            else:
                refused = ""
            after = await pool.parse(
                (SPECS_DIR / "openapi/3.1/orders-fastapi.json").read_bytes(),
                url="http://b/openapi.json",
                content_type="application/json",
            )
            return refused, after.valid

    refused, valid_after = asyncio.run(scenario())
    assert refused == "validation exceeded 1 s of CPU time"
    assert valid_after
