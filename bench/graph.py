"""Graph benchmark: build, analysis and every export at 5,000 Services / 50,000 edges.

    python bench/graph.py [--services 5000] [--edges 50000] [--svg]

Prints seconds per step as a table and as JSON. The SVG/PNG layout (graphviz)
is optional: ``dot`` on a 50,000-edge graph takes minutes and the picture is
not meant for graphs that size.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import graph  # noqa: E402
from discovery.model import Edge, Service, ServiceKey, ServicePort  # noqa: E402
from graph import analysis  # noqa: E402


def synthetic(n: int, m: int, *, seed: int = 7) -> tuple[list[Service], list[Edge]]:
    """``n`` Services over 50 namespaces and ``m`` telemetry edges between them."""
    rng = random.Random(seed)
    port = ServicePort("http", 8080, 8080, "TCP", None, "http")
    services = [
        Service(
            key=ServiceKey("bench", f"team-{i % 50:02d}", f"svc-{i:05d}"),
            type="ClusterIP",
            headless=False,
            cluster_ips=(f"127.99.{i // 250}.{i % 250}",),
            external_name=None,
            ports=(port,),
            ready_addresses=(),
        )
        for i in range(n)
    ]
    names = [str(s.key) for s in services]
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < m:
        # A few hubs take most of the traffic, as real meshes do.
        a = names[int(rng.paretovariate(1.2)) % n] if rng.random() < 0.3 else rng.choice(names)
        b = names[int(rng.paretovariate(1.2)) % n] if rng.random() < 0.5 else rng.choice(names)
        if a != b:
            pairs.add((a, b))
    edges = [
        Edge(
            a,
            b,
            "http",
            "telemetry",
            rps=rng.uniform(0.01, 50),
            error_rate=rng.random() / 20,
            p95_ms=rng.uniform(1, 900),
        )
        for a, b in sorted(pairs)
    ]
    return services, edges


def timed(name: str, step: Callable[[], Any], out: dict[str, float]) -> Any:
    started = time.perf_counter()
    value = step()
    out[name] = round(time.perf_counter() - started, 3)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--edges", type=int, default=50_000)
    parser.add_argument("--svg", action="store_true", help="also lay out with graphviz")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    services, edges = synthetic(args.services, args.edges)
    t: dict[str, float] = {}
    g = timed(
        "build", lambda: graph.build_graph(services=services, external_hosts=(), edges=edges), t
    )
    hub = max(g.nodes, key=g.in_degree)
    timed("blast_radius", lambda: analysis.blast_radius(g, hub), t)
    timed("consumers", lambda: analysis.consumers(g, hub), t)
    timed("cycles(100)", lambda: analysis.cycles(g, limit=100), t)
    timed("orphans", lambda: analysis.orphans(g), t)
    timed("hotspots", lambda: analysis.hotspots(g, top=10), t)
    timed("json", lambda: graph.to_json(g), t)
    timed("graphml", lambda: graph.to_graphml(g), t)
    timed("dot", lambda: graph.to_dot(g), t)
    timed("mermaid", lambda: graph.to_mermaid(g), t)
    if args.svg:
        timed("svg", lambda: graph.to_svg(g, timeout=1800), t)
    result = {
        "services": args.services,
        "edges": g.number_of_edges(),
        "seconds": t,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"graph: {args.services} services, {g.number_of_edges()} edges")
    for name, seconds in t.items():
        print(f"  {name:<14} {seconds:>8.3f} s")
    print(f"  peak RSS       {result['peak_rss_mb']:>8} MB")
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
