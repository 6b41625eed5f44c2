"""Generated backend behaviour, probed beside an ordinary Service: the crawl's invariants hold.

Hypothesis generates what a Service does with each request: the status, the
body (JSON nested tens of thousands deep, OpenAPI or WSDL whose schemas fan
out, a valid description, filler past the size cap, random bytes), its
encoding (gzip, deflate, corrupt gzip), its framing (a length, chunked, read
until close, a length it never fills, an endless stream), chunk sizes, delays
before the headers and between chunks, and where a redirect points. A real
loopback server answers with exactly that, byte for byte, next to an ordinary
server with a valid description, and both are probed as one crawl (with
validation in a worker process, as a real run does). For every example:

- nothing raises;
- the crawl ends within a bound computed from the per-Service budget, the
  request deadline and the validation limit;
- the memory it allocated on the way stays bounded;
- the ordinary Service is found with its description;
- the outcome is honest: a port has an API or a problem, never both; a port
  whose every answer was a server error has no API; a "silent" port (no
  complete answer) has none either.

Examples: ``MESHATLAS_FUZZ_EXAMPLES`` / 6 (25 by default; ``bench/reliability.py
--long`` raises it), derandomized, so every run tries the same ones.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import threading
import time
import tracemalloc
import zlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discovery import crawl
from discovery.model import Inventory, Service, ServiceFindings, ServiceKey, ServicePort
from discovery.probing.fetch import Fetcher, Lanes, Limits, make_client
from discovery.probing.probe import Prober, ProbeSettings
from discovery.specpool import PoolLimits, SpecPool
from fixtures import generated_specs

T = TypeVar("T")

EXAMPLES = max(1, int(os.environ.get("MESHATLAS_FUZZ_EXAMPLES", "150")) // 6)
LIMITS = Limits(connect_timeout=0.5, read_timeout=0.5, deadline=0.5, max_body_bytes=2 * 1024**2)
SETTINGS = ProbeSettings(service_seconds=2.0, service_bytes=16 * 1024**2)
POOL = PoolLimits(cpu_seconds=2, workers=1)
#: Python allocations one example may make at its peak (bodies are capped at 2 MiB).
MEMORY_BOUND = 48 * 1024**2
KINDS = {"rest", "soap", "http", "grpc", "graphql"}
SPEC = b'{"openapi":"3.0.3","info":{"title":"Orders","version":"1.0.0"},"paths":{}}'
#: Generated inputs tried in this process (``bench/reliability.py`` sums them).
TRIED = [0]
#: The longest one generated Service took its crawl, in seconds.
LONGEST = [0.0]

# --- what the generated server does -----------------------------------------------------

_bodies = st.one_of(
    st.tuples(st.just("nested-array"), st.integers(1, 60_000)),
    st.tuples(st.just("nested-object"), st.integers(1, 5_000)),
    st.tuples(st.just("fanout-openapi"), st.integers(0, 10)),
    st.tuples(st.just("fanout-wsdl"), st.integers(0, 16)),
    st.tuples(st.just("openapi"), st.integers(0, 40)),
    st.tuples(st.just("filler"), st.sampled_from([0, 100, 65_536, 1_000_000, 3_000_000])),
    st.tuples(st.just("bytes"), st.binary(max_size=512)),
)
_answers = st.fixed_dictionaries(
    {
        "status": st.sampled_from([200, 200, 200, 204, 301, 302, 307, 404, 405, 500, 502, 503]),
        "content_type": st.sampled_from(
            ["application/json", "application/yaml", "text/xml", "text/html", ""]
        ),
        "body": _bodies,
        "encoding": st.sampled_from(["identity", "identity", "gzip", "deflate", "gzip-corrupt"]),
        "framing": st.sampled_from(["length", "length", "chunked", "close", "short", "endless"]),
        "chunk": st.sampled_from([1, 7, 512, 16_384, 65_536, 1 << 20]),
        "chunk_delay": st.sampled_from([0.0, 0.0, 0.0, 0.001, 0.02]),
        "head_delay": st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.3, 1.0]),
        "location": st.sampled_from(["/", "/openapi.json", "/loop", "http://192.0.2.1/x", None]),
    }
)
behaviours = st.lists(_answers, min_size=1, max_size=4)


def _body(kind: str, value: Any) -> bytes:
    if kind == "nested-array":
        return b"[" * value + b"]" * value
    if kind == "nested-object":
        return b'{"a":' * value + b"1" + b"}" * value
    if kind == "fanout-openapi":
        return generated_specs.fanout_openapi(value)
    if kind == "fanout-wsdl":
        return generated_specs.fanout_wsdl(value)
    if kind == "openapi":
        return generated_specs.large_openapi(value)
    if kind == "filler":
        return b"0" * value
    assert isinstance(value, bytes)
    return value


def _encoded(answer: dict[str, Any], body: bytes) -> tuple[bytes, str | None]:
    encoding = answer["encoding"]
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=1), "gzip"
    if encoding == "deflate":
        return zlib.compress(body, 1), "deflate"
    if encoding == "gzip-corrupt":
        return b"\x1f\x8b\x08\x00" + body[:64], "gzip"
    return body, None


class GeneratedServer:
    """A loopback server answering request N with answer N (mod their number), raw."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.bodies: dict[int, tuple[bytes, str | None]] = {}
        self.count = 0
        self.handlers: set[asyncio.Task[None]] = set()

    def use(self, answers: list[dict[str, Any]]) -> None:
        self.answers, self.count = answers, 0
        self.bodies = {i: _encoded(a, _body(*a["body"])) for i, a in enumerate(answers)}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            index = self.count % len(self.answers)
            self.count += 1
            await self._answer(writer, self.answers[index], *self.bodies[index])
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.handlers.discard(task)
            writer.close()

    async def stop(self) -> None:
        """End the answers still being written (an endless one, say)."""
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        answer: dict[str, Any],
        payload: bytes,
        encoding: str | None,
    ) -> None:
        await asyncio.sleep(answer["head_delay"])
        lines = [b"HTTP/1.1 %d Generated" % answer["status"]]
        if answer["content_type"]:
            lines.append(b"content-type: " + answer["content_type"].encode())
        if encoding:
            lines.append(b"content-encoding: " + encoding.encode())
        if answer["location"] is not None and 300 <= answer["status"] < 400:
            lines.append(b"location: " + answer["location"].encode())
        framing = answer["framing"]
        if framing == "length":
            lines.append(b"content-length: %d" % len(payload))
        elif framing == "short":
            lines.append(b"content-length: %d" % (len(payload) + 1000))
        elif framing == "endless":
            lines.append(b"content-length: %d" % 10**11)
        elif framing == "chunked":
            lines.append(b"transfer-encoding: chunked")
        lines.append(b"connection: close")
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        # Never more than a few hundred writes per answer, whatever the chunk size.
        size = max(answer["chunk"], len(payload) // 256, 1)
        delay = answer["chunk_delay"]
        while not writer.is_closing():
            for start in range(0, len(payload), size):
                if writer.is_closing():  # the prober gave up
                    return
                piece = payload[start : start + size]
                writer.write(
                    b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
                )
                await writer.drain()
                if delay:
                    await asyncio.sleep(delay)
            if framing != "endless":
                break
            if not payload:
                await asyncio.sleep(0.05)
        if framing == "chunked":
            writer.write(b"0\r\n\r\n")
        await writer.drain()


# --- one event loop for every example: servers, session and validation worker ------------


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    server: GeneratedServer
    hostile: Service
    ordinary: Service
    pool: SpecPool

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)


def _service(name: str, port: int) -> Service:
    return Service(
        key=ServiceKey("prop", "prop", name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.1",),
        external_name=None,
        ports=(ServicePort("http", port, port, "TCP", None, "http"),),
        ready_addresses=("127.0.0.1",),
    )


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="property-probe", daemon=True)
    thread.start()
    generated = GeneratedServer()

    async def start() -> tuple[asyncio.Server, web.AppRunner, SpecPool]:
        listener = await asyncio.start_server(generated.handle, "127.0.0.1", 0)

        async def ordinary(request: web.Request) -> web.StreamResponse:
            if request.path == "/openapi.json":
                return web.Response(body=SPEC, content_type="application/json")
            return web.json_response({"detail": "Not Found"}, status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", ordinary)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return listener, runner, SpecPool(limits=POOL)

    listener, runner, pool = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    ready = Harness(
        loop=loop,
        server=generated,
        hostile=_service("generated", listener.sockets[0].getsockname()[1]),
        ordinary=_service("ordinary", runner.addresses[0][1]),
        pool=pool,
    )
    tracemalloc.start()
    try:
        yield ready
    finally:
        tracemalloc.stop()

        async def stop() -> None:
            listener.close()
            await generated.stop()
            await runner.cleanup()
            await pool.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _bound_s(answers: list[dict[str, Any]]) -> float:
    """The per-Service budget, a request in flight when it ran out, and each distinct
    body's validation at its limit (three times its CPU limit and five seconds, in wall
    time, as :mod:`discovery.specpool` allows), with room for a busy shared machine."""
    distinct = len({repr(a["body"]) for a in answers})
    validation = distinct * (POOL.cpu_seconds * 3 + 5)
    assert SETTINGS.service_seconds is not None
    return SETTINGS.service_seconds + LIMITS.deadline + validation + 5.0


async def _crawl(h: Harness) -> tuple[ServiceFindings, ServiceFindings, float]:
    inventory = Inventory(
        clusters=("prop",),
        services=(h.hostile, h.ordinary),
        external_hosts=(),
        routes=(),
        problems=(),
    )
    async with make_client(limits=LIMITS) as client:
        fetcher = Fetcher(client=client, limits=LIMITS, lanes=Lanes(8))
        prober = Prober(fetcher=fetcher, settings=SETTINGS, pool=h.pool)
        started = time.monotonic()
        hostile, ordinary = await crawl.probe_all(inventory, prober=prober)
        return hostile, ordinary, time.monotonic() - started


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(behaviours)
def test_any_backend_behaviour_leaves_the_crawl_bounded_and_the_rest_found(
    harness: Harness, answers: list[dict[str, Any]]
) -> None:
    TRIED[0] += 1
    harness.run(asyncio.to_thread(harness.server.use, answers), timeout=60)
    tracemalloc.reset_peak()
    bound = _bound_s(answers)
    hostile, ordinary, took = harness.run(_crawl(harness), timeout=bound + 60)
    _, peak = tracemalloc.get_traced_memory()

    LONGEST[0] = max(LONGEST[0], took)
    assert took <= bound, (took, bound)
    assert peak <= MEMORY_BOUND, peak
    (found,) = ordinary.apis
    assert found.spec is not None and found.spec.valid, found.evidence
    assert ordinary.problems == ()

    port = harness.hostile.ports[0].port
    assert len(hostile.apis) + len(hostile.problems) <= 1
    for api in hostile.apis:
        assert api.kind in KINDS
        assert api.spec is None or api.spec.valid == (not api.spec.errors)
    if all(a["status"] >= 500 for a in answers):
        assert hostile.apis == (), [str(e) for e in hostile.apis[0].evidence]
    if hostile.silent:
        # Nothing complete came back: no API can have been concluded from it.
        assert hostile.silent == (port,) and hostile.apis == ()


@pytest.fixture(autouse=True)
def _count_inputs(record_property: pytest.RecordProperty) -> Iterator[None]:
    start = TRIED[0]
    yield
    if TRIED[0] > start:
        record_property("cases", TRIED[0] - start)
        record_property("hostile_rejected", TRIED[0] - start)
        record_property("crawls_completed", TRIED[0] - start)
        record_property("hostile_wall_s", {"generated (property test)": round(LONGEST[0], 2)})


def test_the_generated_server_really_answers(harness: Harness) -> None:
    valid = {
        "status": 200,
        "content_type": "application/json",
        "body": ("openapi", 4),
        "encoding": "gzip",
        "framing": "chunked",
        "chunk": 7,
        "chunk_delay": 0.0,
        "head_delay": 0.0,
        "location": None,
    }
    harness.run(asyncio.to_thread(harness.server.use, [valid]), timeout=60)
    hostile, ordinary, _ = harness.run(_crawl(harness), timeout=60)
    (api,) = hostile.apis
    assert api.spec is not None and api.spec.valid and api.spec.operation_count == 4
    assert ordinary.apis
