"""``meshatlas posture``: each workload's security posture, and a gate for CI.

Reads the clusters (Services, mesh config, Istio's security config) and the
telemetry as ``discover`` does, probes nothing and publishes nothing, then
prints the findings (``-o table``) or the report's ``posture`` section
(``-o json``). ``--fail-on SEVERITY`` turns findings into exit code 4.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any, Final, get_args

from discovery import crawl
from discovery.inventory import DEFAULT_EXCLUDED, Scope, read_inventory
from discovery.model import Discovery, Edge, Inventory, Problem
from governance.findings import Severity
from meshatlas.interface import console
from meshatlas.interface.parsing import (
    add_cluster_arguments,
    add_scope_arguments,
)
from meshatlas.job import pipeline, posture, telemetry
from meshatlas.job.pipeline import DiscoverOptions
from meshatlas.status import ExitCode

__all__ = [
    "FAIL_ON",
    "HELP",
    "OUTPUTS",
    "Observed",
    "add_parser",
    "add_reading_arguments",
    "read",
    "run",
]

HELP = "judge each workload's security posture (mTLS, policies, JWT, exposure)"
OUTPUTS: Final = ("table", "json")
#: ``--fail-on``: the least severe finding that fails the gate; ``none`` never does.
FAIL_ON: Final = ("high", "medium", "low", "none")
_COLUMNS: Final = ("SEVERITY", "KIND", "SUBJECT", "REASON")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``posture`` subcommand."""
    cmd = sub.add_parser(
        "posture",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ", from the clusters' config and the"
        " traffic telemetry shows. Nothing is probed or published.",
    )
    add_reading_arguments(cmd)
    out = cmd.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="table",
        help="table: one finding a row, most severe first; json: the report's posture"
        " section (default: %(default)s)",
    )
    out.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="none",
        help="exit 4 when a finding this severe or more is found, even if a source"
        " also failed (which alone exits 3); none: findings never change the exit code"
        " (default: %(default)s)",
    )


def add_reading_arguments(cmd: argparse.ArgumentParser) -> None:
    """The clusters, scope and telemetry flags of the commands that read posture."""
    add_cluster_arguments(
        cmd,
        cluster_name_help="the name of the (one) cluster in the output (default: the"
        " kubeconfig context)",
    )
    add_scope_arguments(
        cmd,
        default_excluded=DEFAULT_EXCLUDED,
        namespace_help="only this namespace (repeatable, or a comma-separated list); the root"
        " namespace's security config is read whatever this says",
    )
    telemetry.add_arguments(cmd)


@dataclass(frozen=True, slots=True)
class Observed:
    """The clusters as read, the edges telemetry gave, the callers' identities."""

    options: DiscoverOptions
    inventory: Inventory
    edges: tuple[Edge, ...]
    peers: posture.Peers
    problems: tuple[Problem, ...]


def read(args: argparse.Namespace) -> Observed:
    """Read the clusters and the telemetry as ``args`` say; nothing probed or published.

    Raises:
        UsageError: A flag cannot work.
        SourceError: No API server answers.
    """
    options = _options(args)
    pipeline.check(options)
    connections, unreached = pipeline.connect(options)
    scope = Scope(
        namespaces=options.namespaces,
        exclude_namespaces=options.exclude_namespaces,
        selector=options.selector,
    )
    inventory = read_inventory(connections, scope=scope)
    found = Discovery(
        inventory=inventory,
        findings=(),
        edges=crawl.config_edges(inventory),
        problems=(*unreached, *inventory.problems),
    )
    found = asyncio.run(telemetry.observe(options, found))
    peers = posture.observe(options, inventory)
    problems = list(found.problems)
    if peers.failure:
        problems.append(Problem("prometheus", "callers' identities not read", peers.failure))
    return Observed(options, inventory, tuple(found.edges), peers, tuple(problems))


def _options(args: argparse.Namespace) -> DiscoverOptions:
    return DiscoverOptions(
        kubeconfig=args.kubeconfig,
        contexts=tuple(args.context),
        in_cluster=args.in_cluster,
        cluster_name=args.cluster_name,
        namespaces=tuple(dict.fromkeys(args.namespace)),
        exclude_namespaces=tuple(dict.fromkeys(args.exclude_namespace)) or DEFAULT_EXCLUDED,
        selector=args.selector,
        dry_run=True,
        **telemetry.option_values(args),
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Judge the posture as ``args`` say, print it, and return the gate's verdict.

    Exit codes: 4 (:attr:`ExitCode.GATE`) when a finding at or above
    ``--fail-on`` exists; else 3 when a source could not be read (the posture
    may miss something); else 0.
    """
    seen = read(args)
    problems = list(seen.problems)
    judged = posture.assess(seen.inventory, seen.edges, seen.peers)
    threshold: Severity | None = None if args.fail_on == "none" else _severity(args.fail_on)
    failing = posture.gate(judged, threshold)
    if args.output == "json":
        console.print_json(_document(seen.inventory.clusters, judged, problems))
    else:
        _table(judged)
    for problem in problems:
        console.warning(f"{problem.where}: {problem.what}: {problem.why}")
    if failing:
        console.error(
            f"{len(failing)} finding{'s' if len(failing) != 1 else ''} at or above"
            f" {args.fail_on} (--fail-on {args.fail_on})"
        )
        return ExitCode.GATE
    return ExitCode.PARTIAL if problems else ExitCode.COMPLETE


def _severity(name: str) -> Severity:
    for known in get_args(Severity):
        if known == name:
            found: Severity = known
            return found
    raise ValueError(name)


def _document(
    clusters: tuple[str, ...], judged: posture.PostureRun, problems: list[Problem]
) -> dict[str, Any]:
    return {
        "clusters": list(clusters),
        "posture": posture.section(judged),
        "problems": [{"where": p.where, "what": p.what, "why": p.why} for p in problems],
    }


def _table(judged: posture.PostureRun) -> None:
    rows = [(f.severity, f.kind, f.subject, f.reason) for f in judged.findings]
    if not rows:
        judged_count = len({i.service.key for i in judged.instances})
        console.out(f"no findings ({judged_count} workloads judged)")
        return
    widths = [max(len(r[i]) for r in (_COLUMNS, *rows)) for i in range(len(_COLUMNS) - 1)]
    for row in (_COLUMNS, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        console.out("  ".join((*cells, row[-1])))
