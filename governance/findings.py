"""Findings: one shape everywhere (report, catalogue, portal, CLI).

Severities, most urgent first: ``high``, ``medium``, ``low``, ``info``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Severity = Literal["high", "medium", "low", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = ("high", "medium", "low", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a governance check found about one subject.

    Attributes:
        kind: what was found, a stable slug (``plaintext-accepted``).
        severity: how urgent it is.
        subject: what it is about: an API instance, ``cluster/namespace/service``
            with ``:port`` where it concerns one port, or an edge ``a -> b``.
        objects: the config objects involved, ``Kind namespace/name``.
        reason: one line, in words a platform engineer acts on.
        first_seen / last_seen: run times, set by the catalogue that keeps
            the finding's history; ``None`` for a finding fresh from one run.
    """

    kind: str
    severity: Severity
    subject: str
    objects: tuple[str, ...]
    reason: str
    first_seen: str | None = None
    last_seen: str | None = None


def at_least(severity: Severity, threshold: Severity) -> bool:
    """True when ``severity`` is as urgent as ``threshold`` or more."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


def ordered(findings: list[Finding]) -> tuple[Finding, ...]:
    """Most urgent first, then by subject and kind, so output is stable."""
    return tuple(sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.subject, f.kind)))
