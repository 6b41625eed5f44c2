"""The access log of ``meshatlas serve``: one line per request answered, on stdout.

Each line says who asked (the peer address of the connection, never a header
the client wrote), the method, the path, the status, the bytes sent and how
long the answer took. The query string is never written (search terms and
anything a client put there stay out of logs), nor any header, so the
``Authorization`` token cannot reach a log.

Off a terminal the lines are JSON objects in the shape of every other
meshatlas log line (``{"ts", "level", "msg", "fields"}``); on a terminal,
short text.

Lines are gathered and written together at most :data:`FLUSH_DELAY` seconds
after the first of them: under load that is one ``write`` for hundreds of
requests, and a line is never held back long. Stopping writes what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote
from time import gmtime, strftime
from time import time as wallclock
from typing import Any, Final, Literal, TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

__all__ = ["FLUSH_DELAY", "AccessLog", "Format", "Sink", "runner_options"]

Format = Literal["json", "text"]
#: Seconds a line may wait to be written with the lines after it.
FLUSH_DELAY: Final = 0.1
#: aiohttp wants a logger to switch access logging on; lines never go through it.
_LOGGER: Final = logging.getLogger("meshatlas.access")


@dataclass(frozen=True, slots=True)
class AccessLog:
    """Where access lines go and how they look.

    Args:
        stream: The stream written (stdout for ``meshatlas serve``).
        format: ``json`` lines or ``text``.
    """

    stream: TextIO
    format: Format

    def sink(self, loop: asyncio.AbstractEventLoop) -> Sink:
        """A sink writing to :attr:`stream` from ``loop``."""
        line = _json_line if self.format == "json" else _text_line
        return Sink(stream=self.stream, loop=loop, line=line)


Line = Callable[[web.BaseRequest, web.StreamResponse, float], str]


class Sink:
    """Access lines waiting a moment to be written together."""

    def __init__(self, *, stream: TextIO, loop: asyncio.AbstractEventLoop, line: Line) -> None:
        self._stream = stream
        self._loop = loop
        self.line = line
        self._pending: list[str] = []
        self._broken = False

    def add(self, text: str) -> None:
        """Queue one line (with its newline)."""
        if self._broken:
            return
        if not self._pending:
            self._loop.call_later(FLUSH_DELAY, self.flush)
        self._pending.append(text)

    def flush(self) -> None:
        """Write what is queued."""
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            # stdout went away (a closed pipe): serving goes on without a log.
            self._broken = True


def runner_options(sink: Sink | None) -> dict[str, Any]:
    """Keyword arguments of :class:`aiohttp.web.AppRunner` for ``sink`` (None: no log)."""
    if sink is None:
        return {"access_log": None}
    target = sink

    class _Writer(AbstractAccessLogger):
        # aiohttp makes one per connection: nothing here but the shared sink.
        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            target.add(target.line(request, response, time))

    return {"access_log": _LOGGER, "access_log_class": _Writer}


def _json_line(request: web.BaseRequest, response: web.StreamResponse, time: float) -> str:
    # Formatted by hand: json.dumps and datetime would cost this line most of
    # its time. Only the path and the address can hold characters JSON escapes.
    remote = request.remote
    return (
        f'{{"ts": "{_CLOCK.now()}", "level": "info", "msg": "request", "fields": {{'
        f'"method": {_quote(request.method)}, "path": {_quote(request.rel_url.raw_path)},'
        f' "status": {response.status}, "duration_ms": {time * 1000:.2f},'
        f' "bytes": {response.body_length},'
        f' "remote": {"null" if remote is None else _quote(remote)}}}}}\n'
    )


def _text_line(request: web.BaseRequest, response: web.StreamResponse, time: float) -> str:
    # Path and address as JSON strings would show them: no control character
    # reaches a terminal.
    return (
        f"{_CLOCK.now()[11:19]} {request.remote} {request.method}"
        f" {_quote(request.rel_url.raw_path)[1:-1]} {response.status}"
        f" {response.body_length} B {time * 1000:.1f} ms\n"
    )


class _Clock:
    """UTC timestamps to the millisecond, the date part formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        stamp = wallclock()
        second = int(stamp)
        if second != self._second:
            self._second = second
            self._prefix = strftime("%Y-%m-%dT%H:%M:%S", gmtime(second))
        return f"{self._prefix}.{int((stamp - second) * 1000):03d}Z"


_CLOCK: Final = _Clock()
