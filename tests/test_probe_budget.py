"""Per-Service budgets and honest outcomes, on real loopback servers.

A Service may cost at most its budget of seconds (counted while one of its
requests is in flight) and bytes, across all its ports and requests; what it
did not finish is a problem ("stopped after N s / N MiB, its per-Service
budget"), never an API without a description, and never a quiet port. Time
waiting behind other Services for a lane is not spent. Answers that are all
server errors, or a 5xx where the description was, are no verdict either.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from discovery import crawl, frameworks
from discovery.model import (
    Hint,
    Inventory,
    Service,
    ServiceFindings,
    ServiceKey,
    ServicePort,
)
from discovery.probing.fetch import Fetcher, Lanes, Limits, make_client
from discovery.probing.probe import Prober, ProbeSettings

SPEC = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _service(name: str, ports: list[int], *, protocol: str = "http") -> Service:
    return Service(
        key=ServiceKey("c", "ns", name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.1",),
        external_name=None,
        ports=tuple(ServicePort(f"{protocol}-{p}", p, p, "TCP", None, protocol) for p in ports),  # type: ignore[arg-type]
        ready_addresses=("127.0.0.1",),
    )


async def _serve(handler: Handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def _trickle(request: web.Request) -> web.StreamResponse:
    if request.path == "/":
        return web.json_response({"detail": "Not Found"}, status=404)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 10_000
    await response.prepare(request)
    while request.transport is not None and not request.transport.is_closing():
        await response.write(b" ")
        await asyncio.sleep(0.1)
    return response


async def _flood(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 10**11
    await response.prepare(request)
    try:
        while True:
            await response.write(b"0" * 65536)
    except (ConnectionError, asyncio.CancelledError):
        pass
    return response


def _probe(
    handler: Handler,
    *,
    ports: int = 1,
    settings: ProbeSettings,
    limits: Limits,
    hint: Hint | None = None,
) -> tuple[ServiceFindings, float]:
    async def main() -> tuple[ServiceFindings, float]:
        servers = [await _serve(handler) for _ in range(ports)]
        service = _service("hostile", [port for _, port in servers])
        hints = {("c", "ns", "hostile", service.ports[0].port): hint} if hint else None
        try:
            async with make_client(limits=limits) as client:
                prober = Prober(
                    fetcher=Fetcher(client=client, limits=limits), settings=settings, hints=hints
                )
                started = time.monotonic()
                findings = await prober.probe(service)
                return findings, time.monotonic() - started
        finally:
            for runner, _ in servers:
                await runner.cleanup()

    return asyncio.run(main())


def test_a_trickling_service_is_stopped_by_its_time_budget() -> None:
    settings = ProbeSettings(service_seconds=1.5)
    findings, took = _probe(_trickle, settings=settings, limits=Limits(deadline=0.5))
    assert findings.apis == () and findings.silent == ()
    (problem,) = findings.problems
    assert problem.what == "probe stopped"
    assert problem.why.startswith("stopped after 1.5 s, its per-Service budget (at http://")
    # Without the budget: twenty requests of half a second each.
    assert took < 1.5 + 0.5 + 2.0, took


def test_the_time_budget_is_one_for_all_the_ports_of_a_service() -> None:
    settings = ProbeSettings(service_seconds=1.5, per_service=1)
    findings, took = _probe(_trickle, ports=4, settings=settings, limits=Limits(deadline=0.5))
    assert findings.apis == ()
    stopped = [p for p in findings.problems if p.what == "probe stopped"]
    skipped = [p for p in findings.problems if p.what == "probe skipped"]
    assert len(stopped) == 1 and len(skipped) == 3
    assert all(p.why == "not probed: stopped after 1.5 s, its per-Service budget" for p in skipped)
    assert took < 1.5 + 0.5 + 2.0, took


def test_a_flood_is_stopped_by_its_byte_budget() -> None:
    settings = ProbeSettings(service_bytes=3 * 1024 * 1024)
    limits = Limits(deadline=5.0, max_body_bytes=1024 * 1024)
    findings, _ = _probe(_flood, settings=settings, limits=limits)
    assert findings.apis == ()
    (problem,) = findings.problems
    assert problem.why.startswith("stopped after 3 MiB, its per-Service budget")
    # The root and two more answers fill the cap each; the fourth is cut.
    assert findings.requests <= 4


def test_waiting_for_a_lane_behind_other_services_is_not_spent() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)  # complete, well inside the deadline
        return web.json_response(SPEC)

    async def quick(request: web.Request) -> web.StreamResponse:
        return web.json_response(SPEC)

    async def main() -> tuple[ServiceFindings, ...]:
        slow_runner, slow_port = await _serve(slow)
        quick_runner, quick_port = await _serve(quick)
        inventory = Inventory(
            clusters=("c",),
            services=(_service("slow", [slow_port]), _service("quick", [quick_port])),
            external_hosts=(),
            routes=(),
            problems=(),
        )
        limits = Limits(deadline=5.0)
        try:
            async with make_client(limits=limits) as client:
                # One lane: the quick Service waits for it as long as its whole budget.
                fetcher = Fetcher(client=client, limits=limits, lanes=Lanes(1, slow=0))
                prober = Prober(fetcher=fetcher, settings=ProbeSettings(service_seconds=0.8))
                return await crawl.probe_all(inventory, prober=prober)
        finally:
            await slow_runner.cleanup()
            await quick_runner.cleanup()

    slow_found, quick_found = asyncio.run(main())
    (api,) = quick_found.apis
    assert api.spec is not None and api.spec.valid and quick_found.problems == ()
    # The slow one spent its budget on its own request.
    (problem,) = slow_found.problems
    assert "stopped after 0.8 s" in problem.why


def test_a_grpc_port_that_never_answers_is_cut_by_the_budget() -> None:
    async def main() -> ServiceFindings:
        writers: list[asyncio.StreamWriter] = []

        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.read()

        server = await asyncio.start_server(hang, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        limits = Limits(deadline=5.0)
        try:
            async with make_client(limits=limits) as client:
                prober = Prober(
                    fetcher=Fetcher(client=client, limits=limits),
                    settings=ProbeSettings(service_seconds=0.5),
                )
                return await prober.probe(_service("grpc", [port], protocol="grpc"))
        finally:
            server.close()
            for writer in writers:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    findings = asyncio.run(main())
    assert findings.apis == ()
    (problem,) = findings.problems
    assert problem.why.startswith("stopped after 0.5 s, its per-Service budget (at grpc://")


def test_a_5xx_storm_is_no_verdict() -> None:
    async def unavailable(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="no healthy upstream")

    findings, _ = _probe(unavailable, settings=ProbeSettings(), limits=Limits(deadline=2.0))
    assert findings.apis == () and findings.silent == ()
    (problem,) = findings.problems
    assert problem.what == "probe failed"
    assert "was a server error (5xx): no verdict this run" in problem.why


def test_a_5xx_where_the_description_was_is_no_verdict() -> None:
    async def restarting(request: web.Request) -> web.StreamResponse:
        if request.path == "/q/openapi":
            return web.Response(status=503, text="upstream connect error")
        return web.json_response({"detail": "Not Found"}, status=404)

    findings, _ = _probe(
        restarting,
        settings=ProbeSettings(),
        limits=Limits(deadline=2.0),
        hint=Hint(path="/q/openapi", kind="rest"),
    )
    assert findings.apis == ()
    (problem,) = findings.problems
    assert "/q/openapi (where the description was last time) answered 503" in problem.why


def test_no_description_is_not_confirmed_by_a_root_that_fails() -> None:
    calls: list[str] = []

    async def erroring(request: web.Request) -> web.StreamResponse:
        calls.append(request.path)
        return web.Response(status=502, text="bad gateway")

    findings, _ = _probe(
        erroring,
        settings=ProbeSettings(),
        limits=Limits(deadline=2.0),
        hint=Hint(path=None, kind="http", knowledge=frameworks.KNOWLEDGE),
    )
    assert findings.apis == () and findings.problems
    assert len(calls) > 1  # searched in full, not taken as "/ still answers"


def test_a_port_that_answered_and_then_stalled_is_not_quiet() -> None:
    settings = ProbeSettings(service_seconds=60, budget=4)
    findings, _ = _probe(_trickle, settings=settings, limits=Limits(deadline=0.3))
    assert findings.apis == () and findings.silent == ()
    (problem,) = findings.problems
    assert problem.what == "probe failed" and "no complete answer within 0.3s" in problem.why
