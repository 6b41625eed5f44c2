"""``meshatlas serve`` in its own process, for tests that need a real server."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def serve_process(catalogue: str, workdir: Path, *, token: str) -> Iterator[str]:
    """Serve ``catalogue`` on a free loopback port with ``token`` accepted for publishing.

    Yields the server's URL once ``/readyz`` answers; its output goes to
    ``workdir/serve.log``.
    """
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["MESHATLAS_TOKEN_SHA256"] = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    env.pop("MESHATLAS_TOKEN", None)
    log_path = workdir / "serve.log"
    command = [sys.executable, "-m", "meshatlas.cli", "serve", "--port", str(port)]
    command += ["--catalog", catalogue, "--create"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"meshatlas serve did not start: {log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)
