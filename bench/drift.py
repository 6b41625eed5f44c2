"""Drift benchmark: server spans matched to operations, 1,000,000 spans over 5,000 APIs.

    python bench/drift.py [--apis 5000] [--spans 1000000] [--operations 12]

Every API has its own contract (unique paths, a literal segment beside a
templated one, a few deprecated operations) as a parsed
:class:`~discovery.model.SpecDocument` built here, so what is timed is
:func:`governance.drift.analyse`: compiling a router per contract, matching
every span (most by path, some by route template, some undocumented with
numeric ids, some of Services without an API), tallying and judging.
Prints seconds, spans matched per second and peak RSS, as a table and as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from discovery.model import Api, Operation, ServiceKey, ServicePort, SpecDocument  # noqa: E402
from discovery.telemetry.spans import Span  # noqa: E402
from governance import drift  # noqa: E402

_PORT = ServicePort("http", 8080, 8080, "TCP", None, "http")
_WORDS = ("orders", "items", "carts", "users", "prices", "quotes", "stock", "lines", "notes")


def contract(i: int, operations: int) -> SpecDocument:
    """API ``i``'s own contract: ``operations`` operations under ``/v1/api{i}``."""
    paths: dict[str, dict[str, object]] = {}
    ops: list[Operation] = []
    for n in range(operations):
        word = f"{_WORDS[n % len(_WORDS)]}{i}"
        shape = n % 4
        path = (
            f"/v1/api{i}/{word}",
            f"/v1/api{i}/{word}/{{id}}",
            f"/v1/api{i}/{word}/search",
            f"/v1/api{i}/{word}/{{id}}/lines/{{line}}",
        )[shape]
        method = ("get", "post", "put", "delete")[(n // 4) % 4]
        operation: dict[str, object] = {"operationId": f"op{i}_{n}", "responses": {}}
        if n % 7 == 3:
            operation["deprecated"] = True
        paths.setdefault(path, {})[method] = operation
        ops.append(Operation(name=f"op{i}_{n}", method=method.upper(), path=path))
    document = {"openapi": "3.0.3", "info": {"title": f"api {i}", "version": "1.0.0"}}
    document["paths"] = paths  # type: ignore[assignment]
    return SpecDocument(
        format="openapi",
        spec_version="3.0.3",
        url=f"http://api{i}/openapi.json",
        packaging="json",
        title=f"api {i}",
        api_version="1.0.0",
        description=None,
        operations=tuple(ops),
        valid=True,
        errors=(),
        content=json.dumps(document).encode(),
        base_path="/",
    )


def apis(count: int, operations: int) -> list[Api]:
    return [
        Api(
            service=ServiceKey("bench", f"team-{i % 50:02d}", f"svc-{i:05d}"),
            port=_PORT,
            kind="rest",
            base_url=f"http://svc-{i:05d}:8080",
            spec=contract(i, operations),
            evidence=(),
            requests=1,
        )
        for i in range(count)
    ]


def spans(found: list[Api], count: int, *, seed: int = 11) -> list[Span]:
    """``count`` server spans: 85% documented by path, 5% by route, 8% undocumented, 2% strays."""
    rng = random.Random(seed)
    out: list[Span] = []
    start = 1_790_000_000_000_000
    for n in range(count):
        api = found[rng.randrange(len(found))]
        node = f"{api.service.cluster}/{api.service.namespace}/{api.service.name}"
        roll = rng.random()
        assert api.spec is not None
        op = api.spec.operations[rng.randrange(len(api.spec.operations))]
        assert op.path is not None
        concrete = op.path.replace("{id}", str(rng.randrange(10**6))).replace("{line}", "3")
        status = 500 if rng.random() < 0.01 else 200
        if roll < 0.85:
            span = Span(service=node, protocol="http", method=op.method, path=concrete)
        elif roll < 0.90:
            route = op.path.replace("{id}", ":id")
            span = Span(service=node, protocol="http", method=op.method, route=route, path=concrete)
        elif roll < 0.98:
            shadow = f"/internal/{api.service.name}/{rng.randrange(10**6)}"
            span = Span(service=node, protocol="http", method="GET", path=shadow)
        else:
            span = Span(service="bench/elsewhere/stray", protocol="http", method="GET", path="/")
        out.append(
            Span(
                service=span.service,
                protocol="http",
                method=span.method,
                route=span.route,
                path=span.path,
                status=status,
                start_us=start + n,
                duration_us=rng.randrange(200, 50_000),
            )
        )
    return out


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apis", type=int, default=5000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--operations", type=int, default=12, help="operations per contract")
    args = parser.parse_args(argv)
    rss_start = _rss_mib()
    t0 = time.perf_counter()
    found = apis(args.apis, args.operations)
    t1 = time.perf_counter()
    batch = spans(found, args.spans)
    t2 = time.perf_counter()
    rss_inputs = _rss_mib()
    result = drift.analyse(apis=found, spans=batch, window_s=600)
    t3 = time.perf_counter()
    rss_peak = _rss_mib()
    documented = sum(op.calls for a in result.apis for op in a.operations if op.documented)
    figures = {
        "apis": args.apis,
        "operations_per_api": args.operations,
        "spans": args.spans,
        "contracts_built_s": round(t1 - t0, 3),
        "spans_built_s": round(t2 - t1, 3),
        "analyse_s": round(t3 - t2, 3),
        "spans_matched_per_s": round(args.spans / (t3 - t2)),
        "matched_documented": documented,
        "unmatched_spans": result.unmatched_spans,
        "findings": len(result.findings),
        "rss_start_mib": round(rss_start, 1),
        "rss_with_inputs_mib": round(rss_inputs, 1),
        "rss_peak_mib": round(rss_peak, 1),
        "analyse_rss_mib": round(rss_peak - rss_inputs, 1),
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
