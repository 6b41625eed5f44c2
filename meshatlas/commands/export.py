"""``meshatlas export``: the catalogue for developer portals.

``backstage`` writes ``catalog-info.yaml``; ``exchange`` one folder per asset
version for Anypoint Exchange; ``openapi``, ``wsdl``, ``graphql``, ``proto``
and ``asyncapi`` the raw contracts;
``portal`` the browsable pages as static files.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Final

import httpx

import catalog
from catalog.exports import BackstageOptions, backstage, exchange, exchange_publish, specs
from catalog.exports import portal as portal_export
from discovery import inventory, kube
from discovery.errors import DiscoveryError
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.job import catalogues
from meshatlas.status import ExitCode

__all__ = ["EXCHANGE_TOKEN_ENV", "TARGETS", "add_parser", "run"]

#: Where ``export exchange --publish`` reads its Anypoint bearer token (the
#: variable Anypoint's own CLI reads a bearer token from).
EXCHANGE_TOKEN_ENV: Final = "ANYPOINT_BEARER"
#: Seconds one publication call may take (connect, send, answer).
PUBLISH_TIMEOUT: Final = 60.0

TARGETS: Final = ("backstage", "exchange", *specs.FORMATS, "portal")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``export`` subcommand."""
    export = sub.add_parser("export", help="export the catalogue for developer portals")
    export.add_argument("target", choices=TARGETS, help="what to write")
    export.add_argument(
        "--catalog",
        metavar="URL",
        help="sqlite:///PATH, postgresql://... or http(s)://HOST of a meshatlas serve"
        f" (token: ${catalogues.TOKEN_ENV}) (default: ${catalogues.CATALOG_ENV},"
        f" else {catalogues.DEFAULT_URL})",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    export.add_argument("--group-id", metavar="ID", help="only assets of this group")
    backstage_args = export.add_argument_group("backstage")
    backstage_args.add_argument(
        "--owner",
        default=backstage.DEFAULT_OWNER,
        metavar="REF",
        help="owner of assets without meshatlas.io/owner, and of Systems; the export defines"
        " it as a Group (default: %(default)s)",
    )
    backstage_args.add_argument(
        "--no-systems", action="store_true", help="no System per namespace, no spec.system"
    )
    backstage_args.add_argument(
        "--portal-url", metavar="URL", help="link each API to its page under this meshatlas serve"
    )
    backstage_args.add_argument(
        "--single-file",
        action="store_true",
        help="every entity in catalog-info.yaml (default: a Location listing one file per"
        " namespace and groups.yaml)",
    )
    backstage_args.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="read the Services' selectors from these clusters, for the Kubernetes plugin's"
        " backstage.io/kubernetes-label-selector",
    )
    backstage_args.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME",
        help="a kubeconfig context to read selectors from (repeatable; default: the current)",
    )
    exchange_args = export.add_argument_group("exchange")
    exchange_args.add_argument(
        "--organization-id",
        metavar="ID",
        help="Anypoint organisation or business group id: the assets' groupId and where"
        " they are published (default: the catalogue's group id)",
    )
    exchange_args.add_argument(
        "--environment", metavar="NAME", help="environment of instances that have none"
    )
    exchange_args.add_argument(
        "--publish",
        metavar="URL",
        help=f"then publish every folder to Exchange at URL (https://anypoint.mulesoft.com);"
        f" token from ${EXCHANGE_TOKEN_ENV}",
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Write the export; returns the exit code.

    Raises:
        UsageError: The catalogue is not a database that exists, or ``--out``
            cannot be written.
    """
    publish_to = getattr(args, "publish", None)
    if args.target == "exchange" and publish_to is not None:
        _publish_preflight(args)
    given = args.catalog or catalogues.default_url()
    flag = "--catalog" if args.catalog else f"${catalogues.CATALOG_ENV}"
    if args.catalog is None and given == catalogues.DEFAULT_URL:
        flag = "--catalog (default)"
    catalogue = catalogues.parse(given, flag=flag)
    # Reading never creates: a mistyped path is refused, not made an empty catalogue.
    catalogues.require_existing(catalogue, flag=flag)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory (created if missing)")
    problem = catalogues.writable_place(out)
    if problem is not None:
        raise UsageError(f"--out {out}: cannot write there: {problem}")
    selectors: dict[str, dict[str, str]] = {}
    if args.target == "backstage" and (args.kubeconfig or args.context):
        selectors = _selectors(kubeconfig=args.kubeconfig, contexts=args.context)
    assets = catalogues.read_assets(catalogue, flag=flag, group_id=args.group_id)
    try:
        if args.target == "backstage":
            options = BackstageOptions(
                default_owner=args.owner,
                systems=not args.no_systems,
                portal_url=args.portal_url,
                selectors=selectors,
                postures=catalogues.read_postures(catalogue, assets, flag=flag),
            )
            found = backstage.entities(assets, options=options)
            path = backstage.write(found, out, split=not args.single_file)
            console.info(f"wrote {len(found)} Backstage entities to {path}")
        elif args.target == "exchange":
            return _exchange(args, assets, out)
        elif args.target in specs.FORMATS:
            files = specs.write(assets, out, spec_format=args.target)
            console.info(f"wrote {len(files)} {args.target} files under {out}")
        else:
            # Kept run graphs give the service graph and findings pages (databases only).
            with catalogues.reading_store(catalogue, flag=flag) as store:
                headers = [] if store is None else store.run_graphs()
                load = None if store is None else store.run_graph
                files = portal_export.write(assets, out, headers=headers, load=load)
            console.info(f"wrote the portal ({len(files)} files) to {out / 'index.html'}")
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc}") from exc
    return ExitCode.COMPLETE


def _selectors(*, kubeconfig: str | None, contexts: list[str]) -> dict[str, dict[str, str]]:
    """Services' ``spec.selector`` by ``cluster/namespace/service`` and ``namespace/service``."""
    try:
        connections = kube.connect(kubeconfig=kubeconfig, contexts=contexts)
    except DiscoveryError as exc:
        raise UsageError(str(exc)) from exc
    read = inventory.read_inventory(connections)
    for problem in read.problems:
        console.warning(f"selectors: {problem.where}: {problem.what}: {problem.why}")
    found: dict[str, dict[str, str]] = {}
    short: dict[str, list[dict[str, str]]] = {}
    for service in read.services:
        if not service.selector:
            continue
        key = service.key
        found[f"{key.cluster}/{key.namespace}/{key.name}"] = dict(service.selector)
        short.setdefault(f"{key.namespace}/{key.name}", []).append(dict(service.selector))
    for name, seen in short.items():
        # Without a matching cluster name, only a selector every cluster agrees on is used.
        if all(one == seen[0] for one in seen):
            found[name] = seen[0]
    return found


def _publish_preflight(args: argparse.Namespace) -> None:
    # Refuse before anything is written: a bad URL or a missing token is a usage error.
    if not os.environ.get(EXCHANGE_TOKEN_ENV):
        raise UsageError(f"--publish needs the Anypoint bearer token in ${EXCHANGE_TOKEN_ENV}")
    if not args.organization_id:
        raise UsageError("--publish needs --organization-id (the organisation to publish into)")
    try:
        exchange_publish.check_base_url(args.publish)
    except catalog.InvalidAsset as exc:
        raise UsageError(str(exc)) from exc


def _exchange(args: argparse.Namespace, assets: list[catalog.Asset], out: Path) -> ExitCode:
    options = exchange.ExchangeOptions(
        organization_id=args.organization_id, environment=args.environment
    )
    folders = exchange.write(assets, out, options=options)
    console.info(f"wrote {len(folders)} Exchange asset versions under {out}")
    if args.publish is None:
        return ExitCode.COMPLETE
    timeout = httpx.Timeout(PUBLISH_TIMEOUT)
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        outcomes = exchange_publish.publish(
            folders,
            client=client,
            base_url=args.publish,
            token=os.environ[EXCHANGE_TOKEN_ENV],
        )
    for outcome in outcomes:
        line = f"{outcome.status:>13}  {outcome.asset}: {outcome.message}"
        (console.info if outcome.ok else console.warning)(line)
    results = out / "publish-results.json"
    results.write_text(
        json.dumps(
            [
                {
                    "folder": str(o.folder.relative_to(out)),
                    "asset": o.asset,
                    "status": o.status,
                    "message": o.message,
                    "httpStatus": o.http_status,
                }
                for o in outcomes
            ],
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    console.info(f"Exchange: {summary}; each folder's outcome is in {results}")
    if all(o.ok for o in outcomes):
        return ExitCode.COMPLETE
    if not any(o.status in ("published", "accepted") for o in outcomes):
        return ExitCode.ERROR
    return ExitCode.PARTIAL
