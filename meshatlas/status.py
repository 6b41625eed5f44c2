"""Exit codes of the ``meshatlas`` command, in one place.

When a run meets more than one outcome, the most specific wins in this order:
``ERROR`` (1) over ``GATE`` (4) over ``PARTIAL`` (3) over ``COMPLETE`` (0). So a
``posture`` or ``drift`` run whose findings meet ``--fail-on`` exits 4 even when
some source also failed to read; its warnings still list those problems.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a run's exit status means."""

    COMPLETE = 0
    """Everything was read and published."""
    ERROR = 1
    """The run failed; nothing new may have been published."""
    USAGE = 2
    """Bad command line or configuration."""
    PARTIAL = 3
    """Some sources failed; what was found was published and the report lists the problems."""
    GATE = 4
    """A finding at or above ``--fail-on`` was found (``posture``, ``drift``)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT): 128 + the signal's number, as shells report it."""
