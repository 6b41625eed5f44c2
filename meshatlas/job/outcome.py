"""What a discover run's outcome is, and the exit code it ends with.

Two kinds of problem are kept apart:

* a **source** failed: a cluster's API (or part of it), a telemetry source, the
  catalogue, or an output could not be read or written. What meshatlas knows
  of the mesh is then incomplete, whoever owns the mesh;
* a **workload** did not answer: a Service's port timed out, refused or
  reset. That is news about the Service, and the run still did its job: the
  port is a ``problems`` entry, is not learnt as a fact, and is probed in full
  next time.

=====  ===============================================================
code   meaning
=====  ===============================================================
0      done: every source was read and what was found is published;
       Services that did not answer are listed in the report's problems
1      error: meshatlas could not do its job (no cluster could be read,
       the catalogue server or database did not answer or refused)
2      usage or configuration error: nothing was probed or published
3      partial: a source failed; what was read was published (with
       ``--fail-on=problems``, also when a Service did not answer)
130    interrupted (Ctrl-C, SIGINT): :attr:`ExitCode.INTERRUPTED`
=====  ===============================================================

``--fail-on`` says the least that makes the code non-zero: ``error`` (a
partial run exits 0), ``partial`` (the default) or ``problems``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from meshatlas.status import ExitCode

if TYPE_CHECKING:  # kept out of the import: the CLI imports this before any command runs
    from discovery.model import Discovery, Problem

__all__ = [
    "DEFAULT_FAIL_ON",
    "FAIL_ON",
    "FailOn",
    "Outcome",
    "judge",
    "workload_problems",
]

FailOn = Literal["error", "partial", "problems"]
FAIL_ON: Final[tuple[FailOn, ...]] = ("error", "partial", "problems")
DEFAULT_FAIL_ON: Final[FailOn] = "partial"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A run's outcome for the report, and the exit code for the shell."""

    name: Literal["complete", "partial", "error"]
    exit_code: ExitCode
    source_problems: int
    workload_problems: int


def workload_problems(found: Discovery) -> frozenset[Problem]:
    """The problems of Services that did not answer (each Service's own probes)."""
    return frozenset(p for findings in found.findings for p in findings.problems)


def judge(
    *,
    found: Discovery,
    problems: Iterable[Problem],
    catalog_failed: bool,
    fail_on: FailOn = DEFAULT_FAIL_ON,
) -> Outcome:
    """The outcome of a run that found ``found`` and ended with ``problems``.

    Args:
        found: What discovery found.
        problems: Every problem of the run (discovery's and the pipeline's).
        catalog_failed: The catalogue could not be opened or written at all.
        fail_on: The least that makes the exit code non-zero.
    """
    listed = list(problems)
    workloads = workload_problems(found)
    sources = [p for p in listed if p not in workloads]
    answered_not = len(listed) - len(sources)
    if catalog_failed or (not found.inventory.services and sources):
        return Outcome("error", ExitCode.ERROR, len(sources), answered_not)
    if sources:
        code = ExitCode.COMPLETE if fail_on == "error" else ExitCode.PARTIAL
        return Outcome("partial", code, len(sources), answered_not)
    code = ExitCode.PARTIAL if answered_not and fail_on == "problems" else ExitCode.COMPLETE
    return Outcome("complete", code, 0, answered_not)
