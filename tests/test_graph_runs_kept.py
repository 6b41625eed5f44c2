"""``discover --graph-runs-kept N``: how many runs' graphs a cluster keeps.

Three real runs of the demo mesh into one SQLite catalogue: with N = 1 the
second run replaces the first; a third run with the default keeps both of the
last two. Values outside 1..500 are refused before anything is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import catalog
from catalog.storage.graphs import DEFAULT_KEPT, MAX_KEPT
from fixtures.mesh import Mesh
from meshatlas.cli import main


def _discover(mesh: Mesh, url: str, *extra: str) -> int:
    return main(["discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", url, *extra])


def _kept(url: str) -> int:
    with catalog.open_store(url) as store:
        return len([h for h in store.run_graphs() if h.cluster == "demo"])


def test_a_cluster_keeps_as_many_run_graphs_as_asked(demo_mesh: Mesh, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert _discover(demo_mesh, url, "--graph-runs-kept", "1") == 0
    assert _kept(url) == 1
    assert _discover(demo_mesh, url, "--graph-runs-kept", "1") == 0
    assert _kept(url) == 1
    assert DEFAULT_KEPT >= 2
    assert _discover(demo_mesh, url) == 0
    assert _kept(url) == 2


@pytest.mark.parametrize("value", ["0", str(MAX_KEPT + 1), "many"])
def test_a_count_outside_the_range_is_a_usage_error(
    demo_mesh: Mesh, tmp_path: Path, value: str
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert _discover(demo_mesh, url, "--graph-runs-kept", value) == 2
    assert not (tmp_path / "catalog.db").exists()
