"""How ``meshatlas serve`` listens and how it stops.

Listening: the socket is bound before anything says it is; a port in use, an
address that is not this host's or a privileged port is one
:class:`~meshatlas.errors.UsageError`. A connection gets ``header_timeout``
seconds, from opening or from its last answer, to send a complete request
head (aiohttp's keep-alive timer, which also closes idle connections).

Stopping, on SIGTERM or SIGINT:

1. the listening socket closes: no new connections;
2. every answer from then on carries ``Connection: close`` and ``/readyz``
   says 503, so keep-alive clients and load balancers move on after at most
   one more request each;
3. requests in flight, uploads included, get ``grace`` seconds to finish (a
   second signal ends the wait);
4. what is still running is cancelled within :data:`CANCEL_WAIT`; the caller
   then closes the catalogue.

aiohttp's own shutdown alone would not do: it stops reading from every
connection at once, so a body still arriving never completes.
"""

from __future__ import annotations

import asyncio
import errno
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from catalog import server
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.serving import accesslog

__all__ = ["CANCEL_WAIT", "Listener", "serve"]

#: Seconds aiohttp waits for cancelled requests (and closing connections) at the end.
CANCEL_WAIT: Final = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Listener:
    """How the server listens and stops.

    Args:
        host: Address to bind.
        port: Port to bind (0: any free one).
        grace: Seconds requests in flight get to finish on SIGTERM/SIGINT.
        header_timeout: Seconds a connection gets to send a request's headers.
        access_log: Where access lines go; None writes none.
    """

    host: str
    port: int
    grace: float
    header_timeout: float
    access_log: accesslog.AccessLog | None


class _Drain:
    """Counts requests in flight; once stopping, closes each connection after its answer."""

    def __init__(self) -> None:
        self.stopping = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def middleware(self) -> Middleware:
        @web.middleware
        async def drain(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.stopping and request.path == "/readyz":
                return web.json_response({"status": "stopping"}, status=503)
            self._inflight += 1
            self._idle.clear()
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if self.stopping:
                    exc.force_close()
                raise
            finally:
                self._inflight -= 1
                if not self._inflight:
                    self._idle.set()
            if self.stopping:
                response.force_close()
            return response

        return drain

    @property
    def inflight(self) -> int:
        return self._inflight

    async def idle(self) -> None:
        """Return once no request is in flight."""
        while self._inflight:
            await self._idle.wait()


async def serve(app: web.Application, listener: Listener, announce: Callable[[str], None]) -> None:
    """Serve ``app`` until SIGTERM or SIGINT; ``announce(url)`` once it listens.

    Raises:
        UsageError: The address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal)
    drain = _Drain()
    # Outermost, so answers refused by authentication close connections too.
    app.middlewares.insert(0, drain.middleware())
    sink = listener.access_log.sink(loop) if listener.access_log is not None else None
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=CANCEL_WAIT,
        # aiohttp closes a connection still waiting for a complete request head
        # this long after it opened or last answered: the header timeout.
        keepalive_timeout=listener.header_timeout,
        lingering_time=server.LINGERING_TIME,
        **accesslog.runner_options(sink),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, listener.host, listener.port)
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(_bind_refusal(listener, exc)) from None
        announce(url(listener.host, runner.addresses[0][1]))
        await stop.wait()
        await site.stop()
        drain.stopping = True
        if drain.inflight:
            console.info(
                f"stopping: {drain.inflight} request(s) in flight get {listener.grace:g} s"
            )
        await _first(drain.idle(), hurry.wait(), timeout=listener.grace)
        if drain.inflight:
            console.warning(f"stopping: cancelling {drain.inflight} unfinished request(s)")
    finally:
        await runner.cleanup()
        if sink is not None:
            sink.flush()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
    console.info("stopped")


async def _first(*waits: Awaitable[object], timeout: float) -> None:
    """Wait until one of ``waits`` is done or ``timeout`` passes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def url(host: str, port: int) -> str:
    """The ``http://`` URL of ``host`` and ``port`` (IPv6 literals bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _bind_refusal(listener: Listener, exc: OSError) -> str:
    where = url(listener.host, listener.port)
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use; free it or pick another --port"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    reason = exc.strerror or str(exc)
    return f"cannot listen on {where}: {reason}; check --host"
