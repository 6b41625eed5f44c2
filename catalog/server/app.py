"""The catalogue's REST API (aiohttp), following Anypoint Exchange's v2 paths.

Exchange-style routes live under ``/exchange/api/v2``; what Exchange has no
route for (discovery's publications, runs, the dependency graph) lives under
``/meshatlas/api/v1``. The document at ``/openapi.json`` describes them all.

The store is synchronous (SQLAlchemy); every call runs in a worker thread so
one slow query does not stall other requests. Errors become JSON bodies
``{"status", "error", "message", "field"?}`` in one middleware.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from catalog import portal
from catalog.errors import (
    CatalogError,
    InvalidAsset,
    NotFound,
    StoreError,
    VersionConflict,
    VersionExists,
)
from catalog.exports import backstage, backstage_location
from catalog.model import AssetDraft, PublishResult
from catalog.publishing import validation
from catalog.remote import crawlwire, wire
from catalog.server import analyticsviews, findingviews, graphviews, openapi, views
from catalog.server.auth import Auth
from catalog.storage.store import CatalogStore

__all__ = ["DEFAULT_MAX_BODY", "EXCHANGE", "MESHATLAS", "make_app"]

#: Prefix of the Exchange-compatible routes.
EXCHANGE: Final = "/exchange/api/v2"
#: Prefix of meshatlas' own routes.
MESHATLAS: Final = "/meshatlas/api/v1"
#: Largest request body accepted (a big OpenAPI document, base64-encoded).
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024

_STORE: Final = web.AppKey("store", CatalogStore)
_AUTH: Final = web.AppKey("auth", Auth)
_MAX_BODY: Final = web.AppKey("max_body", int)
_WRITER: Final = web.AppKey("writer", ThreadPoolExecutor)
#: Seconds a body left unread (a refused upload) is drained before the
#: connection closes; aiohttp's default is ten.
LINGERING_TIME: Final = 1.0
_CONTENT_TYPES: Final = {
    "json": "application/json",
    "yaml": "application/yaml",
    "wsdl": "application/wsdl+xml",
    "xml": "application/xml",
    # A GraphQL schema and .proto text are text; a descriptor set is binary.
    "graphql": "text/plain; charset=utf-8",
    "proto": "text/plain; charset=utf-8",
    "protobuf": "application/octet-stream",
}
#: Headers that keep served descriptions inert: never sniffed into something
#: else, and sandboxed with nothing allowed should a browser render them.
_INERT: Final = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
_OPEN_PATHS: Final = frozenset({"/healthz", "/readyz"})
_PROBE_MEMORY: Final = f"{MESHATLAS}/probe-memory"
_CRAWLER_PATHS: Final = frozenset({_PROBE_MEMORY})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Seconds a request body may take to arrive once its headers have.
DEFAULT_READ_TIMEOUT: Final = 30.0


def make_app(
    store: CatalogStore,
    *,
    auth: Auth | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    public_url: str | None = None,
) -> web.Application:
    """Build the application around an open store.

    Args:
        store: The catalogue; the caller keeps ownership and closes it.
        auth: Accepted tokens and whether reading is private; None accepts
            no token (a read-only server).
        max_body: Largest request body in bytes; larger ones get 413.
        read_timeout: Seconds a request body may take to arrive; slower ones
            get 408 and the connection is closed.
        public_url: Base URL people and portals reach this server at
            (``https://catalog.example.com``), for the links it hands out;
            None links to the address each request reached.
    """
    app = web.Application(middlewares=[_errors, _authorize], client_max_size=max_body)
    app[_STORE] = store
    app.on_startup.append(_database_threads)
    app.on_cleanup.append(_stop_writer)
    app[_AUTH] = auth or Auth()
    app[_MAX_BODY] = max_body
    app[_READ_TIMEOUT] = read_timeout
    app[_PUBLIC_URL] = (public_url or "").rstrip("/")
    add = app.router.add_route
    add("GET", "/healthz", _healthz)
    add("GET", "/readyz", _readyz)
    add("GET", "/openapi.json", _openapi)
    add("GET", f"{EXCHANGE}/assets", _search)
    add("GET", f"{EXCHANGE}/assets/search", _search)
    asset = f"{EXCHANGE}/assets/{{groupId}}/{{assetId}}"
    add("GET", asset, _get_asset)
    add("PATCH", asset, _patch_asset)
    add("GET", f"{asset}/versions", _list_versions)
    add("GET", f"{asset}/instances", _asset_instances)
    add("GET", f"{asset}/{{version}}", _get_version)
    add("POST", f"{asset}/{{version}}", _publish_version)
    add("GET", f"{asset}/{{version}}/instances", _version_instances)
    add("GET", f"{asset}/{{version}}/files/{{classifier}}/{{packaging}}", _download)
    add("POST", f"{MESHATLAS}/publications", _publish)
    add("POST", f"{MESHATLAS}/publication-batches", _publish_batch)
    add("POST", f"{MESHATLAS}/runs", _record_run)
    add("GET", _PROBE_MEMORY, _probe_memory)
    add("POST", _PROBE_MEMORY, _record_probes)
    add("GET", f"{MESHATLAS}/graph", _graph)
    add("POST", f"{MESHATLAS}/run-graphs", _save_run_graph)
    add("GET", f"{MESHATLAS}/run-graphs", _run_graphs)
    add("GET", f"{MESHATLAS}/assets/{{groupId}}/{{assetId}}/analytics", _asset_analytics)
    add("GET", f"{MESHATLAS}/findings", _findings)
    add("GET", f"{MESHATLAS}/assets/{{groupId}}/{{assetId}}/findings", _asset_findings)
    add("GET", f"{MESHATLAS}/backstage/catalog-info.yaml", _backstage)
    add("GET", "/portal", _portal_root)
    add("GET", "/portal/{path:.*}", _portal)
    return app


# -- middlewares ----------------------------------------------------------------


def _problem(status: int, message: str, *, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "error": _REASONS.get(status, ""), "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


_REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}


def _refusal(exc: CatalogError) -> tuple[int, str, str | None]:
    """The status, message and field a catalogue error is answered with."""
    if isinstance(exc, InvalidAsset):
        return 400, str(exc), exc.field
    if isinstance(exc, NotFound):
        return 404, str(exc), None
    if isinstance(exc, VersionExists | VersionConflict):
        return 409, str(exc), None
    if isinstance(exc, StoreError):
        # The cause (SQL, connection details) stays in the server's log.
        return 503, "the catalogue database is unavailable", None
    return 400, str(exc), None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    declared, limit = request.content_length, request.app[_MAX_BODY]
    if declared is not None and declared > limit:
        # Refused on its headers: nothing of a body that size is read, and the
        # connection closes rather than waiting for it.
        response = _problem(413, f"request body too large: {declared} bytes, the limit is {limit}")
        response.force_close()
        return response
    try:
        return await handler(request)
    except CatalogError as exc:
        status, message, field = _refusal(exc)
        return _problem(status, message, field=field)
    except web.HTTPRequestEntityTooLarge as exc:
        return _problem(413, f"request body too large: {exc.text}")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return _problem(exc.status, exc.text or exc.reason)
        raise


@web.middleware
async def _authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = request.app[_AUTH]
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    crawler = request.path in _CRAWLER_PATHS  # crawlers' working state: never public
    if request.path in _OPEN_PATHS or not (writing or crawler or auth.private):
        return await handler(request)
    if auth.accepts(request.headers.get("Authorization")):
        return await handler(request)
    if not auth.token_hashes:
        message = "this server has no tokens configured, so it is read-only"
    else:
        message = "a valid bearer token is required (Authorization: Bearer <token>)"
    response = _problem(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="meshatlas"'
    return response


# -- helpers ----------------------------------------------------------------------


async def _call(method: Callable[..., Any], /, **kwargs: Any) -> Any:
    # The store is synchronous; a worker thread keeps the event loop free.
    return await asyncio.to_thread(method, **kwargs)


#: Threads that run the store's calls, by database. SQLite's work is CPU in
#: this process: more threads than cores only fight over the GIL (measured at
#: 10,000 assets, 50 clients: a list page cost 14.9 ms of CPU with six threads,
#: 6.3 ms with one). PostgreSQL's calls wait on the network, so more overlap.
DATABASE_THREADS: Final = {"sqlite": 2, "postgresql": 8}


async def _database_threads(app: web.Application) -> None:
    dialect = app[_STORE].engine.dialect.name
    threads = DATABASE_THREADS.get(dialect, 4)
    executor = ThreadPoolExecutor(threads, thread_name_prefix="catalog")
    asyncio.get_running_loop().set_default_executor(executor)
    if dialect == "sqlite":
        # SQLite takes one writer at a time, and a connection that waits for the
        # lock sleeps in its busy handler, holding its thread, for up to tens of
        # milliseconds after the lock is free. This process's writes queue on
        # one thread of their own instead, so reads never wait behind them.
        app[_WRITER] = ThreadPoolExecutor(1, thread_name_prefix="catalog-writer")


async def _stop_writer(app: web.Application) -> None:
    # A write in flight finishes: it is a publication somebody is waiting for.
    writer = app.get(_WRITER)
    if writer is not None:
        await asyncio.to_thread(writer.shutdown, wait=True)


async def _write(request: web.Request, method: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a store call that writes: on the writer thread where there is one."""
    writer = request.app.get(_WRITER)
    if writer is None:
        return await asyncio.to_thread(method, **kwargs)
    call = functools.partial(method, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(writer, call)


def _store(request: web.Request) -> CatalogStore:
    return request.app[_STORE]


def _ids(request: web.Request) -> tuple[str, str]:
    info = request.match_info
    return (
        validation.check_id("groupId", info["groupId"]),
        validation.check_id("assetId", info["assetId"]),
    )


def _version(request: web.Request) -> str:
    return validation.check_version("version", request.match_info["version"])


def _asset_base(group_id: str, asset_id: str) -> str:
    return f"{EXCHANGE}/assets/{group_id}/{asset_id}"


_READ_TIMEOUT: Final = web.AppKey("read_timeout", float)


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=f"send application/json, not {request.content_type or 'no content type'}"
        )
    limit = request.app[_READ_TIMEOUT]
    try:
        async with asyncio.timeout(limit):
            raw = await request.read()
    except TimeoutError:
        # A body that trickles in holds a connection and its buffer: cut it off
        # and close, rather than draining the rest.
        message = f"the request body did not arrive within {limit:g} s"
        body = {"status": 408, "error": "Request Timeout", "message": message}
        refusal = web.HTTPRequestTimeout(text=json.dumps(body), content_type="application/json")
        refusal.force_close()
        raise refusal from None
    return wire.load_json(raw)


def _int_param(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidAsset(name, f"{text!r} must be an integer") from exc


# -- handlers ---------------------------------------------------------------------


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    try:
        await _call(_store(request).ping)
    except StoreError:
        return _problem(503, "the catalogue database does not answer")
    return web.json_response({"status": "ready"})


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


_SEARCH_PARAMS: Final = frozenset(
    {"search", "types", "type", "lifecycle", "namespace", "cluster", "groupId", "offset", "limit"}
)


async def _search(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - _SEARCH_PARAMS)
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    query = request.query
    page = await _call(
        _store(request).search,
        query=query.get("search"),
        type=query.get("types", query.get("type")),
        lifecycle=query.get("lifecycle"),
        namespace=query.get("namespace"),
        cluster=query.get("cluster"),
        group_id=query.get("groupId"),
        offset=_int_param(request, "offset", 0),
        limit=_int_param(request, "limit", 20),
    )
    response = web.json_response(views.page_json(page, base=f"{EXCHANGE}/assets"))
    response.headers["X-Total-Count"] = str(page.total)
    return response


async def _get_asset(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    found = await _call(_store(request).describe, group_id=group_id, asset_id=asset_id)
    return web.json_response(views.asset_json(found.asset, base=_asset_base(group_id, asset_id)))


async def _patch_asset(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    body = wire.read_object("", await _json_body(request), {"lifecycle": True})
    status = validation.check_lifecycle("lifecycle", body["lifecycle"])
    asset = await _write(
        request, _store(request).set_lifecycle, group_id=group_id, asset_id=asset_id, status=status
    )
    return web.json_response(
        views.asset_json(asset.summary(), base=_asset_base(group_id, asset_id))
    )


async def _list_versions(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    found = await _call(_store(request).describe, group_id=group_id, asset_id=asset_id, every=True)
    base = _asset_base(group_id, asset_id)
    return web.json_response(
        [views.version_json(found.asset, v, base=base) for v in reversed(found.versions)]
    )


async def _asset_instances(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    found = await _call(_store(request).describe, group_id=group_id, asset_id=asset_id, every=True)
    return web.json_response(
        [wire.instance_json(i, version=v.version) for v in found.versions for i in v.instances]
    )


async def _asset_analytics(request: web.Request) -> web.Response:
    # Inbound traffic over the kept runs of every cluster the asset runs in.
    if request.query:
        raise InvalidAsset(sorted(request.query)[0], "is not a known query parameter")
    group_id, asset_id = _ids(request)
    store = _store(request)

    def read() -> dict[str, Any]:
        asset = store.get(group_id, asset_id)
        points = analyticsviews.history(
            asset, headers=lambda c: store.run_graphs(cluster=c), load=store.run_graph
        )
        return analyticsviews.history_json(asset, points)

    return web.json_response(await _call(read))


async def _get_version(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    found = await _call(
        _store(request).describe, group_id=group_id, asset_id=asset_id, version=_version(request)
    )
    base = _asset_base(group_id, asset_id)
    return web.json_response(views.version_json(found.asset, found.versions[0], base=base))


async def _version_instances(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    found = await _call(
        _store(request).describe, group_id=group_id, asset_id=asset_id, version=_version(request)
    )
    return web.json_response([wire.instance_json(i) for i in found.versions[0].instances])


async def _download(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    version = _version(request)
    classifier = request.match_info["classifier"]
    packaging = request.match_info["packaging"]
    file = await _call(
        _store(request).file,
        group_id=group_id,
        asset_id=asset_id,
        version=version,
        classifier=classifier,
        packaging=packaging,
    )
    if file is None:
        return _problem(
            404, f"{group_id}:{asset_id}:{version} has no {classifier}/{packaging} file"
        )
    # A version never changes: its files are cached for good, revalidated by digest.
    etag = f'"{file.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": _immutable(request),
        "Content-Disposition": (
            f'attachment; filename="{asset_id}-{version}-{classifier}.{packaging}"'
        ),
        # Published bytes came from a Service: inert on this origin, whatever
        # they are (a WSDL that is also JavaScript, an SVG, HTML).
        **_INERT,
    }
    if etag in _etags(request.headers.get("If-None-Match")):
        return web.Response(status=304, headers=headers)
    # As a header: aiohttp refuses a content_type argument that carries a charset.
    headers["Content-Type"] = _CONTENT_TYPES.get(file.packaging, "application/octet-stream")
    return web.Response(body=file.content, headers=headers)


def _immutable(request: web.Request) -> str:
    # A private server's answers belong to the one who asked: no shared caches.
    scope = "private" if request.app[_AUTH].private else "public"
    return f"{scope}, max-age=31536000, immutable"


def _etags(header: str | None) -> frozenset[str]:
    """The entity tags of an If-None-Match header (weak ones compared as strong)."""
    if not header:
        return frozenset()
    return frozenset(tag.strip().removeprefix("W/") for tag in header.split(","))


async def _publish_version(request: web.Request) -> web.Response:
    group_id, asset_id = _ids(request)
    version = _version(request)
    draft, seen_at = wire.publication_from_json(
        await _json_body(request), defaults={"groupId": group_id, "assetId": asset_id}
    )
    result = await _write(
        request,
        _store(request).publish,
        draft=draft,
        seen_at=seen_at or datetime.now(UTC),
        version=version,
    )
    return web.json_response(wire.result_json(result), status=201)


async def _publish(request: web.Request) -> web.Response:
    draft, seen_at = wire.publication_from_json(await _json_body(request))
    result = await _write(
        request, _store(request).publish, draft=draft, seen_at=seen_at or datetime.now(UTC)
    )
    status = 200 if result.outcome == "unchanged" else 201
    return web.json_response(wire.result_json(result), status=status)


async def _publish_batch(request: web.Request) -> web.Response:
    # One transaction per few hundred drafts instead of one request each; a
    # refused publication is answered in its slot and the others go on.
    seen_at, entries = crawlwire.batch_from_json(await _json_body(request))
    drafts = [e for e in entries if isinstance(e, AssetDraft)]
    store = _store(request)
    published = iter(await _write(request, store.publish_many, drafts=drafts, seen_at=seen_at))
    answers: list[PublishResult | tuple[int, str, str | None]] = []
    for entry in entries:
        outcome = entry if isinstance(entry, InvalidAsset) else next(published)
        answers.append(_refusal(outcome) if isinstance(outcome, CatalogError) else outcome)
    return web.json_response(crawlwire.batch_results_json(answers))


async def _probe_memory(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"cluster"})
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    clusters = request.query.getall("cluster", []) or None
    store = _store(request)

    def recall() -> dict[str, Any]:
        return crawlwire.memory_json(
            store.sightings(clusters=clusters),
            store.quiet_ports(clusters=clusters),
            store.spec_checks(),
        )

    return web.json_response(await _call(recall))


async def _record_probes(request: web.Request) -> web.Response:
    lessons = crawlwire.lessons_from_json(await _json_body(request))
    await _write(
        request,
        _store(request).record_probes,
        probed=lessons.probed,
        silent=lessons.silent,
        short=lessons.short,
        checks=lessons.checks,
        at=lessons.at,
    )
    return web.Response(status=204)


async def _record_run(request: web.Request) -> web.Response:
    arguments = wire.run_from_json(await _json_body(request))
    summary = await _write(request, _store(request).record_run, **arguments)
    return web.json_response(wire.summary_json(summary), status=201)


async def _graph(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"groupId"})
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    group_id = request.query.get("groupId")
    if group_id is not None:
        validation.check_id("groupId", group_id)
    assets = await _call(_store(request).list_assets, group_id=group_id)
    return web.json_response(views.graph_json(assets))


async def _save_run_graph(request: web.Request) -> web.Response:
    # One run's service graph of one cluster; its cluster keeps the newest few.
    graph, keep = graphviews.publication_from_json(await _json_body(request))
    header = await _write(request, _store(request).save_run_graph, graph=graph, keep=keep)
    return web.json_response(graphviews.header_json(header), status=201)


async def _run_graphs(request: web.Request) -> web.Response:
    found = await _call(graphviews.answer, store=_store(request), query=dict(request.query))
    return web.json_response(found)


async def _findings(request: web.Request) -> web.Response:
    # Each cluster's newest kept run's findings, with first and last seen over its kept runs.
    found = await _call(findingviews.answer, store=_store(request), query=dict(request.query))
    return web.json_response(found)


async def _asset_findings(request: web.Request) -> web.Response:
    if request.query:
        raise InvalidAsset(sorted(request.query)[0], "is not a known query parameter")
    group_id, asset_id = _ids(request)
    found = await _call(
        findingviews.asset_answer, store=_store(request), group_id=group_id, asset_id=asset_id
    )
    return web.json_response(found)


_PUBLIC_URL: Final = web.AppKey("public_url", str)


async def _backstage(request: web.Request) -> web.Response:
    # A catalog location for Backstage: every entity in one multi-document YAML.
    assets = await _call(_store(request).list_assets)
    # Links point at the configured public URL, else at the address this
    # connection reached; never at the Host header, which the client writes.
    portal_url = request.app[_PUBLIC_URL] or None
    local = request.transport.get_extra_info("sockname") if request.transport else None
    if portal_url is None and isinstance(local, tuple):
        host = f"[{local[0]}]" if ":" in local[0] else local[0]
        portal_url = f"{request.scheme}://{host}:{local[1]}"
    # Each judged API's posture, as the findings routes answer it.
    postures = await _call(findingviews.postures, store=_store(request), assets=assets)
    options = backstage.BackstageOptions(portal_url=portal_url, postures=postures)
    location_url = f"{portal_url or ''}{request.path}"
    text = backstage_location.answer(
        dict(request.query), assets, location_url=location_url, options=options
    )
    return web.Response(text=text, content_type="application/yaml")


async def _portal_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/portal/")


async def _portal(request: web.Request) -> web.Response:
    path = request.match_info["path"]
    site = portal.LiveSite(_store(request))
    page = await _call(site.page, path=path, query=dict(request.query))
    if page is None:
        response = web.Response(status=404, text="no such page\n", content_type="text/plain")
    else:
        response = web.Response(body=page.content, headers={"Content-Type": page.content_type})
    response.headers["Content-Security-Policy"] = portal.CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if page is not None and page.content_type in _CONTENT_TYPES.values():
        response.headers.update(_INERT)  # a raw description, never a document that runs
    return response
