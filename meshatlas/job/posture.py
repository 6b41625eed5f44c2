"""The security posture of a run: governance over what discovery read and saw.

The composition root's part: which Services are workloads to judge, the one
telemetry query governance needs beyond the edges (the identities callers
presented, :mod:`discovery.mesh.peers`), and the report's ``posture``
section. The judging itself is :mod:`governance`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

import governance
from discovery import secrets
from discovery.errors import TelemetryError
from discovery.mesh import peers as mesh_peers
from discovery.mesh.model import Exposure
from discovery.mesh.security import SecurityConfig
from discovery.model import Discovery, Edge, Inventory, Service, ServicePort
from discovery.telemetry import NodeNamer, PrometheusApi, Sample
from governance.findings import SEVERITIES, Finding, Severity, at_least, ordered
from governance.istio import scope
from meshatlas.job.telemetry import TelemetryOptions

__all__ = [
    "Instance",
    "Peers",
    "PostureRun",
    "assess",
    "finding_doc",
    "gate",
    "observe",
    "of_discovery",
    "section",
    "workloads",
]

#: Queries in flight at once against Prometheus.
_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Peers:
    """What the receiving proxies reported of each caller's identity, or why nothing."""

    traffic: tuple[mesh_peers.PeerTraffic, ...] = ()
    #: Why the identities could not be read (then principals are unknown).
    failure: str | None = None
    queried: bool = False


@dataclass(frozen=True, slots=True)
class Instance:
    """The posture of one port of one Service (an API instance when an API was found)."""

    service: Service
    port: ServicePort
    #: The port the workload listens on: PeerAuthentication's ``portLevelMtls`` keys.
    workload_port: int
    posture: governance.Posture
    share: governance.MtlsShare
    service_accounts: tuple[str, ...]
    exposures: tuple[Exposure, ...]
    findings: tuple[Finding, ...]
    api: str | None = None

    @property
    def mtls(self) -> tuple[str, str | None]:
        """The mode on this port and the object that set it."""
        found = next((p for p in self.posture.ports if p.port == self.workload_port), None)
        return (found.mode, found.source) if found else ("PERMISSIVE", None)


@dataclass(frozen=True, slots=True)
class PostureRun:
    """Every judged instance, the findings (each once), and what limited the judgement."""

    instances: tuple[Instance, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    root_namespace: str


def observe(options: TelemetryOptions, inventory: Inventory) -> Peers:
    """Ask ``--prometheus`` who called with which identity (nothing without it)."""
    if not options.prometheus:
        return Peers()
    return asyncio.run(_observe(options, inventory))


async def _observe(options: TelemetryOptions, inventory: Inventory) -> Peers:
    namer = NodeNamer(inventory)
    waypoints = [w.workload_id for w in inventory.mesh.ambient.waypoints]
    wanted = mesh_peers.queries(namer.namespaces(), window=options.telemetry_window)
    slots = asyncio.Semaphore(_CONCURRENCY)
    url = options.prometheus or ""
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        api = PrometheusApi(
            client=client, url=url, at=options.telemetry_at, timeout=options.telemetry_timeout
        )

        async def one(unit: mesh_peers.Unit, promql: str) -> list[tuple[mesh_peers.Unit, Sample]]:
            async with slots:
                return [(unit, s) for s in await api.query(promql)]

        try:
            answers = await asyncio.gather(*(one(unit, q) for unit, q in wanted))
        except TelemetryError as exc:
            said = secrets.mask_credentials(f"{url}: {exc}")
            return Peers(failure=said, queried=True)
    samples = [pair for answer in answers for pair in answer]
    return Peers(mesh_peers.read_samples(samples, namer, waypoints=waypoints), queried=True)


def workloads(inventory: Inventory) -> tuple[tuple[governance.Workload, Service], ...]:
    """The Services whose pods can be judged: selected pods, not waypoints, not external."""
    mesh = inventory.mesh
    found: list[tuple[governance.Workload, Service]] = []
    for service in inventory.services:
        key = service.key
        if service.external_name or service.type == "ExternalName" or not service.selector:
            continue
        if mesh.ambient.is_waypoint(key.cluster, key.namespace, key.name):
            continue
        plane = mesh.ambient.dataplane(key)
        waypoint = mesh.ambient.waypoint_for(key)
        found.append(
            (
                governance.Workload(
                    cluster=key.cluster,
                    namespace=key.namespace,
                    service=key.name,
                    labels=dict(service.selector),
                    ambient=plane is not None and plane.dataplane == "ambient",
                    waypoint=waypoint.name if waypoint else None,
                ),
                service,
            )
        )
    return tuple(found)


def assess(
    inventory: Inventory,
    edges: Sequence[Edge],
    peers: Peers = Peers(),
    *,
    apis: Sequence[tuple[Service, ServicePort, str]] = (),
) -> PostureRun:
    """Judge every workload of ``inventory``; ``apis`` name the API found on a port."""
    mesh = inventory.mesh
    security = mesh.security
    notes = list(security.notes)
    if peers.failure:
        notes.append(f"callers' identities not read, so principals are unknown: {peers.failure}")
    kinds = {(s.key, p.port): kind for s, p, kind in apis}
    instances: list[Instance] = []
    findings: dict[Finding, None] = {}
    skipped: set[tuple[str, str]] = set()
    # Grouped by target once: a crawl of thousands of Services must not scan
    # every edge for every workload.
    into: dict[str, list[Edge]] = {}
    for edge in edges:
        into.setdefault(edge.target, []).append(edge)
    seen: dict[str, list[mesh_peers.PeerTraffic]] = {}
    for traffic in peers.traffic:
        seen.setdefault(traffic.target, []).append(traffic)
    scoped: dict[tuple[str, str], SecurityConfig] = {}
    for workload, service in workloads(inventory):
        where = (workload.cluster, workload.namespace)
        if not security.read_in(*where):
            skipped.add(where)
            continue
        if where not in scoped:
            scoped[where] = scope.for_namespace(
                security, cluster=workload.cluster, namespace=workload.namespace
            )
        ports = [(p, _workload_port(p)) for p in service.ports]
        exposures = mesh.exposed(service.key)
        posture = governance.assess(
            config=scoped[where],
            workload=workload,
            ports=[number for _, number in ports],
            callers=governance.callers_seen(
                workload, into.get(workload.node, ()), seen.get(workload.node, ())
            ),
            exposed_at=_exposed_at(exposures),
        )
        findings.update(dict.fromkeys(posture.findings))
        share = governance.mtls_share(workload, seen.get(workload.node, ()))
        accounts = governance.service_accounts(workload, seen.get(workload.node, ()))
        for port, number in ports:
            instances.append(
                Instance(
                    service=service,
                    port=port,
                    workload_port=number,
                    posture=posture,
                    share=share,
                    service_accounts=accounts,
                    exposures=mesh.exposed(service.key, port.port),
                    findings=tuple(f for f in posture.findings if _concerns(f, workload, number)),
                    api=kinds.get((service.key, port.port)),
                )
            )
    notes.extend(
        f"{cluster}: posture of namespace {namespace} not judged: its security config "
        "(or the root namespace's) could not be read"
        for cluster, namespace in sorted(skipped)
    )
    return PostureRun(
        instances=tuple(instances),
        findings=ordered(list(findings)),
        notes=tuple(notes),
        root_namespace=security.root_namespace,
    )


def of_discovery(found: Discovery, peers: Peers = Peers()) -> PostureRun:
    """:func:`assess` over a discovery run, with the APIs it found."""
    apis = [(f.service, a.port, a.kind) for f in found.findings for a in f.apis]
    return assess(found.inventory, found.edges, peers, apis=apis)


def gate(run: PostureRun, threshold: Severity | None) -> tuple[Finding, ...]:
    """The findings at or above ``threshold`` (none for ``None``)."""
    if threshold is None:
        return ()
    return tuple(f for f in run.findings if at_least(f.severity, threshold))


def section(run: PostureRun) -> dict[str, Any]:
    """The report's ``posture`` section."""
    counts = {s: sum(1 for f in run.findings if f.severity == s) for s in SEVERITIES}
    return {
        "root_namespace": run.root_namespace,
        "counts": counts,
        "findings": [finding_doc(f) for f in run.findings],
        "instances": [_instance(i) for i in run.instances],
        "notes": [secrets.mask_credentials(n) for n in run.notes],
    }


def finding_doc(finding: Finding) -> dict[str, Any]:
    """One finding in the shape every output shares (DESIGN: findings)."""
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "subject": finding.subject,
        "objects": list(finding.objects),
        "reason": finding.reason,
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
    }


def _instance(i: Instance) -> dict[str, Any]:
    key = i.service.key
    mode, source = i.mtls
    posture = i.posture
    return {
        "cluster": key.cluster,
        "namespace": key.namespace,
        "service": key.name,
        "port": i.port.port,
        "port_name": i.port.name,
        "workload_port": i.workload_port,
        "api": i.api,
        "dataplane": "ambient" if posture.workload.ambient else "sidecar",
        "mtls": {
            "mode": mode,
            "set_by": source,
            "share": None if i.share.share is None else round(i.share.share, 6),
            "unit": i.share.unit,
        },
        "plaintext_callers": sorted(set(posture.plaintext_callers)),
        "covered_by_policy": bool(posture.policies),
        "policies": list(posture.policies),
        "callers": [
            {
                "node": v.caller.node,
                "principal": v.caller.principal,
                "mtls": v.caller.mtls,
                "rate": v.caller.rps,
                "verdict": v.decision.verdict,
                "reason": v.decision.reason,
                "policies": list(v.decision.policies),
            }
            for v in posture.callers
        ],
        "jwt": {"issuers": list(posture.jwt_issuers), "required": posture.jwt_required},
        "exposed_at": [
            {"gateway": e.gateway, "host": e.host, "port": e.port, "path": e.path}
            for e in i.exposures
        ],
        "service_accounts": list(i.service_accounts),
        "findings": [f.kind for f in i.findings],
    }


def _workload_port(port: ServicePort) -> int:
    """The container port behind a Service port: its numeric ``targetPort``, else the port.

    A named ``targetPort`` would need the Pods' specs, which meshatlas does not read.
    """
    target = port.target_port
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return port.port


def _exposed_at(exposures: Sequence[Exposure]) -> tuple[str, ...]:
    """The ingress gateways a Service is reachable through, as findings name objects."""
    return tuple(dict.fromkeys(f"Gateway {e.gateway}" for e in exposures))


def _concerns(finding: Finding, workload: governance.Workload, port: int) -> bool:
    node = workload.node
    if finding.subject in (node, f"{node}:{port}"):
        return True
    return finding.subject.endswith(f" -> {node}")
