"""``meshatlas discover``: its flags, and one run from them.

Imported only when ``discover`` runs (or its help is asked for): its flags'
defaults come from discovery and the catalogue, whose imports take a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import catalog
from catalog.model import DEFAULT_STALE_AFTER
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.probe import DEFAULT_BUDGET, DEFAULT_MAX_PORTS, DEFAULT_PER_SERVICE
from meshatlas import config, console, metrics, outcome, probecmd, telemetry
from meshatlas.parsing import (
    CommaList,
    namespace_names,
    positive_float,
    positive_int,
    probe_path,
)
from meshatlas.pipeline import DiscoverOptions, run_discover
from meshatlas.status import ExitCode

__all__ = ["HELP", "add_parser", "options_from", "run"]

HELP = "discover services and APIs, publish to a catalogue"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``discover`` subcommand."""
    discover = sub.add_parser("discover", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    conn = discover.add_argument_group("clusters")
    conn.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
    )
    conn.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME",
        help="kubeconfig context to read; repeat for several clusters",
    )
    conn.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the Pod's ServiceAccount (not with --kubeconfig or --context)",
    )
    conn.add_argument(
        "--cluster-name",
        metavar="NAME",
        help="the name this cluster is catalogued under (default: the kubeconfig context;"
        " in a Pod, in-cluster); set one per cluster when several publish to one catalogue,"
        " ideally Istio's cluster name",
    )
    sel = discover.add_argument_group("what to read")
    sel.add_argument(
        "-n",
        "--namespace",
        action=CommaList,
        type=namespace_names,
        default=[],
        metavar="NS",
        help="only this namespace (repeatable, or a comma-separated list)",
    )
    sel.add_argument(
        "--exclude-namespace",
        action=CommaList,
        type=namespace_names,
        default=[],
        metavar="NS",
        help="skip this namespace (repeatable, or a comma-separated list; replaces the"
        f" default: {', '.join(DEFAULT_EXCLUDED)})",
    )
    sel.add_argument(
        "-l",
        "--selector",
        metavar="LABELS",
        help="label selector for Services, e.g. team=shop",
    )
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
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Run discover as ``args`` say: print the summary (or the report) and return the code."""
    console.use_format(args.log_format)
    options = options_from(args)
    with (
        metrics.pushing(
            url=args.pushgateway, labels=args.pushgateway_label, options=options
        ) as record,
        console.progress() as tick,
    ):
        result = run_discover(options, progress=tick)
        record(result)
    if args.report == "-":
        console.print_json(result.report)
    else:
        console.summary(result)
    return result.exit_code
