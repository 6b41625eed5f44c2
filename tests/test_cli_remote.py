"""``export`` and ``graph`` read a ``meshatlas serve`` as they read its database.

A real ``meshatlas serve`` on loopback serves a copy of the demo catalogue;
what the commands write from it is held equal to what they write from the
database itself, and to the descriptions the demo's backends serve. Reading
never creates nor migrates a database.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import catalog
from catalog.storage import migrate
from fixtures.mesh import SPECS_DIR
from fixtures.ports import free_port
from tests import serving
from tests.test_cli_trust import _one_error, meshatlas

TOKEN = "remote-test-token"


@pytest.fixture(scope="module")
def served(demo_catalog: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A serve of a copy of the demo catalogue: (its URL, the copy's sqlite URL)."""
    workdir = tmp_path_factory.mktemp("served")
    copy = workdir / "copy.db"
    with sqlite3.connect(demo_catalog["url"].removeprefix("sqlite:///")) as source:
        with sqlite3.connect(copy) as target:
            source.backup(target)
    with serving.serve_process(f"sqlite:///{copy}", workdir, token=TOKEN) as url:
        yield url, f"sqlite:///{copy}"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("target", ["openapi", "wsdl", "backstage", "exchange"])
def test_export_from_a_server_writes_what_the_database_gives(
    target: str, served: tuple[str, str], tmp_path: Path
) -> None:
    url, database = served
    remote = meshatlas("export", target, "--catalog", url, "--out", "remote", cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr[-2000:]
    local = meshatlas("export", target, "--catalog", database, "--out", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-2000:]
    written = _files(tmp_path / "remote")
    assert written and written == _files(tmp_path / "local")
    if target == "openapi":
        # The FastAPI imitation serves this file as its /openapi.json (DESIGN.md's demo table).
        orders = next(v for k, v in written.items() if "shop-orders" in k)
        assert json.loads(orders) == json.loads(
            (SPECS_DIR / "openapi/3.1/orders-fastapi.json").read_bytes()
        )


def test_graph_reads_a_server_named_by_flag_or_environment(
    served: tuple[str, str], tmp_path: Path
) -> None:
    url, database = served
    by_flag = meshatlas("graph", "--catalog", url, "-o", "json", cwd=tmp_path)
    assert by_flag.returncode == 0, by_flag.stderr[-2000:]
    by_env = meshatlas("graph", "-o", "json", cwd=tmp_path, env={"MESHATLAS_CATALOG": url})
    assert by_env.returncode == 0, by_env.stderr[-2000:]
    local = meshatlas("graph", "--catalog", database, "-o", "json", cwd=tmp_path)
    graphs = [json.loads(p.stdout) for p in (by_flag, by_env, local)]
    edges = [{(e["source"], e["target"]) for e in g["edges"]} for g in graphs]
    assert edges[0] == edges[1] == edges[2]
    # A VirtualService routes frontend to catalog and orders (DESIGN.md's demo mesh).
    assert {("demo/shop/frontend", "demo/shop/catalog")} <= edges[0]
    assert {n["id"] for n in graphs[0]["nodes"]} == {n["id"] for n in graphs[2]["nodes"]}


def test_a_server_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = meshatlas("export", "backstage", "--catalog", url, "--out", "x", cwd=tmp_path)
    assert proc.returncode == 1
    assert _one_error(proc).startswith(
        f"error: --catalog {url}: the catalogue server did not answer"
    )
    assert not (tmp_path / "x").exists()


def test_reading_never_creates_nor_migrates_a_database(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    engine = catalog.create_catalog_engine(f"sqlite:///{old}")  # as an older meshatlas made it
    migrate.upgrade(engine, revision="0005")
    engine.dispose()
    before = old.read_bytes()
    proc = meshatlas(
        "export", "openapi", "--catalog", f"sqlite:///{old}", "--out", "x", cwd=tmp_path
    )
    assert proc.returncode == 2
    line = _one_error(proc)
    assert (
        f"the catalogue's schema is at revision 0005, this meshatlas reads {migrate.HEAD}" in line
    )
    assert old.read_bytes() == before and not (tmp_path / "x").exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    graphed = meshatlas("graph", "--catalog", f"sqlite:///{other}", cwd=tmp_path)
    assert graphed.returncode == 2
    assert "this database holds no meshatlas catalogue" in _one_error(graphed)
    with sqlite3.connect(other) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes"}
