"""The hostile fixture cluster: every backend attacks or stalls its prober.

Each ends as a clear rejected or invalid result with its reason, the run
completes, memory stays bounded, and the tripwire (where a redirect points,
on another address) is never contacted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.mesh import Mesh
from tests.conftest import mesh_octet

_CHILD = """
import sys
from meshatlas.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    # VmHWM is this process's own peak; ru_maxrss would carry the parent's over.
    peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    fh.write(peak.split()[1])
sys.exit(code)
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hostile")
    with Mesh(["hostile"], octet=mesh_octet(2), workdir=tmp / "mesh") as mesh:
        rss = tmp / "rss"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(rss),
                "discover",
                "--kubeconfig",
                str(mesh.kubeconfig),
                "--dry-run",
                "--report",
                str(tmp / "report.json"),
                "--timeout",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        requests = mesh.backend_requests()
    yield {
        "code": proc.returncode,
        "stderr": proc.stderr,
        "report": json.loads((tmp / "report.json").read_text()),
        "rss_kib": int(rss.read_text()),
        "requests": requests,
    }


def _api(report: dict[str, Any], name: str) -> dict[str, Any]:
    (service,) = [s for s in report["services"] if s["name"] == name]
    (api,) = service["apis"]
    return api


def _said(api: dict[str, Any]) -> str:
    return " | ".join(e["matched"] for e in api["evidence"])


def test_the_run_completes_without_a_traceback(hostile: dict[str, Any]) -> None:
    # The trickler never finished an answer, so its port is a problem of this
    # run, not a fact about the Service (see the trickle case below); a Service
    # that does not answer is no failure of the run itself, so the exit is 0.
    assert hostile["code"] == 0, hostile["stderr"]
    assert "Traceback" not in hostile["stderr"]
    assert len(hostile["report"]["services"]) == 12
    assert [p["where"] for p in hostile["report"]["problems"]] == ["hostile/hostile/trickle:8080"]


def test_a_port_whose_answers_never_finish_is_a_problem_not_an_api(
    hostile: dict[str, Any],
) -> None:
    (service,) = [s for s in hostile["report"]["services"] if s["name"] == "trickle"]
    assert service["apis"] == []
    (problem,) = hostile["report"]["problems"]
    assert "no complete answer within 2s" in problem["why"]


def test_the_redirect_target_is_never_contacted(hostile: dict[str, Any]) -> None:
    assert hostile["requests"]["tripwire/redirect-target"] == 0
    api = _api(hostile["report"], "redirect-away")
    assert "redirect off the Service refused" in _said(api)


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        ("billion-laughs", "DTDs and entities are never processed"),
        ("xxe", "DTDs and entities are never processed"),
        ("yaml-alias-bomb", "YAML expands to more than"),
        ("deep-json", "nests too deeply"),
        ("endless-body", "over the size cap"),
        ("gzip-bomb", "over the size cap"),
    ],
)
def test_each_attack_is_rejected_with_its_reason(
    hostile: dict[str, Any], service: str, reason: str
) -> None:
    api = _api(hostile["report"], service)
    assert api["spec"] is None
    assert reason in _said(api)


def test_invalid_specs_are_reported_not_dropped(hostile: dict[str, Any]) -> None:
    refs = _api(hostile["report"], "external-refs")
    assert refs["kind"] == "rest"
    assert refs["spec"]["valid"] is False
    assert any("not followed" in e for e in refs["spec"]["errors"])
    imports = _api(hostile["report"], "wsdl-local-import")
    assert imports["kind"] == "soap"
    assert imports["spec"]["valid"] is False
    assert any("never loaded" in e for e in imports["spec"]["errors"])


def test_not_a_spec_bodies_are_not_taken_for_specs(hostile: dict[str, Any]) -> None:
    for name in ("invalid-utf8", "yaml-python-tag"):
        api = _api(hostile["report"], name)
        assert api["spec"] is None
        assert any(e["check"] == "probe" for e in api["evidence"]), name


def test_memory_stays_bounded(hostile: dict[str, Any]) -> None:
    # A 1 GiB body and a 256 MiB gzip bomb are cut at the 5 MiB cap.
    assert hostile["rss_kib"] < 300 * 1024, hostile["rss_kib"]
