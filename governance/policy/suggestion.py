"""What a policy suggestion is: the objects, and the evidence behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from governance.istio.authz import Enforcer, Verdict
from governance.istio.workload import Workload
from governance.traffic import IdentityKind

IdentifiedBy = Literal["principals", "namespaces", "principals and namespaces", "nothing"]


@dataclass(frozen=True, slots=True)
class CallerTraffic:
    """What one caller did in the window, and what the suggestion does with it.

    ``verdict`` is what today's config plus the suggestion decide for the
    caller's calls: ``unknown`` when the caller's mTLS was not observed (a
    caller allowed by namespace passes only if it does use mTLS).
    """

    caller: str
    identity: IdentityKind
    name: str | None
    requests: float | None
    mtls: bool | None
    ports: tuple[int, ...]
    operations: tuple[str, ...]
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Denial:
    """Something allowed today that the suggestion would deny."""

    who: str
    #: True for observed traffic: a caller the policy cannot name.
    observed: bool
    today: str
    after: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The policies suggested for one workload, and the evidence behind them."""

    workload: Workload
    window: str
    window_end: str | None
    enforced_by: Enforcer
    traffic: tuple[CallerTraffic, ...]
    authorization_policy: Mapping[str, Any] = field(hash=False)
    peer_authentication: Mapping[str, Any] | None = field(hash=False)
    would_deny: tuple[Denial, ...]
    #: Unobserved callers that other ALLOW policies go on allowing, and why.
    still_allowed: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def identified_by(self) -> IdentifiedBy:
        """How the policy names its callers."""
        kinds = {t.identity for t in self.traffic} - {"none"}
        if kinds == {"principal", "namespace"}:
            return "principals and namespaces"
        if kinds == {"principal"}:
            return "principals"
        return "namespaces" if kinds else "nothing"

    @property
    def objects(self) -> tuple[Mapping[str, Any], ...]:
        """The Kubernetes objects to apply, AuthorizationPolicy first."""
        if self.peer_authentication is None:
            return (self.authorization_policy,)
        return (self.authorization_policy, self.peer_authentication)

    @property
    def requests(self) -> float | None:
        """Requests the suggestion was built from, ``None`` when some were not counted."""
        counts = [t.requests for t in self.traffic]
        if any(c is None for c in counts):
            return None
        return sum(c for c in counts if c is not None)
