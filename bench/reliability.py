"""Reliability figures: the crash, concurrency, load, fuzz, fault and hostile suites, summed up.

Runs the reliability tests with pytest in this process and a small plugin
that adds up what each test records with ``record_property``: cases tried,
faults survived, hostile inputs rejected, crawls completed, assets lost, the
load test's latency percentiles, and from the hostile suites (hostile
Services beside ordinary ones, generated backend behaviour) the worst wall
time each hostile Service cost its crawl and the worst peak memory of a
crawler with its validation workers. Failed tests count as unhandled
errors. Prints a table and the same figures as JSON; exits 1 unless every
test passed with zero assets lost and zero unhandled errors.

    python bench/reliability.py            # the CI sizes, a few minutes
    python bench/reliability.py --long     # 25 kills per database, 60 s of load, ...

Seeded (``--seed``): the same seed replays the same kill points, fault mixes
and load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

#: The hostile cluster's memory bound is measured in a child process; it runs
#: first, before this process has served the load test's sockets.
SUITES = (
    "tests/test_hostile.py",
    "tests/test_hostile_mix.py",
    "tests/test_property_probe.py",
    "tests/test_probe_budget.py",
    "tests/test_probe_interrupted.py",
    "tests/test_inventory_faults.py",
    "tests/test_crash.py",
    "tests/test_concurrency.py",
    "tests/test_load.py",
    "tests/test_fuzz.py",
    "tests/test_fuzz_api.py",
    "tests/test_reliability_faults.py",
)
#: Test files each of whose tests is one hostile input refused (by name).
HOSTILE_FILES = ("tests/test_hostile.py",)
#: Test files each of whose tests survives one injected fault.
FAULT_FILES = ("tests/test_inventory_faults.py",)

#: Environment for ``--long``; the tests read these.
LONG = {
    "MESHATLAS_CRASH_CASES": "25",
    "MESHATLAS_LOAD_SECONDS": "60",
    "MESHATLAS_FAULT_CASES": "40",
    "MESHATLAS_FUZZ_EXAMPLES": "1000",
    "MESHATLAS_SCHEMATHESIS_EXAMPLES": "100",
}
SUMMED = ("cases", "faults_survived", "hostile_rejected", "crawls_completed", "assets_lost")


class Figures:
    """A pytest plugin that sums what the tests record."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = dict.fromkeys(SUMMED, 0)
        self.tests = 0
        self.failed: list[str] = []
        self.passed: set[str] = set()
        self.load: dict[str, Any] = {}
        #: Worst seconds each hostile Service (by name) cost the crawl it was in.
        self.hostile_wall: dict[str, float] = {}
        self.peak_rss_mib = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.append(report.nodeid)
        if report.when == "call" and report.passed:
            self.tests += 1
            self.passed.add(report.nodeid)
        # Read at teardown: a fixture may record after its test (the fuzz
        # suites' counters do), and the teardown report carries everything.
        if report.when != "teardown" or report.nodeid not in self.passed:
            return
        recorded = False
        for name, value in report.user_properties:
            if name in self.totals:
                self.totals[name] += int(value)
                recorded = True
            elif name == "load":
                backend = report.nodeid.rsplit("_on_", 1)[-1]
                self.load[backend] = value
            elif name == "hostile_wall_s":
                for service, seconds in value.items():
                    self.hostile_wall[service] = max(self.hostile_wall.get(service, 0), seconds)
            elif name == "peak_rss_mib":
                self.peak_rss_mib = max(self.peak_rss_mib, int(value))
        if not recorded:
            path = report.nodeid.split("::", 1)[0]
            self.totals["cases"] += 1
            if path in HOSTILE_FILES:
                self.totals["hostile_rejected"] += 1
            if path in FAULT_FILES:
                self.totals["faults_survived"] += 1

    def summary(self, exit_code: int) -> dict[str, Any]:
        return {
            "tests": self.tests,
            "cases_tried": self.totals["cases"],
            "faults_survived": self.totals["faults_survived"],
            "hostile_inputs_rejected": self.totals["hostile_rejected"],
            "crawls_completed": self.totals["crawls_completed"],
            "worst_wall_s_per_hostile_service": dict(sorted(self.hostile_wall.items())),
            "worst_peak_rss_mib": self.peak_rss_mib,
            "assets_lost": self.totals["assets_lost"],
            "unhandled_errors": len(self.failed),
            "failed": self.failed,
            "load": self.load,
            "pytest_exit": exit_code,
        }


def table(figures: dict[str, Any]) -> str:
    rows = [
        ("tests passed", figures["tests"]),
        ("cases tried", figures["cases_tried"]),
        ("faults survived", figures["faults_survived"]),
        ("hostile inputs rejected", figures["hostile_inputs_rejected"]),
        ("crawls completed", figures["crawls_completed"]),
        ("worst peak RSS, MiB", figures["worst_peak_rss_mib"]),
        ("assets lost", figures["assets_lost"]),
        ("unhandled errors", figures["unhandled_errors"]),
    ]
    lines = [f"{name:<26}{value:>10}" for name, value in rows]
    walls = figures["worst_wall_s_per_hostile_service"]
    if walls:
        lines.append("worst wall time per hostile Service, s:")
        lines += [f"  {name:<24}{seconds:>10.1f}" for name, seconds in walls.items()]
    for backend, load in sorted(figures["load"].items()):
        lines.append(
            f"serve on {backend:<17}{load['requests']:>10} requests, {load['clients']} clients, "
            f"{load['seconds']} s, {load['rps']} req/s, p50 {load['p50_ms']} ms, "
            f"p95 {load['p95_ms']} ms, p99 {load['p99_ms']} ms, "
            f"5xx {sum(n for k, n in load['statuses'].items() if k.split()[1].startswith('5'))}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the long variant (tens of minutes)")
    parser.add_argument("--seed", type=int, default=20261122, help="seed of every random choice")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args(argv)
    os.environ["MESHATLAS_RELIABILITY_SEED"] = str(args.seed)
    if args.long:
        os.environ.update(LONG)
    os.chdir(ROOT)
    figures = Figures()
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", *SUITES, *args.pytest_args], plugins=[figures]
    )
    result = figures.summary(int(code))
    print()
    print(table(result))
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = code == 0 and result["assets_lost"] == 0 and result["unhandled_errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
