"""``meshatlas serve``: the catalogue's REST API over HTTP.

Tokens are configured as SHA-256 hashes only (see :mod:`catalog.server.auth`):
``--token-file PATH`` (one ``sha256:<hex>`` per line) and/or the environment
variable ``MESHATLAS_TOKEN_SHA256`` (comma-separated). Without any, the server
is read-only. ``--private`` makes reading need a token too.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

from aiohttp import web

import catalog
from catalog import server
from meshatlas import console, serve_metrics
from meshatlas.errors import UsageError
from meshatlas.status import ExitCode

__all__ = ["HASHES_ENV", "add_parser", "load_auth", "run"]

#: Environment variable with comma-separated token hashes.
HASHES_ENV: Final = "MESHATLAS_TOKEN_SHA256"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` subcommand."""
    serve = sub.add_parser("serve", help="serve the catalogue's REST API")
    serve.add_argument(
        "--catalog",
        default="sqlite:///meshatlas.db",
        metavar="URL",
        help="sqlite:///PATH or postgresql://... (default: %(default)s)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default: %(default)s)"
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
    """Serve until interrupted."""
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be from 0 to 65535")
    if args.max_body < 1024:
        raise UsageError("--max-body must be at least 1024")
    if not args.catalog.startswith(("sqlite", "postgresql", "postgres:")):
        raise UsageError("serve needs a database: --catalog sqlite:///PATH or postgresql://...")
    auth = load_auth(token_file=args.token_file, private=args.private)
    with catalog.open_store(args.catalog) as store:
        app = server.make_app(store, auth=auth, max_body=args.max_body)
        serve_metrics.instrument(app)  # GET /metrics
        mode = "read-only" if not auth.token_hashes else f"{len(auth.token_hashes)} token(s)"
        console.info(
            f"serving {args.catalog.split('@')[-1]} on http://{args.host}:{args.port}"
            f" ({mode}{', private' if auth.private else ''}); OpenAPI at /openapi.json"
        )
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            print=None,
            access_log=None,
            handler_args={"lingering_time": server.LINGERING_TIME},
        )
    return ExitCode.COMPLETE
