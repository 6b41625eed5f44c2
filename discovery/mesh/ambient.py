"""Ambient mode from cluster config: which Services ztunnel carries, and through which waypoint.

Istio's ambient labels (istio.io/latest/docs/ambient/usage/):

- ``istio.io/dataplane-mode=ambient`` on a Namespace puts its Pods in ambient
  mode; on a Pod it does the same for that Pod, and ``none`` takes a Pod out.
- A waypoint is a Gateway of class ``istio-waypoint``; its
  ``istio.io/waypoint-for`` label says which traffic it takes (``service``
  by default, ``workload``, ``all`` or ``none``).
- ``istio.io/use-waypoint`` on a Namespace, Service or ServiceEntry names the
  waypoint (``none`` opts out); ``istio.io/use-waypoint-namespace`` says where
  it lives when not in the same namespace. A Service's label wins over its
  Namespace's.
- Sidecars: ``istio-injection=enabled`` or ``istio.io/rev`` on the Namespace,
  ``sidecar.istio.io/inject=true`` on a Pod.

A Service in ambient mode without a waypoint is L7-blind: ztunnel reports
its connections (who calls it) but not its requests (how).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from discovery.mesh.index import selects_pod
from discovery.mesh.model import AmbientConfig, Dataplane, ServiceDataplane, Waypoint
from discovery.model import Service, ServiceKey

DATAPLANE_MODE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR = "istio.io/waypoint-for"


@dataclass(frozen=True, slots=True)
class PodLabels:
    """The labels of one Pod that carries an ambient label (metadata only)."""

    namespace: str
    labels: Mapping[str, str]


def _sidecar_namespace(labels: Mapping[str, str]) -> bool:
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels


def convert(
    *,
    cluster: str,
    services: Sequence[Service],
    service_labels: Mapping[ServiceKey, Mapping[str, str]],
    namespace_labels: Mapping[str, Mapping[str, str]],
    pods: Sequence[PodLabels],
    waypoint_gateways: Sequence[Mapping[str, Any]],
) -> tuple[AmbientConfig, tuple[str, ...]]:
    """The cluster's ambient picture, and notes on what could not be matched."""
    notes: list[str] = []
    ambient_ns = {
        ns for ns, labels in namespace_labels.items() if labels.get(DATAPLANE_MODE) == "ambient"
    }
    by_id: dict[tuple[str, str], Waypoint] = {}
    for gw in waypoint_gateways:
        meta = gw.get("metadata") or {}
        name, ns = str(meta.get("name") or ""), str(meta.get("namespace") or "default")
        labels = meta.get("labels") or {}
        by_id[(ns, name)] = Waypoint(
            cluster=cluster,
            namespace=ns,
            name=name,
            workload=name,
            service_account=name,
            traffic_for=str(labels.get(WAYPOINT_FOR) or "service"),
        )
    serves: dict[tuple[str, str], list[ServiceKey]] = {k: [] for k in by_id}
    planes: list[ServiceDataplane] = []
    for service in services:
        if service.external or service.key.cluster != cluster:
            continue
        ns = service.key.namespace
        ns_labels = namespace_labels.get(ns, {})
        own = service_labels.get(service.key, {})
        plane = _dataplane(service, ns in ambient_ns, _sidecar_namespace(ns_labels), pods)
        waypoint: str | None = None
        if plane == "ambient":
            wanted = own.get(USE_WAYPOINT) or ns_labels.get(USE_WAYPOINT)
            where = (
                own.get(USE_WAYPOINT_NAMESPACE)
                if USE_WAYPOINT in own
                else ns_labels.get(USE_WAYPOINT_NAMESPACE)
            ) or ns
            if wanted and wanted != "none":
                found = by_id.get((where, wanted))
                if found is None:
                    notes.append(
                        f"{cluster}: {service.key.short} asks for waypoint {where}/{wanted}, "
                        "which is not a Gateway of class istio-waypoint; taken as L7-blind"
                    )
                elif not found.handles_services:
                    notes.append(
                        f"{cluster}: {service.key.short} asks for waypoint {where}/{wanted}, "
                        f"which takes {found.traffic_for} traffic, not Service traffic"
                    )
                else:
                    waypoint = str(found)
                    serves[(where, wanted)].append(service.key)
        planes.append(ServiceDataplane(service=service.key, dataplane=plane, waypoint=waypoint))
    waypoints = tuple(
        Waypoint(
            cluster=w.cluster,
            namespace=w.namespace,
            name=w.name,
            workload=w.workload,
            service_account=w.service_account,
            traffic_for=w.traffic_for,
            serves=tuple(sorted(serves[k], key=lambda s: (s.namespace, s.name))),
        )
        for k, w in sorted(by_id.items())
    )
    config = AmbientConfig(
        waypoints=waypoints,
        services=tuple(planes),
        ambient_namespaces=frozenset((cluster, ns) for ns in ambient_ns),
    )
    return config, tuple(notes)


def _dataplane(
    service: Service, ambient_namespace: bool, sidecar_namespace: bool, pods: Sequence[PodLabels]
) -> Dataplane:
    """Ambient when its Pods are (by their own label, else their Namespace's)."""
    modes = {
        p.labels.get(DATAPLANE_MODE)
        for p in pods
        if p.namespace == service.key.namespace and selects_pod(service.selector, p.labels)
    }
    if "ambient" in modes:
        return "ambient"
    if ambient_namespace and modes != {"none"}:
        return "ambient"
    if sidecar_namespace:
        return "sidecar"
    return "none"
