"""Run metrics pushed to a real Prometheus Pushgateway (Debian's prometheus-pushgateway)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.mesh import Mesh
from fixtures.ports import free_port
from meshatlas import cli

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Pushgateway on a free loopback port; its URL."""
    binary = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway not found: `make system-deps` installs it")
    workdir = tmp_path_factory.mktemp("pushgateway")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "pushgateway.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={workdir / 'pushgateway.data'}",
            "--web.enable-admin-api",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"pushgateway did not start: {(workdir / 'pushgateway.log').read_text()}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def clean(pushgateway: str) -> str:
    """The Pushgateway, emptied (admin API) before the test."""
    httpx.put(f"{pushgateway}/api/v1/admin/wipe", trust_env=False).raise_for_status()
    return pushgateway


def _scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", trust_env=False).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("meshatlas_")
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    matches = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def test_discover_pushes_run_metrics(
    demo_mesh: Mesh, clean: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "discover",
        "--kubeconfig",
        str(demo_mesh.kubeconfig),
        "--namespace",
        "billing",
        "--dry-run",
        "--pushgateway",
        clean,
        "--pushgateway-label",
        "cluster=demo",
    ]
    code = cli.main(argv)
    assert code in (0, 3)
    samples = _scrape(clean)
    group = {"job": "meshatlas", "cluster": "demo"}
    assert _value(samples, "meshatlas_services", **group) == 4
    assert _value(samples, "meshatlas_apis", kind="soap", **group) == 3
    assert _value(samples, "meshatlas_apis", kind="rest", **group) == 1
    assert _value(samples, "meshatlas_apis", kind="grpc", **group) == 0
    assert _value(samples, "meshatlas_probe_outcomes", outcome="api", **group) == 4
    assert _value(samples, "meshatlas_probe_requests", **group) > 0
    outcome = "complete" if code == 0 else "partial"
    assert _value(samples, "meshatlas_run_outcome", outcome=outcome, **group) == 1
    assert _value(samples, "meshatlas_run_outcome", outcome="error", **group) == 0
    assert _value(samples, "meshatlas_run_exit_code", **group) == code
    assert 0 < _value(samples, "meshatlas_run_duration_seconds", **group) < 120
    assert (
        abs(_value(samples, "meshatlas_run_finished_timestamp_seconds", **group) - time.time())
        < 120
    )
    assert _value(samples, "meshatlas_problems", **group) >= 0
    assert "run metrics pushed" in capsys.readouterr().err


def test_failed_run_still_pushes_its_outcome(clean: str, tmp_path: Path) -> None:
    argv = ["discover", "--kubeconfig", str(tmp_path / "missing"), "--pushgateway", clean]
    assert cli.main(argv) == 2
    samples = _scrape(clean)
    assert _value(samples, "meshatlas_run_outcome", outcome="error") == 1
    assert _value(samples, "meshatlas_run_exit_code") == 2
    assert not [name for name, _ in samples if name == "meshatlas_services"]


def test_pushgateway_down_is_a_warning_not_a_failure(
    demo_mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--namespace", "billing"]
    down = f"http://127.0.0.1:{free_port()}"
    assert cli.main([*argv, "--dry-run", "--pushgateway", down]) in (0, 3)
    err = capsys.readouterr().err
    assert '"msg": "run metrics not pushed"' in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--pushgateway", "pushgateway:9091"], "--pushgateway must be an http:// or https://"),
        (["--pushgateway-label", "cluster"], "--pushgateway-label must be NAME=VALUE"),
    ],
)
def test_bad_pushgateway_flags_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["discover", "--dry-run", *flags]) == 2
    assert message in capsys.readouterr().err
