"""``meshatlas serve``: the catalogue's REST API and portal over HTTP.

Tokens are configured as SHA-256 hashes only (see :mod:`catalog.server.auth`):
``--token-file PATH`` (one ``sha256:<hex>`` per line) and/or the environment
variable ``MESHATLAS_TOKEN_SHA256`` (comma-separated). Without any, the server
is read-only. ``--private`` makes reading need a token too.

The catalogue must exist (``discover`` creates one) unless ``--create`` says
to make it: a mistyped path is refused, never turned into an empty catalogue.
Everything that can be refused is refused before the port is bound; the start
line is printed once the socket listens. SIGTERM and SIGINT stop taking
connections, let requests in flight finish for ``--shutdown-grace`` seconds,
cancel what is left, then close the catalogue (exit code 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

import catalog
from catalog import server
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.job import catalogues
from meshatlas.serving import accesslog
from meshatlas.serving import lifecycle as serve_lifecycle
from meshatlas.serving import metrics as serve_metrics
from meshatlas.status import ExitCode

__all__ = ["HASHES_ENV", "add_parser", "load_auth", "run"]

#: Environment variable with comma-separated token hashes.
HASHES_ENV: Final = "MESHATLAS_TOKEN_SHA256"
#: Seconds requests in flight get to finish once a stop is asked for.
DEFAULT_GRACE: Final = 5.0
#: Seconds a connection may take, from opening or from its last answer, to send
#: the next request's headers; idle keep-alive connections close after it too.
DEFAULT_HEADER_TIMEOUT: Final = 15.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` subcommand."""
    serve = sub.add_parser("serve", help="serve the catalogue's REST API and portal")
    serve.add_argument(
        "--catalog",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${catalogues.CATALOG_ENV},"
        f" else {catalogues.DEFAULT_URL})",
    )
    serve.add_argument(
        "--create",
        action="store_true",
        help="create the SQLite catalogue if it does not exist (otherwise it must)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="base URL people reach this server at (https://catalog.example.com), for the"
        " links it hands out; default: the address each request reached",
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help=f"accepted token hashes, one sha256:<hex> per line (also: ${HASHES_ENV})",
    )
    serve.add_argument("--private", action="store_true", help="require a token for reading, too")
    serve.add_argument(
        "--max-body",
        type=int,
        default=server.DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="largest request body accepted (default: %(default)s)",
    )
    limits = serve.add_argument_group("time limits")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="time a connection gets, from opening or its last answer, to send a request's"
        " headers; idle connections close after it too (default: %(default)s)",
    )
    limits.add_argument(
        "--read-timeout",
        type=float,
        default=server.DEFAULT_READ_TIMEOUT,
        metavar="SECONDS",
        help="time a request body gets to arrive; slower ones get 408 (default: %(default)s)",
    )
    limits.add_argument(
        "--shutdown-grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, time requests in flight get to finish (default: %(default)s)",
    )
    logs = serve.add_argument_group("logs")
    logs.add_argument(
        "--access-log",
        choices=("on", "off"),
        default="on",
        help="one line per request on stdout (default: %(default)s)",
    )
    logs.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        default="auto",
        help="json (one object per line) or text; auto is json on a stream that is not"
        " a terminal (default: %(default)s)",
    )


def load_auth(*, token_file: Path | None, private: bool) -> server.Auth:
    """Read the accepted token hashes from ``token_file`` and the environment.

    Raises:
        UsageError: A hash is malformed or the file cannot be read.
    """
    entries = os.environ.get(HASHES_ENV, "").split(",")
    try:
        hashes = server.parse_hashes(entries)
        if token_file is not None:
            hashes |= server.read_hash_file(token_file)
    except (ValueError, OSError) as exc:
        raise UsageError(f"token hashes: {exc}") from exc
    if private and not hashes:
        raise UsageError("--private needs token hashes (--token-file or $" + HASHES_ENV + ")")
    return server.Auth(token_hashes=hashes, private=private)


def run(args: argparse.Namespace) -> ExitCode:
    """Serve until SIGTERM or SIGINT.

    Raises:
        UsageError: A flag, the catalogue or the address cannot be used;
            nothing was bound or created.
    """
    listener = _listener(args)
    if args.max_body < 1024:
        raise UsageError("--max-body must be at least 1024")
    if not args.read_timeout > 0:
        raise UsageError("--read-timeout must be more than 0 seconds")
    public_url = _public_url(args.public_url) if args.public_url is not None else None
    catalogue, flag = _catalogue(args.catalog)
    auth = load_auth(token_file=args.token_file, private=args.private)
    if args.create:
        catalogues.check_creatable(catalogue, flag=flag)
    else:
        try:
            catalogues.require_existing(catalogue, flag=flag)
        except UsageError as exc:
            raise UsageError(f"{exc}; --create starts an empty one there") from None
    console.use_format(args.log_format)  # checked: from here on, lines for a log
    with catalog.open_store(catalogue.url) as store:
        app = server.make_app(
            store,
            auth=auth,
            max_body=args.max_body,
            read_timeout=args.read_timeout,
            public_url=public_url,
        )
        serve_metrics.instrument(app)  # GET /metrics
        app.router.add_get("/", _to_portal)
        mode = "read-only" if not auth.token_hashes else f"{len(auth.token_hashes)} token(s)"
        mode += ", private" if auth.private else ""

        def announce(url: str) -> None:
            portal = f"{public_url or url}/portal/"
            console.info(
                f"serving {catalogue.shown} on {url} ({mode});"
                f" portal at {portal}, OpenAPI at /openapi.json"
            )

        # The catalogue closes only after every worker thread is done with it:
        # asyncio.run waits for the default executor before it returns.
        asyncio.run(serve_lifecycle.serve(app, listener, announce))
    return ExitCode.COMPLETE


def _listener(args: argparse.Namespace) -> serve_lifecycle.Listener:
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be from 0 to 65535")
    if not args.header_timeout > 0:
        raise UsageError("--header-timeout must be more than 0 seconds")
    if not args.shutdown_grace >= 0:
        raise UsageError("--shutdown-grace must be 0 seconds or more")
    log = None
    if args.access_log == "on":
        fmt: accesslog.Format = "text"
        if args.log_format == "json" or (args.log_format == "auto" and not _terminal()):
            fmt = "json"
        log = accesslog.AccessLog(stream=sys.stdout, format=fmt)
    return serve_lifecycle.Listener(
        host=args.host,
        port=args.port,
        grace=args.shutdown_grace,
        header_timeout=args.header_timeout,
        access_log=log,
    )


def _terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _catalogue(given: str | None) -> tuple[catalogues.CatalogueUrl, str]:
    """The catalogue to serve and the flag (or variable) that named it."""
    text = given or catalogues.default_url()
    flag = "--catalog" if given else f"${catalogues.CATALOG_ENV}"
    if given is None and text == catalogues.DEFAULT_URL:
        flag = "--catalog (default)"
    if urlsplit(text.strip()).scheme.lower() in ("http", "https"):
        raise UsageError(
            f"serve needs a database, not a catalogue server: {flag} sqlite:///PATH"
            " or postgresql://..."
        )
    return catalogues.parse(text, servers=False, flag=flag), flag


def _public_url(text: str) -> str:
    """``--public-url`` checked: an http(s) base URL without credentials, query or fragment."""
    wanted = "give http(s)://HOST[:PORT][/PATH]"
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise UsageError(f"--public-url {text!r} cannot be parsed ({exc}); {wanted}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--public-url {text!r} is not an http(s) URL; {wanted}")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--public-url must not carry credentials; links are handed to anyone")
    if parts.query or parts.fragment:
        raise UsageError(f"--public-url {text!r} has a query or fragment; {wanted}")
    return text.strip().rstrip("/")


async def _to_portal(request: web.Request) -> web.StreamResponse:
    # Where a person lands first; relative, so it never depends on the Host header.
    raise web.HTTPFound("/portal/")
