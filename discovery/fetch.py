"""Bounded HTTP requests for probing, on one shared ``httpx.AsyncClient``.

Every request is bounded three ways: connect/read timeouts on the client, a
total deadline for the whole exchange (a server trickling a byte a second is
cut off), and a cap on *decompressed* body bytes (a gzip bomb stops at the
cap; meshatlas decodes the body itself, chunk by chunk, with ``max_length``).
Redirects are followed only when they stay on the same scheme, host and port.
Nothing is sent but the request itself: no credentials, no cookies, no proxy.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

from discovery.errors import ProbeError

USER_AGENT: Final = "meshatlas-probe/0.1"
_MAX_REDIRECTS: Final = 3


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one probe request may cost."""

    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    deadline: float = 8.0
    max_body_bytes: int = 5 * 1024 * 1024


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


class _RefuseAll(http.cookiejar.DefaultCookiePolicy):
    """Never store or send a cookie: probes carry no state between requests."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def make_client(*, limits: Limits = Limits(), max_connections: int = 64) -> httpx.AsyncClient:
    """The shared probing client: no env proxies, no redirects, no cookies."""
    return httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        cookies=http.cookiejar.CookieJar(policy=_RefuseAll()),
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.deadline,
        ),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        headers={"User-Agent": USER_AGENT},
    )


class Fetcher:
    """Issues bounded requests; counts them; shares one concurrency bound."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        limits: Limits = Limits(),
        concurrency: asyncio.Semaphore | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self._gate = concurrency or asyncio.Semaphore(64)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = True,
    ) -> tuple[Response, int]:
        """Send a request, following same-origin redirects unless told not to.

        Returns the final response and the number of requests it took.
        Raises :class:`ProbeError` on connection failure or deadline.
        """
        origin = _origin(url)
        spent = 0
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            spent += 1
            response = await self._once(method, current, headers=headers, content=content)
            location = response.headers.get("location")
            if (
                not follow_redirects
                or response.status not in (301, 302, 303, 307, 308)
                or not location
            ):
                return response, spent
            target = urljoin(current, location)
            if _origin(target) != origin:
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
    ) -> Response:
        send = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
        async with self._gate:
            try:
                async with asyncio.timeout(self.limits.deadline):
                    request = self.client.build_request(method, url, headers=send, content=content)
                    response = await self.client.send(request, stream=True)
                    try:
                        body, truncated = await self._read(response)
                    finally:
                        await response.aclose()
            except TimeoutError as exc:
                raise ProbeError(
                    f"no complete answer within {self.limits.deadline:g}s", url=url
                ) from exc
            except httpx.HTTPError as exc:
                raise ProbeError(_describe(exc), url=url) from exc
            except httpx.InvalidURL as exc:  # a redirect to a URL httpx cannot send
                raise ProbeError(f"unusable URL: {exc}", url=url) from exc
        return Response(
            url=url,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            truncated=truncated,
        )

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        cap = self.limits.max_body_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder: zlib._Decompress | None
        if encoding in ("", "identity"):
            decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 47 = auto-detect gzip or zlib header; raw deflate handled below.
            decoder = zlib.decompressobj(47 if encoding != "deflate" else 15)
        else:
            raise ProbeError(f"unsupported content-encoding {encoding!r}", url=str(response.url))
        chunks: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            if decoder is None:
                piece = raw[: cap + 1 - size]
            else:
                try:
                    piece = decoder.decompress(raw, cap + 1 - size)
                except zlib.error as exc:
                    raise ProbeError(
                        f"corrupt {encoding} body: {exc}", url=str(response.url)
                    ) from exc
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


def _with_refusal(response: Response, target: str) -> Response:
    return Response(
        url=response.url,
        status=response.status,
        headers=response.headers,
        body=response.body,
        truncated=response.truncated,
        refused_redirect=target,
    )


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc or 'refused'}"
    if isinstance(exc, httpx.ReadTimeout):
        return "read timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"not an HTTP answer: {exc}"
    return f"{type(exc).__name__}: {exc}"
