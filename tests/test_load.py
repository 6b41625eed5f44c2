"""``meshatlas serve`` under load: 50 clients mixing search, get and publish.

The real ``meshatlas serve`` command in its own process on loopback, 50
concurrent clients (one ``httpx.AsyncClient`` each, keep-alive, at least three
requests each) for a bounded
time: 60 % searches with seeded random filters, 25 % reads of an asset, a
version or a file, 15 % publications spread over 20 assets and three contents
each, so publishers race for the same asset and the next version. Every
answer must be below 500 and every publication accepted; p50/p95/p99 are
reported (``bench/reliability.py`` prints them). Afterwards the catalogue is
consistent and holds each published content exactly once.

``MESHATLAS_LOAD_SECONDS`` sets the duration (``bench/reliability.py --long``:
60 s); the default CI run takes a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import serving
from tests.test_crash import check_consistent, snapshot

TOKEN = "load-test-token"
E = "/exchange/api/v2/assets"
M = "/meshatlas/api/v1"
CLIENTS = 50
#: Requests every client makes even when the window is over: how many answers
#: come back is a property of the server, how many fit in the window is one of
#: the machine (a loaded CI host answers a few per second).
MIN_PER_CLIENT = 3
SECONDS = float(os.environ.get("MESHATLAS_LOAD_SECONDS", "3"))
SEED = int(os.environ.get("MESHATLAS_RELIABILITY_SEED", "20261122"))
ASSETS = 20
CONTENTS = 3


@contextlib.contextmanager
def serve_process(catalogue: str, workdir: Path) -> Iterator[str]:
    """``meshatlas serve`` with this module's token; fails on a traceback in its log."""
    with serving.serve_process(catalogue, workdir, token=TOKEN) as url:
        yield url
    log = (workdir / "serve.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def spec(asset: int, content: int) -> bytes:
    """One of CONTENTS OpenAPI documents for an asset; later ones add operations."""
    paths = {
        f"/things/{n}": {"get": {"responses": {"200": {"description": "OK"}}}}
        for n in range(content + 1)
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": f"Load {asset}", "version": "x"},
        "paths": paths,
    }
    return json.dumps(document, sort_keys=True).encode()


def publication(asset: int, content: int, client: int) -> dict[str, Any]:
    return {
        "groupId": "load",
        "assetId": f"load-{asset}",
        "name": f"Load {asset}",
        "type": "rest-api",
        "description": "published under load",
        "specVersion": None,
        "files": [
            {
                "classifier": "oas",
                "packaging": "json",
                "content": base64.b64encode(spec(asset, content)).decode(),
            }
        ],
        "operations": [f"GET /things/{n}" for n in range(content + 1)],
        "tags": ["load"],
        "owner": None,
        "lifecycle": None,
        "instance": {
            "cluster": f"c{client % 5}",
            "namespace": "load",
            "service": f"svc-{asset}",
            "port": 8080,
            "endpointUri": f"http://svc-{asset}.load.svc:8080",
            "environment": None,
        },
        "dependencies": [],
        "provenance": {"method": "probe", "detail": "load test"},
        "seenAt": "2026-11-22T05:00:00+00:00",
    }


async def _client(
    url: str, index: int, until: float, latencies: dict[str, list[float]], statuses: Counter[str]
) -> None:
    rng = random.Random(f"{SEED}-{index}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
        made = 0
        while made < MIN_PER_CLIENT or time.monotonic() < until:
            made += 1
            draw = rng.random()
            asset = rng.randrange(ASSETS)
            if draw < 0.60:
                kind = "search"
                params = {
                    "search": rng.choice(["load", "things", "zzz", ""]),
                    "limit": rng.choice([1, 10, 50]),
                    "offset": rng.randrange(5),
                }
                if rng.random() < 0.3:
                    params["types"] = rng.choice(["rest-api", "soap-api"])
                request = http.build_request("GET", f"{E}/search", params=params)
            elif draw < 0.85:
                kind = "get"
                path = rng.choice(
                    [
                        f"{E}/load/load-{asset}",
                        f"{E}/load/load-{asset}/versions",
                        f"{E}/load/load-{asset}/instances",
                        f"{E}/load/load-{asset}/1.0.0",
                        f"{E}/load/load-{asset}/1.0.0/files/oas/json",
                    ]
                )
                request = http.build_request("GET", path)
            else:
                kind = "publish"
                body = publication(asset, rng.randrange(CONTENTS), index)
                request = http.build_request("POST", f"{M}/publications", json=body, headers=auth)
            started = time.perf_counter()
            try:
                response = await http.send(request)
            except httpx.HTTPError as exc:
                statuses[f"{kind} {type(exc).__name__}"] += 1
                continue
            latencies[kind].append(time.perf_counter() - started)
            statuses[f"{kind} {response.status_code}"] += 1


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    if len(samples) < 2:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000}


def run_load(url: str, *, clients: int = CLIENTS, seconds: float = SECONDS) -> dict[str, Any]:
    """Drive ``clients`` concurrent clients for ``seconds``; counts and latencies."""
    latencies: dict[str, list[float]] = {"search": [], "get": [], "publish": []}
    statuses: Counter[str] = Counter()

    async def drive() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client(url, i, until, latencies, statuses) for i in range(clients)))

    started = time.perf_counter()
    asyncio.run(drive())
    wall = time.perf_counter() - started
    every = [s for samples in latencies.values() for s in samples]
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(every),
        "rps": round(len(every) / wall, 1),
        "statuses": dict(statuses),
        **{k: round(v, 1) for k, v in percentiles(every).items()},
        "by_kind": {
            kind: {k: round(v, 1) for k, v in percentiles(s).items()}
            for kind, s in latencies.items()
        },
    }


def _bad(statuses: dict[str, int]) -> dict[str, int]:
    """Answers that are failures: 5xx, transport errors, refused publications.

    A get of a version nobody published yet is a fine 404.
    """
    wrong = {}
    for key, count in statuses.items():
        kind, outcome = key.split(" ", 1)
        ok = outcome in ("200", "201") or (kind == "get" and outcome == "404")
        if not ok:
            wrong[key] = count
    return wrong


def _load_case(catalogue: str, tmp: Path, record_property: pytest.RecordProperty) -> None:
    with serve_process(catalogue, tmp) as url:
        figures = run_load(url)
    print(f"\nload {catalogue.split(':')[0]}: {json.dumps(figures)}")
    assert _bad(figures["statuses"]) == {}, figures
    assert figures["requests"] >= CLIENTS * MIN_PER_CLIENT
    assert check_consistent(catalogue) == []
    stored = snapshot(catalogue)
    # Each content at most once per asset, every stored file one of ours.
    contents = [files for (_, asset, _), files in stored.items()]
    assert len(contents) == len({(a, f) for (_, a, _), f in stored.items()})
    valid = {spec(a, c) for a in range(ASSETS) for c in range(CONTENTS)}
    assert all(set(files) <= valid for files in contents)
    record_property("cases", figures["requests"])
    record_property("load", figures)


def test_fifty_clients_on_sqlite(tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    _load_case(f"sqlite:///{tmp_path / 'load.db'}", tmp_path, record_property)


@pytest.mark.slow
def test_fifty_clients_on_postgresql(
    postgres_server: Any, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    _load_case(str(postgres_server.new_database()), tmp_path, record_property)
