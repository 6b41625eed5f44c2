"""``meshatlas version``: which meshatlas this is, as text or JSON."""

from __future__ import annotations

import argparse
import json
import platform
import sys

from meshatlas.status import ExitCode
from meshatlas.version import VERSION

__all__ = ["HELP", "add_parser", "run"]

HELP = "print the version of meshatlas"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``version`` subcommand."""
    version = sub.add_parser("version", help=HELP)
    version.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="text (as --version prints it) or json (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Print the version; JSON names the Python that runs it too."""
    if args.output == "json":
        doc = {
            "meshatlas": VERSION,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
        }
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        sys.stdout.write(f"meshatlas {VERSION}\n")
    return ExitCode.COMPLETE
