"""The mTLS mode in force on a workload's port, with Istio's precedence.

Istio's PeerAuthentication reference: a workload-specific policy (with a
selector) overrides the namespace's (no selector), which overrides the
mesh's (no selector, in the root namespace); ``UNSET`` inherits from the
level above, and with nothing set the mode is PERMISSIVE. ``portLevelMtls``
counts only on a policy with a selector, and its keys are the workload's
(container) ports, not the Service's. Selector policies in the root
namespace are ignored. Of several policies at one level, the oldest wins.
In ambient mode DISABLE is not supported (ztunnel always speaks mTLS
between mesh workloads), so it inherits like UNSET.
"""

from __future__ import annotations

from dataclasses import dataclass

from discovery.mesh.security import MtlsMode, PeerAuthentication, SecurityConfig
from governance.istio.authz import selects
from governance.istio.workload import Workload


@dataclass(frozen=True, slots=True)
class MtlsSetting:
    """The mode in force and the object that set it (``None``: Istio's default)."""

    mode: MtlsMode
    source: str | None
    #: Workload policies whose selector may or may not pick these pods.
    uncertain: tuple[str, ...] = ()


def effective_mode(config: SecurityConfig, workload: Workload, port: int | None) -> MtlsSetting:
    """The mode for ``port`` (the workload's port; ``None`` when unknown)."""
    own = [p for p in config.peer_authentications if p.ref.cluster == workload.cluster]
    specific: list[PeerAuthentication] = []
    uncertain: list[str] = []
    for candidate in own:
        if candidate.selector is None or candidate.ref.namespace != workload.namespace:
            continue
        if candidate.ref.namespace == config.root_namespace:
            continue
        hit = selects(candidate.selector, workload)
        if hit is True:
            specific.append(candidate)
        elif hit is None:
            uncertain.append(str(candidate.ref))
    levels = [
        _oldest(specific),
        _oldest([p for p in own if p.selector is None and p.ref.namespace == workload.namespace]),
        _oldest(
            [p for p in own if p.selector is None and p.ref.namespace == config.root_namespace]
        ),
    ]
    workload_policy = levels[0]
    if workload_policy is not None and port is not None:
        for number, mode in workload_policy.port_modes:
            if number == port and _counts(mode, workload):
                return MtlsSetting(mode, f"{workload_policy.ref} (port {port})", tuple(uncertain))
    for level in levels:
        if level is not None and _counts(level.mode, workload):
            return MtlsSetting(level.mode, str(level.ref), tuple(uncertain))
    return MtlsSetting("PERMISSIVE", None, tuple(uncertain))


def _counts(mode: MtlsMode, workload: Workload) -> bool:
    if mode == "UNSET":
        return False
    return not (mode == "DISABLE" and workload.ambient)


def _oldest(policies: list[PeerAuthentication]) -> PeerAuthentication | None:
    if not policies:
        return None
    return min(policies, key=lambda p: (p.created or "~", p.ref.name))
