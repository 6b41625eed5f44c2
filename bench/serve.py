"""Catalogue server benchmark: ``meshatlas serve`` beside a floor, SQLite and PostgreSQL.

    python bench/serve.py [--assets 10000] [--backend sqlite|postgresql|both]
                          [--seconds 4] [--concurrency 1,10,50]

Publishes N assets (each with its own OpenAPI document, operations, tags and
an instance; one in ten with a second version and a dependency) into a fresh
catalogue, then starts two servers on loopback, each in its own process:

- ``meshatlas serve`` on that catalogue, as a user runs it;
- the **floor**: a bare aiohttp app answering get-asset and search with the
  smallest SQL that reads the same data (one statement per table, on a raw
  DB-API connection, no thread hand-off, no middleware), serialised with the
  standard library's ``json``.

A load generator in a third process (aiohttp, keep-alive, closed loop, one
connection per client) drives each scenario for ``--seconds`` at each
concurrency: get one asset, search (free text), list a page, a file download,
the portal's home and an API page, and publication batches of 100 unchanged
drafts. "reads while publishing" runs get-asset while a publisher sends
batches, to show whether writes stall reads. Prints req/s and p50/p95/p99 per
scenario with the floor beside it, then the same figures as JSON.

Targets (issue 20): reads >= 1,000 req/s on SQLite at concurrency 50, within
2x of the floor, p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-serve-token"
E = "/exchange/api/v2/assets"
M = "/meshatlas/api/v1"
GROUP = "bench"
#: Words of the free-text searches: an asset's number, a namespace, an operation, none.
SEARCH_WORDS = ("service 0042", "team-07", "items3", "svc-0099", "zzz-nothing", "bench")


# -- the catalogue ------------------------------------------------------------------


def seed(url: str, n: int) -> list[str]:
    """Publish ``n`` assets into ``url``; returns their asset ids."""
    import catalog
    from bench.drafts import drafts

    items = drafts(n)
    store = catalog.open_store(url)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    try:
        results = store.publish_many(items, seen_at=t0)
        assert all(isinstance(r, catalog.PublishResult) for r in results), results[:3]
        # One in ten gets a second version that calls its neighbour.
        second = []
        for i, draft in enumerate(items[::10]):
            spec = draft.files[0]
            callee = items[(i * 10 + 1) % n]
            second.append(
                replace(
                    draft,
                    files=(replace(spec, content=spec.content + b"\n"),),
                    dependencies=(f"{callee.group_id}:{callee.asset_id}",),
                )
            )
        store.publish_many(second, seen_at=t0 + timedelta(hours=1))
    finally:
        store.close()
    return [d.asset_id for d in items]


# -- the floor -----------------------------------------------------------------------


_INSTANCE_KEYS = ("cluster", "namespace", "service", "port", "endpointUri", "environment")


def floor_app(url: str) -> Any:
    """The floor: get-asset and search, minimal SQL on one raw connection."""
    from aiohttp import web

    if url.startswith("sqlite"):
        import sqlite3

        db: Any = sqlite3.connect(url.split("///", 1)[1], check_same_thread=False)
        mark = "?"
    else:
        import psycopg

        db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        mark = "%s"

    def rows(sql: str, *params: Any) -> list[Any]:
        return list(db.execute(sql.replace("?", mark), params).fetchall())

    def summary(asset: Any) -> dict[str, Any]:
        pk = asset[0]
        versions = rows(
            "SELECT id, version, created_at, reason FROM catalog_versions WHERE asset_pk = ?", pk
        )
        latest = max(versions, key=lambda v: v[0])
        vpk = latest[0]
        files = rows(
            "SELECT classifier, packaging, sha256, length(content) FROM catalog_files "
            "WHERE version_pk = ? ORDER BY position",
            vpk,
        )
        operations = rows(
            "SELECT operation FROM catalog_operations WHERE version_pk = ? ORDER BY operation", vpk
        )
        instances = rows(
            "SELECT cluster, namespace, service, port, endpoint_uri, environment "
            "FROM catalog_instances WHERE version_pk = ?",
            vpk,
        )
        dependencies = rows(
            "SELECT group_id, asset_id FROM catalog_dependencies WHERE version_pk = ?", vpk
        )
        tags = rows("SELECT tag FROM catalog_tags WHERE asset_pk = ? ORDER BY tag", pk)
        return {
            "groupId": asset[1],
            "assetId": asset[2],
            "name": asset[3],
            "type": asset[4],
            "description": asset[5],
            "version": latest[1],
            "tags": [t[0] for t in tags],
            "operations": [o[0] for o in operations],
            "files": [
                {"classifier": f[0], "packaging": f[1], "sha256": f[2], "size": f[3]} for f in files
            ],
            "instances": [dict(zip(_INSTANCE_KEYS, i, strict=True)) for i in instances],
            "dependencies": [{"groupId": d[0], "assetId": d[1]} for d in dependencies],
            "versions": [
                {"version": v[1], "createdAt": str(v[2]), "reason": v[3]} for v in versions
            ],
        }

    columns = "id, group_id, asset_id, name, type, description"

    async def get(request: web.Request) -> web.Response:
        found = rows(
            f"SELECT {columns} FROM catalog_assets WHERE group_id = ? AND asset_id = ?",
            request.match_info["g"],
            request.match_info["a"],
        )
        if not found:
            return web.json_response({"status": 404}, status=404)
        return web.Response(text=json.dumps(summary(found[0])), content_type="application/json")

    async def search(request: web.Request) -> web.Response:
        needle = "%" + request.query.get("search", "").lower() + "%"
        limit = int(request.query.get("limit", "20"))
        offset = int(request.query.get("offset", "0"))
        total = rows("SELECT count(*) FROM catalog_assets WHERE search_text LIKE ?", needle)[0][0]
        found = rows(
            f"SELECT {columns} FROM catalog_assets WHERE search_text LIKE ? "
            "ORDER BY group_id, asset_id LIMIT ? OFFSET ?",
            needle,
            limit,
            offset,
        )
        body = json.dumps([summary(a) for a in found])
        return web.Response(
            text=body, content_type="application/json", headers={"X-Total-Count": str(total)}
        )

    app = web.Application()
    app.router.add_get(f"{E}/search", search)
    app.router.add_get(f"{E}/{{g}}/{{a}}", get)
    app.router.add_get("/readyz", lambda _: _ready())
    return app


async def _ready() -> Any:
    from aiohttp import web

    return web.json_response({"status": "ready"})


def run_floor(url: str, port: int) -> None:
    from aiohttp import web

    web.run_app(floor_app(url), host="127.0.0.1", port=port, print=None, access_log=None)


# -- processes -----------------------------------------------------------------------


def free_port() -> int:
    from fixtures.ports import free_port as pick

    return pick()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(command: list[str], workdir: Path, name: str, port: int) -> Iterator[tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "no_proxy": "*"}
    env["MESHATLAS_TOKEN_SHA256"] = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
    log = workdir / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- the load generator ----------------------------------------------------------------


def _requests(
    scenario: str, ids: list[str], rng: random.Random
) -> Callable[[], tuple[str, str, Any]]:
    """A function that draws the next (method, path, body) of ``scenario``."""
    batch_ids = ids[:100]

    def draw() -> tuple[str, str, Any]:
        asset = rng.choice(ids)
        if scenario in ("get", "reads-while-publishing"):
            return "GET", f"{E}/{GROUP}/{asset}", None
        if scenario == "search":
            return "GET", f"{E}/search?search={rng.choice(SEARCH_WORDS)}&limit=20", None
        if scenario == "list":
            return "GET", f"{E}?offset={rng.randrange(len(ids) - 50)}&limit=50", None
        if scenario == "file":
            return "GET", f"{E}/{GROUP}/{asset}/1.0.0/files/oas/json", None
        if scenario == "portal-home":
            return "GET", "/portal/", None
        if scenario == "portal-api":
            return "GET", f"/portal/apis/{GROUP}/{asset}.html", None
        if scenario == "publish-batch":
            return "POST", f"{M}/publication-batches", _batch(batch_ids)
        raise ValueError(scenario)

    return draw


_BATCH_BODY: dict[str, bytes] = {}


def _batch(ids: list[str]) -> bytes:
    """A publication batch of the first 100 assets, unchanged."""
    key = ids[0]
    if key not in _BATCH_BODY:
        from bench.drafts import drafts
        from catalog.remote import crawlwire

        body = crawlwire.batch_json(drafts(len(ids)), seen_at=datetime.now(UTC))
        _BATCH_BODY[key] = json.dumps(body).encode()
    return _BATCH_BODY[key]


async def _drive(
    url: str, scenario: str, ids: list[str], clients: int, seconds: float, seed: int
) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    answered = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        base_url=url, connector=connector, timeout=timeout, trust_env=False
    ) as http:

        async def client(index: int, until: float) -> None:
            draw = _requests(scenario, ids, random.Random(f"{seed}-{index}"))
            while time.monotonic() < until:
                method, path, body = draw()
                started = time.perf_counter()
                try:
                    async with http.request(
                        method, path, data=body, headers=headers if body else None
                    ) as answer:
                        await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                nonlocal answered
                answered += 1
                if status >= 400 and not (status == 404 and scenario == "file"):
                    errors[str(status)] = errors.get(str(status), 0) + 1
                latencies.append(time.perf_counter() - started)

        async def publisher(until: float) -> None:
            draw = _requests("publish-batch", ids, random.Random(seed))
            while time.monotonic() < until:
                method, path, body = draw()
                async with http.request(method, path, data=body, headers=headers) as answer:
                    await answer.read()
                nonlocal answered
                answered += 1

        # A warm-up second: connections open, caches and statements prepared.
        await asyncio.gather(*(client(i, time.monotonic() + 1) for i in range(clients)))
        latencies.clear()
        started = time.perf_counter()
        until = time.monotonic() + seconds
        tasks = [client(i, until) for i in range(clients)]
        if scenario == "reads-while-publishing":
            tasks.append(publisher(until))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    return {
        "rps": len(latencies) / wall,
        **percentiles(latencies),
        "errors": errors,
        "answered": answered,
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000}


def load(
    target: tuple[str, int], scenario: str, ids: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    """Run the load generator in its own process against ``(url, pid)``; its figures.

    Besides the generator's latencies: the server's CPU time per request,
    which the other processes on the machine do not change.
    """
    url, pid = target
    spec = json.dumps(
        {"url": url, "scenario": scenario, "ids": ids, "clients": clients, "seconds": seconds}
    )
    cpu_before = cpu_seconds(pid)
    done = subprocess.run(
        [sys.executable, __file__, "--generate"],
        input=spec.encode(),
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "no_proxy": "*"},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    answered = result.pop("answered")
    result["cpu_ms_per_request"] = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, answered)
    return result


# -- the run ---------------------------------------------------------------------------

SCENARIOS = (
    "get",
    "search",
    "list",
    "file",
    "portal-home",
    "portal-api",
    "publish-batch",
    "reads-while-publishing",
)
FLOORED = ("get", "search")


def run_backend(
    url: str, n: int, seconds: float, levels: list[int], workdir: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    ids = seed(url, n)
    print(f"  seeded {n} assets in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    figures: dict[str, Any] = {}
    serve_port, floor_port = free_port(), free_port()
    serve_cmd = [sys.executable, "-m", "meshatlas.cli", "serve", "--catalog", url]
    serve_cmd += ["--port", str(serve_port)]
    floor_cmd = [sys.executable, __file__, "--floor", url, "--port", str(floor_port)]
    with (
        server(serve_cmd, workdir, "serve", serve_port) as serve_target,
        server(floor_cmd, workdir, "floor", floor_port) as floor_target,
    ):
        for scenario in SCENARIOS:
            for clients in levels:
                if scenario.startswith("publish") and clients > 10:
                    continue  # forty CronJobs do not publish at once
                row = {"serve": load(serve_target, scenario, ids, clients, seconds)}
                if scenario in FLOORED:
                    row["floor"] = load(floor_target, scenario, ids, clients, seconds)
                figures[f"{scenario}@{clients}"] = row
                print(f"  {scenario}@{clients}: {_line(row)}", file=sys.stderr)
    return figures


def _line(row: dict[str, Any]) -> str:
    s = row["serve"]
    text = (
        f"{s['rps']:7.0f} req/s  p50 {s['p50_ms']:6.1f}  p95 {s['p95_ms']:6.1f}"
        f"  p99 {s['p99_ms']:6.1f} ms  cpu {s['cpu_ms_per_request']:5.2f} ms/req"
    )
    if "floor" in row:
        f = row["floor"]
        text += (
            f"   floor {f['rps']:7.0f} req/s p99 {f['p99_ms']:6.1f} ms"
            f" cpu {f['cpu_ms_per_request']:5.2f}"
            f"  ({s['rps'] / f['rps']:.2f}x rate,"
            f" {s['cpu_ms_per_request'] / f['cpu_ms_per_request']:.1f}x cpu)"
        )
    if s["errors"]:
        text += f"  errors {s['errors']}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--floor", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        run_floor(args.floor, args.port)
        return
    if args.generate:
        spec = json.loads(sys.stdin.read())
        result = asyncio.run(
            _drive(spec["url"], spec["scenario"], spec["ids"], spec["clients"], spec["seconds"], 7)
        )
        print(json.dumps(result))
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[str, Any] = {}
    from tests import pgserver

    with tempfile.TemporaryDirectory(prefix="meshatlas-bench-serve-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            print("sqlite", file=sys.stderr)
            results["sqlite"] = run_backend(
                f"sqlite:///{tmp}/serve.db", args.assets, args.seconds, levels, workdir
            )
        if args.backend in ("postgresql", "both"):
            bin_dir = pgserver.find_bin_dir()
            if bin_dir is None:
                raise SystemExit("PostgreSQL 15 binaries not found (make system-deps)")
            pg = pgserver.PostgresServer(bin_dir)
            pg.start()
            try:
                print("postgresql", file=sys.stderr)
                results["postgresql"] = run_backend(
                    pg.new_database(), args.assets, args.seconds, levels, workdir
                )
            finally:
                pg.stop()
    for backend, figures in results.items():
        print(f"\n{backend}, {args.assets} assets")
        for name, row in figures.items():
            print(f"  {name:<28} {_line(row)}")
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
