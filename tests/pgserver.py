"""A throwaway PostgreSQL 15 server for the catalogue tests.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free loopback
port with the Unix socket inside that directory, stop and delete it after the
session. PostgreSQL refuses to run as root, so under root (CI) the server runs
as the unprivileged ``postgres`` user, with the directory handed to it.
Each test gets a fresh database (:meth:`PostgresServer.new_database`).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fixtures.ports import free_port

_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
_RUN_AS = "postgres"


def find_bin_dir() -> Path | None:
    """Where PostgreSQL 15's ``initdb`` and ``pg_ctl`` are, or None."""
    for candidate in _BIN_DIRS:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


class PostgresServer:
    """A running server; ``url(db)`` gives a SQLAlchemy URL for a database on it."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._names = itertools.count(1)
        # Not pytest's tmp_path: its parents are 0700 and the server's user
        # must reach the directory.
        self.root = Path(tempfile.mkdtemp(prefix="meshatlas-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user = _RUN_AS if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self._bin / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its catalogue URL."""
        name = f"catalog_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL 15 (initdb, pg_ctl) is not installed; `make test` installs it")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = server.root / "log"
        detail = log.read_text() if log.exists() else ""
        server.stop()
        raise RuntimeError(
            f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}{detail}"
        ) from exc
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty catalogue database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog_url_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Like ``catalog_url``, shared by a module's tests (for costly catalogues)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
