"""Each workload's security posture, and the findings it gives.

Pure functions over discovery's models: the security config read from the
clusters, the Services, and the telemetry edges that show who calls whom and
whether over mutual TLS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from discovery.mesh.security import AuthorizationPolicy, MtlsMode, SecurityConfig
from discovery.model import Edge
from governance.findings import Finding, ordered
from governance.istio import authz, mtls
from governance.istio.workload import Request, Workload


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller seen in telemetry: its node, namespace and whether it used mTLS."""

    node: str
    namespace: str | None
    mtls: bool | None
    rps: float | None = None
    principal: str | None = None


@dataclass(frozen=True, slots=True)
class CallerVerdict:
    caller: Caller
    decision: authz.Decision


@dataclass(frozen=True, slots=True)
class PortPosture:
    port: int
    mode: MtlsMode
    source: str | None


@dataclass(frozen=True, slots=True)
class Posture:
    """Who may call a workload, who does, over what, and what is open."""

    workload: Workload
    ports: tuple[PortPosture, ...]
    policies: tuple[str, ...]
    jwt_issuers: tuple[str, ...]
    #: True when a policy in force requires a request principal (a JWT).
    jwt_required: bool
    callers: tuple[CallerVerdict, ...]
    exposed_at: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def plaintext_callers(self) -> tuple[str, ...]:
        return tuple(v.caller.node for v in self.callers if v.caller.mtls is False)


def callers_of(workload: Workload, edges: Iterable[Edge]) -> tuple[Caller, ...]:
    """The callers telemetry shows for ``workload`` (config-only edges say nothing)."""
    found: list[Caller] = []
    for edge in edges:
        if edge.target != workload.node or edge.origin == "config":
            continue
        parts = edge.source.split("/")
        namespace = parts[1] if len(parts) == 3 else None
        found.append(Caller(edge.source, namespace, edge.mtls, edge.rps))
    return tuple(sorted(found, key=lambda c: c.node))


def assess(
    *,
    config: SecurityConfig,
    workload: Workload,
    ports: Sequence[int],
    callers: Sequence[Caller] = (),
    exposed_at: Sequence[str] = (),
) -> Posture:
    """The posture of one workload; ``ports`` are its workload (target) ports."""
    port_postures = tuple(_port(config, workload, port) for port in ports)
    policies = tuple(authz.covering(config, workload))
    jwt = _jwt_issuers(config, workload)
    requires_jwt = any(_requires_request_principal(p) for p in policies)
    verdicts = tuple(
        CallerVerdict(
            caller=c,
            decision=authz.decide(
                config,
                workload,
                Request.from_caller(
                    namespace=c.namespace,
                    mtls=c.mtls,
                    principal=c.principal,
                    port=ports[0] if len(ports) == 1 else None,
                ),
            ),
        )
        for c in callers
    )
    findings = _findings(
        workload=workload,
        ports=port_postures,
        policies=policies,
        unenforced=tuple(authz.unenforced(config, workload)),
        jwt_issuers=jwt,
        requires_jwt=requires_jwt,
        verdicts=verdicts,
        exposed_at=tuple(exposed_at),
    )
    return Posture(
        workload=workload,
        ports=port_postures,
        policies=tuple(str(p.ref) for p in policies),
        jwt_issuers=tuple(issuer for issuer, _ in jwt),
        jwt_required=requires_jwt,
        callers=verdicts,
        exposed_at=tuple(exposed_at),
        findings=findings,
    )


def _port(config: SecurityConfig, workload: Workload, port: int) -> PortPosture:
    setting = mtls.effective_mode(config, workload, port)
    return PortPosture(port, setting.mode, setting.source)


def _jwt_issuers(config: SecurityConfig, workload: Workload) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for ra in config.request_authentications:
        if ra.ref.cluster != workload.cluster:
            continue
        in_scope = ra.ref.namespace in (config.root_namespace, workload.namespace)
        if not in_scope:
            continue
        if ra.selector is not None and authz.selects(ra.selector, workload) is not True:
            continue
        found.extend((rule.issuer, str(ra.ref)) for rule in ra.jwt_rules)
    return tuple(found)


def _requires_request_principal(policy: AuthorizationPolicy) -> bool:
    """An ALLOW whose every rule names request principals, or a DENY of requests
    without one (``notRequestPrincipals: ["*"]``): Istio's two documented ways."""
    if policy.action == "ALLOW" and policy.rules:
        return all(
            rule.sources and all(s.request_principals for s in rule.sources)
            for rule in policy.rules
        )
    if policy.action == "DENY":
        return any("*" in s.not_request_principals for rule in policy.rules for s in rule.sources)
    return False


def _findings(
    *,
    workload: Workload,
    ports: tuple[PortPosture, ...],
    policies: tuple[AuthorizationPolicy, ...],
    unenforced: tuple[AuthorizationPolicy, ...],
    jwt_issuers: tuple[tuple[str, str], ...],
    requires_jwt: bool,
    verdicts: tuple[CallerVerdict, ...],
    exposed_at: tuple[str, ...],
) -> tuple[Finding, ...]:
    subject = workload.node
    out: list[Finding] = []
    plaintext = [v.caller.node for v in verdicts if v.caller.mtls is False]
    for port in ports:
        if port.mode in ("PERMISSIVE", "DISABLE") and plaintext:
            out.append(
                Finding(
                    kind="plaintext-accepted",
                    severity="high",
                    subject=f"{subject}:{port.port}",
                    objects=_objects(port.source),
                    reason=(
                        f"mTLS is {port.mode} and plaintext arrives from "
                        f"{', '.join(sorted(set(plaintext)))}"
                    ),
                )
            )
        elif port.mode == "DISABLE" and not workload.ambient:
            out.append(
                Finding(
                    kind="mtls-disabled",
                    severity="medium",
                    subject=f"{subject}:{port.port}",
                    objects=_objects(port.source),
                    reason="mTLS is DISABLE: callers cannot be identified or encrypted to",
                )
            )
        elif port.mode == "PERMISSIVE" and verdicts and not workload.ambient:
            if all(v.caller.mtls is True for v in verdicts):
                out.append(
                    Finding(
                        kind="could-be-strict",
                        severity="low",
                        subject=f"{subject}:{port.port}",
                        objects=_objects(port.source),
                        reason="mTLS is PERMISSIVE but every observed caller already uses mTLS",
                    )
                )
    enforcing = [p for p in policies if p.action in ("ALLOW", "DENY", "CUSTOM")]
    if not enforcing:
        out.append(
            Finding(
                kind="no-authorization-policy",
                severity="high" if exposed_at else "medium",
                subject=subject,
                objects=(),
                reason="no AuthorizationPolicy covers this workload: any caller may call it",
            )
        )
    for v in verdicts:
        if v.decision.verdict == "deny":
            out.append(
                Finding(
                    kind="policy-denies-observed-caller",
                    severity="high",
                    subject=f"{v.caller.node} -> {subject}",
                    objects=v.decision.policies,
                    reason=f"{v.caller.node} calls this workload today, yet {v.decision.reason}",
                )
            )
    for policy in unenforced:
        out.append(
            Finding(
                kind="policy-without-waypoint",
                severity="medium",
                subject=subject,
                objects=(str(policy.ref),),
                reason=(
                    "the policy targets the Service, but no waypoint serves it, "
                    "so nothing enforces it"
                ),
            )
        )
    for policy in policies:
        if workload.ambient and not policy.target_refs and authz.uses_l7(policy):
            effect = "denies every request" if policy.action == "ALLOW" else "denies on L4 alone"
            out.append(
                Finding(
                    kind="l7-policy-on-ztunnel",
                    severity="high",
                    subject=subject,
                    objects=(str(policy.ref),),
                    reason=(
                        f"an L7 rule enforced by ztunnel (ambient, selector policy) fails safe: "
                        f"it {effect}; attach it to a waypoint with targetRefs"
                    ),
                )
            )
    if jwt_issuers and not requires_jwt:
        out.append(
            Finding(
                kind="jwt-optional",
                severity="high" if exposed_at else "medium",
                subject=subject,
                objects=tuple(sorted({ref for _, ref in jwt_issuers})),
                reason=(
                    "a RequestAuthentication validates JWTs but no AuthorizationPolicy "
                    "requires one, so requests without a token pass"
                ),
            )
        )
    if exposed_at and not requires_jwt and not _restricts_callers(enforcing):
        out.append(
            Finding(
                kind="exposed-without-authentication",
                severity="high",
                subject=subject,
                objects=tuple(exposed_at),
                reason=(
                    f"reachable from outside at {', '.join(exposed_at)} with no JWT required "
                    "and no policy restricting callers"
                ),
            )
        )
    return ordered(out)


def _restricts_callers(policies: Sequence[AuthorizationPolicy]) -> bool:
    return any(
        p.action in ("ALLOW", "CUSTOM") or (p.action == "DENY" and p.rules) for p in policies
    )


def _objects(source: str | None) -> tuple[str, ...]:
    return (source,) if source else ()


def assess_all(
    *,
    config: SecurityConfig,
    workloads: Mapping[Workload, Sequence[int]],
    edges: Sequence[Edge],
    exposure: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Posture, ...]:
    """Postures for many workloads; ``exposure`` maps a workload node to where it is exposed."""
    exposure = exposure or {}
    return tuple(
        assess(
            config=config,
            workload=w,
            ports=ports,
            callers=callers_of(w, edges),
            exposed_at=exposure.get(w.node, ()),
        )
        for w, ports in workloads.items()
    )
