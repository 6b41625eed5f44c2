"""The catalogue's HTTP server: a REST API in Exchange's v2 shape.

Typical use (what ``meshatlas serve`` does)::

    with catalog.open_store(url) as store:
        app = catalog.server.make_app(store, auth=Auth(token_hashes=hashes))
        aiohttp.web.run_app(app, host="127.0.0.1", port=8080)

:class:`RunningServer` starts the same app on a background thread, for tests
and for embedding.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from catalog.server.app import (
    DEFAULT_MAX_BODY,
    DEFAULT_READ_TIMEOUT,
    EXCHANGE,
    LINGERING_TIME,
    MESHATLAS,
    make_app,
)
from catalog.server.auth import Auth, hash_token, parse_hashes, read_hash_file

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_READ_TIMEOUT",
    "EXCHANGE",
    "LINGERING_TIME",
    "MESHATLAS",
    "Auth",
    "RunningServer",
    "hash_token",
    "make_app",
    "parse_hashes",
    "read_hash_file",
]


class RunningServer:
    """An application served on its own event loop in a daemon thread.

    Args:
        app: The application (from :func:`make_app`).
        host: Address to bind.
        port: Port to bind; 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> RunningServer:
        """Bind and start serving; returns once the socket listens. Idempotent."""
        if self._thread.is_alive():
            return self
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=30)
        return self

    async def _start(self) -> int:
        self._runner = web.AppRunner(self._app, access_log=None, lingering_time=LINGERING_TIME)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
