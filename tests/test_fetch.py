"""Probe requests are bounded and stay on the Service's own address."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from discovery.errors import ProbeError
from discovery.fetch import Fetcher, Limits, make_client
from fixtures.mesh import free_port

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
