"""Exceptions raised by governance.

::

    GovernanceError
     ├── PostureError        a posture could not be evaluated from what was given
     ├── SuggestionError     a policy cannot be suggested for the workload given
     └── InvalidPolicyError  a generated object fails Istio's CRD schema (a bug)

Governance does no I/O of its own, so its errors are about its inputs.
"""

from __future__ import annotations


class GovernanceError(Exception):
    """Root of every error governance raises."""


class PostureError(GovernanceError):
    """A posture could not be evaluated from the inputs given."""


class SuggestionError(GovernanceError):
    """A policy cannot be suggested for the workload given."""


class InvalidPolicyError(GovernanceError):
    """An object meshatlas generated does not pass Istio's CRD schema: a bug."""

    def __init__(self, kind: str, name: str, problems: tuple[str, ...]) -> None:
        super().__init__(f"{kind} {name} fails Istio's schema: {'; '.join(problems)}")
        self.kind = kind
        self.name = name
        self.problems = problems
