"""Catalogue benchmark: publish and search at 10,000 assets, SQLite and PostgreSQL.

    python bench/catalog.py [--assets 10000] [--backend sqlite|postgresql|both]

Publishes N assets (each with an OpenAPI file, operations and an instance) in
batches as a crawl does, republishes them unchanged, runs searches (free
text, type filter, namespace filter, paging), then republishes them with a
quarter changed, and prints throughput and latency percentiles as a table and
as JSON. PostgreSQL is a throwaway server
started like the tests start it (PostgreSQL 15 binaries, loopback only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import catalog  # noqa: E402
from bench.drafts import drafts  # noqa: E402
from tests import pgserver  # noqa: E402


def with_new_content(draft: catalog.AssetDraft) -> catalog.AssetDraft:
    """The draft with its spec changed (one more byte): a new version when published."""
    spec = draft.files[0]
    files = (dataclasses.replace(spec, content=spec.content + b"\n"),)
    return dataclasses.replace(draft, files=files)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def run(url: str, n: int) -> dict[str, Any]:
    items = drafts(n)
    store = catalog.open_store(url)
    t0 = datetime.now(UTC)
    started = time.perf_counter()
    first = store.publish_many(items, seen_at=t0)
    cold = time.perf_counter() - started
    assert all(isinstance(r, catalog.PublishResult) for r in first)
    started = time.perf_counter()
    store.publish_many(items, seen_at=t0 + timedelta(minutes=10))
    warm = time.perf_counter() - started
    single: list[float] = []
    for draft in items[:200]:
        s = time.perf_counter()
        store.publish(draft, seen_at=t0 + timedelta(minutes=20))
        single.append(time.perf_counter() - s)
    queries = [
        {"query": "service 042"},
        {"query": "items3"},
        {"type": "soap-api"},
        {"namespace": "team-07"},
        {"query": "bench", "offset": 200},
        {"query": "team-1", "type": "rest-api", "limit": 50},
    ]
    latencies: list[float] = []
    for _ in range(25):
        for q in queries:
            s = time.perf_counter()
            store.search(**q)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - s)
    # Last, so the searches above run on the same catalogue as they always did.
    changed = [with_new_content(d) if i % 4 == 0 else d for i, d in enumerate(items)]
    started = time.perf_counter()
    store.publish_many(changed, seen_at=t0 + timedelta(minutes=30))
    mixed = time.perf_counter() - started
    store.close()
    return {
        "assets": n,
        "publish_cold_per_s": n / cold,
        "publish_unchanged_per_s": n / warm,
        "publish_quarter_changed_per_s": n / mixed,
        "publish_one": percentiles(single),
        "search": percentiles(latencies),
        "searches": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="meshatlas-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", args.assets)
        if args.backend in ("postgresql", "both"):
            bin_dir = pgserver.find_bin_dir()
            if bin_dir is None:
                raise SystemExit("PostgreSQL 15 binaries not found (make system-deps)")
            server = pgserver.PostgresServer(bin_dir)
            server.start()
            try:
                results["postgresql"] = run(server.new_database(), args.assets)
            finally:
                server.stop()
    for backend, r in results.items():
        print(
            f"{backend:<10} {r['assets']} assets: publish {r['publish_cold_per_s']:.0f}/s new, "
            f"{r['publish_unchanged_per_s']:.0f}/s unchanged, "
            f"{r['publish_quarter_changed_per_s']:.0f}/s with a quarter changed; one publish p95 "
            f"{r['publish_one']['p95_ms']:.1f} ms; search p50 {r['search']['p50_ms']:.1f} ms, "
            f"p95 {r['search']['p95_ms']:.1f} ms, p99 {r['search']['p99_ms']:.1f} ms"
        )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
