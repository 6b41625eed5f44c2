"""Exceptions raised by governance.

::

    GovernanceError
     └── PostureError   a posture could not be evaluated from what was given

Governance does no I/O of its own, so its errors are about its inputs.
"""

from __future__ import annotations


class GovernanceError(Exception):
    """Root of every error governance raises."""


class PostureError(GovernanceError):
    """A posture could not be evaluated from the inputs given."""
