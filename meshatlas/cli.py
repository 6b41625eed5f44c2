"""The ``meshatlas`` command line.

``main(argv) -> int`` parses, runs one command, and maps every error to a
named exit code (:class:`meshatlas.status.ExitCode`) in one place.

Start-up is kept short: ``--version`` and ``--help`` are answered from a
parser that knows each command only by name, and a command's module (with
discovery, the catalogue, aiohttp...) is imported only when that command runs
or its own help is asked for.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from meshatlas.errors import SourceError, UsageError
from meshatlas.interface import console
from meshatlas.interface.parsing import Parser, unknown_arguments
from meshatlas.interface.suggest import did_you_mean
from meshatlas.status import ExitCode
from meshatlas.version import VERSION

__all__ = ["COMMANDS", "Command", "build_parser", "entry", "main"]


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: its name, its one-line help, the module that adds and runs it.

    The module has ``add_parser(subparsers)`` and ``run(args) -> ExitCode``.
    """

    name: str
    help: str
    module: str


#: Every command, in the order ``--help`` lists them. The help is repeated here
#: so that listing them imports none; a test holds it equal to each module's.
COMMANDS: Final = (
    Command(
        "discover",
        "discover services and APIs, publish to a catalogue",
        "meshatlas.commands.discover",
    ),
    Command(
        "graph", "export the dependency graph and ask it questions", "meshatlas.commands.graph"
    ),
    Command("serve", "serve the catalogue's REST API and portal", "meshatlas.commands.serve"),
    Command("export", "export the catalogue for developer portals", "meshatlas.commands.export"),
    Command(
        "get",
        "list the catalogue's assets, versions or instances, as kubectl get does",
        "meshatlas.commands.get",
    ),
    Command(
        "drift",
        "compare traced traffic with the APIs' contracts (shadow, unused, deprecated operations)",
        "meshatlas.commands.drift",
    ),
    Command(
        "probe",
        "probe one port and print every request tried (why an API was missed)",
        "meshatlas.commands.probe",
    ),
    Command(
        "posture",
        "judge each workload's security posture (mTLS, policies, JWT, exposure)",
        "meshatlas.commands.posture",
    ),
    Command(
        "policy",
        "suggest least-privilege Istio policies from the traffic telemetry shows",
        "meshatlas.commands.policy",
    ),
    Command("demo", "run discover against the bundled demo mesh", "meshatlas.commands.demo"),
    Command("version", "print the version of meshatlas", "meshatlas.commands.version"),
    Command(
        "completion",
        "print a shell completion script (bash, zsh or fish)",
        "meshatlas.commands.completion",
    ),
)
_BY_NAME: Final = {c.name: c for c in COMMANDS}
#: Flags of ``meshatlas`` itself that take a value (to find the command in argv).
_TOP_VALUED: Final = frozenset({"--log-level"})


def _add_log_level(parser: argparse.ArgumentParser, *, default: str | None) -> None:
    parser.add_argument(
        "--log-level",
        choices=console.LEVELS,
        default=default,
        help="the least severe log lines shown on stderr"
        f" (default: info; also ${console.LOG_LEVEL_ENV})",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``meshatlas``.

    Args:
        command: The one command whose flags are wanted (its module is imported;
            the others are known by name only); ``""`` builds none, enough for
            ``--help`` and ``--version``; None builds every command's, for
            completion scripts and tests.
    """
    parser = Parser(
        prog="meshatlas",
        description="Discover every service and API in Kubernetes + Istio clusters, "
        "and build an API catalogue and a dependency graph.",
        epilog="Run 'meshatlas COMMAND --help' for a command's flags.",
    )
    parser.add_argument("--version", action="version", version=f"meshatlas {VERSION}")
    _add_log_level(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for known in COMMANDS:
        if command is None or known.name == command:
            importlib.import_module(known.module).add_parser(sub)
            # Also after the command (meshatlas discover --log-level debug).
            _add_log_level(sub.choices[known.name], default=argparse.SUPPRESS)
        else:
            sub.add_parser(known.name, help=known.help, add_help=False)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of ``argv``: its first word that is not a flag of ``meshatlas``."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--":
            return None
        elif word in _TOP_VALUED:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv`` with only its command's flags loaded.

    Raises:
        UsageError: An unknown command or flag (with the one likely meant), or
            a value a flag refuses.
    """
    name = _command_in(argv)
    if name is not None and name not in _BY_NAME:
        hint = did_you_mean(name, _BY_NAME)
        raise UsageError(f"meshatlas: unknown command {name!r}{hint} (meshatlas --help lists them)")
    parser = build_parser(name or "")
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise unknown_arguments(_subparser(parser, args.command) or parser, extras)
    return parser, args


def _subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return None


def _log_level(args: argparse.Namespace) -> str:
    level = getattr(args, "log_level", None) or os.environ.get(console.LOG_LEVEL_ENV) or "info"
    if level not in console.LEVELS:
        levels = ", ".join(console.LEVELS)
        raise UsageError(f"${console.LOG_LEVEL_ENV}: {level!r} is not one of {levels}")
    return level


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """Run the parsed command; its exit code."""
    from meshatlas.interface import config  # not for --version: it reads the settings' schema

    console.use_level(_log_level(args))
    if args.command is None:
        parser.print_help()
        return int(ExitCode.USAGE)
    module = importlib.import_module(_BY_NAME[args.command].module)
    if args.command == "discover":
        args = config.apply(
            args,
            parser=config.subparser(parser, "discover"),
            argv=argv[argv.index("discover") + 1 :],
        )
        console.use_format(args.log_format)
    for warning in config.unknown_variables():
        console.warning(warning)
    code: ExitCode = module.run(args)
    return int(code)


def _library_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error of discovery, the catalogue or the graph.

    Their packages are not imported to ask: an exception of theirs can only
    exist once they are.
    """
    roots = []
    for module, name in (
        ("discovery.errors", "DiscoveryError"),
        ("catalog.errors", "CatalogError"),
        ("graph.errors", "GraphError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            roots.append(getattr(loaded, name))
    return bool(roots) and isinstance(exc, tuple(roots))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    console.use_format("text")  # discover may switch to JSON lines
    console.use_level("info")
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, args = _parse(given)
        return _run(parser, args, given)
    except UsageError as exc:
        # Like argparse's own messages: plain text for whoever wrote the command.
        console.error(str(exc), text=True)
        return int(ExitCode.USAGE)
    except SourceError as exc:
        console.error(str(exc))
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        console.error("interrupted")
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except OSError as exc:
        # A file or folder of the user's that could not be read or written.
        where = f"{exc.filename}: " if exc.filename else ""
        console.error(f"{where}{exc.strerror or exc}")
        return int(ExitCode.ERROR)
    except Exception as exc:
        if not _library_error(exc):
            raise
        console.error(str(exc))
        return int(ExitCode.ERROR)


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
