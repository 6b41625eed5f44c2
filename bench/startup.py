"""Start-up benchmark: how long a ``meshatlas`` command takes before it does anything.

    python bench/startup.py [--runs 10]

Runs each command ``--runs`` times as a fresh process (the installed console
script next to this interpreter) and prints the median and fastest wall time
in milliseconds, beside a bare ``python -c pass`` and beside importing every
command's modules (what ``--version`` cost while the CLI imported them all
before parsing); then the modules that ``import meshatlas.cli`` loads, the
slowest first, from ``python -X importtime``.
Figures depend on the machine and its load: compare them on one machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
#: What ``meshatlas --version`` imported before it answered, until commands loaded lazily.
EVERY_COMMAND = (
    "import meshatlas.commands.discover, meshatlas.commands.graph, meshatlas.commands.export,"
    " meshatlas.commands.probe, meshatlas.commands.serve"
)
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import every command": [sys.executable, "-c", EVERY_COMMAND],
    "meshatlas --version": [str(BIN / "meshatlas"), "--version"],
    "meshatlas version": [str(BIN / "meshatlas"), "version"],
    "meshatlas --help": [str(BIN / "meshatlas"), "--help"],
    "meshatlas discover --help": [str(BIN / "meshatlas"), "discover", "--help"],
}


def wall_ms(argv: list[str], runs: int) -> list[float]:
    """Wall time of ``runs`` runs of ``argv``, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return times


def slowest_imports(module: str, top: int) -> list[tuple[str, float]]:
    """The ``top`` imports with the largest cumulative time when importing ``module``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((name.rstrip(), int(cumulative) / 1000))
    rows.sort(key=lambda row: -row[1])
    return rows[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    figures = {}
    for name, argv in COMMANDS.items():
        times = wall_ms(argv, args.runs)
        figures[name] = {"median_ms": statistics.median(times), "min_ms": min(times)}
        print(f"{name:28} median {figures[name]['median_ms']:7.1f} ms   min {min(times):7.1f} ms")
    print("\nimport meshatlas.cli, cumulative ms:")
    imports = slowest_imports("meshatlas.cli", args.top)
    for module, ms in imports:
        print(f"  {ms:8.1f}  {module}")
    imported = {module.strip(): ms for module, ms in imports}
    print(json.dumps({"runs": args.runs, "wall": figures, "imports_ms": imported}))


if __name__ == "__main__":
    main()
