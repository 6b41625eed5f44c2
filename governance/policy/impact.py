"""What a suggestion would deny of what is allowed today.

The same requests are put to today's config and to today's plus the
suggested policy (what applying the file does), with
:func:`governance.istio.authz.decide`: the observed callers the policy cannot
name, callers seen elsewhere in the mesh, the principals and namespaces
today's ALLOW policies name, a stand-in for any other mesh identity, a
plaintext caller, and each observed identity on a port, method and path it
never used. ALLOW policies add up in Istio, so what another ALLOW policy
keeps allowing is reported too: for the suggestion to be the least
privilege, that policy has to go or narrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from discovery.mesh.security import SecurityConfig
from governance.istio import authz
from governance.istio.workload import Request, Workload
from governance.policy import allowlist
from governance.policy.suggestion import CallerTraffic, Denial
from governance.traffic import IdentityKind, ObservedCall

_PRINCIPAL_NAMESPACE = re.compile(r"/ns/([^/]+)/sa/")
#: A stand-in for "a mesh identity nobody observed": ``.invalid`` can never
#: be a real trust domain (RFC 2606), so no policy names it by accident.
_STRANGER = Request(
    principal="unobserved.invalid/ns/unobserved/sa/unobserved", namespace="unobserved"
)
_PLAINTEXT = Request(principal="", namespace="")
_METHODS: Final = ("DELETE", "PATCH", "PUT", "POST", "GET")


def would_deny(
    *,
    config: SecurityConfig,
    proposed: SecurityConfig,
    workload: Workload,
    own: Sequence[ObservedCall],
    traffic: Sequence[CallerTraffic],
    known: Iterable[ObservedCall],
) -> tuple[tuple[Denial, ...], tuple[str, ...]]:
    """Probe today's config and today's plus the suggestion with the same requests.

    Returns what would be denied, and what was not observed yet stays
    allowed (by another ALLOW policy: ALLOW policies add up).
    """
    probes: list[tuple[str, bool, Request]] = []
    first = {c.source: c for c in reversed(own)}
    for t in traffic:
        if t.identity == "none":
            label = f"{t.caller} (observed, {_count(t.requests)})"
            probes.append((label, True, allowlist.request_of(first[t.caller])))
    seen = {(t.identity, t.name) for t in traffic}
    others: dict[str, Request] = {}
    for call in known:
        kind, name = call.identity
        if call.target != workload.node and (kind, name) not in seen and name is not None:
            others.setdefault(f"{call.source} ({kind} {name})", _identity_request(kind, name))
    for label, probe in _named_in_policies(config, workload, seen):
        others.setdefault(label, probe)
    probes.extend((label, False, probe) for label, probe in sorted(others.items()))
    probes.append(("any other mesh identity", False, _STRANGER))
    probes.append(("plaintext callers (no identity)", False, _PLAINTEXT))
    for t in traffic:
        outside = _outside(t, own)
        if outside is not None:
            label = f"{t.name} beyond {'; '.join(t.operations)}"
            probes.append((label, False, outside))
    denials: list[Denial] = []
    still: list[str] = []
    for label, observed, probe in probes:
        today = authz.decide(config, workload, probe)
        after = authz.decide(proposed, workload, probe)
        if today.verdict == "deny":
            continue
        if after.verdict == "allow":
            if not observed:
                still.append(f"{label}: {after.reason}")
        elif after.verdict == "deny" or observed:
            # An observed caller the policy cannot name is allowed only by luck.
            denials.append(Denial(label, observed, today.reason, after.reason))
    return tuple(denials), tuple(still)


def _outside(t: CallerTraffic, own: Sequence[ObservedCall]) -> Request | None:
    """A request from ``t``'s identity on a port, method and path it never used."""
    if t.name is None or not t.operations:
        return None
    calls = [c for c in own if c.source == t.caller]
    ports = {c.port for c in calls}
    methods = {allowlist.clean_method(c.method) for c in calls}
    port = None if None in ports else next(p for p in range(1, 65536) if p not in ports)
    method = next((m for m in _METHODS if m not in methods), None)
    base = _identity_request(t.identity, t.name)
    return Request(
        principal=base.principal,
        namespace=base.namespace,
        port=port,
        method=method,
        path="/.meshatlas/unobserved",
    )


def _named_in_policies(
    config: SecurityConfig, workload: Workload, seen: set[tuple[IdentityKind, str | None]]
) -> list[tuple[str, Request]]:
    """Literal principals and namespaces today's ALLOW policies name for the workload."""
    found: list[tuple[str, Request]] = []
    for policy in authz.covering(config, workload):
        if policy.action != "ALLOW":
            continue
        for rule in policy.rules:
            for source in rule.sources:
                for principal in source.principals:
                    if "*" not in principal and ("principal", principal) not in seen:
                        found.append(
                            (
                                f"principal {principal} ({policy.ref})",
                                _identity_request("principal", principal),
                            )
                        )
                for namespace in source.namespaces:
                    if "*" not in namespace and ("namespace", namespace) not in seen:
                        found.append(
                            (
                                f"namespace {namespace} ({policy.ref})",
                                _identity_request("namespace", namespace),
                            )
                        )
    return found


def _identity_request(kind: IdentityKind, name: str) -> Request:
    if kind == "principal":
        match = _PRINCIPAL_NAMESPACE.search(name)
        return Request(principal=name, namespace=match.group(1) if match else None)
    # Some workload of the namespace: Istio derives the namespace from the
    # principal, so a concrete one keeps the verdicts definite. The service
    # account ends in a dot, which no Kubernetes name does.
    return Request(principal=f"cluster.local/ns/{name}/sa/unobserved.", namespace=name)


def _count(requests: float | None) -> str:
    return "requests not counted" if requests is None else f"{round(requests)} requests"
