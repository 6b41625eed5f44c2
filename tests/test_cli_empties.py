"""Silent empties get a word: the real ``meshatlas discover`` in a child process.

Against the demo fixture cluster (the fixture Kubernetes API server over HTTP,
its backends on loopback) and, for telemetry, the real Prometheus over the
demo's backfilled series: a ``--namespace`` no cluster has, a telemetry window
without a single Istio series, and ``--exclude-namespace`` replacing the
default exclusions each say so, with the exit code the README's table gives.
What each run should have crawled comes from the cluster's manifests
(fixtures/clusters/demo), never from meshatlas's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from discovery.inventory import DEFAULT_EXCLUDED
from fixtures.mesh import Mesh
from fixtures.telemetry import DEMO_END, PrometheusServer
from meshatlas.status import ExitCode

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "fixtures" / "clusters" / "demo"
IGNORE = "meshatlas.io/ignore"


def _services(namespace: str) -> set[str]:
    """``namespace/name`` of the demo's Services there that meshatlas does not ignore."""
    found = set()
    for doc in yaml.safe_load_all((MANIFESTS / "services.yaml").read_text()):
        meta = (doc or {}).get("metadata", {})
        if doc and doc.get("kind") == "Service" and meta.get("namespace") == namespace:
            if (meta.get("annotations") or {}).get(IGNORE) != "true":
                found.add(f"{namespace}/{meta['name']}")
    return found


def _discover(mesh: Mesh, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHATLAS_")}
    command = [sys.executable, "-m", "meshatlas.cli", "discover", "--kubeconfig"]
    command += [str(mesh.kubeconfig), "--out", str(out), "--log-format", "text", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env, check=False
    )


def _report(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "report.json").read_text())
    return loaded


def _crawled(report: dict[str, Any]) -> set[str]:
    return {f"{s['namespace']}/{s['name']}" for s in report["services"]}


def _warnings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]


def test_a_namespace_no_cluster_has_is_refused_before_anything(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    db = tmp_path / "catalog.db"
    out = tmp_path / "out"
    before = demo_mesh.backend_requests()
    done = _discover(demo_mesh, out, "--namespace", "nosuchns", "--catalog", f"sqlite:///{db}")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --namespace nosuchns: no such namespace in demo;"
        " kubectl get namespaces lists those there are"
    ]
    # Nothing probed, published or created.
    assert demo_mesh.backend_requests() == before
    assert not db.exists()
    assert not (out / "report.json").exists()


def test_a_namespace_no_cluster_has_beside_one_it_has_is_a_warning(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    done = _discover(
        demo_mesh, tmp_path, "--namespace", "billing,nosuchns", "--dry-run", "--timeout", "5"
    )
    assert done.returncode == ExitCode.COMPLETE, done.stderr
    assert _warnings(done) == ["warning: --namespace nosuchns: no such namespace in demo; skipped"]
    assert _crawled(_report(tmp_path)) == _services("billing")


def test_exclusions_that_replace_the_defaults_say_which_are_crawled_now(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    # Everything but istio-system is kept out: what is crawled is istio-system's Services.
    out = tmp_path / "replaced"
    keep_out = "kube-system,shop,billing,platform"
    done = _discover(demo_mesh, out, "--exclude-namespace", keep_out, "--dry-run", "--timeout", "5")
    assert done.returncode == ExitCode.COMPLETE, done.stderr
    assert _warnings(done) == [
        "warning: --exclude-namespace replaces the default exclusions: kube-public,"
        " kube-node-lease, istio-system are crawled now; list them too to keep them out"
    ]
    assert _crawled(_report(out)) == _services("istio-system")
    # Listing the defaults as well keeps them out, and says nothing.
    out = tmp_path / "listed"
    listed = ",".join((*DEFAULT_EXCLUDED, "shop", "platform"))
    done = _discover(demo_mesh, out, "--exclude-namespace", listed, "--dry-run", "--timeout", "5")
    assert done.returncode == ExitCode.COMPLETE, done.stderr
    assert _warnings(done) == []
    assert _crawled(_report(out)) == _services("billing")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path_factory.mktemp("empties-prometheus")) as server:
        yield server


def test_a_telemetry_window_without_istio_series_is_a_warning(
    demo_mesh: Mesh, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    # The demo's series are backfilled up to DEMO_END: thirty days before, there are none.
    before = DEMO_END - 30 * 86400
    out = tmp_path / "empty"
    args = ["--namespace", "billing", "--dry-run", "--prometheus", prometheus.url]
    done = _discover(demo_mesh, out, *args, "--telemetry-at", str(before))
    assert done.returncode == ExitCode.COMPLETE, done.stderr
    ending = datetime.fromtimestamp(before, UTC).isoformat()
    said = (
        f"no Istio series in the window (10m ending {ending}) at {prometheus.url} for the"
        " namespaces crawled: the graph holds config edges only; check --telemetry-window and"
        " --telemetry-at, and that this Prometheus scrapes Istio's proxies"
    )
    assert _warnings(done) == [f"warning: {said}"]
    report = _report(out)
    assert said in report["notes"]
    assert report["problems"] == []
    assert all(e["origin"] == "config" for e in report["edges"])
    # Inside the backfilled range the same run reads series and says nothing
    # (fixtures/telemetry.py: invoice-ws calls tax-calc and ledger).
    out = tmp_path / "full"
    done = _discover(demo_mesh, out, *args, "--telemetry-at", str(DEMO_END))
    assert done.returncode == ExitCode.COMPLETE, done.stderr
    assert _warnings(done) == []
    assert any(e["origin"] != "config" for e in _report(out)["edges"])
