"""The container image, built from the Dockerfile and run for real.

Opt-in, ``MESHATLAS_IMAGE_TESTS=1``: ``make image`` bootstraps a Debian base
with mmdebstrap and builds the image with podman, which takes minutes, needs
root and fetches the dependencies from PyPI. ``MESHATLAS_IMAGE=NAME`` tests an
image built already instead.

Each container runs as the CronJob runs it (``deploy/base/cronjob.yaml``): as
the image's own user, with a read-only root file system, no capabilities and no
privilege escalation. It shares the host's network, and so reaches the demo
mesh on loopback; nothing is pulled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

import catalog
import meshatlas
from fixtures.mesh import Mesh
from tests.test_discover_demo import EXPECTED

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "deploy" / "image" / "engine.sh"
#: The Dockerfile's USER, which deploy/ also names (runAsUser).
UID = 10001

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("MESHATLAS_IMAGE_TESTS") != "1",
        reason="image tests are opt-in: MESHATLAS_IMAGE_TESTS=1",
    ),
]

# Run inside the container: who it runs as and what it may write.
_INSPECT = """
import importlib.util, json, os
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(),
    "root_read_only": bool(os.statvfs("/").f_flag & os.ST_RDONLY),
    "tmp_writable": os.access("/tmp", os.W_OK),
    "pip": importlib.util.find_spec("pip") is not None,
}))
"""


@pytest.fixture(scope="module")
def image() -> str:
    given = os.environ.get("MESHATLAS_IMAGE")
    if given:
        return given
    if os.geteuid() != 0:
        pytest.skip("needs root: rootful podman, and the demo mesh listens on ports 80 and 443")
    tag = f"localhost/meshatlas:{meshatlas.__version__}"
    built = subprocess.run(
        ["make", "--no-print-directory", "image", f"IMAGE_TAG={tag}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, (
        f"make image failed:\n{built.stdout[-3000:]}{built.stderr[-3000:]}"
    )
    return tag


def _container(
    image: str,
    *args: str,
    volumes: Sequence[tuple[Path, str, str]] = (),
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [str(ENGINE), "run", "--rm", "--pull=never", "--network=host"]
    command += ["--read-only", "--cap-drop=all", "--security-opt=no-new-privileges"]
    for source, target, mode in volumes:
        command += ["--volume", f"{source}:{target}:{mode}"]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return subprocess.run([*command, image, *args], capture_output=True, text=True, timeout=600)


def test_version(image: str) -> None:
    run = _container(image, "--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"meshatlas {meshatlas.__version__}"


def test_runs_unprivileged_on_a_read_only_root(image: str) -> None:
    run = _container(image, "-c", _INSPECT, entrypoint="/opt/meshatlas/bin/python")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "uid": UID,
        "gid": UID,
        "root_read_only": True,
        "tmp_writable": True,
        "pip": False,
    }


def test_discover_publishes_the_demo_apis(image: str, demo_mesh: Mesh, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    # The mesh's kubeconfig is the host user's own (0600); the container's user reads a copy.
    shutil.copy(demo_mesh.kubeconfig, config / "kubeconfig")
    (config / "kubeconfig").chmod(0o644)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)
    run = _container(
        image,
        "discover",
        "--kubeconfig",
        "/etc/meshatlas/kubeconfig",
        "--catalog",
        "sqlite:////data/catalog.db",
        "--report",
        "/data/report.json",
        volumes=[(config, "/etc/meshatlas", "ro"), (data, "/data", "rw")],
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # Written by the image's user, on the volume: the only place it could write.
    assert (data / "catalog.db").stat().st_uid == UID
    with catalog.open_store(f"sqlite:///{data / 'catalog.db'}") as store:
        published = {asset.asset_id for asset in store.list_assets()}
    assert published == {f"{namespace}-{name}" for namespace, name in EXPECTED}
    report = json.loads((data / "report.json").read_text())
    assert sum(len(service["apis"]) for service in report["services"]) == len(EXPECTED)
