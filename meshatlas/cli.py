"""The ``meshatlas`` command line.

``main(argv) -> int`` parses, runs one command, and maps every error to a
named exit code (:class:`meshatlas.status.ExitCode`) in one place.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import catalog
import graph
from discovery.errors import DiscoveryError
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.probe import DEFAULT_BUDGET, DEFAULT_MAX_PORTS
from meshatlas import config, console, exportcmd, graphcmd, metrics, probecmd, serve, telemetry
from meshatlas.errors import UsageError
from meshatlas.pipeline import DiscoverOptions, run_discover
from meshatlas.status import ExitCode
from meshatlas.version import VERSION


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns exit codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _probe_path(text: str) -> str:
    """A path on the probed Service: never a URL, never another host."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text or " " in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a path (it must start with one /)")
    return text


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="meshatlas",
        description="Discover every service and API in Kubernetes + Istio clusters, "
        "and build an API catalogue and a dependency graph.",
    )
    parser.add_argument("--version", action="version", version=f"meshatlas {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    discover = sub.add_parser("discover", help="discover services and APIs, publish to a catalogue")
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
    conn.add_argument("--in-cluster", action="store_true", help="use the Pod's ServiceAccount")
    conn.add_argument(
        "--cluster-name",
        metavar="NAME",
        help="the name this cluster is catalogued under (default: the kubeconfig context;"
        " in a Pod, in-cluster); set one per cluster when several publish to one catalogue,"
        " ideally Istio's cluster name",
    )
    sel = discover.add_argument_group("what to read")
    sel.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="only this namespace (repeatable)",
    )
    sel.add_argument(
        "--exclude-namespace",
        action="append",
        default=[],
        metavar="NS",
        help=f"skip this namespace (repeatable; default: {', '.join(DEFAULT_EXCLUDED)})",
    )
    sel.add_argument(
        "--selector", metavar="LABELS", help="label selector for Services, e.g. team=shop"
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
        type=_positive_int,
        default=catalog.DEFAULT_DEPRECATE_AFTER,
        metavar="N",
        help="deprecate an API missed by N complete runs in a row (default: %(default)s)",
    )
    run = discover.add_argument_group("probing")
    run.add_argument(
        "--concurrency",
        type=_positive_int,
        default=64,
        metavar="N",
        help="parallel probe requests (default: %(default)s)",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=8.0,
        metavar="SECONDS",
        help="total deadline per probe request (default: %(default)s)",
    )
    run.add_argument(
        "--probe-path",
        action="append",
        type=_probe_path,
        default=[],
        metavar="PATH",
        help="an extra description location (a path) tried first on every port (repeatable)",
    )
    run.add_argument(
        "--probe-budget",
        type=_positive_int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help="most requests one HTTP port may cost on a cold run (default: %(default)s)",
    )
    run.add_argument(
        "--validation-cpu",
        type=_positive_int,
        default=20,
        metavar="SECONDS",
        help="CPU time one description may take to validate, in its own worker process; "
        "past it the description is refused with that reason (default: %(default)s)",
    )
    run.add_argument(
        "--probe-max-ports",
        type=_positive_int,
        default=DEFAULT_MAX_PORTS,
        metavar="N",
        help="most ports of one Service probed; the rest are noted (default: %(default)s)",
    )
    run.add_argument(
        "--cold",
        action="store_true",
        help="ignore where APIs were found last time; probe every port afresh",
    )
    run.add_argument(
        "--exhaustive",
        action="store_true",
        help="try every location the framework table knows on every port, ignoring what "
        "was learnt last run (up to 200 requests a port)",
    )

    telemetry.add_arguments(discover)
    metrics.add_arguments(discover)
    config.add_arguments(discover)
    graphcmd.add_parser(sub)

    serve.add_parser(sub)
    exportcmd.add_parser(sub)
    probecmd.add_parser(sub)

    demo = sub.add_parser("demo", help="run discover against the bundled demo mesh")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("meshatlas-demo"),
        metavar="DIR",
        help="where outputs go (default: %(default)s)",
    )
    demo.add_argument("--report", metavar="PATH", help="also write the JSON report here")
    demo.add_argument(
        "--keep-running", action="store_true", help="keep the demo mesh up after the run"
    )
    return parser


def _discover(args: argparse.Namespace) -> ExitCode:
    console.use_format(args.log_format)
    excluded = tuple(args.exclude_namespace) or DEFAULT_EXCLUDED
    options = DiscoverOptions(
        kubeconfig=args.kubeconfig,
        contexts=tuple(args.context),
        in_cluster=args.in_cluster,
        cluster_name=args.cluster_name,
        namespaces=tuple(args.namespace),
        exclude_namespaces=excluded,
        selector=args.selector,
        catalog=args.catalog,
        group_id=args.group_id,
        out=args.out,
        report=args.report,
        concurrency=args.concurrency,
        timeout=args.timeout,
        dry_run=args.dry_run,
        deprecate_after=args.deprecate_after,
        probe_paths=tuple(args.probe_path),
        exhaustive=args.exhaustive,
        probe_budget=args.probe_budget,
        probe_max_ports=args.probe_max_ports,
        validation_cpu=args.validation_cpu,
        cold=args.cold,
        **telemetry.option_values(args),
    )
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


def _demo(args: argparse.Namespace) -> ExitCode:
    from meshatlas import demo  # the fixture mesh is only needed here

    return demo.run(out=args.out, report=args.report, keep_running=args.keep_running)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    console.use_format("text")  # discover may switch to JSON lines
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "discover":
            given = list(sys.argv[1:] if argv is None else argv)
            args = config.apply(
                args,
                parser=config.subparser(parser, "discover"),
                argv=given[given.index("discover") + 1 :],
            )
            return int(_discover(args))
        if args.command == "demo":
            return int(_demo(args))
        if args.command == "serve":
            return int(serve.run(args))
        if args.command == "graph":
            return int(graphcmd.run(args))
        if args.command == "export":
            return int(exportcmd.run(args))
        if args.command == "probe":
            return int(probecmd.run(args))
        build_parser().print_help()
        return int(ExitCode.USAGE)
    except UsageError as exc:
        # Like argparse's own messages: plain text for whoever wrote the command.
        console.error(str(exc), text=True)
        return int(ExitCode.USAGE)
    except (DiscoveryError, catalog.CatalogError, graph.GraphError) as exc:
        console.error(str(exc))
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)


if __name__ == "__main__":
    sys.exit(main())


def entry() -> None:
    """The ``meshatlas`` console script: run, flush, and leave at once.

    A crawl of thousands of Services holds hundreds of MB of small objects;
    the interpreter would free them one by one at exit (half a second at
    5,000 Services), where the operating system takes the whole heap back at
    once. By the time ``main`` returns, everything that must outlive the run
    (report, catalogue, outputs) is written and closed; the streams are
    flushed here.

    The objects made by importing meshatlas live as long as the process; frozen,
    the collector stops walking them at every full collection, which costs a
    crawl of 5,000 Services ~0.7 s otherwise.
    """
    gc.freeze()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code)
