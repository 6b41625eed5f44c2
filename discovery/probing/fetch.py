"""Bounded HTTP requests for probing, on one shared ``aiohttp.ClientSession``.

Every request is bounded three ways: connect/read timeouts on the session, a
total deadline for the whole exchange, redirects included, counted from when
it leaves the queue (a server trickling a byte a second is cut off), and a
cap on *decompressed* body bytes (a gzip bomb stops at the
cap; meshatlas decodes the body itself, chunk by chunk, with ``max_length``).
Redirects are followed only when they stay on the same scheme, host and port.
Nothing is sent but the request itself: no credentials, no cookies, no proxy.

Concurrency has two lanes. A request holds one of ``concurrency`` fast slots
while it waits for its answer; one still unanswered after ``slow_after``
seconds moves to a slow lane (:data:`SLOW_LANE` times as large) and frees its
fast slot, so Services that accept and never answer cannot stall everyone
else: they cost their deadline, not the crawl's throughput. A request waiting
in the slow lane costs an open socket and a timer, nothing more, on either
side.

A request may also carry its Service's :class:`ServiceBudget`: the seconds
and bytes every port and request of that Service may cost together. Its
clock runs only while one of the Service's requests holds a lane, so waiting
behind others in a busy crawl costs a Service nothing; once either part is
spent, the request in flight is cut and none is sent after it
(:class:`~discovery.errors.BudgetExhausted`).

aiohttp rather than httpx: per request it costs about a quarter of the CPU
(measured in ``bench/crawl.py``), which is what a crawl of thousands of
Services spends its time on.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from discovery.errors import BudgetExhausted, ProbeError, ProbeTimeout

USER_AGENT: Final = "meshatlas-probe/0.1"
#: The slow lane's size, in fast lanes.
SLOW_LANE: Final = 4
#: Redirects followed for one request (same origin only).
MAX_REDIRECTS: Final = 3
_CHUNK: Final = 65_536
_MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one probe request may cost.

    ``slow_after`` is when an unanswered request leaves the fast lane.
    """

    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    deadline: float = 8.0
    max_body_bytes: int = 5 * 1024 * 1024
    slow_after: float = 0.5


@dataclass(frozen=True, slots=True)
class Response:
    """What a probe request got back (body bounded by :class:`Limits`)."""

    url: str
    status: int
    headers: Mapping[str, str] = field(hash=False)
    body: bytes = field(repr=False)
    truncated: bool = False
    refused_redirect: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def server(self) -> str:
        return self.headers.get("server", "")


def make_client(*, limits: Limits = Limits(), max_connections: int = 64) -> aiohttp.ClientSession:
    """The shared probing session: no env proxies, no redirects, no cookies.

    Room for both lanes' connections; idle ones close after a second, since
    each Service is its own origin and its few probes come back to back.
    Call it inside the event loop that will use it.
    """
    connector = aiohttp.TCPConnector(
        limit=(1 + SLOW_LANE) * max_connections,
        limit_per_host=0,
        keepalive_timeout=1.0,
        ttl_dns_cache=None,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
        raise_for_status=False,
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=limits.connect_timeout,
            sock_read=limits.read_timeout,
        ),
        headers={"User-Agent": USER_AGENT},
    )


class ServiceBudget:
    """What one Service may cost a crawl: seconds of probing and bytes received.

    Shared by every port and request of the Service. Time is counted while at
    least one of its requests holds a lane (overlapping requests count once),
    so a Service's time waiting for a lane, or for its description to be
    validated (bounded on its own, see :mod:`discovery.specpool`), is not
    spent. Bytes are the decoded body bytes of every answer. One event loop
    only.
    """

    __slots__ = (
        "seconds",
        "max_bytes",
        "received",
        "validation_refused",
        "_spent",
        "_active",
        "_since",
    )

    def __init__(self, *, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.received = 0
        #: Why one of the Service's descriptions passed a validation limit, if one did:
        #: its other, new descriptions are then not validated in this run.
        self.validation_refused: str | None = None
        self._spent = 0.0
        self._active = 0
        self._since = 0.0

    def spent(self, now: float) -> float:
        """Seconds spent so far, ``now`` being the event loop's time."""
        return self._spent + (now - self._since if self._active else 0.0)

    def left(self, now: float) -> float:
        """Seconds left (zero or less once spent)."""
        return self.seconds - self.spent(now)

    def exhausted(self, now: float) -> str | None:
        """Why nothing more may be asked of the Service, or None while something is left."""
        if self.received >= self.max_bytes:
            return self.bytes_reason
        if self.left(now) <= 0:
            return self.time_reason
        return None

    @property
    def bytes_left(self) -> int:
        return self.max_bytes - self.received

    @property
    def time_reason(self) -> str:
        return f"stopped after {self.seconds:g} s, its per-Service budget"

    @property
    def bytes_reason(self) -> str:
        return f"stopped after {self.max_bytes / _MIB:g} MiB, its per-Service budget"

    def enter(self, now: float) -> None:
        """A request of the Service took a lane."""
        if self._active == 0:
            self._since = now
        self._active += 1

    def leave(self, now: float) -> None:
        """A request of the Service gave its lane back."""
        self._active -= 1
        if self._active == 0:
            self._spent += now - self._since

    def charge(self, size: int, *, url: str) -> None:
        """Count ``size`` bytes received; raise once the Service received more than allowed."""
        self.received += size
        if self.received > self.max_bytes:
            raise BudgetExhausted(self.bytes_reason, url=url, sent=True)

    def check(self, now: float, *, url: str, sent: bool = False) -> None:
        """Raise :class:`BudgetExhausted` when nothing is left."""
        if (why := self.exhausted(now)) is not None:
            raise BudgetExhausted(why, url=url, sent=sent)


class Lanes:
    """The fast and slow concurrency lanes that every probe request shares."""

    def __init__(self, concurrency: int = 64, *, slow: int | None = None) -> None:
        self.fast = asyncio.Semaphore(concurrency)
        self.slow_capacity = SLOW_LANE * concurrency if slow is None else slow
        self.slow_in_use = 0

    def try_enter_slow(self) -> bool:
        """Take a place in the slow lane, if there is room."""
        if self.slow_in_use >= self.slow_capacity:
            return False
        self.slow_in_use += 1
        return True

    def try_move(self) -> bool:
        """Move one request from the fast lane to the slow one, if there is room."""
        if not self.try_enter_slow():
            return False
        self.fast.release()
        return True


class _Ticket:
    """One request's place in the lanes: fast, then slow once it has waited too long.

    A request expected to wait (``slow``) starts in the slow lane and never
    holds a fast slot.
    """

    __slots__ = ("lanes", "slow", "timer", "after")

    def __init__(self, lanes: Lanes, after: float, *, slow: bool = False) -> None:
        self.lanes = lanes
        self.slow = slow
        self.after = after
        self.timer: asyncio.TimerHandle | None = None
        if not slow:
            self.timer = asyncio.get_running_loop().call_later(after, self.move)

    def move(self) -> None:
        """Into the slow lane; while that is full, try again a little later."""
        self.slow = self.lanes.try_move()
        if not self.slow:
            self.timer = asyncio.get_running_loop().call_later(self.after / 4, self.move)

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.slow:
            self.lanes.slow_in_use -= 1
        else:
            self.lanes.fast.release()


class Fetcher:
    """Issues bounded requests; counts them; shares one set of lanes."""

    def __init__(
        self,
        *,
        client: aiohttp.ClientSession,
        limits: Limits = Limits(),
        lanes: Lanes | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.lanes = lanes or Lanes()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = True,
        deadline: float | None = None,
        quiet: bool = False,
        keep_alive: bool = True,
        budget: ServiceBudget | None = None,
    ) -> tuple[Response, int]:
        """Send a request, following same-origin redirects unless told not to.

        ``deadline`` shortens the limits' one for this request; ``quiet`` says
        its origin gave no answer in time last run, so it waits in the slow
        lane from the start (while that has room) instead of holding a fast
        slot for ``slow_after``. Without ``keep_alive`` the server is asked to
        close the connection after answering: for a request expected to be its
        origin's only one, nothing is left idle on either side. Returns the
        final response and the number of requests it took. Raises
        :class:`ProbeTimeout` when no answer comes in time and
        :class:`ProbeError` on any other failure.
        """
        origin = _origin(url)
        if not keep_alive:
            headers = {**(headers or {}), "Connection": "close"}
        total = min(deadline or self.limits.deadline, self.limits.deadline)
        left = total
        spent = 0
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            if left <= 0:
                raise ProbeTimeout(f"no complete answer within {total:g}s", url=current)
            spent += 1
            response, took = await self._once(
                method,
                current,
                headers=headers,
                content=content,
                left=left,
                total=total,
                quiet=quiet,
                budget=budget,
            )
            left -= took
            location = response.headers.get("location")
            if (
                not follow_redirects
                or response.status not in (301, 302, 303, 307, 308)
                or not location
            ):
                return response, spent
            try:
                target = urljoin(current, location)
                stays = _origin(target) == origin and not _has_userinfo(target)
            except ValueError:  # "http://[::1": not a URL at all, so never followed
                return _with_refusal(response, location), spent
            if not stays:
                return _with_refusal(response, target), spent
            if response.status == 303:
                method, content = "GET", None
            current = target
        return response, spent

    async def _once(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        left: float,
        total: float,
        quiet: bool = False,
        budget: ServiceBudget | None = None,
    ) -> tuple[Response, float]:
        """One exchange within ``left`` seconds of the ``total`` deadline; and its time."""
        send = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
        loop = asyncio.get_running_loop()
        if budget is not None:
            budget.check(loop.time(), url=url)  # spent: not even a lane is taken
        slow = quiet and self.lanes.try_enter_slow()
        if not slow:
            await self.lanes.fast.acquire()
        started = loop.time()
        ticket = _Ticket(self.lanes, min(self.limits.slow_after, total / 2), slow=slow)
        cut = False  # the budget, not the deadline, ends this exchange
        if budget is not None:
            budget.enter(started)
        try:
            if budget is not None:
                # Another port of the Service may have spent it while this one queued.
                budget.check(started, url=url)
                room = budget.left(started)
                if room < left:
                    left, cut = room, True
            async with asyncio.timeout(left):
                response = await self._exchange(method, url, send, content, budget)
            return response, loop.time() - started
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise ProbeTimeout("connect timed out", url=url) from exc
            if isinstance(exc, aiohttp.SocketTimeoutError):
                raise ProbeTimeout("read timed out", url=url) from exc
            if cut and budget is not None:
                raise BudgetExhausted(budget.time_reason, url=url, sent=True) from exc
            raise ProbeTimeout(f"no complete answer within {total:g}s", url=url) from exc
        except aiohttp.ClientError as exc:
            raise ProbeError(_describe(exc), url=url) from exc
        except ValueError as exc:  # a redirect to a URL that cannot be sent
            raise ProbeError(f"unusable URL: {exc}", url=url) from exc
        finally:
            ticket.release()
            if budget is not None:
                budget.leave(loop.time())

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        budget: ServiceBudget | None,
    ) -> Response:
        async with self.client.request(
            method, url, headers=headers, data=content, allow_redirects=False
        ) as response:
            body, truncated = await self._read(response, url, budget)
            return Response(
                url=url,
                status=response.status,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=body,
                truncated=truncated,
            )

    async def _read(
        self, response: aiohttp.ClientResponse, url: str, budget: ServiceBudget | None
    ) -> tuple[bytes, bool]:
        cap = self.limits.max_body_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder: zlib._Decompress | None
        if encoding in ("", "identity"):
            decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 47 = auto-detect gzip or zlib header.
            decoder = zlib.decompressobj(47 if encoding != "deflate" else 15)
        else:
            raise ProbeError(f"unsupported content-encoding {encoding!r}", url=url)
        chunks: list[bytes] = []
        size = 0
        async for raw in response.content.iter_chunked(_CHUNK):
            room = cap + 1 - size
            if budget is not None:
                # Never decode more than the Service may still send; at least 1 (0: unbounded).
                room = max(1, min(room, budget.bytes_left + 1))
            if decoder is None:
                piece = raw[:room]
            else:
                try:
                    piece = decoder.decompress(raw, room)
                except zlib.error as exc:
                    raise ProbeError(f"corrupt {encoding} body: {exc}", url=url) from exc
            if budget is not None:
                budget.charge(len(piece), url=url)
            chunks.append(piece)
            size += len(piece)
            if size > cap:
                return b"".join(chunks)[:cap], True
        return b"".join(chunks), False


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # "host:80x" in a Location: no origin of ours, so never followed
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def _has_userinfo(url: str) -> bool:
    """A redirect carrying a user or password would make the session send credentials."""
    parts = urlsplit(url)
    return parts.username is not None or parts.password is not None


def _with_refusal(response: Response, target: str) -> Response:
    return Response(
        url=response.url,
        status=response.status,
        headers=response.headers,
        body=response.body,
        truncated=response.truncated,
        refused_redirect=target,
    )


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc.os_error.strerror or exc.os_error or 'refused'}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "not an HTTP answer: the server closed the connection"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"not an HTTP answer: {exc.message}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broken body: {exc}"
    return f"{type(exc).__name__}: {exc}"
