"""``meshatlas drift``: where running APIs and their contracts disagree, as a CI gate.

Crawls as ``discover --dry-run`` does (the contracts come from probing),
reads server spans from Jaeger or Zipkin, matches them operation by operation
(:mod:`governance.drift`) and prints the findings. Nothing is published.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from discovery.inventory import DEFAULT_EXCLUDED
from governance.findings import SEVERITIES, Severity
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.interface.parsing import (
    add_cluster_arguments,
    add_scope_arguments,
    positive_float,
    positive_int,
)
from meshatlas.job import drift as drift_job
from meshatlas.job import pipeline, telemetry
from meshatlas.status import ExitCode

__all__ = ["FAIL_ON", "HELP", "add_parser", "gate", "run"]

HELP = "compare traced traffic with the APIs' contracts (shadow, unused, deprecated operations)"
#: ``--fail-on``: the least severe finding that makes the exit code 4.
FAIL_ON: Final = ("high", "medium", "low", "none")
_COLUMNS: Final = ("SEVERITY", "KIND", "API", "OPERATION", "CALLS", "REASON")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``drift`` subcommand."""
    drift = sub.add_parser("drift", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_cluster_arguments(drift)
    sel = add_scope_arguments(drift, default_excluded=DEFAULT_EXCLUDED)
    sel.add_argument(
        "--concurrency", type=positive_int, default=64, metavar="N", help="probes in flight"
    )
    sel.add_argument(
        "--timeout",
        type=positive_float,
        default=8.0,
        metavar="SECONDS",
        help="deadline of one probe (default: %(default)s)",
    )
    telemetry.add_arguments(drift)
    drift_job.add_arguments(drift)
    out = drift.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (severity, kind, API, operation, calls, reason) or json: the report's"
        " drift section (default: %(default)s)",
    )
    out.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="none",
        help="exit 4 when a finding this severe or more is found, even if a source"
        " also failed (which alone exits 3) (default: %(default)s)",
    )


def gate(findings: list[dict[str, Any]], threshold: str) -> list[dict[str, Any]]:
    """The findings at or above ``threshold`` (none for ``none``)."""
    if threshold == "none":
        return []
    limit = SEVERITIES.index(_severity(threshold))
    return [f for f in findings if SEVERITIES.index(f["severity"]) <= limit]


def run(args: argparse.Namespace) -> ExitCode:
    """Crawl, read spans, print the drift; 4 when ``--fail-on`` is met, else the crawl's code."""
    if not (args.jaeger or args.zipkin):
        raise UsageError("meshatlas drift reads server spans: give --jaeger URL or --zipkin URL")
    options = pipeline.DiscoverOptions(
        kubeconfig=args.kubeconfig,
        contexts=tuple(args.context),
        in_cluster=args.in_cluster,
        namespaces=tuple(dict.fromkeys(args.namespace)),
        exclude_namespaces=tuple(dict.fromkeys(args.exclude_namespace)) or DEFAULT_EXCLUDED,
        selector=args.selector,
        concurrency=args.concurrency,
        timeout=args.timeout,
        dry_run=True,
        cold=True,
        graph_formats=(),
        **telemetry.option_values(args),
        **drift_job.option_values(args),
    )
    result = pipeline.run_discover(options)
    section: dict[str, Any] = result.report.get("drift") or {}
    findings: list[dict[str, Any]] = list(section.get("findings", []))
    if args.output == "json":
        console.print_json({**section, "problems": result.report["problems"]})
    else:
        _table(section, findings)
        for problem in result.report["problems"]:
            console.warning(f"{problem['where']}: {problem['what']} ({problem['why']})")
    if gate(findings, args.fail_on) and result.exit_code != ExitCode.ERROR:
        return ExitCode.GATE
    return result.exit_code


def _table(section: dict[str, Any], findings: list[dict[str, Any]]) -> None:
    calls = {
        (api["subject"], op["operation"]): op["calls"]
        for api in section.get("apis", [])
        for op in api["operations"]
    }
    totals = {api["subject"]: api["calls"] for api in section.get("apis", [])}
    rows = [_COLUMNS]
    for f in findings:
        operation = next(
            (o.removeprefix("Operation ") for o in f["objects"] if o.startswith("Operation ")), "-"
        )
        count = calls.get((f["subject"], operation), totals.get(f["subject"], 0))
        rows.append(
            (
                f["severity"],
                f["kind"],
                f["subject"],
                operation,
                str(count),
                console.mask_credentials(f["reason"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        console.out("  ".join([*cells, row[-1]]).rstrip())
    spans = section.get("spans", 0)
    apis = sum(1 for a in section.get("apis", []) if a["calls"])
    console.out(
        f"{len(findings)} findings; {spans} server spans over {apis} APIs"
        f" in {section.get('window_s', 0):g}s"
    )


def _severity(text: str) -> Severity:
    for severity in SEVERITIES:
        if severity == text:
            return severity
    raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
