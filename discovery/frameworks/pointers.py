"""Follow what the server says: links from an answer to its API description.

Docs pages name their description (Swagger UI's ``url``/``urls``/``configUrl``,
Redoc's and RapiDoc's ``spec-url``, Scalar's ``data-url``, Stoplight Elements'
``apiDescriptionUrl``, a GraphiQL page's endpoint); swagger-ui-express embeds
the whole document in ``swagger-ui-init.js``; RFC 8631 ``Link`` headers and
``<link>`` elements carry ``service-desc`` and ``describedby``; RFC 9727's
``/.well-known/api-catalog`` is a Linkset; springdoc's ``swagger-config`` and
springfox's ``swagger-resources`` list groups; a SOAP listing links each
``?wsdl``; a redirect or a JSON API root reveals where the API is mounted.

A link is used only when it stays on the Service's own address. "Own"
includes the Service's cluster DNS names (``name``, ``name.ns``,
``name.ns.svc``, ``name.ns.svc.cluster.local``, with or without the port):
the request still goes to the address being probed, never to a name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit

from discovery import untrusted
from discovery.frameworks.table import CandidateKind
from discovery.probing.fetch import Response

#: Takes one link found in an answer: (link, what to do with it, why).
_Add = Callable[[str, CandidateKind, str], None]
#: How much of a page is read for links.
_SCAN_BYTES: Final = 512 * 1024
#: Links taken from one answer, at most.
_MAX_LINKS: Final = 12

_LINK_HEADER: Final = re.compile(r"<([^>]*)>\s*((?:;[^,<]*)*)")
_REL: Final = re.compile(r"""rel\s*=\s*"?([^";,]+)"?""", re.I)
_LINK_TAG: Final = re.compile(rb"<link\b[^>]*>", re.I)
_ATTR: Final = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_DESC_RELS: Final = frozenset({"service-desc", "describedby"})
_DOC_RELS: Final = frozenset({"service-doc", "api-catalog"})
# Docs-UI configuration: Swagger UI (url, configUrl, urls[].url), Redoc and
# RapiDoc (spec-url, Redoc.init), Scalar (data-url, url), Elements
# (apiDescriptionUrl), GraphiQL/Playground (endpoint, url).
# The value may be built from page variables: ``url: contextPath + '/x.yml'``
# (micronaut-openapi's views), ``location.protocol + '//' + location.host +
# '/query'`` (gqlgen's playground); the last literal is the path.
_UI_VALUE: Final = re.compile(
    rb"""(?:\b(?:url|configUrl|specUrl|spec_url|apiDescriptionUrl|endpoint|schemaUrl)\b"""
    rb"""["']?\s*[:=]\s*|\b(?:spec-url|data-url|apiDescriptionUrl)\s*=\s*)"""
    rb"""(?:(?:[A-Za-z_$][\w.$]{0,64}|["'][^"'<>\s]{0,16}["'])\s*\+\s*){0,6}"""
    rb"""["'`]([^"'`<>\s]{1,512})["'`]"""
)
_REDOC_INIT: Final = re.compile(rb"""Redoc\.init\(\s*["']([^"'<>\s]{1,512})["']""")
_SCRIPT_SRC: Final = re.compile(
    rb"""<script\b[^>]*\bsrc\s*=\s*["']([^"'<>]*(?:swagger-initializer|swagger-ui-init|"""
    rb"""swagger-config|initializer)[^"'<>]*\.js)["']""",
    re.I,
)
_HREF: Final = re.compile(rb"""href\s*=\s*["']([^"'<>]{1,512})["']""", re.I)
# A description handed to a docs page inline: swagger-ui-express's
# "swaggerDoc": {...}, koa2-swagger-ui's and Swagger UI's "spec": {...}.
_INLINE_DOC: Final = re.compile(rb"""["']?(?:swaggerDoc|spec)["']?\s*:\s*\{""")
_GRAPHQL_PAGE: Final = re.compile(rb"graphiql|graphql-playground|graphql playground|apollo", re.I)
_JS_TYPES: Final = ("javascript", "ecmascript")


@dataclass(frozen=True, slots=True)
class Pointer:
    """A place on the Service that an answer points at."""

    path: str
    kind: CandidateKind
    why: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What one answer says beyond itself."""

    pointers: tuple[Pointer, ...] = ()
    #: A description carried inside the answer (swagger-ui-express's init script).
    embedded: bytes | None = None
    #: Where the API seems to be mounted (``/api``), learnt from redirects and listings.
    prefixes: tuple[str, ...] = ()
    #: Other paths the server revealed (listings, roots): SOAP endpoints answer ``?wsdl``.
    revealed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Origin:
    """The Service's own address, and the names that map back to it."""

    base: str
    hosts: frozenset[str] = field(default_factory=frozenset)
    ports: frozenset[int] = field(default_factory=frozenset)

    def path_of(self, link: str, *, relative_to: str) -> str | None:
        """``link``'s path and query if it stays on this Service, else ``None``."""
        link = link.strip()
        if not link or link.startswith(("javascript:", "data:", "mailto:", "#")):
            return None
        try:
            absolute = urljoin(relative_to, link)
            parts = urlsplit(absolute)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            return None
        own = urlsplit(self.base)
        host = (parts.hostname or "").lower()
        same = host == (own.hostname or "").lower() and port in (None, own.port)
        named = host in self.hosts and (port is None or port in self.ports)
        if not (same or named) or "\\" in parts.path:
            return None
        path = parts.path or "/"
        if not path.startswith("/") or path.startswith("//"):
            return None
        return path + (f"?{parts.query}" if parts.query else "")


def read(response: Response, origin: Origin) -> Reading:
    """Every same-origin link ``response`` gives towards an API description."""
    pointers: list[Pointer] = []
    prefixes: list[str] = []
    revealed: list[str] = []
    embedded: bytes | None = None

    def add(link: str, kind: CandidateKind, why: str) -> None:
        path = origin.path_of(link, relative_to=response.url)
        if path is not None and len(pointers) < _MAX_LINKS:
            pointers.append(Pointer(path, kind, why))

    for link, rel in _link_header(response.headers.get("link", "")):
        if rel in _DESC_RELS or rel in _DOC_RELS:
            add(link, "get", f"Link header rel={rel}")
    location = response.headers.get("location")
    if location and response.status in (301, 302, 303, 307, 308):
        path = origin.path_of(location, relative_to=response.url)
        if path is not None:
            pointers.append(Pointer(path, "get", "redirect"))
            prefix = _prefix(path)
            if prefix:
                prefixes.append(prefix)
    body = response.body[:_SCAN_BYTES]
    ctype = response.content_type
    if not body.strip():
        pass
    elif ctype.endswith("json") or body.lstrip()[:1] in (b"{", b"["):
        _read_json(response, add, prefixes, revealed, origin)
    elif any(t in ctype for t in _JS_TYPES) or urlsplit(response.url).path.endswith(".js"):
        embedded = _embedded_document(body)
        _read_ui(body, add, graphql=False)
    elif b"<" in body[:1024]:
        embedded = _embedded_document(body)
        graphql = bool(_GRAPHQL_PAGE.search(body))
        _read_html(body, add, revealed, origin, response.url, graphql=graphql)
        if graphql:
            add(response.url, "graphql", "GraphQL IDE page")
    return Reading(
        pointers=tuple(dict.fromkeys(pointers)),
        embedded=embedded,
        prefixes=tuple(dict.fromkeys(prefixes)),
        revealed=tuple(dict.fromkeys(revealed)),
    )


def _link_header(value: str) -> list[tuple[str, str]]:
    """RFC 8288 links as (target, rel) pairs; a link with several rels gives several."""
    out: list[tuple[str, str]] = []
    for target, params in _LINK_HEADER.findall(value[:8192]):
        for rel_match in _REL.finditer(params):
            out.extend((target, rel.lower()) for rel in rel_match.group(1).split())
    return out


def _prefix(path: str) -> str | None:
    """Where a redirect target is mounted: ``/api/v1/docs`` and ``/api/v1/`` -> ``/api/v1``."""
    bare = path.split("?", 1)[0]
    directory = bare.rstrip("/") if bare.endswith("/") else bare.rsplit("/", 1)[0]
    return directory if directory not in ("", "/") and len(directory) <= 128 else None


def _read_ui(body: bytes, add: _Add, *, graphql: bool) -> None:
    kind: CandidateKind = "graphql" if graphql else "get"
    for match in _UI_VALUE.finditer(body):
        add(match.group(1).decode("utf-8", "replace"), kind, "docs page configuration")
    for match in _REDOC_INIT.finditer(body):
        add(match.group(1).decode("utf-8", "replace"), "get", "Redoc.init")


def _read_html(
    body: bytes, add: _Add, revealed: list[str], origin: Origin, url: str, *, graphql: bool
) -> None:
    for tag in _LINK_TAG.findall(body):
        attrs = {
            k.decode("ascii", "replace").lower(): (a or b).decode("utf-8", "replace")
            for k, a, b in _ATTR.findall(tag)
        }
        rels = set(attrs.get("rel", "").lower().split())
        if rels & (_DESC_RELS | _DOC_RELS) and attrs.get("href"):
            add(attrs["href"], "get", f"<link rel={attrs.get('rel')}>")
    for match in _SCRIPT_SRC.finditer(body):
        add(match.group(1).decode("utf-8", "replace"), "get", "docs page script")
    _read_ui(body, add, graphql=graphql)
    for match in _HREF.finditer(body):
        href = match.group(1).decode("utf-8", "replace")
        lower = href.lower()
        if lower.endswith(("?wsdl", "?singlewsdl")) or "?wsdl=" in lower:
            add(href, "get", "WSDL link")
        elif lower.split("?", 1)[0].endswith(".asmx"):
            add(href.split("?", 1)[0] + "?WSDL", "get", "ASMX service link")
        elif lower.split("?", 1)[0].endswith(".svc"):
            add(href.split("?", 1)[0] + "?singleWsdl", "get", "WCF service link")
        elif (path := origin.path_of(href, relative_to=url)) and len(revealed) < _MAX_LINKS:
            revealed.append(path.split("?", 1)[0])


def _read_json(
    response: Response, add: _Add, prefixes: list[str], revealed: list[str], origin: Origin
) -> None:
    data = untrusted.load_json(response.body)
    if isinstance(data, dict):
        for key in ("url", "configUrl"):
            if isinstance(value := data.get(key), str):
                add(value, "get", f"swagger-config {key}")
        for entry in _list(data.get("urls")):
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                add(entry["url"], "get", "swagger-config urls")
        for entry in _list(data.get("linkset")):
            if isinstance(entry, dict):
                for rel in ("service-desc", "service-doc", "describedby"):
                    for target in _list(entry.get(rel)):
                        if isinstance(target, dict) and isinstance(target.get("href"), str):
                            add(target["href"], "get", f"api-catalog {rel}")
        links = data.get("_links")
        candidates = list(data.values())
        if isinstance(links, dict):
            candidates += [v.get("href") for v in links.values() if isinstance(v, dict)]
        for value in candidates[:64]:
            if isinstance(value, str) and value.startswith(("http://", "https://", "/")):
                path = origin.path_of(value, relative_to=response.url)
                if path is not None and len(revealed) < _MAX_LINKS:
                    revealed.append(path.split("?", 1)[0])
        if revealed and (prefix := _shared_prefix(revealed)):
            prefixes.append(prefix)
    elif isinstance(data, list):
        # springfox's /swagger-resources: [{"name", "url" or "location", "swaggerVersion"}]
        for entry in data[:16]:
            if isinstance(entry, dict):
                for key in ("url", "location"):
                    if isinstance(entry.get(key), str):
                        add(entry[key], "get", "swagger-resources")
                        break


def _shared_prefix(paths: list[str]) -> str | None:
    """The first path segment every revealed path shares (a JSON root at ``/api/``)."""
    firsts = {p.strip("/").split("/", 1)[0] for p in paths}
    if len(firsts) == 1 and (first := firsts.pop()) and len(paths) > 1:
        return f"/{first}"
    return None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _embedded_document(body: bytes) -> bytes | None:
    """A description a docs page carries inline (``"swaggerDoc": {...}``, ``spec: {...}``)."""
    for match in _INLINE_DOC.finditer(body):
        text = body[match.end() - 1 :].decode("utf-8", "replace")
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and ("openapi" in value or "swagger" in value):
            return json.dumps(value).encode()
    return None
