"""Callers with their identities, and the share of traffic over mutual TLS.

The dependency edges say who calls a workload; :class:`PeerTraffic` (what
the receiving proxies reported, :mod:`discovery.mesh.peers`) says with
which SPIFFE identity and whether over mTLS. Joined, each caller carries the
principal an AuthorizationPolicy tests, so ``principals:`` rules can be
decided instead of left unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from discovery.mesh.peers import PeerTraffic, Unit
from discovery.model import Edge
from governance.istio.workload import Workload
from governance.posture import Caller, callers_of


@dataclass(frozen=True, slots=True)
class MtlsShare:
    """How much of a workload's observed traffic used mutual TLS.

    ``share`` is ``None`` when nothing was observed; ``unit`` says what was
    counted (requests, or connections where only L4 series exist).
    """

    share: float | None
    unit: Unit | None
    mtls_rate: float = 0.0
    total_rate: float = 0.0


def callers_seen(
    workload: Workload, edges: Iterable[Edge], peers: Sequence[PeerTraffic]
) -> tuple[Caller, ...]:
    """The callers of ``workload``, one per identity each presented.

    A caller node seen with two principals (two service accounts behind one
    Service, or mTLS and plaintext mixed) is two callers, since a policy may
    allow one and deny the other. A caller no peer traffic describes keeps
    what its edge says (no principal).
    """
    mine = [p for p in peers if p.target == workload.node]
    found: list[Caller] = []
    for caller in callers_of(workload, edges):
        rows = _one_unit([p for p in mine if p.source == caller.node])
        if not rows:
            found.append(caller)
            continue
        groups: dict[str | None, list[PeerTraffic]] = {}
        for row in rows:
            groups.setdefault(row.source_principal, []).append(row)
        for identity, group in sorted(groups.items(), key=lambda item: item[0] or ""):
            found.append(
                Caller(
                    node=caller.node,
                    namespace=caller.namespace,
                    mtls=_mtls(group, fallback=caller.mtls),
                    rps=sum(r.rate for r in group),
                    principal=identity,
                )
            )
    return tuple(found)


def mtls_share(workload: Workload, peers: Sequence[PeerTraffic]) -> MtlsShare:
    """The share of ``workload``'s observed traffic that used mutual TLS."""
    rows = _one_unit([p for p in peers if p.target == workload.node])
    total = sum(r.rate for r in rows)
    if not rows or total <= 0:
        return MtlsShare(None, None)
    secured = sum(r.rate for r in rows if r.mtls is True)
    return MtlsShare(secured / total, rows[0].unit, secured, total)


def service_accounts(workload: Workload, peers: Sequence[PeerTraffic]) -> tuple[str, ...]:
    """The identities ``workload`` answered with (``destination_principal``), sorted."""
    return tuple(
        sorted(
            {p.target_principal for p in peers if p.target == workload.node and p.target_principal}
        )
    )


def _one_unit(rows: list[PeerTraffic]) -> list[PeerTraffic]:
    """Requests where there are any, else connections: never the two added up."""
    requests = [r for r in rows if r.unit == "requests"]
    return requests or [r for r in rows if r.unit == "connections"]


def _mtls(rows: Sequence[PeerTraffic], *, fallback: bool | None) -> bool | None:
    if any(r.mtls is False for r in rows):
        return False
    if rows and all(r.mtls is True for r in rows):
        return True
    return fallback
