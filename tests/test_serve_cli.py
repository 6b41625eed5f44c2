"""``meshatlas serve`` as its users and its attackers meet it.

The real command in its own process, real sockets on loopback: a busy port, a
mistyped catalogue, the start line and ``/``, the access log, a forged Host
header, nested bodies, a client sending headers byte by byte, a body that
trickles, and SIGTERM / SIGINT with requests in flight under load.

Time bounds are generous (two shared cores): a test asserts that a bound
holds, never how fast; figures belong in ``bench/``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import yaml

import catalog
import catalog.remote.wire

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "serve-cli-token-for-tests"
E = "/exchange/api/v2"
M = "/meshatlas/api/v1"
#: Output that must never appear, whatever happened.
NEVER = ("Traceback", "Task was destroyed", "Failed to create request handler", "Unclosed")


def publication(**changes: Any) -> dict[str, Any]:
    spec = {"openapi": "3.0.3", "info": {"title": "Orders", "version": "x"}, "paths": {"/o": {}}}
    body: dict[str, Any] = {
        "groupId": "acme",
        "assetId": "shop-orders",
        "name": "Orders",
        "type": "rest-api",
        "files": [
            {
                "classifier": "oas",
                "packaging": "json",
                "content": base64.b64encode(json.dumps(spec).encode()).decode(),
            }
        ],
        "operations": ["GET /o"],
        "instance": {
            "cluster": "east",
            "namespace": "shop",
            "service": "orders",
            "port": 8000,
            "endpointUri": "http://orders.shop.svc:8000",
        },
        "provenance": {"method": "probe", "detail": "http://orders.shop.svc:8000/openapi.json"},
        "seenAt": "2024-05-01T12:00:00+00:00",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite catalogue holding one asset."""
    url = f"sqlite:///{tmp_path_factory.mktemp('served') / 'catalog.db'}"
    draft, _ = catalog.remote.wire.publication_from_json(publication())
    with catalog.open_store(url) as store:
        store.publish(draft=draft, seen_at=datetime(2024, 5, 1, tzinfo=UTC))
    return url


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHATLAS_")}
    env["PYTHONPATH"] = str(ROOT)
    env["MESHATLAS_TOKEN_SHA256"] = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
    env.update(extra)
    return env


def _serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "meshatlas.cli", "serve", *args]


@dataclass
class Served:
    """A running ``meshatlas serve``: its process, URL and output files."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def access_lines(self) -> list[str]:
        return [line for line in self.stdout.read_text().splitlines() if line]

    def stop(self, number: signal.Signals) -> tuple[int, float]:
        """Send ``number``; the exit code and the seconds until the process ended."""
        started = time.monotonic()
        self.process.send_signal(number)
        code = self.process.wait(timeout=60)
        return code, time.monotonic() - started


@contextlib.contextmanager
def serving(catalogue: str, workdir: Path, *args: str) -> Iterator[Served]:
    """``meshatlas serve`` on a free loopback port (``--port 0``), once it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    out, err = workdir / "stdout", workdir / "stderr"
    command = _serve_command("--catalog", catalogue, "--port", "0", *args)
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=workdir, env=_env(), stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r" on (http://127\.0\.0\.1:(\d+)) \(", err.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"meshatlas serve did not start:\n{err.read_text()}")
            time.sleep(0.05)
        yield Served(process, found[1], int(found[2]), out, err)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _clean(text: str) -> None:
    for word in NEVER:
        assert word not in text, text


AUTH = {"Authorization": f"Bearer {TOKEN}"}


# -- refused before anything listens ----------------------------------------------


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = tmp_path / "c.db"
        done = subprocess.run(
            _serve_command("--catalog", f"sqlite:///{db}", "--create", "--port", str(port)),
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: cannot listen on http://127.0.0.1:{port}: the port is in use;"
        " free it or pick another --port"
    ]
    assert "serving" not in done.stdout + done.stderr
    _clean(done.stdout + done.stderr)


def test_a_mistyped_catalogue_is_refused_never_created(catalogue: str, tmp_path: Path) -> None:
    typo = tmp_path / "catalgo.db"
    done = subprocess.run(
        _serve_command("--catalog", f"sqlite:///{typo}"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"no catalogue at {typo}" in done.stderr and "--create" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # The variable every command honours, as a path relative to where serve runs.
    from_env = subprocess.run(
        _serve_command(),
        cwd=tmp_path,
        env=_env(MESHATLAS_CATALOG="sqlite:///other.db"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_env.returncode == 2
    assert "$MESHATLAS_CATALOG sqlite:///other.db: no catalogue at other.db" in from_env.stderr
    assert not typo.exists() and not (tmp_path / "other.db").exists()
    _clean(done.stderr + from_env.stderr)
    # --create says it on purpose.
    with serving(f"sqlite:///{typo}", tmp_path / "created", "--create") as served:
        assert httpx.get(f"{served.url}/readyz").status_code == 200
    assert typo.is_file()


def test_libpq_postgres_urls_are_taken_as_postgresql(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = subprocess.run(
        _serve_command("--catalog", f"postgres://meshatlas@127.0.0.1:{port}/catalog"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Not refused as a URL (exit 2): the database was tried, and did not answer.
    assert done.returncode == 1, done.stderr
    assert "Connection refused" in done.stderr and "serving" not in done.stderr
    _clean(done.stderr)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--public-url", "https://user:pw@catalog.example.com"], "must not carry credentials"),
        (["--public-url", "catalog.example.com"], "is not an http(s) URL"),
        (["--header-timeout", "0"], "--header-timeout must be more than 0"),
        (["--read-timeout", "-1"], "--read-timeout must be more than 0"),
        (["--shutdown-grace", "-1"], "--shutdown-grace must be 0 seconds or more"),
        (["--access-log", "maybe"], "invalid choice: 'maybe'"),
    ],
)
def test_bad_serve_flags_are_refused(
    flags: list[str], message: str, catalogue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshatlas.cli import main

    assert main(["serve", "--catalog", catalogue, *flags]) == 2
    assert message in capsys.readouterr().err


# -- one server for the requests ------------------------------------------------------


@pytest.fixture(scope="module")
def served(catalogue: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve`` with short header and read timeouts, JSON logs (stdout is a file)."""
    workdir = tmp_path_factory.mktemp("serve")
    with serving(catalogue, workdir, "--header-timeout", "2", "--read-timeout", "2") as running:
        yield running
    _clean(running.output())


def test_the_start_line_says_where_the_portal_is_and_slash_goes_there(served: Served) -> None:
    started = [json.loads(line) for line in served.stderr.read_text().splitlines()][0]
    assert started["level"] == "info"
    assert started["msg"].endswith(
        f" on {served.url} (1 token(s)); portal at {served.url}/portal/, OpenAPI at /openapi.json"
    )
    root = httpx.get(f"{served.url}/")
    assert root.status_code == 302 and root.headers["location"] == "/portal/"
    assert httpx.get(f"{served.url}/", follow_redirects=True).status_code == 200


def _access(served: Served, path: str, *, deadline: float = 30) -> dict[str, Any]:
    """The access log line of the last request for ``path``."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        lines = [json.loads(line) for line in served.access_lines()]
        mine = [line for line in lines if line["fields"]["path"] == path]
        if mine:
            return mine[-1]
        time.sleep(0.05)
    raise AssertionError(f"no access line for {path}: {served.access_lines()}")


def test_the_access_log_has_one_json_line_per_request_and_no_secrets(served: Served) -> None:
    secret_query = "search=hunter2-in-the-query"
    response = httpx.get(f"{served.url}{E}/assets?{secret_query}", headers=AUTH)
    assert response.status_code == 200
    line = _access(served, f"{E}/assets")
    assert set(line) == {"ts", "level", "msg", "fields"} and line["msg"] == "request"
    fields = line["fields"]
    assert set(fields) == {"method", "path", "status", "duration_ms", "bytes", "remote"}
    assert fields["method"] == "GET" and fields["status"] == 200
    assert fields["remote"] == "127.0.0.1"
    assert fields["bytes"] >= len(response.content) and fields["duration_ms"] >= 0
    refused = httpx.post(f"{served.url}{M}/runs", json={}, headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert _access(served, f"{M}/runs")["fields"]["status"] == 401
    log = served.stdout.read_text()
    assert "hunter2" not in log and TOKEN not in log and "Bearer" not in log
    assert all(json.loads(line) for line in served.access_lines())


def _api(text: str) -> dict[str, Any]:
    """The Backstage API entity of shop-orders in a catalog-info.yaml."""
    entities = [e for e in yaml.safe_load_all(text) if e]
    (api,) = [e for e in entities if e["kind"] == "API" and e["metadata"]["name"] == "shop-orders"]
    return api


def test_backstage_links_never_come_from_the_host_header(served: Served) -> None:
    forged = {"Host": "evil.example.net", "X-Forwarded-Host": "evil.example.net"}
    response = httpx.get(
        f"{served.url}{M}/backstage/catalog-info.yaml?layout=single", headers=forged
    )
    assert response.status_code == 200
    assert "evil" not in response.text
    link = _api(response.text)["metadata"]["links"][0]["url"]
    assert link == f"{served.url}/portal/apis/acme/shop-orders.html"


def test_backstage_links_come_from_the_public_url(catalogue: str, tmp_path: Path) -> None:
    public = "https://catalog.example.com/meshatlas/"
    with serving(catalogue, tmp_path, "--public-url", public, "--access-log", "off") as served:
        response = httpx.get(
            f"{served.url}{M}/backstage/catalog-info.yaml?layout=single",
            headers={"Host": "evil.example.net"},
        )
        assert "portal at https://catalog.example.com/meshatlas/portal/" in served.output()
    assert _api(response.text)["metadata"]["links"][0]["url"] == (
        "https://catalog.example.com/meshatlas/portal/apis/acme/shop-orders.html"
    )
    assert "evil" not in response.text
    assert served.stdout.read_text() == ""  # --access-log off


@pytest.mark.parametrize("path", [f"{M}/publications", f"{M}/publication-batches", f"{M}/runs"])
def test_a_deeply_nested_body_is_a_400(served: Served, path: str) -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        response = httpx.post(
            f"{served.url}{path}",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["message"] == "body: is nested too deeply to read"
    assert httpx.get(f"{served.url}/healthz").status_code == 200


def test_a_deeply_nested_file_in_a_publication_is_never_a_500(
    catalogue: str, tmp_path: Path
) -> None:
    depth = 5_000
    spec = b'{"openapi":"3.0.3","paths":{"/a":' + b"[" * depth + b"]" * depth + b"}}"
    nested = {"classifier": "oas", "packaging": "json", "content": base64.b64encode(spec).decode()}
    statuses = []
    with serving(catalogue, tmp_path) as served:
        for files in (publication()["files"], [nested]):
            response = httpx.post(
                f"{served.url}{M}/publications", json=publication(files=files), headers=AUTH
            )
            statuses.append(response.status_code)
    assert all(status < 500 for status in statuses), statuses
    _clean(served.output())


def _open(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=30)


def _closed_by_server(sock: socket.socket, received: bytearray) -> bool:
    """Whether the server has closed ``sock``; what it sent goes into ``received``."""
    sock.settimeout(0.05)
    try:
        while chunk := sock.recv(65536):
            received += chunk
        return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def _trickle(served: Served, head: bytes, *, byte: bytes) -> tuple[bool, float, bytes]:
    """Send ``head``, then ``byte`` every 0.2 s until the server closes (at most 30 s).

    Returns whether it closed, the seconds until then, and what it answered.
    """
    received = bytearray()
    started = time.monotonic()
    closed = False
    with _open(served) as slow:
        slow.sendall(head)
        while not closed and time.monotonic() - started < 30:
            try:
                slow.sendall(byte)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            # The server still answers everyone else meanwhile.
            assert httpx.get(f"{served.url}/healthz").status_code == 200
            closed = _closed_by_server(slow, received)
            time.sleep(0.2)
    return closed, time.monotonic() - started, bytes(received)


def test_headers_sent_byte_by_byte_are_cut_off(served: Served) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    closed, seconds, received = _trickle(served, head, byte=b"a")
    assert closed, "a client sending headers byte by byte was never cut off"
    assert 1.5 < seconds < 2 + 15, seconds
    assert received == b""  # no request ever arrived, so nothing was answered


def test_a_trickling_body_gets_408_and_the_connection_closes(served: Served) -> None:
    closed, seconds, received = _trickle(served, _head(f"{M}/publications", 100_000), byte=b" ")
    assert closed, "a body trickling in was never cut off"
    assert 1.5 < seconds < 2 + 15, seconds
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", received
    head, _, body = rest.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    problem = json.loads(body)
    assert problem["status"] == 408 and "did not arrive within 2 s" in problem["message"]


def _head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


# -- stopping -------------------------------------------------------------------------


async def _hammer(url: str, clients: int, stop: asyncio.Event, statuses: Counter[str]) -> None:
    """``clients`` keep-alive clients reading until ``stop`` or the server goes away."""

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                async with session.get(f"{url}{E}/assets?limit=5") as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except aiohttp.ClientError:
                statuses["gone"] += 1
                return

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))


def test_sigterm_under_load_finishes_what_is_in_flight(catalogue: str, tmp_path: Path) -> None:
    grace = 8.0
    with serving(
        catalogue, tmp_path, "--shutdown-grace", str(grace), "--log-format", "text"
    ) as served:
        body = json.dumps(publication(assetId="shop-stopping")).encode()
        statuses: Counter[str] = Counter()

        async def scenario() -> tuple[bytes, int, float]:
            stop = asyncio.Event()
            load = asyncio.ensure_future(_hammer(served.url, 64, stop, statuses))
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(_head(f"{M}/publications", len(body)) + body[:100])
            await writer.drain()
            while sum(statuses.values()) < 200:  # the load is on
                await asyncio.sleep(0.05)
            # The upload is in flight: SIGTERM, then the rest of its body.
            code_and_time = asyncio.get_running_loop().run_in_executor(
                None, served.stop, signal.SIGTERM
            )
            await asyncio.sleep(0.5)
            writer.write(body[100:])
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            code, seconds = await code_and_time
            stop.set()
            await asyncio.wait_for(load, 60)
            return answer, code, seconds

        answer, code, seconds = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 201 Created"), answer[:200]
    assert b"Connection: close" in answer.split(b"\r\n\r\n")[0]
    assert code == 0
    assert seconds < grace + 10, seconds  # the upload finished, so well within the grace
    assert statuses["200"] >= 200 and not [s for s in statuses if s.startswith("5")], statuses
    output = served.output()
    _clean(output)
    assert re.search(r"127\.0\.0\.1 POST /meshatlas/api/v1/publications 201 \d+ B", output)
    assert "stopped" in served.stderr.read_text()


def test_sigint_cancels_what_outlasts_the_grace(catalogue: str, tmp_path: Path) -> None:
    grace = 2.0
    with serving(
        catalogue, tmp_path, "--shutdown-grace", str(grace), "--read-timeout", "120"
    ) as served:
        with _open(served) as stalled, _open(served) as idle:
            stalled.sendall(_head(f"{M}/publications", 1000) + b"{")  # and nothing more
            assert httpx.get(f"{served.url}/healthz").status_code == 200
            time.sleep(0.5)
            code, seconds = served.stop(signal.SIGINT)
            # Cancelled, so closed without an answer; the idle one closed too.
            assert _closed_by_server(stalled, answered := bytearray()) and answered == b""
            assert _closed_by_server(idle, answered) and answered == b""
    assert code == 0
    assert grace - 0.5 < seconds < grace + 10, seconds
    output = served.output()
    _clean(output)
    assert "cancelling 1 unfinished request(s)" in output
