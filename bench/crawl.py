"""Crawl benchmark: meshatlas discover against a synthetic cluster, next to the floor.

The floor is a bare asyncio + httpx loop that fetches exactly the one known
description URL of every HTTP Service at the same concurrency and deadline:
no tool can do less. The same loop on aiohttp (meshatlas's probing client) is
shown beside it, for reference. Then ``meshatlas discover`` runs cold (empty
catalogue), warm (nothing changed), and cold once more without the blackholed
Services (selected out by label) to show what they cost; with ``--served``,
cold and warm once more through a ``meshatlas serve`` on loopback, as a
CronJob publishing to a central catalogue does. Prints wall time,
requests, requests per Service, Services per second, peak RSS (the crawl and
each validation worker that ran, by its own high-water mark), CPU seconds of
the crawl and of its workers (steadier than wall time when other work shares
the machine), and the ratios cold/floor and warm/cold, as a table and as JSON.

    python bench/crawl.py --services 5000                 # every Service its own description
    python bench/crawl.py --services 5000 --shared-specs  # one description per framework
    python bench/crawl.py --services 10000 --skip-floor   # memory growth
    python bench/crawl.py --services 5000 --skip-floor --served   # through a server
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from fixtures import synthetic  # noqa: E402

_CHILD = """
import gc, os, resource, sys, threading, time
from meshatlas.cli import main

# The validation workers' own peaks (VmHWM), read from /proc while they run:
# a child's ru_maxrss starts at its parent's peak (the kernel carries the
# spawning image's high-water mark over exec), so it would count the crawl's
# own memory once more per worker.
workers = {}
def watch(me=os.getpid()):
    while True:
        children = []
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                with open(f"/proc/{me}/task/{task}/children") as listed:
                    children.extend(listed.read().split())
            except OSError:
                continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/status") as status:
                    hwm = [l for l in status if l.startswith("VmHWM:")]
            except OSError:
                continue
            if hwm:
                workers[pid] = max(workers.get(pid, 0), int(hwm[0].split()[1]))
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()
gc.freeze()  # as the meshatlas console script does (meshatlas.cli.entry)
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    # VmHWM is this process's own peak; ru_maxrss would carry the parent's over.
    peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    fh.write(
        f"{peak.split()[1]} {max(workers.values(), default=0)} {len(workers)}"
        f" {own.ru_utime + own.ru_stime:.3f} {kids.ru_utime + kids.ru_stime:.3f}"
    )
# As the meshatlas console script leaves (meshatlas.cli.entry).
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


def start_mesh(
    n: int, octet: int, blackholed: float, workdir: Path, *, unique_specs: bool = False
) -> tuple[subprocess.Popen[str], Path]:
    """The synthetic cluster in its own process, so it does not share our GIL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fixtures.mesh",
            "up",
            "--synthetic",
            str(n),
            "--octet",
            str(octet),
            "--blackholed",
            str(blackholed),
            "--dir",
            str(workdir),
            *(["--unique-specs"] if unique_specs else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("kubeconfig:"):
        proc.kill()
        raise SystemExit(f"the synthetic mesh did not start: {line!r}")
    return proc, Path(line.split(":", 1)[1].strip())


async def floor(urls: list[str], *, concurrency: int, timeout: float) -> dict[str, Any]:
    """Fetch each known URL once, bounded like meshatlas's probes."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=timeout) as client:

        async def one(url: str) -> None:
            nonlocal failures
            async with gate:
                try:
                    async with asyncio.timeout(timeout):
                        response = await client.get(url)
                        await response.aread()
                except (httpx.HTTPError, TimeoutError):
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "requests": len(urls), "failures": failures}


async def floor_aiohttp(urls: list[str], *, concurrency: int, timeout: float) -> dict[str, Any]:
    """The same loop on aiohttp: what a cheaper client's floor is."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=1.0)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one(url: str) -> None:
            nonlocal failures
            async with gate:
                try:
                    async with asyncio.timeout(timeout), session.get(url) as response:
                        await response.read()
                except (aiohttp.ClientError, TimeoutError):
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "requests": len(urls), "failures": failures}


_TOKEN = "bench-publishes-with-this-token"


def start_server(db: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``meshatlas serve`` on a free loopback port, SQLite behind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["MESHATLAS_TOKEN_SHA256"] = "sha256:" + hashlib.sha256(_TOKEN.encode()).hexdigest()
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshatlas.cli", "serve", "--port", str(port)]
        + ["--catalog", f"sqlite:///{db}", "--create"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"meshatlas serve did not start; see {workdir / 'serve.log'}")


def discover(
    kubeconfig: Path,
    db: Path | str,
    report: Path,
    *,
    concurrency: int,
    timeout: float,
    selector: str | None = None,
) -> dict[str, Any]:
    """One ``meshatlas discover`` in its own process; ``db`` is a file or a server URL."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    rss = report.with_suffix(".rss")
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(rss),
            "discover",
            "--kubeconfig",
            str(kubeconfig),
            "--catalog",
            url,
            "--report",
            str(report),
            "--concurrency",
            str(concurrency),
            "--timeout",
            str(timeout),
            *(["--selector", selector] if selector else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MESHATLAS_TOKEN": _TOKEN},
        check=False,
    )
    wall = time.perf_counter() - started
    if not report.exists():
        raise SystemExit(f"discover failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    doc = json.loads(report.read_text())
    return {
        "wall_s": wall,
        "exit_code": proc.returncode,
        "requests": doc["stats"]["requests"],
        "services": doc["stats"]["services"],
        "apis": doc["stats"]["apis"],
        "published": doc["stats"]["published"],
        **_peaks(rss),
        "phases_s": doc["stats"].get("phases_s", {}),
    }


def _peaks(rss: Path) -> dict[str, float]:
    fields = rss.read_text().split()
    own, worker, workers = (int(x) for x in fields[:3])
    cpu_main, cpu_workers = (float(x) for x in fields[3:5])
    return {
        "peak_rss_main_mb": own / 1024,
        "peak_rss_worker_mb": worker / 1024,
        "workers": workers,
        # An upper bound: every worker that ran at the largest one's peak, beside the main peak.
        "peak_rss_mb": (own + worker * workers) / 1024,
        # CPU seconds, which other work on the machine changes far less than wall time.
        "cpu_main_s": cpu_main,
        "cpu_workers_s": cpu_workers,
    }


def run(
    n: int,
    *,
    concurrency: int,
    timeout: float,
    blackholed: float,
    octet: int,
    skip_floor: bool = False,
    unique_specs: bool = True,
    served: bool = False,
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="meshatlas-bench-") as tmp:
        work = Path(tmp)
        mesh, kubeconfig = start_mesh(
            n, octet, blackholed, work / "mesh", unique_specs=unique_specs
        )
        bounds = {"concurrency": concurrency, "timeout": timeout}
        try:
            if not skip_floor:
                urls = synthetic.truths(n, octet=octet, blackholed=blackholed)
                rows["floor"] = asyncio.run(floor(urls, **bounds))
                rows["floor_aiohttp"] = asyncio.run(floor_aiohttp(urls, **bounds))
            rows["cold"] = discover(kubeconfig, work / "c.db", work / "cold.json", **bounds)
            rows["warm"] = discover(kubeconfig, work / "c.db", work / "warm.json", **bounds)
            if blackholed > 0:
                rows["cold_no_blackholed"] = discover(
                    kubeconfig,
                    work / "clean.db",
                    work / "clean.json",
                    selector=f"{synthetic.KIND_LABEL}!={synthetic.BLACKHOLE.name}",
                    **bounds,
                )
            if served:
                server, url = start_server(work / "served.db", work)
                try:
                    rows["cold_served"] = discover(kubeconfig, url, work / "cs.json", **bounds)
                    rows["warm_served"] = discover(kubeconfig, url, work / "ws.json", **bounds)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
        finally:
            mesh.terminate()
            mesh.wait(timeout=30)
    for row in rows.values():
        row["requests_per_service"] = row["requests"] / n
        row["services_per_s"] = n / row["wall_s"]
    cold, warm = rows["cold"], rows["warm"]
    result: dict[str, Any] = {
        "services": n,
        "concurrency": concurrency,
        "timeout_s": timeout,
        "blackholed": blackholed,
        "unique_specs": unique_specs,
        **rows,
        "warm_over_cold": warm["wall_s"] / cold["wall_s"],
    }
    if "floor" in rows:
        result["cold_over_floor"] = cold["wall_s"] / rows["floor"]["wall_s"]
        result["cold_over_floor_aiohttp"] = cold["wall_s"] / rows["floor_aiohttp"]["wall_s"]
    if served:
        result["warm_over_cold_served"] = (
            rows["warm_served"]["wall_s"] / rows["cold_served"]["wall_s"]
        )
    if "cold_no_blackholed" in rows:
        result["blackholed_cost_s"] = cold["wall_s"] - rows["cold_no_blackholed"]["wall_s"]
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"services={result['services']} concurrency={result['concurrency']} "
        f"timeout={result['timeout_s']}s blackholed={result['blackholed']:.0%}"
        + (" unique specs" if result["unique_specs"] else " specs shared per framework"),
        f"{'run':<18} {'wall s':>8} {'requests':>9} {'req/svc':>8} {'svc/s':>8}"
        f" {'peak RSS MB':>12} {'main+workers':>16} {'CPU s main+workers':>19}",
    ]
    names = ("floor", "floor_aiohttp", "cold", "warm", "cold_no_blackholed")
    for name in (*names, "cold_served", "warm_served"):
        if name not in result:
            continue
        row = result[name]
        rss = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "-"
        split = (
            f"{row['peak_rss_main_mb']:.0f}+{row['workers']}x{row['peak_rss_worker_mb']:.0f}"
            if "peak_rss_main_mb" in row
            else "-"
        )
        cpu = f"{row['cpu_main_s']:.1f}+{row['cpu_workers_s']:.1f}" if "cpu_main_s" in row else "-"
        lines.append(
            f"{name:<18} {row['wall_s']:>8.2f} {row['requests']:>9} "
            f"{row['requests_per_service']:>8.2f} {row['services_per_s']:>8.0f} {rss:>12}"
            f" {split:>16} {cpu:>19}"
        )
    ratios = [f"warm/cold = {result['warm_over_cold']:.2f}"]
    if "cold_over_floor" in result:
        ratios.insert(0, f"cold/floor = {result['cold_over_floor']:.2f}")
        ratios.append(f"cold/aiohttp floor = {result['cold_over_floor_aiohttp']:.2f}")
    if "blackholed_cost_s" in result:
        ratios.append(
            f"blackholed cost = {result['blackholed_cost_s']:.1f}s"
            f" (deadline {result['timeout_s']:g}s)"
        )
    if "warm_over_cold_served" in result:
        ratios.append(f"through a server: warm/cold = {result['warm_over_cold_served']:.2f}")
    lines.append("   ".join(ratios))
    for name in ("cold", "warm", "cold_served", "warm_served"):
        if name not in result:
            continue
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in result[name]["phases_s"].items())
        lines.append(f"{name} phases: {phases}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--blackholed", type=float, default=0.02)
    parser.add_argument("--octet", type=int, default=93)
    parser.add_argument("--skip-floor", action="store_true", help="only the meshatlas runs")
    parser.add_argument(
        "--shared-specs",
        action="store_true",
        help="Services of one framework serve the same bytes (the default is a real"
        " cluster's case: every Service serves its own description, nothing is reused"
        " across Services)",
    )
    parser.add_argument(
        "--served",
        action="store_true",
        help="also crawl cold and warm through a `meshatlas serve` on loopback",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(
        args.services,
        concurrency=args.concurrency,
        timeout=args.timeout,
        blackholed=args.blackholed,
        octet=args.octet,
        skip_floor=args.skip_floor,
        unique_specs=not args.shared_specs,
        served=args.served,
    )
    print(table(result))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
