"""Server spans from tracing back ends: what each call asked of an API.

The dependency links of :mod:`discovery.telemetry.traces` say who called whom;
spans say which operation. Two back ends are read, each through its own
query API, with the answer typed at the edge:

* Jaeger query service: ``GET /api/services`` → ``{"data": ["orders", ...]}``;
  ``GET /api/traces?service=S&start=<µs>&end=<µs>&limit=N`` →
  ``{"data": [{"traceID", "spans": [{"spanID", "operationName", "startTime",
  "duration", "tags": [{"key", "type", "value"}], "processID"}],
  "processes": {"p1": {"serviceName", "tags": [...]}}}], "errors": null}``.
* Zipkin v2: ``GET /api/v2/services`` → ``["orders", ...]``;
  ``GET /api/v2/traces?serviceName=S&endTs=<ms>&lookback=<ms>&limit=N`` →
  a list of traces, each a list of spans ``{"traceId", "id", "kind",
  "timestamp", "duration", "localEndpoint": {"serviceName"}, "tags": {}}``.

Only server spans are kept (Jaeger's ``span.kind=server``, Zipkin's
``kind=SERVER``): they are what the API served. Attributes are read under the
current OpenTelemetry HTTP/RPC semantic-convention names and the older ones
they replaced (``http.request.method``/``http.method``, ``url.path``/
``http.target``, ``http.response.status_code``/``http.status_code``; see the
OpenTelemetry "HTTP semantic convention stability migration" guide).

Work is bounded: a page holds at most ``page`` traces; pages walk back in
time from the window's end until a service's cap of spans, the window's
start, or a short page; every answer is read up to ``max_bytes``. Whatever
fails (an unreachable back end, a refused page, a hostile payload) becomes a
:class:`~discovery.model.Problem`; the spans read so far are kept.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypedDict
from urllib.parse import urlsplit

import httpx

from discovery.errors import TelemetryError
from discovery.model import Problem
from discovery.telemetry.base import UNKNOWN, NodeNamer, parse_window

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PAGE",
    "DEFAULT_SPAN_CAP",
    "JaegerSpans",
    "Span",
    "SpanRead",
    "SpanSource",
    "ZipkinSpans",
    "read_all",
]

#: Server spans read per service and window, at most (``--span-cap``).
DEFAULT_SPAN_CAP: Final = 10_000
#: Traces asked for per page.
DEFAULT_PAGE: Final = 500
#: Bytes one answer may hold; a larger one is refused, not read.
DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
#: Services asked at the same time.
_AT_ONCE: Final = 8
#: Longest service name asked for (a DNS name's limit); longer ones are skipped.
_MAX_NAME: Final = 253
#: Malformed spans quoted per problem.
_MAX_QUOTED: Final = 3

SpanProtocol = Literal["http", "grpc", "graphql", "soap"]


@dataclass(frozen=True, slots=True)
class Span:
    """One server span, reduced to what matching needs.

    Attributes:
        service: the node id of the Service that served it (``cluster/ns/name``),
            or the back end's name for a service outside the inventory.
        protocol: ``grpc`` when RPC attributes name a method, ``graphql`` for
            a GraphQL operation, ``soap`` with a SOAP action, else ``http``.
        method: the HTTP method, upper case.
        route: the server's route template (``http.route``), if it said.
        path: the request path without its query.
        status: the HTTP response status.
        rpc_service / rpc_method: ``rpc.service`` and ``rpc.method``.
        grpc_status: ``rpc.grpc.status_code``.
        graphql_name / graphql_type: the GraphQL operation's name and type.
        soap_action: the SOAP action, without quotes.
        error: the span says it failed (``error=true``, status ``ERROR``).
        start_us / duration_us: start (Unix µs) and duration (µs).
        port: the port that served it (``server.port``/``net.host.port``).
    """

    service: str
    protocol: SpanProtocol
    method: str | None = None
    route: str | None = None
    path: str | None = None
    status: int | None = None
    rpc_service: str | None = None
    rpc_method: str | None = None
    grpc_status: int | None = None
    graphql_name: str | None = None
    graphql_type: str | None = None
    soap_action: str | None = None
    error: bool = False
    start_us: int = 0
    duration_us: int = 0
    port: int | None = None


@dataclass(frozen=True, slots=True)
class SpanRead:
    """What the span sources gave: spans, and a problem for whatever failed.

    ``capped`` names the services whose cap was reached: their spans are a
    sample of the window, not all of it.
    """

    spans: tuple[Span, ...]
    problems: tuple[Problem, ...] = ()
    capped: tuple[str, ...] = ()
    requests: int = 0
    sources: tuple[str, ...] = field(default=())


class _RawTag(TypedDict):
    key: str
    value: Any


# Attribute names, current convention first (OpenTelemetry semantic conventions:
# HTTP spans, RPC spans, GraphQL server spans).
_METHOD = ("http.request.method", "http.method")
_PATH = ("url.path", "http.target")
_URL = ("url.full", "http.url")
_STATUS = ("http.response.status_code", "http.status_code")
_PORT = ("server.port", "net.host.port")
_SOAP = ("soap.action", "http.request.header.soapaction")


class SpanSource:
    """Server spans of one tracing back end over one window.

    Args:
        client: The ``httpx.AsyncClient`` every request goes through.
        url: The back end's base URL (a path prefix is kept).
        window: How far back from ``at``, a Prometheus duration.
        at: The window's end; ``None`` means now.
        timeout: Seconds one request may take.
        cap: Server spans kept per service, at most.
        page: Traces asked for per request.
        max_bytes: Bytes one answer may hold.
    """

    kind = "traces"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        window: str = "10m",
        at: datetime | None = None,
        timeout: float = 10.0,
        cap: int = DEFAULT_SPAN_CAP,
        page: int = DEFAULT_PAGE,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.seconds = parse_window(window)
        self.at = at
        self.timeout = timeout
        self.cap = cap
        self.page = page
        self.max_bytes = max_bytes
        self.requests = 0

    async def read(self, namer: NodeNamer, wanted: Collection[str] | None = None) -> SpanRead:
        """Server spans of every service the back end knows (or of ``wanted`` nodes).

        Never raises for what the back end did: failures are problems.
        """
        end_us = int((self.at.timestamp() if self.at is not None else time.time()) * 1_000_000)
        start_us = end_us - int(self.seconds * 1_000_000)
        try:
            names = await self._services()
        except TelemetryError as exc:
            return SpanRead(spans=(), problems=(self._problem("spans not read", exc.message),))
        chosen = [n for n in names if wanted is None or namer.named(n) in wanted]
        gate = asyncio.Semaphore(_AT_ONCE)

        async def one(name: str) -> tuple[list[Span], list[Problem], bool]:
            async with gate:
                return await self._service_spans(name, namer, start_us=start_us, end_us=end_us)

        results = await asyncio.gather(*(one(name) for name in chosen))
        spans: list[Span] = []
        problems: list[Problem] = []
        capped: list[str] = []
        for name, (found, said, full) in zip(chosen, results, strict=True):
            spans.extend(found)
            problems.extend(said)
            if full:
                capped.append(name)
        return SpanRead(
            spans=tuple(spans),
            problems=tuple(problems),
            capped=tuple(capped),
            requests=self.requests,
            sources=(self.kind,),
        )

    async def _service_spans(
        self, name: str, namer: NodeNamer, *, start_us: int, end_us: int
    ) -> tuple[list[Span], list[Problem], bool]:
        spans: list[Span] = []
        seen: set[tuple[str, str]] = set()
        malformed: list[str] = []
        problems: list[Problem] = []
        upper = end_us
        # Pages bounded too: a back end whose pages hold few new server spans
        # (client spans, duplicates) must not walk the window microsecond by microsecond.
        pages_left = 2 * -(-self.cap // self.page) + 8
        full = False
        while len(spans) < self.cap and upper > start_us:
            if pages_left == 0:
                full = True
                break
            pages_left -= 1
            try:
                traces = await self._page(name, start_us=start_us, end_us=upper)
            except TelemetryError as exc:
                problems.append(self._problem(f"spans of {name!r} not read in full", exc.message))
                break
            earliest = upper
            for trace in traces:
                for key, span, start in self._server_spans(trace, name, namer, malformed):
                    earliest = min(earliest, start)
                    if span is None or key in seen or len(spans) >= self.cap:
                        continue
                    seen.add(key)
                    spans.append(span)
            if len(traces) < self.page or earliest >= upper:
                break
            upper = earliest  # the next page ends where this one's earliest span began
        if malformed:
            quoted = "; ".join(malformed[:_MAX_QUOTED])
            problems.append(
                self._problem(
                    f"{len(malformed)} spans of {name!r} skipped", f"malformed spans: {quoted}"
                )
            )
        return spans, problems, full or len(spans) >= self.cap

    async def _get(self, path: str, params: Mapping[str, str]) -> Any:
        endpoint = f"{self.url}{path}"
        self.requests += 1
        try:
            async with self.client.stream(
                "GET", endpoint, params=params, timeout=self.timeout
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise self._error(f"{endpoint} answered over {self.max_bytes} bytes")
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise self._error(f"no answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"cannot reach {self.kind}: {exc}") from exc
        if status != 200:
            raise self._error(f"HTTP {status} from {endpoint}")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise self._error(f"{endpoint} did not answer JSON") from exc

    def _problem(self, what: str, why: str) -> Problem:
        return Problem(where=f"{self.kind} {self.url}", what=what, why=why)

    def _error(self, message: str) -> TelemetryError:
        return TelemetryError(message, source=self.kind, url=self.url)

    async def _services(self) -> list[str]:
        raise NotImplementedError

    async def _page(self, name: str, *, start_us: int, end_us: int) -> list[Any]:
        raise NotImplementedError

    def _server_spans(
        self, trace: Any, name: str, namer: NodeNamer, malformed: list[str]
    ) -> Iterable[tuple[tuple[str, str], Span | None, int]]:
        """Each span of service ``name`` in ``trace``: its key, itself if a server span, its start.

        Spans of other kinds count for paging (they place the trace in time) only.
        """
        raise NotImplementedError


class JaegerSpans(SpanSource):
    """Server spans from a Jaeger query service's ``/api/traces``."""

    kind = "jaeger"

    async def _services(self) -> list[str]:
        body = await self._get("/api/services", {})
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise self._error("Jaeger's /api/services holds no service list")
        return [n for n in data if isinstance(n, str) and 0 < len(n) <= _MAX_NAME]

    async def _page(self, name: str, *, start_us: int, end_us: int) -> list[Any]:
        params = {
            "service": name,
            "start": str(start_us),
            "end": str(end_us),
            "limit": str(self.page),
        }
        body = await self._get("/api/traces", params)
        if not isinstance(body, Mapping):
            raise self._error("Jaeger's /api/traces answer is not an object")
        if body.get("errors"):
            errors = body["errors"]
            said = errors if isinstance(errors, list) else [errors]
            messages = "; ".join(
                str(e.get("msg", e)) if isinstance(e, Mapping) else str(e) for e in said[:3]
            )
            raise self._error(f"Jaeger answered with errors: {messages}")
        data = body.get("data")
        if not isinstance(data, list):
            raise self._error("Jaeger's /api/traces answer holds no trace list")
        return data

    def _server_spans(
        self, trace: Any, name: str, namer: NodeNamer, malformed: list[str]
    ) -> Iterable[tuple[tuple[str, str], Span | None, int]]:
        if not isinstance(trace, Mapping):
            malformed.append("a trace that is not an object")
            return
        processes = trace.get("processes")
        raw_spans = trace.get("spans")
        if not isinstance(processes, Mapping) or not isinstance(raw_spans, list):
            malformed.append("a trace without spans and processes")
            return
        for raw in raw_spans:
            try:
                process = processes[raw["processID"]]
                if process.get("serviceName") != name:
                    continue  # another service's span: read when that service is
                tags = _jaeger_tags(raw.get("tags", []))
                start, duration = _micros(raw["startTime"]), _micros(raw["duration"])
                key = (str(raw["traceID"]), str(raw["spanID"]))
                if str(tags.get("span.kind", "")).lower() != "server":
                    yield key, None, start
                    continue
                resource = _jaeger_tags(process.get("tags", []))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                malformed.append(_why(exc))
                continue
            node = _node(namer, name, resource)
            yield key, _span(node, tags, start=start, duration=duration), start


class ZipkinSpans(SpanSource):
    """Server spans from a Zipkin server's ``/api/v2/traces``."""

    kind = "zipkin"

    async def _services(self) -> list[str]:
        body = await self._get("/api/v2/services", {})
        if not isinstance(body, list):
            raise self._error("Zipkin's /api/v2/services is not a list")
        return [n for n in body if isinstance(n, str) and 0 < len(n) <= _MAX_NAME]

    async def _page(self, name: str, *, start_us: int, end_us: int) -> list[Any]:
        end_ms = end_us // 1000
        params = {
            "serviceName": name,
            "endTs": str(end_ms),
            "lookback": str(max(1, end_ms - start_us // 1000)),
            "limit": str(self.page),
        }
        body = await self._get("/api/v2/traces", params)
        if not isinstance(body, list):
            raise self._error("Zipkin's /api/v2/traces answer is not a list of traces")
        return body

    def _server_spans(
        self, trace: Any, name: str, namer: NodeNamer, malformed: list[str]
    ) -> Iterable[tuple[tuple[str, str], Span | None, int]]:
        if not isinstance(trace, list):
            malformed.append("a trace that is not a list of spans")
            return
        for raw in trace:
            try:
                local = raw.get("localEndpoint") or {}
                # Zipkin lower-cases service names on ingest.
                if str(local.get("serviceName", "")).lower() != name.lower():
                    continue
                start, duration = _micros(raw["timestamp"]), _micros(raw.get("duration", 0))
                key = (str(raw["traceId"]), str(raw["id"]))
                if raw.get("kind") != "SERVER":
                    yield key, None, start
                    continue
                tags = raw.get("tags") or {}
                if not isinstance(tags, Mapping):
                    raise TypeError("tags is not an object")
                port = local.get("port")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                malformed.append(_why(exc))
                continue
            attributes: dict[str, Any] = dict(tags)
            if isinstance(port, int) and not any(k in attributes for k in _PORT):
                attributes["server.port"] = port
            node = _node(namer, name, attributes)
            yield key, _span(node, attributes, start=start, duration=duration), start


async def read_all(
    sources: Iterable[SpanSource], namer: NodeNamer, wanted: Collection[str] | None = None
) -> SpanRead:
    """Every source's server spans at once, with all their problems."""
    chosen = list(sources)
    results = await asyncio.gather(*(s.read(namer, wanted) for s in chosen))
    return SpanRead(
        spans=tuple(span for r in results for span in r.spans),
        problems=tuple(p for r in results for p in r.problems),
        capped=tuple(dict.fromkeys(c for r in results for c in r.capped)),
        requests=sum(r.requests for r in results),
        sources=tuple(s.kind for s in chosen),
    )


def _jaeger_tags(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, list):
        raise TypeError("tags is not a list")
    tags: dict[str, Any] = {}
    for tag in raw:
        tags[str(tag["key"])] = tag.get("value")
    return tags


def _node(namer: NodeNamer, name: str, attributes: Mapping[str, Any]) -> str:
    """The node of the service a span names, OpenTelemetry resource attributes first."""
    namespace = _text(attributes.get("k8s.namespace.name"))
    if namespace is not None and "." not in name and "/" not in name:
        cluster = _text(attributes.get("k8s.cluster.name")) or ""
        return namer.service(cluster=cluster, namespace=namespace, name=name)
    return namer.named(name) if name != UNKNOWN else UNKNOWN


def _span(node: str, tags: Mapping[str, Any], *, start: int, duration: int) -> Span:
    method = _first(tags, _METHOD)
    path = _first(tags, _PATH)
    if path is None:
        url = _first(tags, _URL)
        path = urlsplit(url).path or None if url is not None else None
    elif "?" in path:
        path = path.split("?", 1)[0]
    rpc_service = _text(tags.get("rpc.service"))
    rpc_method = _text(tags.get("rpc.method"))
    graphql_name = _text(tags.get("graphql.operation.name"))
    graphql_type = _text(tags.get("graphql.operation.type"))
    soap = _soap_action(tags)
    protocol: SpanProtocol = "http"
    if rpc_service and rpc_method:
        protocol = "grpc"
    elif graphql_name or graphql_type:
        protocol = "graphql"
    elif soap is not None:
        protocol = "soap"
    return Span(
        service=node,
        protocol=protocol,
        method=method.upper() if method else None,
        route=_text(tags.get("http.route")),
        path=path,
        status=_int(_first_value(tags, _STATUS)),
        rpc_service=rpc_service,
        rpc_method=rpc_method,
        grpc_status=_int(tags.get("rpc.grpc.status_code")),
        graphql_name=graphql_name,
        graphql_type=graphql_type.lower() if graphql_type else None,
        soap_action=soap,
        error=_errored(tags),
        start_us=start,
        duration_us=duration,
        port=_int(_first_value(tags, _PORT)),
    )


def _soap_action(tags: Mapping[str, Any]) -> str | None:
    value = _first_value(tags, _SOAP)
    if isinstance(value, list):  # captured headers are string arrays in OpenTelemetry
        value = value[0] if value else None
    text = _text(value)
    if text is None:
        return None
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]  # ... which a back end may keep as text
    return text.strip().strip("'\"") or None


def _errored(tags: Mapping[str, Any]) -> bool:
    flag = tags.get("error")
    if flag is True:
        return True
    if isinstance(flag, str) and flag.lower() != "false":
        return True  # Zipkin keeps the error's message (or "") under "error"
    return str(tags.get("otel.status_code", "")).upper() == "ERROR"


def _first(tags: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return _text(_first_value(tags, names))


def _first_value(tags: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in tags and tags[name] is not None:
            return tags[name]
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    return None


def _micros(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number of microseconds: {type(value).__name__}")
    number = int(value)
    if number < 0 or number > 2**62:
        raise ValueError(f"microseconds out of range: {number}")
    return number


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}" if exc.args else "a missing field"
    return str(exc)[:120] or type(exc).__name__
