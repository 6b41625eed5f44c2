"""Shared fixtures: the no-network guard and the demo fixture mesh."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.mesh import Mesh
from fixtures.zoo import Zoo
from tests.pgserver import catalog_url, catalog_url_module, postgres_server

# Fixtures shared by the catalogue tests.
__all__ = ["catalog_url", "catalog_url_module", "postgres_server"]


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to connect anywhere but loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _loopback(address):
            raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


def mesh_octet(offset: int = 0) -> int:
    """A 127.N.0.0/16 for this test process, so parallel runs do not collide."""
    return 20 + (os.getpid() + offset) % 200


@pytest.fixture(scope="session")
def demo_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The demo cluster: API server + backends, kubeconfig at ``mesh.kubeconfig``."""
    workdir: Path = tmp_path_factory.mktemp("mesh")
    with Mesh(["demo"], octet=mesh_octet(), workdir=workdir) as mesh:
        yield mesh


@pytest.fixture(scope="session")
def demo_catalog(demo_mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``discover`` of the demo mesh into SQLite: ``dir``, ``url`` and ``report``."""
    import json

    from meshatlas.cli import main

    tmp = tmp_path_factory.mktemp("demo-catalog")
    url = f"sqlite:///{tmp / 'catalog.db'}"
    code = main(
        ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", url]
        + ["--report", str(tmp / "report.json")]
    )
    assert code == 0
    return {"dir": tmp, "url": url, "report": json.loads((tmp / "report.json").read_text())}


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    """The framework zoo: every app on ``127.<octet>.x.y``; ``zoo.truth`` is what each serves.

    Defined here, once: a session fixture imported into several test modules
    would be a separate fixture per module, and two zoos would fight over the
    same addresses.
    """
    with Zoo(mesh_octet(offset=7), tmp_path_factory.mktemp("zoo")) as running:
        yield running
