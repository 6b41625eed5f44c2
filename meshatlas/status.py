"""Exit codes of the ``meshatlas`` command, in one place."""

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
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT): 128 + the signal's number, as shells report it."""
