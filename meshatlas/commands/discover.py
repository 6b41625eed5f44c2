"""``meshatlas discover``: its flags, and one run from them.

Imported only when ``discover`` runs (or its help is asked for): its flags'
defaults come from discovery and the catalogue, whose imports take a second.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import catalog
from catalog.model import DEFAULT_STALE_AFTER
from catalog.storage.graphs import MAX_KEPT
from discovery import crawl
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.model import Discovery, Inventory, Problem, ServiceFindings, ServiceKey
from discovery.probing.probe import DEFAULT_BUDGET, DEFAULT_MAX_PORTS, DEFAULT_PER_SERVICE
from meshatlas.commands import probe as probecmd
from meshatlas.errors import UsageError
from meshatlas.interface import config, console
from meshatlas.interface.parsing import (
    add_cluster_arguments,
    add_scope_arguments,
    positive_float,
    positive_int,
    probe_path,
)
from meshatlas.job import drift as drift_job
from meshatlas.job import graphpublish, metrics, outcome, pipeline, telemetry
from meshatlas.job.pipeline import DiscoverOptions
from meshatlas.status import ExitCode

__all__ = ["HELP", "OUTPUTS", "SoFar", "add_parser", "options_from", "run"]

HELP = "discover services and APIs, publish to a catalogue"
#: ``-o``: the table, a wider one, or the report document itself.
OUTPUTS: Final = ("table", "wide", "json", "yaml")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``discover`` subcommand."""
    discover = sub.add_parser("discover", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_cluster_arguments(
        discover,
        cluster_name_help="the name this cluster is catalogued under (default: the kubeconfig"
        " context; in a Pod, in-cluster); set one per cluster when several publish to one"
        " catalogue, ideally Istio's cluster name",
    )
    add_scope_arguments(discover, default_excluded=DEFAULT_EXCLUDED)
    out = discover.add_argument_group("where results go")
    out.add_argument(
        "--catalog",
        default="sqlite:///meshatlas.db",
        metavar="URL",
        help="sqlite:///PATH, postgresql://... or http(s)://HOST of a meshatlas serve,"
        " token from $MESHATLAS_TOKEN (default: %(default)s)",
    )
    out.add_argument(
        "--group-id",
        default="meshatlas",
        metavar="ID",
        help="asset group id (default: %(default)s)",
    )
    out.add_argument("--out", type=Path, metavar="DIR", help="write the graph and report here")
    out.add_argument(
        "--report", metavar="PATH|-", help="write the JSON report to PATH, or - for stdout"
    )
    out.add_argument("--dry-run", action="store_true", help="discover but publish nothing")
    out.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        help="what stdout shows: table (the default), wide (also cluster, port name, title,"
        " API version, what was published, the description's URL), json or yaml (the"
        " report document, as --report writes it)",
    )
    out.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress and no table: only warnings and errors on stderr (and what -o"
        " json|yaml asks for on stdout)",
    )
    out.add_argument(
        "--deprecate-after",
        type=positive_int,
        default=catalog.DEFAULT_DEPRECATE_AFTER,
        metavar="N",
        help="deprecate an API missed by N runs in a row: runs in which its Service"
        " answered without it, or was gone from a namespace read in full; a Service with"
        " problems counts neither way (default: %(default)s)",
    )
    out.add_argument(
        "--stale-after",
        type=positive_int,
        default=DEFAULT_STALE_AFTER,
        metavar="N",
        help="mark an instance stale (kept, not deleted) once N complete sightings of its"
        " Service in a row did not see it (default: %(default)s)",
    )
    out.add_argument(
        "--graph-runs-kept",
        type=_runs_kept,
        default=graphpublish.DEFAULT_KEPT,
        metavar="N",
        help="runs whose service graph, analytics and findings the catalogue keeps per"
        " cluster: the history charts and first/last seen read them (1 to"
        f" {MAX_KEPT}; default: %(default)s)",
    )
    out.add_argument(
        "--fail-on",
        choices=outcome.FAIL_ON,
        default=outcome.DEFAULT_FAIL_ON,
        help="the least that makes the exit code non-zero: error (nothing could be done),"
        " partial (a source failed: exit 3), problems (also any Service that did not answer"
        " its probes: exit 3) (default: %(default)s; also $MESHATLAS_FAIL_ON)",
    )
    run_args = discover.add_argument_group("probing")
    run_args.add_argument(
        "--concurrency",
        type=positive_int,
        default=64,
        metavar="N",
        help="parallel probe requests (default: %(default)s)",
    )
    run_args.add_argument(
        "--timeout",
        type=positive_float,
        default=8.0,
        metavar="SECONDS",
        help="total deadline per probe request (default: %(default)s)",
    )
    run_args.add_argument(
        "--probe-path",
        action="append",
        type=probe_path,
        default=[],
        metavar="PATH",
        help="an extra description location (a path) tried first on every port (repeatable)",
    )
    run_args.add_argument(
        "--probe-budget",
        type=positive_int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help="most requests one HTTP port may cost on a cold run (default: %(default)s)",
    )
    run_args.add_argument(
        "--validation-cpu",
        type=positive_int,
        default=20,
        metavar="SECONDS",
        help="CPU time one description may take to validate, in its own worker process; "
        "past it the description is refused with that reason (default: %(default)s)",
    )
    run_args.add_argument(
        "--probe-max-ports",
        type=positive_int,
        default=DEFAULT_MAX_PORTS,
        metavar="N",
        help="most ports of one Service probed; the rest are noted (default: %(default)s)",
    )
    run_args.add_argument(
        "--probe-ports-at-once",
        type=positive_int,
        default=DEFAULT_PER_SERVICE,
        metavar="N",
        help="ports of one Service probed at the same time (default: %(default)s)",
    )
    probecmd.add_service_budget(run_args)
    run_args.add_argument(
        "--cold",
        action="store_true",
        help="ignore where APIs were found last time; probe every port afresh",
    )
    run_args.add_argument(
        "--exhaustive",
        action="store_true",
        help="try every location the framework table knows on every port, ignoring what "
        "was learnt last run (up to 200 requests a port)",
    )
    telemetry.add_arguments(discover)
    drift_job.add_arguments(discover)
    metrics.add_arguments(discover)
    config.add_arguments(discover)


def options_from(args: argparse.Namespace) -> DiscoverOptions:
    """The run's options from the parsed (and configured) flags."""
    return DiscoverOptions(
        kubeconfig=args.kubeconfig,
        contexts=tuple(args.context),
        in_cluster=args.in_cluster,
        cluster_name=args.cluster_name,
        namespaces=tuple(dict.fromkeys(args.namespace)),
        exclude_namespaces=tuple(dict.fromkeys(args.exclude_namespace)) or DEFAULT_EXCLUDED,
        selector=args.selector,
        catalog=args.catalog,
        group_id=args.group_id,
        out=args.out,
        report=args.report,
        concurrency=args.concurrency,
        timeout=args.timeout,
        dry_run=args.dry_run,
        deprecate_after=args.deprecate_after,
        stale_after=args.stale_after,
        graph_runs_kept=args.graph_runs_kept,
        probe_paths=tuple(args.probe_path),
        exhaustive=args.exhaustive,
        probe_budget=args.probe_budget,
        probe_max_ports=args.probe_max_ports,
        probe_ports_at_once=args.probe_ports_at_once,
        probe_service_seconds=args.probe_service_seconds,
        probe_service_mib=args.probe_service_mib,
        validation_cpu=args.validation_cpu,
        cold=args.cold,
        fail_on=args.fail_on,
        **telemetry.option_values(args),
        **drift_job.option_values(args),
    )


class SoFar:
    """What a run has found so far (a :class:`discovery.crawl.Watch`), for when it is cut short."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.inventory: Inventory | None = None
        self.done: dict[ServiceKey, ServiceFindings] = {}

    def listed(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def probed(self, findings: ServiceFindings) -> None:
        self.done[findings.service.key] = findings

    def not_probed(self) -> list[ServiceKey]:
        """The Services listed and not yet probed, in inventory order."""
        listed = self.inventory.services if self.inventory else ()
        return [s.key for s in listed if s.key not in self.done]

    def discovery(self) -> Discovery | None:
        """The run so far, with the interruption and each Service not probed as problems."""
        if self.inventory is None:
            return None
        inventory = self.inventory
        findings = tuple(self.done[s.key] for s in inventory.services if s.key in self.done)
        missing = self.not_probed()
        total = len(inventory.services)
        cut = Problem(
            "meshatlas discover",
            "interrupted",
            f"Ctrl-C (SIGINT) after {len(findings)} of {total} Services were probed; "
            + (
                "nothing was published"
                if missing
                else "the run was not recorded in the catalogue (APIs published before the"
                " interruption stay, each whole)"
            ),
        )
        unprobed = tuple(
            Problem(str(key), "not probed", "the run was interrupted first") for key in missing
        )
        problems = (cut, *inventory.problems, *(p for f in findings for p in f.problems), *unprobed)
        return Discovery(
            inventory=inventory,
            findings=findings,
            edges=crawl.config_edges(inventory),
            problems=problems,
        )


def run(args: argparse.Namespace) -> ExitCode:
    """Run discover as ``args`` say: print the summary (or the report) and return the code.

    Ctrl-C prints the report so far (and writes it where ``--report``/``--out``
    say), publishes nothing more, and exits 130.
    """
    console.use_format(args.log_format)
    if args.report == "-" and args.output is not None:
        raise UsageError(
            f"--report - prints the report on stdout, -o {args.output} something else: give one"
        )
    if args.quiet and console.shows("info"):
        console.use_level("warning")
    options = options_from(args)
    so_far = SoFar()
    try:
        with (
            metrics.pushing(
                url=args.pushgateway, labels=args.pushgateway_label, options=options
            ) as record,
            console.progress(quiet=args.quiet) as tick,
        ):
            result = pipeline.run_discover(options, progress=tick, watch=so_far)
            record(result)
    except KeyboardInterrupt:
        return _interrupted(args, options, so_far)
    _show(args, result)
    return result.exit_code


def _show(args: argparse.Namespace, result: pipeline.RunResult) -> None:
    if args.report == "-" or args.output == "json":
        console.print_json(result.report)
    elif args.output == "yaml":
        console.print_yaml(result.report)
    elif not args.quiet:
        console.summary(result, wide=args.output == "wide", table=args.output is not None)
    elif result.report["problems"]:
        problems = len(result.report["problems"])
        where = ", ".join(str(p) for p in result.outputs) or "the report (--report PATH)"
        console.warning(f"{problems} problems; {result.report['outcome']} run; see {where}")


def _interrupted(
    args: argparse.Namespace, options: pipeline.DiscoverOptions, so_far: SoFar
) -> ExitCode:
    """Say what an interrupted run found and did not, with the report so far."""
    found = so_far.discovery()
    if found is None:
        console.error("interrupted before any Service was listed: nothing was probed or published")
        return ExitCode.INTERRUPTED
    result = pipeline.report_unpublished(options, started=so_far.started, found=found)
    _show(args, result)
    missing = so_far.not_probed()
    total = len(found.inventory.services)
    if missing:
        names = ", ".join(str(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
        said = (
            f"interrupted: {len(found.findings)} of {total} Services probed, {len(missing)} not"
            f" ({names}); nothing was published"
        )
    else:
        said = (
            f"interrupted after all {total} Services were probed: the run was not recorded;"
            " APIs published before the interruption stay, each whole"
        )
    written = [str(p) for p in result.outputs]
    console.error(said + (f"; the report so far: {', '.join(written)}" if written else ""))
    return ExitCode.INTERRUPTED


def _runs_kept(text: str) -> int:
    """``--graph-runs-kept``: 1 to the catalogue's most."""
    value = positive_int(text)
    if value > MAX_KEPT:
        raise argparse.ArgumentTypeError(f"at most {MAX_KEPT}")
    return value
