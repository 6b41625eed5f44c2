"""The per-Service probe budgets from the command line, the config file and ``MESHATLAS_*``.

The installed ``meshatlas`` in a child process, with a clean environment,
real files, and a fixture cluster with real loopback backends:

- ``w/slow`` has two ports that accept and never answer: probed one at a
  time (``--probe-ports-at-once 1``) within 1.8 s, the second is cut off by
  its Service's budget; side by side both simply time out;
- ``o/orders`` serves a FastAPI description larger than a few KB: with
  ``--probe-service-mib 0.001`` its probing stops at its byte budget.

A port cut off by its budget is a ``problems`` entry, never an API without
a description. Bad values are refused the same way wherever they come from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import catalog
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from meshatlas.status import ExitCode
from tests import manifests
from tests.conftest import mesh_octet
from tests.test_cli_trust import _one_error, _Untouched, meshatlas

BUDGET = "stopped after 1.8 s, its per-Service budget"
#: 0.001 MiB is 1,049 bytes, said in MiB again.
BYTES = re.compile(r"stopped after 0\.00100\d* MiB, its per-Service budget")
SPEC = SPECS_DIR / "openapi/3.1/orders-fastapi.json"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    octet = mesh_octet(offset=59)
    slow, orders = f"127.{octet}.1.10", f"127.{octet}.1.11"
    docs = [
        manifests.namespace("w"),
        *manifests.service_at("w", "slow", slow, [8080, 8081]),
        manifests.namespace("o"),
        *manifests.service_at("o", "orders", orders, [8000]),
    ]
    backends = [
        Backend("w/slow", slow, 8080, "blackhole"),
        Backend("w/slow", slow, 8081, "blackhole"),
        Backend("o/orders", orders, 8000, "fastapi", spec=SPEC),
    ]
    with Mesh(
        ["c"],
        octet=octet,
        workdir=tmp_path_factory.mktemp("budgets"),
        generated={"c": docs},
        generated_backends={"c": backends},
    ) as running:
        yield running


def _discover(
    mesh: Mesh, cwd: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    proc = meshatlas(
        "discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run", "--report", "-",
        "--timeout", "1", *flags, cwd=cwd, env=env,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


def _why(report: dict[str, Any]) -> dict[str, str]:
    return {p["where"]: p["why"] for p in report["problems"]}


@pytest.mark.parametrize("how", ["flags", "file", "variables"])
def test_ports_probed_one_at_a_time_share_the_service_time_budget(
    how: str, mesh: Mesh, tmp_path: Path
) -> None:
    flags: list[str] = ["-n", "w"]
    env: dict[str, str] = {}
    if how == "flags":
        flags += ["--probe-ports-at-once", "1", "--probe-service-seconds", "1.8"]
    elif how == "file":
        (tmp_path / "meshatlas.yaml").write_text(
            "discover:\n  probe-ports-at-once: 1\n  probe-service-seconds: 1.8\n"
        )
        flags += ["--config", str(tmp_path / "meshatlas.yaml")]
    else:
        env = {"MESHATLAS_PROBE_PORTS_AT_ONCE": "1", "MESHATLAS_PROBE_SERVICE_SECONDS": "1.8"}

    code, report = _discover(mesh, tmp_path, *flags, env=env)

    assert code == 0 and report["outcome"] == "complete"  # a Service's news, not a failure
    why = _why(report)
    assert set(why) == {"c/w/slow:8080", "c/w/slow:8081"}
    assert "no complete answer within 1s" in why["c/w/slow:8080"]
    assert BUDGET in why["c/w/slow:8081"]
    (slow,) = report["services"]
    assert slow["apis"] == []  # never an API without a description


def test_ports_probed_side_by_side_each_get_their_deadline(mesh: Mesh, tmp_path: Path) -> None:
    code, report = _discover(
        mesh, tmp_path, "-n", "w", "--probe-ports-at-once", "2", "--probe-service-seconds", "1.8"
    )
    why = _why(report)
    assert code == 0 and set(why) == {"c/w/slow:8080", "c/w/slow:8081"}
    assert not [w for w in why.values() if BUDGET in w]


@pytest.mark.parametrize("how", ["flags", "file"])
def test_a_service_past_its_byte_budget_is_a_problem_not_an_api(
    how: str, mesh: Mesh, tmp_path: Path
) -> None:
    if how == "flags":
        code, report = _discover(mesh, tmp_path, "-n", "o", "--probe-service-mib", "0.001")
    else:
        (tmp_path / "meshatlas.yaml").write_text("discover:\n  probe-service-mib: 0.001\n")
        code, report = _discover(mesh, tmp_path, "-n", "o", "--config", "meshatlas.yaml")
    assert code == 0
    ((where, why),) = _why(report).items()
    assert where == "c/o/orders:8000"
    assert BYTES.search(why), why
    assert report["services"][0]["apis"] == []
    full = _discover(mesh, tmp_path, "-n", "o")[1]
    assert full["problems"] == [] and full["services"][0]["apis"][0]["spec"]["valid"]


def test_probe_takes_the_service_budgets_too(mesh: Mesh, tmp_path: Path) -> None:
    (orders,) = [b for b in mesh.backends if b.service == "o/orders"]
    url = f"http://{orders.address}:{orders.port}"
    cut = meshatlas("probe", url, "--probe-service-mib", "0.001", cwd=tmp_path)
    whole = meshatlas("probe", url, "--probe-service-seconds", "30", cwd=tmp_path)
    assert cut.returncode == ExitCode.PARTIAL, cut.stderr
    assert re.search(rf"^verdict: probe failed: {BYTES.pattern}", cut.stdout, re.M), cut.stdout
    assert whole.returncode == ExitCode.COMPLETE, whole.stderr
    assert "verdict: rest" in whole.stdout
    refused = meshatlas("probe", url, "--probe-service-seconds", "0", cwd=tmp_path)
    assert refused.returncode == ExitCode.USAGE
    assert "argument --probe-service-seconds: '0' must be a positive number" in _one_error(refused)


def _refusals(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """Case -> (discover arguments, environment, what the one error line says)."""
    config = ["--config", str(tmp / "meshatlas.yaml")]
    return {
        "seconds zero": (["--probe-service-seconds", "0"], {}, "'0' must be a positive number"),
        "seconds nan": (["--probe-service-seconds", "nan"], {}, "'nan' must be a positive number"),
        "seconds inf": (["--probe-service-seconds=inf"], {}, "'inf' must be a positive number"),
        "seconds text": (["--probe-service-seconds", "soon"], {}, "'soon' is not a number"),
        "mib negative": (["--probe-service-mib=-1"], {}, "'-1' must be a positive number"),
        "mib below a byte": (
            ["--probe-service-mib", "0.0000004"],
            {},
            "'0.0000004' MiB is less than one byte",
        ),
        "ports at once": (["--probe-ports-at-once", "0"], {}, "must be at least 1"),
        "stale after": (["--stale-after", "0"], {}, "must be at least 1"),
        "variable": (
            [],
            {"MESHATLAS_PROBE_SERVICE_MIB": "nan"},
            "$MESHATLAS_PROBE_SERVICE_MIB: 'nan' must be a positive number",
        ),
        "variable ports": (
            [],
            {"MESHATLAS_PROBE_PORTS_AT_ONCE": "two"},
            "$MESHATLAS_PROBE_PORTS_AT_ONCE: invalid literal for int()",
        ),
        "file seconds": (
            [*config],
            {"file": "discover:\n  probe-service-seconds: 0\n"},
            "discover.probe-service-seconds: 0 is less than or equal to the minimum of 0",
        ),
        "file fail-on": (
            [*config],
            {"file": "discover:\n  fail-on: warnings\n"},
            "discover.fail-on: 'warnings' is not one of ['error', 'partial', 'problems']",
        ),
        "file typo": (
            [*config],
            {"file": "discover:\n  probe-ports-at-onse: 2\n"},
            "discover.probe-ports-at-onse: unknown key (did you mean 'probe-ports-at-once'?)",
        ),
    }


@pytest.mark.parametrize("case", sorted(_refusals(Path("/tmp"))))
def test_a_bad_budget_is_one_line_and_nothing_is_touched(
    case: str, mesh: Mesh, tmp_path: Path
) -> None:
    args, env, said = _refusals(tmp_path)[case]
    env = dict(env)
    if "file" in env:
        (tmp_path / "meshatlas.yaml").write_text(env.pop("file"))
    before = set(tmp_path.rglob("*"))
    untouched = _Untouched(mesh)
    catalogue = tmp_path / "catalog.db"
    argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", f"sqlite:///{catalogue}"]
    proc = meshatlas(*argv, *args, cwd=tmp_path, env=env)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert said in _one_error(proc)
    untouched.check()
    assert set(tmp_path.rglob("*")) == before  # no catalogue, no report


@pytest.mark.parametrize("fail_on", ["problems", "error"])
def test_fail_on_is_a_config_file_key(fail_on: str, mesh: Mesh, tmp_path: Path) -> None:
    (tmp_path / "meshatlas.yaml").write_text(f"discover:\n  fail-on: {fail_on}\n")
    catalogue = tmp_path / "catalog.db"
    proc = meshatlas(
        "discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", f"sqlite:///{catalogue}",
        "--config", "meshatlas.yaml", "--timeout", "1", "-n", "w,o", "--report", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    # The slow Service did not answer: news about it, a failure only if asked.
    expected = ExitCode.PARTIAL if fail_on == "problems" else ExitCode.COMPLETE
    assert proc.returncode == expected, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "complete"
    with catalog.open_store(f"sqlite:///{catalogue}") as store:
        assert [a.asset_id for a in store.list_assets()] == ["o-orders"]
    # A flag still beats the file.
    again = meshatlas(
        "discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run", "--config",
        "meshatlas.yaml", "--timeout", "1", "-n", "w", "--fail-on", "partial", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == ExitCode.COMPLETE, again.stderr[-2000:]
