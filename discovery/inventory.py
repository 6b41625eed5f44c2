"""Build the cluster inventory: Services, endpoints, Istio config.

Reads each cluster through :class:`discovery.kube.Lister`, converts raw JSON
into :mod:`discovery.model` values once, and records what it could not read as
:class:`~discovery.model.Problem` entries instead of failing the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from discovery import hints, kube, protocols
from discovery.errors import KubeError
from discovery.mesh import ambient as mesh_ambient
from discovery.mesh import gatewayapi
from discovery.mesh import istio as mesh_istio
from discovery.mesh import security as mesh_security
from discovery.mesh.index import MAX_EXPOSURES, MAX_PREFIXES, ServiceIndex
from discovery.mesh.model import AmbientConfig, Exposure, MeshConfig
from discovery.model import (
    ConfigRoute,
    ExternalHost,
    Inventory,
    Problem,
    Service,
    ServiceKey,
    ServicePort,
)

DEFAULT_EXCLUDED = ("kube-system", "kube-public", "kube-node-lease", "istio-system")
ISTIO_GROUP = mesh_istio.GROUP
ISTIO_VERSIONS = mesh_istio.VERSIONS


@dataclass(frozen=True, slots=True)
class Scope:
    """Which Services to read."""

    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = DEFAULT_EXCLUDED
    selector: str | None = None

    def wants(self, namespace: str) -> bool:
        if self.namespaces:
            return namespace in self.namespaces
        return namespace not in self.exclude_namespaces


@dataclass
class _ClusterRead:
    services: list[Service] = field(default_factory=list)
    external: list[ExternalHost] = field(default_factory=list)
    routes: list[ConfigRoute] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[ServiceKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    mesh: MeshConfig = field(default_factory=MeshConfig)


def read_inventory(
    connections: Sequence[kube.ClusterConnection], *, scope: Scope = Scope(), page_size: int = 500
) -> Inventory:
    """Read every cluster; a cluster that cannot be read becomes a problem."""
    reads = [_read_cluster(c, scope=scope, page_size=page_size) for c in connections]
    return Inventory(
        clusters=tuple(c.name for c in connections),
        services=tuple(s for r in reads for s in r.services),
        external_hosts=tuple(h for r in reads for h in r.external),
        routes=tuple(rt for r in reads for rt in r.routes),
        problems=tuple(p for r in reads for p in r.problems),
        ignored=tuple(k for r in reads for k in r.ignored),
        notes=tuple(n for r in reads for n in r.notes),
        requests=sum(r.requests for r in reads),
        mesh=_merge([r.mesh for r in reads]),
    )


def absent_namespaces(
    connections: Sequence[kube.ClusterConnection], names: Iterable[str], *, page_size: int = 500
) -> tuple[str, ...]:
    """The namespaces of ``names`` that no cluster has, in the order given.

    Only clusters whose namespaces can be listed count: when none can
    (RBAC without ``list namespaces``), nothing is said to be absent.
    """
    wanted = tuple(dict.fromkeys(names))
    present: set[str] = set()
    listed = False
    for connection in connections:
        lister = kube.Lister(connection, page_size=page_size)
        try:
            present.update(
                ns["metadata"]["name"] for ns in lister.list(kube.ListTarget("namespaces"))
            )
        except KubeError:
            continue
        listed = True
    return tuple(n for n in wanted if n not in present) if listed else ()


def _merge(configs: Sequence[MeshConfig]) -> MeshConfig:
    """One :class:`MeshConfig` for every cluster read."""
    return MeshConfig(
        exposures=tuple(e for c in configs for e in c.exposures),
        subsets=tuple(s for c in configs for s in c.subsets),
        ambient=AmbientConfig(
            waypoints=tuple(w for c in configs for w in c.ambient.waypoints),
            services=tuple(s for c in configs for s in c.ambient.services),
            ambient_namespaces=frozenset(n for c in configs for n in c.ambient.ambient_namespaces),
        ),
        security=mesh_security.merge(c.security for c in configs),
    )


def _problem(exc: KubeError, what: str) -> Problem:
    where = f"{exc.cluster}:{exc.resource}" if exc.cluster else str(exc.resource)
    status = f"HTTP {exc.status}: " if exc.status else ""
    return Problem(where=where, what=what, why=f"{status}{exc.message}")


def _list_scoped(
    lister: kube.Lister,
    target: kube.ListTarget,
    scope: Scope,
    *,
    namespaces: Sequence[str],
    problems: list[Problem],
    what: str,
    selector: str | None = None,
    failed: set[str] | None = None,
) -> list[dict[str, Any]]:
    """List cluster-wide, or once per namespace.

    Per namespace when the scope names namespaces, and also when the
    cluster-wide list is forbidden (403): then each readable namespace is
    listed on its own and each one still forbidden becomes a problem.
    Other failures propagate as :class:`KubeError`.
    """

    def per_namespace(names: Iterable[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for ns in names:
            scoped = dataclasses.replace(target, namespace=ns)
            try:
                items.extend(lister.list(scoped, label_selector=selector))
            except KubeError as exc:
                if exc.status == 404 and target.group in (ISTIO_GROUP, gatewayapi.GROUP):
                    raise
                problems.append(_problem(exc, f"{what} in namespace {ns} not readable"))
                if failed is not None:
                    failed.add(ns)
        return items

    if scope.namespaces:
        return per_namespace(scope.namespaces)
    try:
        return list(lister.list(target, label_selector=selector))
    except KubeError as exc:
        if exc.status != 403 or not namespaces:
            raise
        return per_namespace(ns for ns in namespaces if scope.wants(ns))


def _read_cluster(
    connection: kube.ClusterConnection, *, scope: Scope, page_size: int
) -> _ClusterRead:
    out = _ClusterRead()
    lister = kube.Lister(connection, page_size=page_size)
    cluster = connection.name

    namespaces: dict[str, dict[str, Any]] = {}
    try:
        for ns in lister.list(kube.ListTarget("namespaces")):
            namespaces[ns["metadata"]["name"]] = ns.get("metadata", {})
    except KubeError as exc:
        # Without namespaces, Services are still read; namespace settings are lost.
        out.problems.append(_problem(exc, "namespaces not readable; namespace annotations ignored"))

    ns_names = sorted(namespaces)
    try:
        raw_services = [
            s
            for s in _list_scoped(
                lister,
                kube.ListTarget("services"),
                scope,
                namespaces=ns_names,
                problems=out.problems,
                what="services",
                selector=scope.selector,
            )
            if scope.wants(s["metadata"].get("namespace", ""))
        ]
    except KubeError as exc:
        out.problems.append(_problem(exc, "services not readable; cluster skipped"))
        out.requests = lister.requests
        return out

    ready: dict[tuple[str, str], list[str]] = {}
    fqdn_only: set[tuple[str, str]] = set()
    endpoints_known = True
    blind: set[str] = set()  # namespaces whose endpoints could not be read
    try:
        target = kube.ListTarget("endpointslices", "discovery.k8s.io")
        for es in _list_scoped(
            lister,
            target,
            scope,
            namespaces=ns_names,
            problems=out.problems,
            what="endpointslices",
            failed=blind,
        ):
            meta = es.get("metadata", {})
            owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if not owner or not scope.wants(meta.get("namespace", "")):
                continue
            addresses = ready.setdefault((meta["namespace"], owner), [])
            if es.get("addressType") not in (None, "IPv4", "IPv6"):
                # FQDN endpoints are names: probing one would resolve it (to
                # localhost, the crawler itself, or anywhere). Probes go to addresses.
                fqdn_only.add((meta["namespace"], owner))
                continue
            for ep in es.get("endpoints") or []:
                # Kubernetes: a nil "ready" condition means ready.
                if (ep.get("conditions") or {}).get("ready", True) is not False:
                    addresses.extend(ep.get("addresses") or [])
    except KubeError as exc:
        endpoints_known = False
        out.problems.append(
            _problem(exc, "endpointslices not readable; every Service is probed by cluster IP")
        )

    service_labels: dict[ServiceKey, dict[str, str]] = {}
    for raw in raw_services:
        known = endpoints_known and raw["metadata"].get("namespace") not in blind
        service = _service(cluster, raw, namespaces, ready, known)
        key = (service.key.namespace, service.key.name)
        if key in fqdn_only and not service.ready_addresses:
            out.notes.append(f"{service.key}: its endpoints are FQDNs, not addresses; not probed")
        if service.overrides.ignore:
            out.ignored.append(service.key)
        else:
            out.services.append(service)
            labels = raw["metadata"].get("labels") or {}
            service_labels[service.key] = {
                k: str(v) for k, v in labels.items() if k.startswith("istio.io/")
            }

    out.mesh = _read_mesh(lister, scope, out, cluster, namespaces, service_labels)
    out.requests = lister.requests
    return out


def _service(
    cluster: str,
    raw: Mapping[str, Any],
    namespaces: Mapping[str, Mapping[str, Any]],
    ready: Mapping[tuple[str, str], list[str]],
    endpoints_known: bool,
) -> Service:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    ns_meta = namespaces.get(meta.get("namespace", ""), {})
    name, namespace = meta["name"], meta.get("namespace", "default")
    own_hosts = frozenset(
        {
            name,
            f"{name}.{namespace}",
            f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc.cluster.local",
        }
    )
    overrides = hints.overrides(
        meta.get("annotations") or {},
        meta.get("labels") or {},
        ns_meta.get("annotations") or {},
        ns_meta.get("labels") or {},
        own_hosts=own_hosts,
    )
    ports = tuple(
        ServicePort(
            name=p.get("name") or "",
            port=int(p["port"]),
            target_port=p.get("targetPort"),
            protocol=p.get("protocol") or "TCP",
            app_protocol=p.get("appProtocol"),
            mesh_protocol=protocols.mesh_protocol(
                name=p.get("name"),
                port=int(p["port"]),
                protocol=p.get("protocol") or "TCP",
                app_protocol=p.get("appProtocol"),
            ),
        )
        for p in spec.get("ports") or []
    )
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    cluster_ips = tuple(ip for ip in spec.get("clusterIPs") or [cluster_ip] if ip and ip != "None")
    svc_type = spec.get("type") or "ClusterIP"
    if endpoints_known:
        addresses = tuple(dict.fromkeys(ready.get((namespace, name), [])))
    else:
        addresses = cluster_ips
    return Service(
        key=ServiceKey(cluster, namespace, name),
        type=svc_type,
        headless=headless,
        cluster_ips=cluster_ips,
        external_name=spec.get("externalName"),
        ports=ports,
        ready_addresses=addresses,
        labels=hints.keep(meta.get("labels")),
        annotations=hints.keep(meta.get("annotations")),
        overrides=overrides,
        selector=dict(spec.get("selector") or {}),
    )


def _list_versions(
    lister: kube.Lister,
    scope: Scope,
    out: _ClusterRead,
    *,
    plural: str,
    group: str,
    versions: Sequence[str],
    namespaces: Sequence[str],
    what: str,
) -> list[dict[str, Any]] | None:
    """List ``plural`` in the first of ``versions`` served; None when none is (404)."""
    for version in versions:
        try:
            return _list_scoped(
                lister,
                kube.ListTarget(plural, group, version),
                scope,
                namespaces=namespaces,
                problems=out.problems,
                what=what,
            )
        except KubeError as exc:
            if exc.status == 404:
                continue
            out.problems.append(_problem(exc, f"{what} not readable"))
            return []
    return None


def _read_mesh(
    lister: kube.Lister,
    scope: Scope,
    out: _ClusterRead,
    cluster: str,
    namespaces: Mapping[str, Mapping[str, Any]],
    service_labels: Mapping[ServiceKey, Mapping[str, str]],
) -> MeshConfig:
    """Istio networking and Gateway API objects, read and converted by :mod:`discovery.mesh`."""
    ns_names = sorted(namespaces)
    index = ServiceIndex.of(cluster, out.services)
    istio_docs: dict[str, list[dict[str, Any]]] = {}
    for plural in mesh_istio.PLURALS:
        listed = _list_versions(
            lister,
            scope,
            out,
            plural=plural,
            group=ISTIO_GROUP,
            versions=ISTIO_VERSIONS,
            namespaces=ns_names,
            what=f"Istio {plural}",
        )
        if listed is not None:
            istio_docs[plural] = listed
    if not istio_docs:
        out.notes.append(f"{cluster}: no Istio config (networking.istio.io not served)")
    istio = mesh_istio.convert(istio_docs, index=index)
    out.external.extend(istio.external)
    out.routes.extend(istio.routes)
    out.notes.extend(istio.notes)

    gw_docs: dict[str, list[dict[str, Any]]] = {}
    for kind, plural, versions in gatewayapi.KINDS:
        listed = _list_versions(
            lister,
            scope,
            out,
            plural=plural,
            group=gatewayapi.GROUP,
            versions=versions,
            namespaces=ns_names,
            what=f"Gateway API {kind}s",
        )
        if listed is None and plural == "gateways":
            out.notes.append(f"{cluster}: no Gateway API ({gatewayapi.GROUP} not served)")
            break
        gw_docs[plural] = listed or []
    namespace_labels = {n: dict(m.get("labels") or {}) for n, m in namespaces.items()}
    gw = gatewayapi.convert(gw_docs, index=index, namespace_labels=namespace_labels)
    out.routes.extend(gw.routes)
    out.notes.extend(gw.notes)

    prefixes: dict[ServiceKey, list[str]] = {}
    for found in (istio.prefixes, gw.prefixes):
        for key, paths in found.items():
            known = prefixes.setdefault(key, [])
            known.extend(p for p in paths if p not in known and len(known) < MAX_PREFIXES)
    if prefixes:
        out.services[:] = [
            dataclasses.replace(s, path_prefixes=tuple(prefixes[s.key])) if s.key in prefixes else s
            for s in out.services
        ]

    ambient, notes = mesh_ambient.convert(
        cluster=cluster,
        services=out.services,
        service_labels=service_labels,
        namespace_labels=namespace_labels,
        pods=_ambient_pods(lister, scope, out, cluster, ns_names),
        waypoint_gateways=gatewayapi.gateways_of(gw_docs.get("gateways", [])),
    )
    out.notes.extend(notes)
    exposures = _bounded(istio.exposures + gw.exposures, out.notes, cluster)
    security = _read_security(lister, scope, out, cluster, ns_names)
    return MeshConfig(
        exposures=exposures, subsets=istio.subsets, ambient=ambient, security=security
    )


def _read_security(
    lister: kube.Lister, scope: Scope, out: _ClusterRead, cluster: str, namespaces: Sequence[str]
) -> mesh_security.SecurityConfig:
    """PeerAuthentication, AuthorizationPolicy, RequestAuthentication (v1, else v1beta1).

    Listed cluster-wide, else per namespace (the scope's, or every one it
    wants when the cluster-wide list is forbidden), and always in the root
    namespace, whose objects apply mesh-wide even when the scope leaves it
    out. What cannot be read is a note, not a problem: the posture of the
    namespaces concerned is then not judged rather than judged wrong.
    """
    root = mesh_security.DEFAULT_ROOT_NAMESPACE
    unread: set[tuple[str, str]] = set()
    docs: dict[str, list[dict[str, Any]]] = {}
    wanted = list(
        dict.fromkeys([*(scope.namespaces or [n for n in namespaces if scope.wants(n)]), root])
    )
    for _, plural in mesh_security.KINDS:
        listed: list[dict[str, Any]] | None = None
        for version in mesh_security.VERSIONS:
            target = kube.ListTarget(plural, mesh_security.GROUP, version)
            try:
                listed = _list_security(lister, target, scope, wanted, unread, cluster)
                break
            except KubeError as exc:
                if exc.status == 404:
                    continue
                out.notes.append(
                    f"{cluster}: Istio {plural} not readable ({_problem(exc, plural).why})"
                )
                unread.add((cluster, "*"))
                listed = []
                break
        if listed is None:
            out.notes.append(
                f"{cluster}: no Istio security config ({mesh_security.GROUP} not served);"
                " posture not judged"
            )
            unread.add((cluster, "*"))
            break
        docs[plural] = listed
    if unread - {(cluster, "*")}:
        names = ", ".join(sorted(ns for _, ns in unread if ns != "*"))
        out.notes.append(f"{cluster}: Istio security config not readable in {names} (403)")
    return mesh_security.convert(docs, cluster=cluster, root_namespace=root, unread=unread)


def _list_security(
    lister: kube.Lister,
    target: kube.ListTarget,
    scope: Scope,
    wanted: Sequence[str],
    unread: set[tuple[str, str]],
    cluster: str,
) -> list[dict[str, Any]]:
    """Cluster-wide when the scope names no namespace and that is allowed, else per namespace."""
    if not scope.namespaces:
        try:
            return list(lister.list(target))
        except KubeError as exc:
            if exc.status != 403:
                raise
            if len(wanted) == 1:
                # Namespaces were not readable: only the root namespace is known.
                unread.add((cluster, "*"))
    items: list[dict[str, Any]] = []
    for ns in wanted:
        try:
            items.extend(lister.list(dataclasses.replace(target, namespace=ns)))
        except KubeError as exc:
            if exc.status != 403:
                raise
            unread.add((cluster, ns))
    return items


def _bounded(exposures: Sequence[Exposure], notes: list[str], cluster: str) -> tuple[Exposure, ...]:
    """Exposures without repeats, at most :data:`MAX_EXPOSURES` per Service."""
    kept: dict[Exposure, None] = {}
    per_service: dict[ServiceKey, int] = {}
    cut: set[ServiceKey] = set()
    for e in exposures:
        if e in kept:
            continue
        if per_service.get(e.service, 0) >= MAX_EXPOSURES:
            cut.add(e.service)
            continue
        per_service[e.service] = per_service.get(e.service, 0) + 1
        kept[e] = None
    notes.extend(
        f"{cluster}: {key.short} is exposed in more than {MAX_EXPOSURES} ways; "
        f"the first {MAX_EXPOSURES} are kept"
        for key in sorted(cut, key=str)
    )
    return tuple(kept)


def _ambient_pods(
    lister: kube.Lister, scope: Scope, out: _ClusterRead, cluster: str, namespaces: Sequence[str]
) -> list[mesh_ambient.PodLabels]:
    """Pods that carry ``istio.io/dataplane-mode``: their labels only, never their spec.

    Pods are listed metadata-only and by that label, so a cluster of
    thousands of Pods sends the few that opt in or out. A ServiceAccount
    without the grant loses only Pod-level opt-ins: a note, not a problem.
    """
    target = kube.ListTarget("pods", metadata_only=True)
    found: list[Problem] = []
    try:
        raw = _list_scoped(
            lister,
            target,
            scope,
            namespaces=namespaces,
            problems=found,
            what="pods",
            selector=mesh_ambient.DATAPLANE_MODE,
        )
    except KubeError as exc:
        raw, found = [], [_problem(exc, "pods not readable")]
    if found:
        out.notes.append(
            f"{cluster}: pods not readable ({found[0].why}); ambient mode judged from "
            "Namespace labels only"
        )
    pods = []
    for pod in raw:
        meta = pod.get("metadata") or {}
        if scope.wants(meta.get("namespace", "")):
            pods.append(
                mesh_ambient.PodLabels(
                    str(meta.get("namespace", "")), dict(meta.get("labels") or {})
                )
            )
    return pods
