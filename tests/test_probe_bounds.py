"""One Service costs a bounded share of a crawl, however many ports it has.

A Service with thirty ports that accept and never answer, beside an ordinary
one: at most ``--probe-max-ports`` of its ports are considered, and once three
gave no answer within the deadline its other ports are not started. Every
port left out is said (a skip or a problem), nothing is learnt as a fact, and
the ordinary Service is found as always.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from discovery.probing.probe import DEFAULT_MAX_PORTS, DEFAULT_MAX_SILENT, ProbeSettings
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from meshatlas.cli import main
from tests import manifests
from tests.conftest import mesh_octet

PORTS = 30


def _docs(octet: int) -> tuple[list[dict[str, Any]], list[Backend]]:
    many, plain = f"127.{octet}.1.10", f"127.{octet}.1.11"
    ports = [9000 + i for i in range(PORTS)]
    docs = [
        manifests.namespace("b"),
        *manifests.service_at("b", "many-ports", many, ports),
        *manifests.service_at("b", "orders", plain, [8000]),
    ]
    backends = [Backend("b/many-ports", many, p, "blackhole") for p in ports]
    backends.append(
        Backend(
            "b/orders", plain, 8000, "fastapi", spec=SPECS_DIR / "openapi/3.1/orders-fastapi.json"
        )
    )
    return docs, backends


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("bounds")
    octet = mesh_octet(offset=13)
    docs, backends = _docs(octet)
    with Mesh(
        ["bounds"],
        octet=octet,
        workdir=tmp / "mesh",
        generated={"bounds": docs},
        generated_backends={"bounds": backends},
    ) as mesh:
        code = main(
            ["discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run", "--timeout", "1"]
            + ["--report", str(tmp / "report.json")]
        )
        connections = mesh.backend_requests().get("b/many-ports", 0)
    report = json.loads((tmp / "report.json").read_text())
    return {"code": code, "report": report, "connections": connections}


def test_the_ordinary_service_is_found_beside_it(crawl: dict[str, Any]) -> None:
    (orders,) = [s for s in crawl["report"]["services"] if s["name"] == "orders"]
    (api,) = orders["apis"]
    assert api["spec"]["format"] == "openapi"


def test_only_a_bounded_number_of_ports_is_ever_started(crawl: dict[str, Any]) -> None:
    per_service = ProbeSettings().per_service
    # Three silent ports stop the Service; the ports already in flight then finish.
    assert 0 < crawl["connections"] <= DEFAULT_MAX_SILENT + per_service - 1


def test_every_port_left_out_is_said(crawl: dict[str, Any]) -> None:
    report = crawl["report"]
    # The silent ports are problems of this run, and no failure of meshatlas.
    assert crawl["code"] == 0
    (many,) = [s for s in report["services"] if s["name"] == "many-ports"]
    assert many["apis"] == []
    problems = [p for p in report["problems"] if p["where"].startswith("bounds/b/many-ports:")]
    failed = [p for p in problems if p["what"] == "probe failed"]
    skipped = [p for p in problems if p["what"] == "probe skipped"]
    assert len(failed) == crawl["connections"]
    assert len(failed) + len(skipped) == DEFAULT_MAX_PORTS
    assert all("other ports of this Service gave no answer" in p["why"] for p in skipped)
    capped = [s for s in many.get("skipped", []) if "over the cap" in s.get("reason", "")]
    assert len(capped) == PORTS - DEFAULT_MAX_PORTS
