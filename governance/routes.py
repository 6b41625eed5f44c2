"""A compiled router per contract: which documented operation a call reached.

HTTP contracts (OpenAPI 3.x, Swagger 2.0) become a segment trie, looked up
as a router would: literal segments before templated ones (``/orders/search``
wins over ``/orders/{id}``), a segment with fixed text around its parameter
(``{id}.json``) before a bare parameter, backtracking when a deeper segment
or the method does not fit. The contract's base path (Swagger ``basePath``,
the path of OpenAPI's first ``servers[].url``) is stripped when the request
carries it. A server's own route template (``http.route``) is looked up
directly, its parameter spellings (``{id}``, ``:id``, ``<int:id>``,
``{id:int}``) made one.

gRPC contracts match ``service/method``; GraphQL contracts match a root field
named like the operation; WSDL contracts match the SOAP action, or the
operation's name.

Pure: a route is deprecated when its :class:`~discovery.model.Operation` is
(the contract's own mark); nothing is read again and nothing is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from discovery import secrets
from discovery.model import Operation, SpecDocument

__all__ = ["PARAM", "Route", "Router", "compile_router", "normalise_path", "template_key"]

#: How a parameter segment is written in operation keys.
PARAM: Final = "{param}"
_HTTP_FORMATS: Final = ("openapi", "swagger")
_BRACED = re.compile(r"\{[^{}/]*\}")
# Parameter spellings of server route templates: {id}, {id:int} (ASP.NET), :id
# (Express, Gin), <id> and <int:id> (Flask), *path (catch-all).
_ROUTE_PARAM = re.compile(r"^(?::\w+|\*\w*|<[^<>/]+>)$")
_NUMERIC = re.compile(r"^\d+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Segments and characters kept of a path that keys an operation; the rest is cut.
_MAX_SEGMENTS: Final = 24
_MAX_KEY: Final = 256


@dataclass(frozen=True, slots=True)
class Route:
    """One documented operation a call can reach.

    Attributes:
        label: how the operation is shown: ``GET /orders/{id}``,
            ``rpc pkg.Svc/Method``, ``query users``, the SOAP operation's name.
        name: the operation's name in the contract (operationId, rpc, field).
        method: HTTP method, ``rpc``, ``query``/``mutation``/``subscription``,
            or ``None`` for SOAP.
        path: the path template, base path included, for HTTP operations.
        deprecated: the contract marks it ``deprecated: true``.
    """

    label: str
    name: str
    method: str | None = None
    path: str | None = None
    deprecated: bool = False


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    # (pattern, node): a segment with text around its parameter first, then bare ones.
    params: list[tuple[re.Pattern[str] | None, _Node]] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)


class Router:
    """The compiled operations of one contract.

    Build with :func:`compile_router`; look calls up with :meth:`http`,
    :meth:`http_route`, :meth:`rpc`, :meth:`graphql` and :meth:`soap`.
    """

    __slots__ = ("_by_action", "_by_name", "_base", "_root", "_templates", "routes")

    def __init__(self, routes: Sequence[Route], *, base_path: str = "") -> None:
        self.routes = tuple(routes)
        self._base = _segments(base_path)
        self._root = _Node()
        self._templates: dict[tuple[str, str], Route] = {}
        self._by_name: dict[str, Route] = {}
        self._by_action: dict[str, Route] = {}
        for route in self.routes:
            if route.path is not None and route.method is not None:
                self._insert(route)
            else:
                self._by_name.setdefault(route.name.lower(), route)
        for node in self._walk(self._root):
            node.params.sort(key=lambda item: item[0] is None)

    def http(self, method: str, path: str) -> Route | None:
        """The operation ``method path`` reaches, the most specific first."""
        segments = _segments(path)
        method = method.upper()
        if self._base and segments[: len(self._base)] == self._base:
            found = self._lookup(self._root, segments, len(self._base), method)
            if found is not None:
                return found
        return self._lookup(self._root, segments, 0, method)

    def http_route(self, method: str, route: str) -> Route | None:
        """The operation a server's route template names, with or without the base path."""
        key = template_key(route)
        method = method.upper()
        found = self._templates.get((method, key))
        if found is None and self._base:
            found = self._templates.get((method, template_key("/".join(("", *self._base))) + key))
        return found

    def rpc(self, service: str, method: str) -> Route | None:
        """The gRPC method ``service/method``."""
        return self._by_name.get(f"{service}/{method}".lower())

    def graphql(self, kind: str | None, name: str) -> Route | None:
        """The root field an operation is named after, of its type (``query`` if unsaid)."""
        return self._by_name.get(f"{kind or 'query'} {name}".lower())

    def soap(self, action: str) -> Route | None:
        """The SOAP operation of ``action`` (its ``soapAction``, else its name)."""
        found = self._by_action.get(action)
        if found is None:
            found = self._by_name.get(action.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower())
        return found

    def _insert(self, route: Route) -> None:
        assert route.path is not None and route.method is not None
        node = self._root
        for segment in _segments(route.path):
            if _BRACED.search(segment) is None:
                node = node.literals.setdefault(segment, _Node())
                continue
            pattern = None if _BRACED.fullmatch(segment) else _segment_pattern(segment)
            for known, child in node.params:
                if (known.pattern if known else None) == (pattern.pattern if pattern else None):
                    node = child
                    break
            else:
                child = _Node()
                node.params.append((pattern, child))
                node = child
        node.routes.setdefault(route.method, route)
        base = "/".join(("", *self._base)) if self._base else ""
        self._templates.setdefault((route.method, template_key(route.path)), route)
        if base:
            self._templates.setdefault((route.method, template_key(base + route.path)), route)

    def _lookup(self, node: _Node, segments: list[str], at: int, method: str) -> Route | None:
        # The greedy walk (a literal, else the first parameter that fits) is what
        # the full search below finds first whenever it succeeds; most calls need no more.
        current: _Node | None = node
        for segment in segments[at:]:
            assert current is not None
            step = current.literals.get(segment)
            if step is None:
                step = next(
                    (c for p, c in current.params if p is None or p.fullmatch(segment)), None
                )
            current = step
            if current is None:
                break
        if current is not None and method in current.routes:
            return current.routes[method]
        return self._search(node, segments, at, method)

    def _search(self, node: _Node, segments: list[str], at: int, method: str) -> Route | None:
        if at == len(segments):
            return node.routes.get(method)
        segment = segments[at]
        child = node.literals.get(segment)
        if child is not None:
            found = self._search(child, segments, at + 1, method)
            if found is not None:
                return found
        for pattern, child in node.params:
            if pattern is None or pattern.fullmatch(segment):
                found = self._search(child, segments, at + 1, method)
                if found is not None:
                    return found
        return None

    def _walk(self, node: _Node) -> Iterable[_Node]:
        stack = [node]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(current.literals.values())
            stack.extend(child for _, child in current.params)


def compile_router(contract: SpecDocument) -> Router:
    """The router of one parsed contract (OpenAPI, Swagger, WSDL, protobuf, GraphQL)."""
    if contract.format in _HTTP_FORMATS:
        routes = [
            Route(
                label=f"{op.method} {op.path}",
                name=op.name,
                method=op.method,
                path=op.path,
                deprecated=op.deprecated,
            )
            for op in contract.operations
            if op.method is not None and op.path is not None
        ]
        return Router(routes, base_path=_base_path(contract.base_path))
    router = Router([_named(op) for op in contract.operations])
    for op in contract.operations:
        if op.soap_action:
            router._by_action.setdefault(op.soap_action, router._by_name[op.name.lower()])
    return router


def template_key(template: str) -> str:
    """A path template with every parameter written ``{param}``, for comparison."""
    parts = []
    for segment in _segments(template)[:_MAX_SEGMENTS]:
        if _ROUTE_PARAM.match(segment):
            parts.append(PARAM)
        else:
            parts.append(_BRACED.sub(PARAM, segment))
    return ("/" + "/".join(parts))[:_MAX_KEY]


def normalise_path(path: str) -> str:
    """A concrete path with its id-like segments written ``{param}``.

    What an undocumented operation is keyed by, so one shadow route called
    with 10,000 ids is one operation, not 10,000: numeric and UUID segments,
    and segments with a digit that are long (hex ids, ObjectIds) or look
    like a secret (a token in a path is never kept). Bounded in segments and
    length, as the path is whatever a client sent.
    """
    parts = [_generalised(segment) for segment in _segments(path)[:_MAX_SEGMENTS]]
    return ("/" + "/".join(parts))[:_MAX_KEY]


def _generalised(segment: str) -> str:
    if _NUMERIC.match(segment) or _UUID.match(segment):
        return PARAM
    if any(c.isdigit() for c in segment) and (len(segment) >= 16 or secrets.looks_secret(segment)):
        return PARAM
    return segment


def _named(op: Operation) -> Route:
    name = op.name
    key = name
    if name.startswith("rpc "):
        key = name[4:].split(" (", 1)[0]  # "rpc pkg.Svc/Method (server streaming)"
    return Route(label=name, name=key, method=op.method, deprecated=op.deprecated)


def _segments(path: str) -> list[str]:
    if "?" in path:
        path = path.split("?", 1)[0]
    if "%" not in path:
        return [s for s in path.split("/") if s]
    return [unquote(s) for s in path.split("/") if s]


def _segment_pattern(segment: str) -> re.Pattern[str]:
    pieces = _BRACED.split(segment)
    return re.compile("[^/]+?".join(re.escape(p) for p in pieces))


def _base_path(base: str | None) -> str:
    if not base:
        return ""
    path = urlsplit(base).path if "://" in base else base
    return "" if _BRACED.search(path) else path.rstrip("/")
