"""Least-privilege policies from observed traffic.

For one workload, :func:`suggest` writes the ``security.istio.io/v1``
AuthorizationPolicy (action ALLOW) that allows exactly the callers seen in
the telemetry window, by principal or, where the principal is unknown, by
namespace; on the ports seen; and, where traces gave them, with the methods
and paths seen (:mod:`governance.policy.allowlist`). Where every observed call
already used mutual TLS and STRICT is not yet in force, it adds a STRICT
PeerAuthentication. Every object is validated against Istio's CRD schema
(:mod:`governance.policy.crds`), and each :class:`Suggestion` says what it was
built from and what it would deny (:mod:`governance.policy.impact`).

How the policy attaches, after Istio's reference and its ambient guides:

- sidecar: ``selector.matchLabels`` with the workload's labels, enforced by
  the sidecar with L7 attributes;
- ambient with a waypoint: ``targetRefs`` to the Service, enforced by the
  waypoint with L7 attributes;
- ambient without a waypoint: ``selector``, enforced by ztunnel, which sees
  L4 only ("Use Layer 4 security policy"): an ALLOW rule testing a method or
  path would match nothing there, so methods and paths are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from discovery.mesh.security import SecurityConfig, read_security
from governance.errors import InvalidPolicyError, SuggestionError
from governance.istio import authz, mtls
from governance.istio.workload import Workload
from governance.policy import allowlist, crds, impact
from governance.policy.allowlist import DEFAULT_MAX_PATHS
from governance.policy.suggestion import CallerTraffic, Suggestion
from governance.traffic import ObservedCall

__all__ = ["DEFAULT_MAX_PATHS", "MANAGED_BY", "SUGGESTED_FOR", "suggest", "suggest_all"]

MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "meshatlas"}
SUGGESTED_FOR: Final = "meshatlas.io/suggested-for"


def suggest(
    *,
    config: SecurityConfig,
    workload: Workload,
    calls: Iterable[ObservedCall],
    window: str,
    window_end: str | None = None,
    known_callers: Iterable[ObservedCall] = (),
    max_paths: int = DEFAULT_MAX_PATHS,
    evidence: Sequence[str] = (),
) -> Suggestion:
    """The least-privilege policies for ``workload`` from the calls observed.

    Args:
        config: the security config in force today.
        workload: the workload to protect; its labels select its pods.
        calls: observed calls; those to other workloads are ignored.
        window: the telemetry window the calls were counted over (``10m``).
        window_end: when the window ended (ISO 8601), if known.
        known_callers: calls seen anywhere in the mesh; their callers, when
            they did not call ``workload``, show what the suggestion denies.
        max_paths: distinct paths per port and method before they are
            allowed as their common prefix.
        evidence: more sentences for the suggestion's notes (how traces were
            joined to the callers, :mod:`governance.policy.traced`).

    Raises:
        SuggestionError: no policy can select the workload's pods.
        InvalidPolicyError: a generated object fails Istio's schema (a bug).
    """
    enforced_by = _enforcer(workload)
    if enforced_by != "waypoint" and not workload.labels:
        raise SuggestionError(f"{workload.node} has no known pod labels to select its pods by")
    own = sorted((c for c in calls if c.target == workload.node), key=_call_order)
    notes: list[str] = []
    operations = allowlist.operations_by_identity(
        own, l7=enforced_by != "ztunnel", max_paths=max_paths, notes=notes
    )
    policy = _authorization_policy(
        workload, allowlist.rules(operations), window=window, window_end=window_end, calls=own
    )
    crds.validate(policy)
    peer = _peer_authentication(config, workload, own, window=window, notes=notes)
    if peer is not None:
        crds.validate(peer)
    proposed = _with_policy(config, policy, workload.cluster)
    traffic = _traffic(own, config=proposed, workload=workload, operations=operations)
    notes.extend(evidence)
    notes.extend(_evidence_notes(own, traffic, enforced_by))
    notes.extend(_remaining_policies(config, workload))
    denials, still_allowed = impact.would_deny(
        config=config,
        proposed=proposed,
        workload=workload,
        own=own,
        traffic=traffic,
        known=known_callers,
    )
    return Suggestion(
        workload=workload,
        window=window,
        window_end=window_end,
        enforced_by=enforced_by,
        traffic=traffic,
        authorization_policy=policy,
        peer_authentication=peer,
        would_deny=denials,
        still_allowed=still_allowed,
        notes=tuple(notes),
    )


def suggest_all(
    *,
    config: SecurityConfig,
    workloads: Iterable[Workload],
    calls: Sequence[ObservedCall],
    window: str,
    window_end: str | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
    evidence: Mapping[str, Sequence[str]] | None = None,
) -> tuple[tuple[Suggestion, ...], tuple[str, ...]]:
    """Suggestions for every workload that was called, and why others got none.

    A workload nobody called in the window gets no suggestion: an ALLOW
    policy built from no traffic allows nothing, which is for a person to
    decide, not a short window.
    """
    suggestions: list[Suggestion] = []
    skipped: list[str] = []
    called = {c.target for c in calls}
    for workload in sorted(workloads, key=lambda w: w.node):
        if workload.node not in called:
            skipped.append(f"{workload.node}: no calls observed in {window}")
            continue
        try:
            suggestions.append(
                suggest(
                    config=config,
                    workload=workload,
                    calls=calls,
                    window=window,
                    window_end=window_end,
                    known_callers=calls,
                    max_paths=max_paths,
                    evidence=(evidence or {}).get(workload.node, ()),
                )
            )
        except SuggestionError as exc:
            skipped.append(str(exc))
    return tuple(suggestions), tuple(skipped)


def _enforcer(workload: Workload) -> authz.Enforcer:
    if workload.ambient:
        return "ztunnel" if workload.waypoint is None else "waypoint"
    return "sidecar"


def _call_order(call: ObservedCall) -> tuple[str, str, int, str, str]:
    return (call.source, call.principal or "", call.port or 0, call.method or "", call.path or "")


def _metadata(
    workload: Workload, *, window: str, window_end: str | None, calls: Sequence[ObservedCall]
) -> dict[str, Any]:
    callers = len({c.source for c in calls})
    counts = [c.requests for c in calls]
    built = f"{callers} caller{'s' if callers != 1 else ''}"
    if counts and all(c is not None for c in counts):
        built += f", {round(sum(c or 0.0 for c in counts))} requests"
    annotations = {
        "meshatlas.io/generated-by": "meshatlas policy suggest",
        "meshatlas.io/cluster": workload.cluster,
        "meshatlas.io/telemetry-window": window,
        "meshatlas.io/built-from": built,
    }
    if window_end is not None:
        annotations["meshatlas.io/window-end"] = window_end
    return {
        "name": f"meshatlas-{workload.service}",
        "namespace": workload.namespace,
        "labels": {**MANAGED_BY, SUGGESTED_FOR: workload.service},
        "annotations": dict(sorted(annotations.items())),
    }


def _attachment(workload: Workload) -> dict[str, Any]:
    if _enforcer(workload) == "waypoint":
        return {"targetRefs": [{"group": "", "kind": "Service", "name": workload.service}]}
    return {"selector": {"matchLabels": dict(sorted(workload.labels.items()))}}


def _authorization_policy(
    workload: Workload,
    rules: list[dict[str, Any]],
    *,
    window: str,
    window_end: str | None,
    calls: Sequence[ObservedCall],
) -> dict[str, Any]:
    spec: dict[str, Any] = {**_attachment(workload), "action": "ALLOW"}
    if rules:
        spec["rules"] = rules
    return {
        "apiVersion": crds.API_VERSION,
        "kind": "AuthorizationPolicy",
        "metadata": _metadata(workload, window=window, window_end=window_end, calls=calls),
        "spec": spec,
    }


def _peer_authentication(
    config: SecurityConfig,
    workload: Workload,
    calls: Sequence[ObservedCall],
    *,
    window: str,
    notes: list[str],
) -> dict[str, Any] | None:
    if not calls:
        return None
    plaintext = sorted({c.source for c in calls if c.mtls is False})
    unknown = sorted({c.source for c in calls if c.mtls is None})
    if plaintext:
        notes.append(f"no STRICT PeerAuthentication: plaintext from {', '.join(plaintext)}")
        return None
    if unknown:
        notes.append(f"no STRICT PeerAuthentication: mTLS not observed for {', '.join(unknown)}")
        return None
    if not workload.labels:
        notes.append("no STRICT PeerAuthentication: the workload's pod labels are unknown")
        return None
    ports = sorted({c.port for c in calls}, key=lambda p: p or 0)
    settings = [mtls.effective_mode(config, workload, port) for port in ports]
    if all(s.mode == "STRICT" for s in settings):
        sources = sorted({s.source or "Istio's default" for s in settings})
        notes.append(f"mTLS is already STRICT ({', '.join(sources)}): no PeerAuthentication")
        return None
    return {
        "apiVersion": crds.API_VERSION,
        "kind": "PeerAuthentication",
        "metadata": _metadata(workload, window=window, window_end=None, calls=calls),
        "spec": {
            "selector": {"matchLabels": dict(sorted(workload.labels.items()))},
            "mtls": {"mode": "STRICT"},
        },
    }


def _with_policy(config: SecurityConfig, policy: Mapping[str, Any], cluster: str) -> SecurityConfig:
    parsed = read_security(cluster=cluster, authorization_policies=[policy])
    if parsed.notes:
        raise InvalidPolicyError("AuthorizationPolicy", str(policy["metadata"]), parsed.notes)
    return SecurityConfig(
        peer_authentications=config.peer_authentications,
        authorization_policies=config.authorization_policies + parsed.authorization_policies,
        request_authentications=config.request_authentications,
        root_namespace=config.root_namespace,
        notes=config.notes,
    )


def _traffic(
    calls: Sequence[ObservedCall],
    *,
    config: SecurityConfig,
    workload: Workload,
    operations: Mapping[allowlist.Identity, tuple[allowlist.Operation, ...]],
) -> tuple[CallerTraffic, ...]:
    by_caller: dict[str, list[ObservedCall]] = defaultdict(list)
    for call in calls:
        by_caller[call.source].append(call)
    out: list[CallerTraffic] = []
    for caller, group in sorted(by_caller.items()):
        kind, name = group[0].identity
        verdicts = {authz.decide(config, workload, allowlist.request_of(c)).verdict for c in group}
        verdict: authz.Verdict = (
            "deny" if "deny" in verdicts else "unknown" if "unknown" in verdicts else "allow"
        )
        counts = [c.requests for c in group]
        mtls_seen = {c.mtls for c in group}
        ops = operations.get((kind, name), ()) if name is not None else ()
        out.append(
            CallerTraffic(
                caller=caller,
                identity=kind,
                name=name,
                requests=None if None in counts else sum(c or 0.0 for c in counts),
                mtls=mtls_seen.pop() if len(mtls_seen) == 1 else None,
                ports=tuple(sorted({c.port for c in group if c.port is not None})),
                operations=tuple(allowlist.describe(op) for op in ops),
                verdict=verdict,
            )
        )
    return tuple(out)


def _evidence_notes(
    calls: Sequence[ObservedCall], traffic: Sequence[CallerTraffic], enforced_by: str
) -> list[str]:
    notes: list[str] = []
    for t in traffic:
        if t.identity == "namespace":
            notes.append(
                f"principal of {t.caller} unknown: allowed by namespace {t.name}, "
                "so every workload of that namespace is allowed"
            )
        elif t.identity == "none":
            why = "it called in plaintext" if t.mtls is False else "its identity is unknown"
            notes.append(f"{t.caller} cannot be named in a policy ({why}): it would be denied")
    if enforced_by == "ztunnel":
        notes.append("ambient without a waypoint: ztunnel enforces L4 only, so no methods or paths")
    elif calls and all(c.method is None for c in calls):
        notes.append("no methods or paths observed (no traces): any method and path is allowed")
    if calls and any(c.port is None for c in calls):
        notes.append("ports not observed for every call: those rules allow any port")
    return notes


def _remaining_policies(config: SecurityConfig, workload: Workload) -> list[str]:
    notes: list[str] = []
    for policy in authz.covering(config, workload):
        if policy.action == "ALLOW":
            notes.append(
                f"{policy.ref} still applies: ALLOW policies add up, so remove or narrow it "
                "for this policy to be the least privilege"
            )
        elif policy.action in ("DENY", "CUSTOM"):
            notes.append(f"{policy.ref} ({policy.action}) still applies before this policy")
    return notes
