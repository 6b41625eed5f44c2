"""Crawl benchmark: meshatlas discover against a synthetic cluster, next to the floor.

The floor is a bare asyncio + httpx loop that fetches exactly the one known
description URL of every HTTP Service at the same concurrency and deadline:
no tool can do less. Then ``meshatlas discover`` runs cold (empty catalogue)
and warm (nothing changed). Prints wall time, requests, requests per Service,
Services per second, peak RSS, and the ratios cold/floor and warm/cold, as a
table and as JSON.

    python bench/crawl.py --services 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from fixtures import synthetic  # noqa: E402

_CHILD = """
import sys
from meshatlas.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    # VmHWM is this process's own peak; ru_maxrss would carry the parent's over.
    peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    fh.write(peak.split()[1])
sys.exit(code)
"""


def start_mesh(
    n: int, octet: int, blackholed: float, workdir: Path
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


def discover(
    kubeconfig: Path, db: Path, report: Path, *, concurrency: int, timeout: float
) -> dict[str, Any]:
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
            f"sqlite:///{db}",
            "--report",
            str(report),
            "--concurrency",
            str(concurrency),
            "--timeout",
            str(timeout),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
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
        "peak_rss_mb": int(rss.read_text()) / 1024,
        "phases_s": doc["stats"].get("phases_s", {}),
    }


def run(
    n: int, *, concurrency: int, timeout: float, blackholed: float, octet: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshatlas-bench-") as tmp:
        work = Path(tmp)
        mesh, kubeconfig = start_mesh(n, octet, blackholed, work / "mesh")
        try:
            urls = synthetic.truths(n, octet=octet, blackholed=blackholed)
            base = asyncio.run(floor(urls, concurrency=concurrency, timeout=timeout))
            cold = discover(
                kubeconfig,
                work / "c.db",
                work / "cold.json",
                concurrency=concurrency,
                timeout=timeout,
            )
            warm = discover(
                kubeconfig,
                work / "c.db",
                work / "warm.json",
                concurrency=concurrency,
                timeout=timeout,
            )
        finally:
            mesh.terminate()
            mesh.wait(timeout=30)
    for row in (base, cold, warm):
        row["requests_per_service"] = row["requests"] / n
        row["services_per_s"] = n / row["wall_s"]
    return {
        "services": n,
        "concurrency": concurrency,
        "timeout_s": timeout,
        "blackholed": blackholed,
        "floor": base,
        "cold": cold,
        "warm": warm,
        "cold_over_floor": cold["wall_s"] / base["wall_s"],
        "warm_over_cold": warm["wall_s"] / cold["wall_s"],
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"services={result['services']} concurrency={result['concurrency']} "
        f"timeout={result['timeout_s']}s blackholed={result['blackholed']:.0%}",
        f"{'run':<6} {'wall s':>8} {'requests':>9} {'req/svc':>8} {'svc/s':>8} {'peak RSS MB':>12}",
    ]
    for name in ("floor", "cold", "warm"):
        row = result[name]
        rss = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "-"
        lines.append(
            f"{name:<6} {row['wall_s']:>8.2f} {row['requests']:>9} "
            f"{row['requests_per_service']:>8.2f} {row['services_per_s']:>8.0f} {rss:>12}"
        )
    lines.append(
        f"cold/floor = {result['cold_over_floor']:.2f}   warm/cold = {result['warm_over_cold']:.2f}"
    )
    for name in ("cold", "warm"):
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
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(
        args.services,
        concurrency=args.concurrency,
        timeout=args.timeout,
        blackholed=args.blackholed,
        octet=args.octet,
    )
    print(table(result))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
