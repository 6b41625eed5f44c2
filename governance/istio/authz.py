"""AuthorizationPolicy evaluation, in the order Istio applies it.

Istio's reference (security/authorization-policy): CUSTOM policies first
(an external authoriser may deny), then DENY (any match denies), then ALLOW
(no ALLOW policy for the workload allows everything; otherwise one must
match); AUDIT never changes the outcome. A policy without rules never
matches; a rule without ``from``, ``to`` and ``when`` matches every request.

Where policies apply:
- in the root namespace without a selector: every workload of the mesh; with
  a selector, matching workloads in every namespace;
- elsewhere without a selector: every workload of its namespace;
- ``targetRefs`` (ambient): enforced by the waypoint of the Service or
  Gateway named, so nothing is enforced for a Service without a waypoint.

In ambient mode selector and namespace policies are enforced by the
server-side ztunnel, which sees only L4 attributes (Istio's "Use Layer 4
security policy": principals, namespaces, ipBlocks, ports and the
``source.*``/``destination.ip``/``destination.port`` conditions). ztunnel
fails safe on the rest: an ALLOW rule that tests an L7 attribute matches
nothing, a DENY rule matches on its L4 part alone. When a waypoint fronts
the workload, the ztunnel's peer is the waypoint, not the original caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from discovery.mesh.security import (
    AuthorizationPolicy,
    Condition,
    Operation,
    Rule,
    SecurityConfig,
    Source,
)
from governance.istio.logic import Tri, all_of, any_of
from governance.istio.matching import field_matches
from governance.istio.workload import Request, Workload

Verdict = Literal["allow", "deny", "unknown"]
Enforcer = Literal["sidecar", "ztunnel", "waypoint"]

_L4_CONDITIONS: Final = frozenset(
    {"source.ip", "source.namespace", "source.principal", "destination.ip", "destination.port"}
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policies in force would do with a request, and why."""

    verdict: Verdict
    reason: str
    policies: tuple[str, ...] = ()


def applies(policy: AuthorizationPolicy, workload: Workload, *, root_namespace: str) -> Tri:
    """Whether ``policy`` is enforced for ``workload`` (``None``: labels unknown)."""
    if policy.ref.cluster != workload.cluster:
        return False
    if policy.target_refs:
        return _targets(policy, workload)
    if policy.ref.namespace != root_namespace and policy.ref.namespace != workload.namespace:
        return False
    if policy.selector is None:
        return True
    return selects(policy.selector, workload)


def selects(selector: Mapping[str, str], workload: Workload) -> Tri:
    """A ``matchLabels`` selector against the labels the workload is known to carry."""
    verdicts: list[Tri] = []
    for key, value in selector.items():
        known = workload.labels.get(key)
        verdicts.append(None if known is None else known == value)
    return all_of(verdicts)


def enforcer(policy: AuthorizationPolicy, workload: Workload) -> Enforcer:
    if policy.target_refs:
        return "waypoint"
    return "ztunnel" if workload.ambient else "sidecar"


def uses_l7(policy: AuthorizationPolicy) -> bool:
    """True when any rule tests something only an L7 proxy can see."""
    return any(_rule_uses_l7(rule) for rule in policy.rules)


def decide(config: SecurityConfig, workload: Workload, request: Request) -> Decision:
    """Evaluate every policy in force for ``workload`` against ``request``."""
    root = config.root_namespace
    deny: list[tuple[Tri, str]] = []
    custom: list[tuple[Tri, str]] = []
    allow_exists: list[Tri] = []
    allow: list[tuple[Tri, str]] = []
    for policy in config.authorization_policies:
        where = applies(policy, workload, root_namespace=root)
        if where is False:
            continue
        seen = _as_seen_by(request, policy, workload)
        hit = all_of((where, matches(policy, seen, enforced_by=enforcer(policy, workload))))
        name = str(policy.ref)
        if policy.action == "DENY":
            deny.append((hit, name))
        elif policy.action == "CUSTOM":
            custom.append((hit, name))
        elif policy.action == "ALLOW":
            allow_exists.append(where)
            allow.append((hit, name))
    denied_by = [name for hit, name in deny if hit is True]
    if denied_by:
        return Decision("deny", f"denied by {denied_by[0]}", tuple(denied_by))
    stage = _allow_stage(allow_exists, allow)
    maybe_denied = [name for hit, name in deny if hit is None]
    if maybe_denied:
        if stage.verdict == "deny":
            return stage
        return Decision(
            "unknown",
            f"{maybe_denied[0]} may deny it: it tests what telemetry does not show",
            tuple(maybe_denied),
        )
    external = [name for hit, name in custom if hit is not False]
    if external and stage.verdict != "deny":
        return Decision(
            "unknown", f"an external authoriser decides ({external[0]})", tuple(external)
        )
    return stage


def matches(policy: AuthorizationPolicy, request: Request, *, enforced_by: Enforcer) -> Tri:
    """Whether any rule of ``policy`` matches ``request`` (no rules: never)."""
    return any_of(_rule_matches(rule, request, policy, enforced_by) for rule in policy.rules)


def _allow_stage(exists: list[Tri], allow: list[tuple[Tri, str]]) -> Decision:
    present = any_of(exists)
    if present is False:
        return Decision("allow", "no ALLOW policy applies, so every request is allowed")
    allowed_by = [name for hit, name in allow if hit is True]
    if allowed_by:
        return Decision("allow", f"allowed by {allowed_by[0]}", tuple(allowed_by))
    names = tuple(name for _, name in allow)
    if present is True and all(hit is False for hit, _ in allow):
        return Decision("deny", f"no ALLOW policy matches ({', '.join(names)})", names)
    return Decision(
        "unknown", "whether an ALLOW policy matches depends on what was not observed", names
    )


def _targets(policy: AuthorizationPolicy, workload: Workload) -> Tri:
    for ref in policy.target_refs:
        namespace = ref.namespace or policy.ref.namespace
        if namespace != workload.namespace:
            continue
        if ref.kind == "Service" and ref.name == workload.service:
            return workload.waypoint is not None
        if (
            ref.kind == "Gateway"
            and workload.waypoint is not None
            and ref.name == workload.waypoint
        ):
            return True
    return False


def _as_seen_by(request: Request, policy: AuthorizationPolicy, workload: Workload) -> Request:
    """The request as the enforcing proxy sees it: behind a waypoint, ztunnel's
    peer is the waypoint (its service account is named after it by default)."""
    if enforcer(policy, workload) != "ztunnel" or workload.waypoint is None:
        return request
    identity = f"cluster.local/ns/{workload.namespace}/sa/{workload.waypoint}"
    return Request(principal=identity, namespace=workload.namespace, port=request.port)


def _rule_matches(
    rule: Rule, request: Request, policy: AuthorizationPolicy, enforced_by: Enforcer
) -> Tri:
    if enforced_by == "ztunnel" and _rule_uses_l7(rule):
        if policy.action == "ALLOW":
            return False
        rule = _l4_part(rule)
    sources = any_of(_source_matches(s, request) for s in rule.sources) if rule.sources else True
    operations = (
        any_of(_operation_matches(o, request) for o in rule.operations) if rule.operations else True
    )
    conditions = all_of(_condition_matches(c, request) for c in rule.conditions)
    return all_of((sources, operations, conditions))


def _source_matches(source: Source, request: Request) -> Tri:
    return all_of(
        (
            field_matches(source.principals, source.not_principals, request.principal),
            field_matches(
                source.request_principals, source.not_request_principals, request.request_principal
            ),
            field_matches(source.namespaces, source.not_namespaces, request.namespace),
            field_matches(source.ip_blocks, source.not_ip_blocks, request.source_ip, ip=True),
            field_matches(
                source.remote_ip_blocks, source.not_remote_ip_blocks, request.source_ip, ip=True
            ),
        )
    )


def _operation_matches(operation: Operation, request: Request) -> Tri:
    port = None if request.port is None else str(request.port)
    return all_of(
        (
            field_matches(operation.hosts, operation.not_hosts, request.host, fold_case=True),
            field_matches(operation.ports, operation.not_ports, port),
            field_matches(operation.methods, operation.not_methods, request.method),
            field_matches(operation.paths, operation.not_paths, request.path),
        )
    )


def _condition_matches(condition: Condition, request: Request) -> Tri:
    known = {
        "source.principal": request.principal,
        "source.namespace": request.namespace,
        "source.ip": request.source_ip,
        "request.auth.principal": request.request_principal,
        "destination.port": None if request.port is None else str(request.port),
    }
    if condition.key in known:
        ip = condition.key == "source.ip"
        return field_matches(condition.values, condition.not_values, known[condition.key], ip=ip)
    if condition.key.startswith("request.auth.") and request.request_principal == "":
        # No JWT: no claim, audience or presenter can be present.
        return field_matches(condition.values, condition.not_values, "")
    return None


def _rule_uses_l7(rule: Rule) -> bool:
    for s in rule.sources:
        if s.request_principals or s.not_request_principals:
            return True
        if s.remote_ip_blocks or s.not_remote_ip_blocks:
            return True
    for o in rule.operations:
        if o.hosts or o.not_hosts or o.methods or o.not_methods or o.paths or o.not_paths:
            return True
    return any(c.key not in _L4_CONDITIONS for c in rule.conditions)


def _l4_part(rule: Rule) -> Rule:
    sources = tuple(
        Source(
            principals=s.principals,
            not_principals=s.not_principals,
            namespaces=s.namespaces,
            not_namespaces=s.not_namespaces,
            ip_blocks=s.ip_blocks,
            not_ip_blocks=s.not_ip_blocks,
        )
        for s in rule.sources
    )
    operations = tuple(Operation(ports=o.ports, not_ports=o.not_ports) for o in rule.operations)
    conditions = tuple(c for c in rule.conditions if c.key in _L4_CONDITIONS)
    return Rule(sources=sources, operations=operations, conditions=conditions)


def covering(config: SecurityConfig, workload: Workload) -> Iterable[AuthorizationPolicy]:
    """Policies that are (or may be) in force for ``workload``."""
    root = config.root_namespace
    return (
        p
        for p in config.authorization_policies
        if applies(p, workload, root_namespace=root) is not False
    )


def unenforced(config: SecurityConfig, workload: Workload) -> Iterable[AuthorizationPolicy]:
    """Policies that target the workload's Service while no waypoint serves it:
    nothing enforces them."""
    if workload.waypoint is not None:
        return ()
    return tuple(
        p
        for p in config.authorization_policies
        if p.ref.cluster == workload.cluster
        and any(
            ref.kind == "Service"
            and ref.name == workload.service
            and (ref.namespace or p.ref.namespace) == workload.namespace
            for ref in p.target_refs
        )
    )
