"""``meshatlas export``: the catalogue for developer portals.

``backstage`` writes ``catalog-info.yaml``; ``exchange`` one folder per asset
version for Anypoint Exchange; ``openapi`` and ``wsdl`` the raw descriptions;
``portal`` the browsable pages as static files.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

import catalog
from catalog import portal
from catalog.exports import BackstageOptions, backstage, exchange, specs
from meshatlas import catalogues, console
from meshatlas.errors import UsageError
from meshatlas.status import ExitCode

__all__ = ["TARGETS", "add_parser", "run"]

TARGETS: Final = ("backstage", "exchange", "openapi", "wsdl", "portal")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``export`` subcommand."""
    export = sub.add_parser("export", help="export the catalogue for developer portals")
    export.add_argument("target", choices=TARGETS, help="what to write")
    export.add_argument(
        "--catalog",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${catalogues.CATALOG_ENV},"
        f" else {catalogues.DEFAULT_URL})",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    export.add_argument("--group-id", metavar="ID", help="only assets of this group")
    backstage_args = export.add_argument_group("backstage")
    backstage_args.add_argument(
        "--owner",
        default="unknown",
        metavar="REF",
        help="owner of assets without meshatlas.io/owner, and of Systems (default: %(default)s)",
    )
    backstage_args.add_argument(
        "--no-systems", action="store_true", help="no System per namespace, no spec.system"
    )
    backstage_args.add_argument(
        "--portal-url", metavar="URL", help="link each API to its page under this meshatlas serve"
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Write the export; returns the exit code.

    Raises:
        UsageError: The catalogue is not a database that exists, or ``--out``
            cannot be written.
    """
    given = args.catalog or catalogues.default_url()
    flag = "--catalog" if args.catalog else f"${catalogues.CATALOG_ENV}"
    if args.catalog is None and given == catalogues.DEFAULT_URL:
        flag = "--catalog (default)"
    catalogue = catalogues.parse(given, servers=False, flag=flag)
    # Reading never creates: a mistyped path is refused, not made an empty catalogue.
    catalogues.require_existing(catalogue, flag=flag)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory (created if missing)")
    problem = catalogues.writable_place(out)
    if problem is not None:
        raise UsageError(f"--out {out}: cannot write there: {problem}")
    with catalog.open_store(catalogue.url) as store:
        assets = store.list_assets(group_id=args.group_id)
    try:
        if args.target == "backstage":
            options = BackstageOptions(
                default_owner=args.owner, systems=not args.no_systems, portal_url=args.portal_url
            )
            found = backstage.entities(assets, options=options)
            path = backstage.write(found, out)
            console.info(f"wrote {len(found)} Backstage entities to {path}")
        elif args.target == "exchange":
            folders = exchange.write(assets, out)
            console.info(f"wrote {len(folders)} Exchange asset versions under {out}")
        elif args.target in ("openapi", "wsdl"):
            files = specs.write(assets, out, spec_format=args.target)
            console.info(f"wrote {len(files)} {args.target} files under {out}")
        else:
            files = portal.write(assets, out)
            console.info(f"wrote the portal ({len(files)} files) to {out / 'index.html'}")
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc}") from exc
    return ExitCode.COMPLETE
