"""``meshatlas demo`` ends well: a suggestion of the portal, and SIGTERM leaves nothing running."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.test_cli_trust import BIN, _env


def _children(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux's /proc lists them per thread)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _accepts(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.hostname.startswith("127.")
    with (
        contextlib.suppress(OSError),
        socket.create_connection((parts.hostname, parts.port or 443), timeout=2),
    ):
        return True
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_sigterm_stops_prometheus_and_the_mesh_and_the_end_suggests_serve(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    with subprocess.Popen(
        [str(BIN), "demo", "--keep-running", "--out", str(out)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stderr is not None
        said = []
        try:
            for line in child.stderr:
                said.append(line)
                if line.startswith("demo mesh running"):
                    break
            else:
                pytest.fail("".join(said)[-3000:])
            prometheus = {
                pid
                for pid in _children(child.pid)
                if "prometheus" in Path(f"/proc/{pid}/cmdline").read_text()
            }
            kubeconfig = yaml.safe_load((out / "mesh" / "kubeconfig").read_text())
            api_server = kubeconfig["clusters"][0]["cluster"]["server"]
            assert _accepts(api_server)
            child.send_signal(signal.SIGTERM)
            rest = child.stderr.read()
            assert child.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            child.kill()
    text = "".join(said)
    assert f"browse it: meshatlas serve --catalog sqlite:///{out.resolve() / 'catalog.db'}" in text
    assert "open http://127.0.0.1:8080/portal/" in text
    assert "Traceback" not in rest
    if shutil.which("prometheus"):  # installed by make system-deps: it must not outlive the demo
        assert prometheus, "the demo started no Prometheus"
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in prometheus) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in prometheus), "prometheus was orphaned"
    else:
        assert "no telemetry for the demo" in text
    assert not _accepts(api_server), "the demo's Kubernetes API server still answers"
