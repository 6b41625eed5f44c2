"""What a crawl probes first, and how long a port that was silent last time may cost.

Real servers on loopback: one that answers, one that accepts and never does.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from discovery import crawl
from discovery.model import Hint, HintKey, Inventory, Service, ServiceKey, ServicePort
from discovery.probing.fetch import Fetcher, Lanes, Limits, make_client
from discovery.probing.probe import Prober, ProbeSettings

SPEC = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}


def _service(name: str, port: int) -> Service:
    return Service(
        key=ServiceKey("c", "ns", name),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.1",),
        external_name=None,
        ports=(ServicePort("http", port, port, "TCP", None, "http"),),
        ready_addresses=("127.0.0.1",),
    )


def _key(service: Service) -> HintKey:
    return ("c", "ns", service.key.name, service.ports[0].port)


async def _silent_server() -> tuple[asyncio.Server, int]:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        finally:
            writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_services_without_an_answer_from_last_time_are_probed_first() -> None:
    arrivals: list[int] = []

    async def main() -> None:
        runners: list[web.AppRunner] = []
        services: list[Service] = []
        for _ in range(6):

            async def handler(request: web.Request) -> web.Response:
                arrivals.append(request.url.port or 0)
                return web.json_response(SPEC)

            app = web.Application()
            app.router.add_get("/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            runners.append(runner)
            services.append(_service(f"svc-{port}", port))
        # The first four are remembered; the last two are new.
        hints = {_key(s): Hint(path="/openapi.json", kind="rest") for s in services[:4]}
        inventory = Inventory(
            clusters=("c",),
            services=tuple(services),
            external_hosts=(),
            routes=(),
            problems=(),
        )
        try:
            async with make_client() as client:
                # One lane: requests go out strictly in the order they were scheduled.
                fetcher = Fetcher(client=client, lanes=Lanes(1))
                found = await crawl.probe_all(
                    inventory, prober=Prober(fetcher=fetcher, hints=hints)
                )
        finally:
            for runner in runners:
                await runner.cleanup()
        # Results keep inventory order whatever the probing order was.
        assert [f.service.key for f in found] == [s.key for s in services]
        new_ports = {s.ports[0].port for s in services[4:]}
        assert set(arrivals[:2]) == new_ports
        assert all(f.apis for f in found)

    asyncio.run(main())


def test_a_port_silent_last_time_gets_the_short_deadline_and_stays_quiet() -> None:
    async def main() -> None:
        server, port = await _silent_server()
        service = _service("quiet", port)
        limits = Limits(deadline=30.0)
        try:
            async with make_client(limits=limits) as client:
                prober = Prober(
                    fetcher=Fetcher(client=client, limits=limits),
                    settings=ProbeSettings(quiet_deadline=0.3),
                    quiet={_key(service)},
                )
                findings = await prober.probe(service)
                fresh = await Prober(
                    fetcher=Fetcher(client=client, limits=Limits(deadline=0.5))
                ).probe(service)
        finally:
            server.close()
        assert findings.silent == (port,)
        [problem] = findings.problems
        assert "within 0.3s" in problem.why and "silent last run too" in problem.why
        # Without the memory, the same port gets the full deadline and is silent too.
        assert fresh.silent == (port,)
        assert "within 0.5s" in fresh.problems[0].why

    asyncio.run(main())


def test_a_quiet_port_that_answers_again_is_probed_in_full() -> None:
    async def main() -> None:
        async def handler(request: web.Request) -> web.Response:
            if request.path == "/openapi.json":
                await asyncio.sleep(0.6)  # slower than the quiet deadline, well inside the full
                return web.json_response(SPEC)
            return web.json_response({"detail": "Not Found"}, status=404)

        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        service = _service("back", port)
        try:
            async with make_client() as client:
                prober = Prober(
                    fetcher=Fetcher(client=client, limits=Limits(deadline=10.0)),
                    settings=ProbeSettings(quiet_deadline=0.3),
                    quiet={_key(service)},
                )
                findings = await prober.probe(service)
        finally:
            await runner.cleanup()
        assert findings.silent == () and findings.problems == ()
        [api] = findings.apis
        assert api.spec is not None and api.spec.valid

    asyncio.run(main())


def test_the_remembered_request_asks_to_close_and_a_miss_still_probes_in_full() -> None:
    seen: list[tuple[int, str, bool]] = []  # (port, path, kept alive)

    async def main() -> None:
        async def handler(request: web.Request) -> web.Response:
            seen.append((request.url.port or 0, request.path, request.keep_alive))
            if request.path == "/openapi.json":
                return web.json_response(SPEC)
            return web.json_response({"detail": "Not Found"}, status=404)

        runners: list[web.AppRunner] = []
        services: list[Service] = []
        for _ in range(2):
            app = web.Application()
            app.router.add_get("/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            services.append(_service(f"svc-{runner.addresses[0][1]}", runner.addresses[0][1]))
        # The first is where it was; the second's description moved since last run.
        hints = {
            _key(services[0]): Hint(path="/openapi.json", kind="rest"),
            _key(services[1]): Hint(path="/v3/api-docs", kind="rest"),
        }
        try:
            async with make_client() as client:
                prober = Prober(fetcher=Fetcher(client=client), hints=hints)
                found = [await prober.probe(s) for s in services]
        finally:
            for runner in runners:
                await runner.cleanup()

        first, moved = (s.ports[0].port for s in services)
        assert [(path, alive) for port, path, alive in seen if port == first] == [
            ("/openapi.json", False)
        ]
        to_moved = [(path, alive) for port, path, alive in seen if port == moved]
        assert to_moved[0] == ("/v3/api-docs", False)
        # The miss went on to full probing, on kept-alive connections, and found it.
        assert ("/openapi.json", True) in to_moved[1:]
        assert all(f.apis and f.apis[0].spec is not None for f in found)

    asyncio.run(main())
