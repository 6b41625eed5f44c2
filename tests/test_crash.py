"""Crash consistency: ``meshatlas discover`` killed with SIGKILL while it publishes.

Each case runs ``discover`` as a real subprocess against the demo mesh. A
small prelude in the child counts the SQL statements that write (INSERT,
UPDATE, DELETE) and sends the process SIGKILL to itself just before the
chosen one, so the kill lands at a seeded random point of the publication:
inside a batch, between batches, while the run is recorded. Nothing is
flushed or cleaned up; the database sees what a power cut or an OOM kill
leaves behind.

Afterwards, on SQLite and PostgreSQL alike:

- the catalogue is consistent (:func:`check_consistent`: SQL over the raw
  tables, plus ``PRAGMA integrity_check`` on SQLite);
- every file published before the kill is still there, byte for byte;
- the next run completes the job: every API present, one version each.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from fixtures.mesh import Mesh
from tests.test_discover_demo import EXPECTED

ROOT = Path(__file__).resolve().parent.parent

#: The child: arm a SIGKILL at the N-th writing statement (0: never, count
#: them into MESHATLAS_CRASH_COUNT instead), then run the real CLI.
_CHILD = """
import atexit, os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
kill_at = int(os.environ["MESHATLAS_CRASH_AT"])
seen = 0
def before(conn, cursor, statement, parameters, context, executemany):
    global seen
    if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
event.listen(Engine, "before_cursor_execute", before)
if kill_at == 0:
    def count():
        with open(os.environ["MESHATLAS_CRASH_COUNT"], "w") as fh:
            fh.write(str(seen))
    atexit.register(count)
from meshatlas.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: Seeded kill points per backend in the default run; ``--long`` raises it.
CASES = int(os.environ.get("MESHATLAS_CRASH_CASES", "3"))
SEED = int(os.environ.get("MESHATLAS_RELIABILITY_SEED", "20261122"))

VersionKey = tuple[str, str, str]
#: After a completed run over the unchanged demo mesh: one version per API.
ONE_EACH = {f"{namespace}-{name}": 1 for namespace, name in EXPECTED}


def run_discover(
    mesh: Mesh,
    url: str,
    tmp: Path,
    *,
    kill_at: int = 0,
    extra: tuple[str, ...] = (),
) -> tuple[int, str]:
    """``meshatlas discover`` in a child process; (exit code or -signal, stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MESHATLAS_CRASH_AT": str(kill_at),
        "MESHATLAS_CRASH_COUNT": str(tmp / "writes"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            "discover",
            "--kubeconfig",
            str(mesh.kubeconfig),
            "--catalog",
            url,
            "--report",
            str(tmp / "report.json"),
            "--log-format",
            "text",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stderr


def _engine(url: str) -> sa.Engine:
    # psycopg 3 for a bare postgresql:// URL, as the catalogue itself does.
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def snapshot(url: str) -> dict[VersionKey, tuple[bytes, ...]]:
    """Every stored version: (group, asset, version) → its files' bytes, in order."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if "catalog_versions" not in sa.inspect(conn).get_table_names():
                return {}  # a database the killed run never got to create
            rows = conn.execute(
                sa.text(
                    "SELECT a.group_id, a.asset_id, v.version, f.content"
                    " FROM catalog_versions v JOIN catalog_assets a ON a.id = v.asset_pk"
                    " LEFT JOIN catalog_files f ON f.version_pk = v.id"
                    " ORDER BY v.id, f.position"
                )
            ).all()
    finally:
        engine.dispose()
    found: dict[VersionKey, tuple[bytes, ...]] = {}
    for group, asset, version, content in rows:
        files = found.setdefault((group, asset, version), ())
        if content is not None:
            found[(group, asset, version)] = (*files, bytes(content))
    return found


_INVARIANTS = {
    "instance points at a version of another asset or at none": """
        SELECT i.id FROM catalog_instances i
        LEFT JOIN catalog_versions v ON v.id = i.version_pk AND v.asset_pk = i.asset_pk
        WHERE v.id IS NULL""",
    "files of a version not numbered 0..n-1": """
        SELECT version_pk FROM catalog_files GROUP BY version_pk
        HAVING MIN(position) <> 0 OR MAX(position) <> COUNT(*) - 1""",
    "version without an asset": """
        SELECT v.id FROM catalog_versions v
        LEFT JOIN catalog_assets a ON a.id = v.asset_pk WHERE a.id IS NULL""",
    "asset without a version": """
        SELECT a.id FROM catalog_assets a
        WHERE NOT EXISTS (SELECT 1 FROM catalog_versions v WHERE v.asset_pk = a.id)""",
    "two versions with the same content": """
        SELECT asset_pk FROM catalog_versions GROUP BY asset_pk, content_key
        HAVING COUNT(*) > 1""",
    "file whose sha256 does not match": None,  # checked in Python, below
}


def check_consistent(url: str) -> list[str]:
    """What is wrong with the catalogue at ``url``; empty when it is consistent."""
    wrong: list[str] = []
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            if "catalog_assets" not in tables:
                return []  # killed before the schema existed: nothing to be wrong
            if url.startswith("sqlite"):
                verdict = conn.execute(sa.text("PRAGMA integrity_check")).scalar()
                if verdict != "ok":
                    wrong.append(f"integrity_check: {verdict}")
            for what, query in _INVARIANTS.items():
                if query is None:
                    continue
                rows = conn.execute(sa.text(query)).all()
                if rows:
                    wrong.append(f"{what}: {[tuple(r) for r in rows][:5]}")
            for sha, content in conn.execute(sa.text("SELECT sha256, content FROM catalog_files")):
                if hashlib.sha256(bytes(content)).hexdigest() != sha:
                    wrong.append(f"file whose sha256 does not match: {sha}")
    finally:
        engine.dispose()
    return wrong


def lost(
    before: dict[VersionKey, tuple[bytes, ...]], after: dict[VersionKey, tuple[bytes, ...]]
) -> list[VersionKey]:
    """Versions present before that are gone, or whose files differ, after."""
    return [key for key, content in before.items() if after.get(key) != content]


def versions_per_asset(url: str) -> dict[str, int]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT a.asset_id, COUNT(v.id) FROM catalog_assets a"
                    " LEFT JOIN catalog_versions v ON v.asset_pk = a.id GROUP BY a.asset_id"
                )
            ).all()
    finally:
        engine.dispose()
    return {r[0]: int(r[1]) for r in rows}


def _fresh_url(kind: str, tmp: Path, request: pytest.FixtureRequest, index: int) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'crash-{index}.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.new_database())


def _reference_run(
    demo_mesh: Mesh, url: str, tmp: Path
) -> tuple[int, dict[VersionKey, tuple[bytes, ...]]]:
    """A run nobody kills: its writing statements and the catalogue it leaves."""
    code, stderr = run_discover(demo_mesh, url, tmp, extra=("--namespace", "shop"))
    assert code == 0, stderr[-2000:]
    code, stderr = run_discover(demo_mesh, url, tmp)
    assert code == 0, stderr[-2000:]
    return int((tmp / "writes").read_text()), snapshot(url)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkill_while_publishing_loses_nothing_and_the_next_run_completes(
    kind: str,
    demo_mesh: Mesh,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    record_property: pytest.RecordProperty,
) -> None:
    # Calibrate: how many writing statements a run makes after a baseline of
    # one namespace (the kills below land anywhere in that range).
    total, reference = _reference_run(demo_mesh, _fresh_url(kind, tmp_path, request, 0), tmp_path)
    assert total > 0 and len(reference) == len(ONE_EACH)
    rng = random.Random(f"{SEED}-{kind}")
    killed = 0
    lost_files = 0
    for index in range(1, CASES + 1):
        url = _fresh_url(kind, tmp_path, request, index)
        # What was published before: the shop namespace, from a complete run.
        code, stderr = run_discover(demo_mesh, url, tmp_path, extra=("--namespace", "shop"))
        assert code == 0, stderr[-2000:]
        before = snapshot(url)
        assert before

        kill_at = rng.randint(1, total)
        code, _ = run_discover(demo_mesh, url, tmp_path, kill_at=kill_at)
        assert code == -signal.SIGKILL, f"the run at write {kill_at}/{total} was not killed"
        killed += 1

        assert check_consistent(url) == [], f"kill at write {kill_at}/{total}"
        after_kill = snapshot(url)
        assert lost(before, after_kill) == [], f"kill at write {kill_at}/{total}"
        # No version without all its files: whatever was committed is whole.
        assert {k: reference[k] for k in after_kill} == after_kill, kill_at

        code, stderr = run_discover(demo_mesh, url, tmp_path)
        assert code == 0, stderr[-2000:]
        assert check_consistent(url) == []
        final = snapshot(url)
        lost_files += len(lost(after_kill, final))
        assert final == reference, kill_at
        assert versions_per_asset(url) == ONE_EACH, kill_at
    assert lost_files == 0
    record_property("cases", killed)
    record_property("faults_survived", killed)
    record_property("assets_lost", lost_files)


def test_a_kill_before_the_first_write_leaves_a_usable_catalogue(
    demo_mesh: Mesh, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    url = f"sqlite:///{tmp_path / 'early.db'}"
    code, _ = run_discover(demo_mesh, url, tmp_path, kill_at=1)
    assert code == -signal.SIGKILL
    assert check_consistent(url) == []
    code, stderr = run_discover(demo_mesh, url, tmp_path)
    assert code == 0, stderr[-2000:]
    assert versions_per_asset(url) == ONE_EACH
    record_property("cases", 1)
    record_property("faults_survived", 1)
    record_property("assets_lost", 0)
