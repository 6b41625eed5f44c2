"""Probe requests are bounded and stay on the Service's own address."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from discovery.errors import ProbeError
from discovery.probing.fetch import Fetcher, Lanes, Limits, make_client
from fixtures.ports import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(host: str, handler: Handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port(host)
    await web.TCPSite(runner, host, port).start()
    return runner, port


def test_gzip_bomb_stops_at_the_decompressed_cap() -> None:
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip"}, content_type="application/json"
        )

    async def main() -> None:
        runner, port = await _serve("127.0.0.1", handler)
        try:
            limits = Limits(max_body_bytes=1024 * 1024)
            async with make_client(limits=limits) as client:
                response, spent = await Fetcher(client=client, limits=limits).request(
                    "GET", f"http://127.0.0.1:{port}/v3/api-docs"
                )
        finally:
            await runner.cleanup()
        assert spent == 1
        assert response.truncated is True
        assert len(response.body) == 1024 * 1024

    asyncio.run(main())


def test_a_trickling_server_is_cut_off_at_the_deadline() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.3)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> float:
        port = free_port()
        server = await asyncio.start_server(trickle, "127.0.0.1", port)
        # Each byte arrives well inside the read timeout; only the deadline can stop it.
        limits = Limits(read_timeout=2.0, deadline=1.0)
        started = time.monotonic()
        try:
            async with make_client(limits=limits) as client:
                with pytest.raises(ProbeError, match="within 1s"):
                    await Fetcher(client=client, limits=limits).request(
                        "GET", f"http://127.0.0.1:{port}/"
                    )
        finally:
            server.close()
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert elapsed < 3.0


def test_redirects_stay_on_the_same_origin() -> None:
    hits: dict[str, int] = {"other": 0}

    async def other(request: web.Request) -> web.Response:
        hits["other"] += 1
        return web.json_response({"openapi": "3.0.0"})

    async def main() -> None:
        other_runner, other_port = await _serve("127.0.0.2", other)

        async def origin(request: web.Request) -> web.StreamResponse:
            if request.path == "/moved":
                raise web.HTTPFound("/v3/api-docs")
            if request.path == "/away":
                raise web.HTTPFound(f"http://127.0.0.2:{other_port}/spec")
            return web.json_response({"path": request.path})

        runner, port = await _serve("127.0.0.1", origin)
        try:
            async with make_client() as client:
                fetcher = Fetcher(client=client)
                same, spent = await fetcher.request("GET", f"http://127.0.0.1:{port}/moved")
                away, _ = await fetcher.request("GET", f"http://127.0.0.1:{port}/away")
        finally:
            await runner.cleanup()
            await other_runner.cleanup()
        assert same.status == 200 and spent == 2
        assert same.url.endswith("/v3/api-docs")
        assert away.status == 302
        assert away.refused_redirect == f"http://127.0.0.2:{other_port}/spec"

    asyncio.run(main())
    assert hits["other"] == 0


def test_a_redirect_carrying_credentials_is_not_followed() -> None:
    seen: list[dict[str, str]] = []
    where: dict[str, int] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        if request.path == "/login":
            raise web.HTTPFound(f"http://probe:secret@127.0.0.1:{where['port']}/v3/api-docs")
        return web.json_response({"openapi": "3.0.0"})

    async def main() -> None:
        runner, where["port"] = await _serve("127.0.0.1", handler)
        try:
            async with make_client() as client:
                response, spent = await Fetcher(client=client).request(
                    "GET", f"http://127.0.0.1:{where['port']}/login"
                )
        finally:
            await runner.cleanup()
        assert (response.status, spent) == (302, 1)
        assert response.refused_redirect is not None
        assert "probe:secret@" in response.refused_redirect

    asyncio.run(main())
    assert len(seen) == 1
    assert "Authorization" not in seen[0]


def test_no_cookies_and_no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, str]] = []
    proxied: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        response = web.Response(text="ok")
        response.set_cookie("session", "s3cr3t")
        return response

    async def proxy(request: web.Request) -> web.Response:
        proxied.append(str(request.url))
        return web.Response(text="proxied")

    async def main() -> None:
        runner, port = await _serve("127.0.0.1", handler)
        proxy_runner, proxy_port = await _serve("127.0.0.3", proxy)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.3:{proxy_port}")
        monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.3:{proxy_port}")
        try:
            async with make_client() as client:
                fetcher = Fetcher(client=client)
                await fetcher.request("GET", f"http://127.0.0.1:{port}/a")
                await fetcher.request("GET", f"http://127.0.0.1:{port}/b")
        finally:
            await runner.cleanup()
            await proxy_runner.cleanup()

    asyncio.run(main())
    assert proxied == []
    assert len(seen) == 2
    assert all("Cookie" not in h and "Authorization" not in h for h in seen)


def test_connection_refused_is_a_probe_error() -> None:
    async def main() -> None:
        port = free_port()
        async with make_client() as client:
            with pytest.raises(ProbeError, match="connection failed") as info:
                await Fetcher(client=client).request("GET", f"http://127.0.0.1:{port}/")
        assert info.value.url == f"http://127.0.0.1:{port}/"

    asyncio.run(main())


async def _hanging_server(open_now: list[int], most: list[int]) -> tuple[asyncio.Server, int]:
    """Accepts, reads, never answers; counts connections open at once."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_now[0] += 1
        most[0] = max(most[0], open_now[0])
        try:
            await reader.read()
        finally:
            open_now[0] -= 1
            writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _fast(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _race(hung: int, lanes: int, slow: int | None) -> tuple[list[str], int]:
    """``hung`` requests to a silent server, then one to a fast one: who finishes when."""
    open_now, most = [0], [0]

    async def main() -> list[str]:
        server, hung_port = await _hanging_server(open_now, most)
        runner, fast_port = await _serve("127.0.0.1", _fast)
        finished: list[str] = []
        limits = Limits(deadline=2.0, slow_after=0.1)
        try:
            async with make_client(limits=limits, max_connections=lanes) as client:
                fetcher = Fetcher(client=client, limits=limits, lanes=Lanes(lanes, slow=slow))

                async def one(name: str, url: str) -> None:
                    try:
                        await fetcher.request("GET", url)
                    except ProbeError:
                        pass
                    finished.append(name)

                hanging = [
                    asyncio.create_task(one(f"hung{i}", f"http://127.0.0.1:{hung_port}/{i}"))
                    for i in range(hung)
                ]
                await asyncio.sleep(0.5)
                await one("fast", f"http://127.0.0.1:{fast_port}/")
                await asyncio.gather(*hanging)
        finally:
            server.close()
            await runner.cleanup()
        return finished

    return asyncio.run(main()), most[0]


def test_unanswered_requests_leave_the_fast_lane() -> None:
    # Both lanes' slots would be taken by hung requests without the slow lane.
    finished, most = _race(hung=2, lanes=2, slow=2)
    assert finished[0] == "fast"
    assert most == 2


def test_in_flight_requests_stay_within_both_lanes() -> None:
    finished, most = _race(hung=6, lanes=2, slow=2)
    # Two hung requests fill the slow lane and two more the fast one: the fast
    # request waits until the first hung ones give up, and never more than
    # 2 + 2 are in flight at once.
    assert most == 4
    assert finished.index("fast") > finished.index("hung0")


def test_the_slow_lane_is_several_fast_lanes_wide_by_default() -> None:
    # Six hung requests fit the default slow lane of 2 fast lanes: nobody waits.
    finished, most = _race(hung=6, lanes=2, slow=None)
    assert finished[0] == "fast"
    assert most == 6


def _quiet_then_fast(slow: int) -> tuple[int, bool, str]:
    """A quiet request to a silent server, then a fast one, with one fast slot.

    Returns the slow lane's use and whether the fast slot was taken while the
    quiet request waited, and what became of the fast request within 3 s
    (the quiet one would leave the fast lane only after 15 s).
    """
    open_now, most = [0], [0]

    async def main() -> tuple[int, bool, str]:
        server, hung_port = await _hanging_server(open_now, most)
        runner, fast_port = await _serve("127.0.0.1", _fast)
        limits = Limits(deadline=30.0, read_timeout=30.0, slow_after=20.0)
        try:
            async with make_client(limits=limits, max_connections=1) as client:
                lanes = Lanes(1, slow=slow)
                fetcher = Fetcher(client=client, limits=limits, lanes=lanes)
                quiet = asyncio.create_task(
                    fetcher.request("GET", f"http://127.0.0.1:{hung_port}/", quiet=True)
                )
                while not open_now[0]:
                    await asyncio.sleep(0.01)
                seen = (lanes.slow_in_use, lanes.fast.locked())
                try:
                    async with asyncio.timeout(3):
                        response, _ = await fetcher.request("GET", f"http://127.0.0.1:{fast_port}/")
                    fast = f"answered {response.status}"
                except TimeoutError:
                    fast = "still waiting for the fast slot"
                quiet.cancel()
                await asyncio.gather(quiet, return_exceptions=True)
                return (*seen, fast)
        finally:
            server.close()
            await runner.cleanup()

    return asyncio.run(main())


def test_a_request_to_a_port_silent_last_run_waits_in_the_slow_lane_from_the_start() -> None:
    assert _quiet_then_fast(slow=1) == (1, False, "answered 200")


def test_with_the_slow_lane_full_a_quiet_request_takes_a_fast_slot() -> None:
    assert _quiet_then_fast(slow=0) == (0, True, "still waiting for the fast slot")


def test_the_deadline_covers_every_redirect_of_an_exchange() -> None:
    async def slow_hops(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.4)
        hop = int(request.query.get("hop", "0"))
        if hop < 3:
            raise web.HTTPFound(f"/spec?hop={hop + 1}")
        return web.json_response({"openapi": "3.0.0"})

    async def main() -> None:
        runner, port = await _serve("127.0.0.1", slow_hops)
        try:
            async with make_client() as client:
                fetcher = Fetcher(client=client, limits=Limits(deadline=1.0, read_timeout=1.0))
                # Each hop answers well inside the deadline; all four together do not.
                with pytest.raises(ProbeError, match="within 1s"):
                    await fetcher.request("GET", f"http://127.0.0.1:{port}/spec")
                roomy = Fetcher(client=client, limits=Limits(deadline=5.0))
                response, spent = await roomy.request("GET", f"http://127.0.0.1:{port}/spec")
        finally:
            await runner.cleanup()
        assert (response.status, spent) == (200, 4)

    asyncio.run(main())
