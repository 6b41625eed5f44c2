"""``meshatlas demo``: discover the bundled demo mesh.

The mesh (``fixtures.mesh``) and the pipeline are imported when the demo runs,
never to print its help.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from meshatlas.status import ExitCode

__all__ = ["HELP", "add_parser", "run"]

HELP = "run discover against the bundled demo mesh"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` subcommand."""
    demo = sub.add_parser("demo", help=HELP)
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


def run(args: argparse.Namespace) -> ExitCode:
    """Start the demo mesh, discover it, print what was found."""
    from meshatlas.job import demo

    return demo.run(out=args.out, report=args.report, keep_running=args.keep_running)
