"""The report of a discovery run on the ambient fixture mesh: exposure, data plane, versions.

The expected exposure and ambient facts are the ambient fixture cluster's
description (fixtures/clusters/ambient); the report is validated by
``meshatlas.job.report`` against its shipped JSON Schema and again here with
``jsonschema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fixtures.mesh import Mesh
from meshatlas.cli import main
from meshatlas.job import report as report_mod
from tests.conftest import mesh_octet


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir: Path = tmp_path_factory.mktemp("ambient-report")
    out = workdir / "report.json"
    with Mesh(["ambient"], octet=mesh_octet(6), workdir=workdir) as mesh:
        argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run", "--report", str(out)]
        assert main(argv) == 0
    yield json.loads(out.read_text())


def _services(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{s['namespace']}/{s['name']}": s for s in report["services"]}


def test_report_keeps_its_schema(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(report_mod.schema()).validate(report)


def test_every_api_says_where_it_is_reachable(report: dict[str, Any]) -> None:
    services = _services(report)
    reach = {
        name: [
            (
                a["exposure"]["scope"],
                [(x["gateway"], x["host"], x["port"], x["path"]) for x in a["exposure"]["at"]],
            )
            for a in s["apis"]
        ]
        for name, s in services.items()
    }
    assert reach == {
        "store/web": [("external", [("istio-ingress/public", "shop.example.com", 80, "/")])],
        "legacy/billing": [
            ("external", [("istio-ingress/edge", "billing.example.com", 80, "/billing")])
        ],
        "store/cart": [("mesh-internal", [])],
        "store/cart-canary": [("mesh-internal", [])],
        "ledger/accounts": [("mesh-internal", [])],
    }


def test_ambient_services_without_a_waypoint_are_l7_blind(report: dict[str, Any]) -> None:
    services = _services(report)
    planes = {n: (s["dataplane"], s["waypoint"], s["l7_blind"]) for n, s in services.items()}
    assert planes == {
        "store/web": ("ambient", "store/waypoint", False),
        "store/cart": ("ambient", "store/waypoint", False),
        "store/cart-canary": ("ambient", "store/waypoint", False),
        "ledger/accounts": ("ambient", None, True),
        "legacy/billing": ("sidecar", None, False),
    }
    # The prober still reads the L7-blind Service's API.
    assert [a["kind"] for a in services["ledger/accounts"]["apis"]] == ["rest"]


def test_subsets_are_the_services_versions(report: dict[str, Any]) -> None:
    versions = _services(report)["store/cart"]["versions"]
    assert [(v["subset"], v["version"]) for v in versions] == [("v1", "v1"), ("v2", "v2")]
    assert _services(report)["store/web"]["versions"] == []
