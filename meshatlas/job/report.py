"""The JSON report of a discovery run, validated against the shipped schema."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from catalog.model import RunSummary
from discovery import secrets
from discovery.mesh.model import MeshConfig
from discovery.model import Api, Discovery, Problem, ServiceFindings, ServiceKey, SpecDocument
from meshatlas.job import analytics as analytics_job

#: Key of a published API: (service, port).
ApiRef = tuple[ServiceKey, int]


@cache
def schema() -> dict[str, Any]:
    """The report's JSON Schema, as shipped in the package."""
    text = resources.files("meshatlas").joinpath("schemas/report.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _compiled() -> Callable[[Any], Any]:
    compiled: Callable[[Any], Any] = fastjsonschema.compile(schema())
    return compiled


def validate(report: Mapping[str, Any]) -> None:
    """Raise ``fastjsonschema.JsonSchemaException`` if the report breaks its schema.

    The schema is compiled once to Python code: a report of 5,000 Services
    validates in a tenth of a second instead of seconds. The tests validate
    reports with ``jsonschema`` too, so the two must agree.
    """
    _compiled()(dict(report))


def build(
    *,
    discovery: Discovery,
    assets: Mapping[ApiRef, Mapping[str, Any]],
    extra_problems: Sequence[Problem],
    outcome: str,
    catalog: str | None,
    version: str,
    started_at: datetime,
    finished_at: datetime,
    kube_requests: int,
    timings: Mapping[str, float] | None = None,
    run: RunSummary | None = None,
    drift: Mapping[str, Any] | None = None,
    posture: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report; ``assets`` maps each API to its asset fields.

    ``run`` is what the catalogue concluded of the run (its ``lifecycle``);
    ``drift`` the operation traffic and drift section, when span sources were read.
    """
    problems = list(discovery.problems) + list(extra_problems)
    apis = discovery.apis
    published = Counter(str(a.get("outcome", "not-published")) for a in assets.values())
    report: dict[str, Any] = {
        "meshatlas_version": version,
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "outcome": outcome,
        "catalog": catalog,
        "clusters": list(discovery.inventory.clusters),
        "notes": [secrets.mask_credentials(n) for n in discovery.inventory.notes],
        "services": [_service(f, assets, discovery.inventory.mesh) for f in discovery.findings],
        "ignored": [str(k) for k in discovery.inventory.ignored],
        "external_hosts": [
            {
                "host": h.host,
                "cluster": h.cluster,
                "ports": list(h.ports),
                "service_entry": f"{h.namespace}/{h.entry}",
            }
            for h in discovery.inventory.external_hosts
        ],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "protocol": e.protocol,
                "rps": e.rps,
                "error_rate": e.error_rate,
                "p95_ms": e.p95_ms,
                "origin": e.origin,
                "p50_ms": e.p50_ms,
                "p99_ms": e.p99_ms,
                "mtls": e.mtls,
                "workloads": list(e.workloads),
                "bytes_per_s": e.bytes_per_s,
                "egress": e.egress,
                "sources": list(e.sources),
            }
            for e in discovery.edges
        ],
        # Operator-given URLs (a catalogue server, Jaeger) may carry a password;
        # whatever quotes them here says it masked.
        "problems": [
            {
                "where": secrets.mask_credentials(p.where),
                "what": p.what,
                "why": secrets.mask_credentials(p.why),
            }
            for p in problems
        ],
        "stats": {
            "services": len(discovery.findings),
            "probed": sum(1 for f in discovery.findings if f.requests),
            "apis": len(apis),
            "apis_by_kind": dict(sorted(Counter(a.kind for a in apis).items())),
            "specs": sum(1 for a in apis if a.spec is not None),
            "requests": sum(f.requests for f in discovery.findings),
            "kube_requests": kube_requests,
            "edges": len(discovery.edges),
            "published": dict(sorted(published.items())),
            "duration_s": round((finished_at - started_at).total_seconds(), 3),
            "phases_s": dict(timings or {}),
        },
        "lifecycle": None if run is None else _lifecycle(run),
    }
    if drift is not None:
        report["drift"] = dict(drift)
    if posture is not None:
        # Each workload's security posture and its findings (meshatlas.job.posture).
        report["posture"] = dict(posture)
    if discovery.traffic:
        # Inbound traffic per API from Istio's metrics (meshatlas.job.analytics).
        report["analytics"] = analytics_job.section(discovery.traffic, assets)
    validate(report)
    return report


def _lifecycle(run: RunSummary) -> dict[str, Any]:
    """What the catalogue made of the run: APIs missed, deprecated, held; instances gone stale."""
    return {
        "run_id": run.run_id,
        "counted": run.counted,
        "missed": list(run.missed),
        "deprecated": list(run.deprecated),
        "restored": list(run.restored),
        "held": list(run.held),
        "stale_instances": [
            {
                "asset_id": ref.asset_id,
                "cluster": ref.cluster,
                "namespace": ref.namespace,
                "service": ref.service,
                "port": ref.port,
            }
            for ref in run.stale
        ],
    }


def _service(
    findings: ServiceFindings, assets: Mapping[ApiRef, Mapping[str, Any]], mesh: MeshConfig
) -> dict[str, Any]:
    svc = findings.service
    plane = mesh.ambient.dataplane(svc.key)
    return {
        "cluster": svc.key.cluster,
        "namespace": svc.key.namespace,
        "name": svc.key.name,
        "type": svc.type,
        "headless": svc.headless,
        "external_name": svc.external_name,
        "addresses": list(svc.cluster_ips),
        "ready_addresses": list(svc.ready_addresses),
        "ports": [
            {
                "name": p.name,
                "port": p.port,
                "target_port": p.target_port,
                "protocol": p.protocol,
                "app_protocol": p.app_protocol,
                "mesh_protocol": p.mesh_protocol,
            }
            for p in svc.ports
        ],
        "apis": [_api(a, assets, mesh) for a in findings.apis],
        "skipped": [
            {"port": s.port.port if s.port else None, "reason": s.reason} for s in findings.skipped
        ],
        "requests": findings.requests,
        "owner": svc.overrides.owner,
        "dataplane": plane.dataplane if plane else None,
        "waypoint": plane.waypoint if plane else None,
        # Ambient without a waypoint: telemetry shows who calls it, not how.
        "l7_blind": bool(plane and plane.l7_blind),
        "versions": [
            {"subset": s.name, "version": s.version, "labels": dict(s.labels), "rule": s.rule}
            for s in mesh.versions(svc.key)
        ],
    }


def _exposure(api: Api, mesh: MeshConfig) -> dict[str, Any]:
    """Where an API is reachable from outside the mesh, or that it is not."""
    at = mesh.exposed(api.service, api.port.port)
    return {
        "scope": "external" if at else "mesh-internal",
        "at": [
            {
                "gateway": e.gateway,
                "flavour": e.flavour,
                "host": e.host,
                "port": e.port,
                "protocol": e.protocol,
                "path": e.path,
                "path_match": e.path_match,
                "route": e.route,
            }
            for e in at
        ],
    }


def _document(spec: SpecDocument | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {
        "format": spec.format,
        "version": spec.spec_version,
        "url": spec.url,
        "packaging": spec.packaging,
        "title": spec.title,
        "api_version": spec.api_version,
        "operation_count": spec.operation_count,
        "valid": spec.valid,
        "errors": list(spec.errors),
        "soap_versions": list(spec.soap_versions),
        "servers": list(spec.servers),
    }


def _api(api: Api, assets: Mapping[ApiRef, Mapping[str, Any]], mesh: MeshConfig) -> dict[str, Any]:
    return {
        "kind": api.kind,
        "port": api.port.port,
        "endpoint": api.base_url,
        "spec": _document(api.spec),
        # A GraphQL schema or gRPC descriptors the API gave of itself.
        "contract": _document(api.contract),
        "evidence": [
            {
                "check": e.check,
                "matched": e.matched,
                "url": e.url,
                "status": e.status,
                "content_type": e.content_type,
            }
            for e in api.evidence
        ],
        "confidence": api.confidence,
        "grpc_services": list(api.grpc_services),
        "requests": api.requests,
        "asset": dict(assets[(api.service, api.port.port)]),
        "exposure": _exposure(api, mesh),
    }
