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
ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1", "v1beta1")


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
            scoped = kube.ListTarget(target.resource, target.group, target.version, ns)
            try:
                items.extend(lister.list(scoped, label_selector=selector))
            except KubeError as exc:
                if exc.status == 404 and target.group == ISTIO_GROUP:
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

    _read_istio(lister, scope, out, cluster, out.services, ns_names)
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


def _read_istio(
    lister: kube.Lister,
    scope: Scope,
    out: _ClusterRead,
    cluster: str,
    services: Sequence[Service],
    namespaces: Sequence[str],
) -> None:
    docs: dict[str, list[dict[str, Any]]] = {}
    for plural in ("serviceentries", "virtualservices", "destinationrules"):
        for version in ISTIO_VERSIONS:
            try:
                docs[plural] = _list_scoped(
                    lister,
                    kube.ListTarget(plural, ISTIO_GROUP, version),
                    scope,
                    namespaces=namespaces,
                    problems=out.problems,
                    what=f"Istio {plural}",
                )
                break
            except KubeError as exc:
                if exc.status == 404:
                    continue
                out.problems.append(_problem(exc, f"Istio {plural} not readable"))
                break
    if not docs:
        out.notes.append(f"{cluster}: no Istio config (networking.istio.io not served)")
        return

    external_hosts: set[str] = set()
    for se in docs.get("serviceentries", []):
        spec, meta = se.get("spec") or {}, se.get("metadata") or {}
        if (spec.get("location") or "MESH_EXTERNAL") != "MESH_EXTERNAL":
            continue
        ports = tuple(int(p["number"]) for p in spec.get("ports") or [] if "number" in p)
        for host in spec.get("hosts") or []:
            external_hosts.add(host)
            out.external.append(
                ExternalHost(host, ports, meta.get("namespace", ""), meta.get("name", ""), cluster)
            )

    index = _ServiceIndex.of(services)
    prefixes: dict[ServiceKey, list[str]] = {}
    for vs in docs.get("virtualservices", []):
        out.routes.extend(_routes(vs, cluster, index, external_hosts))
        _route_prefixes(vs, cluster, index, external_hosts, prefixes)
    if prefixes:
        out.services[:] = [
            dataclasses.replace(s, path_prefixes=tuple(dict.fromkeys(prefixes[s.key])))
            if s.key in prefixes
            else s
            for s in out.services
        ]


#: Most route prefixes kept per Service (each one costs probe requests).
_MAX_PREFIXES = 4


def _route_prefixes(
    vs: Mapping[str, Any],
    cluster: str,
    index: _ServiceIndex,
    external: set[str],
    into: dict[ServiceKey, list[str]],
) -> None:
    """Where each routed Service's API is mounted, as its requests arrive there.

    A ``uri.prefix`` match routes ``/orders/...`` to the destination; unless
    the route rewrites it, the destination sees the same prefix.
    """
    namespace = (vs.get("metadata") or {}).get("namespace", "default")
    for rule in (vs.get("spec") or {}).get("http") or []:
        rewrite = ((rule.get("rewrite") or {}).get("uri") or "").rstrip("/")
        found = [
            ((m.get("uri") or {}).get("prefix") or "").rstrip("/") for m in rule.get("match") or []
        ]
        mounted = [rewrite] if rule.get("rewrite") and (rule["rewrite"].get("uri")) else found
        mounted = [p for p in mounted if p.startswith("/") and len(p) <= 128 and "//" not in p]
        if not mounted:
            continue
        for dest in rule.get("route") or []:
            host = (dest.get("destination") or {}).get("host")
            target = _resolve_host(host, namespace, cluster, index.keys, external) if host else None
            if isinstance(target, ServiceKey):
                known = into.setdefault(target, [])
                known.extend(p for p in mounted if p not in known and len(known) < _MAX_PREFIXES)


@dataclass(frozen=True, slots=True)
class _ServiceIndex:
    """A cluster's Services by key and by namespace, so each route is a lookup, not a scan."""

    keys: frozenset[ServiceKey]
    by_namespace: Mapping[str, Sequence[Service]]

    @classmethod
    def of(cls, services: Sequence[Service]) -> _ServiceIndex:
        by_namespace: dict[str, list[Service]] = {}
        for s in services:
            by_namespace.setdefault(s.key.namespace, []).append(s)
        return cls(keys=frozenset(s.key for s in services), by_namespace=by_namespace)


def _resolve_host(
    host: str, namespace: str, cluster: str, known: frozenset[ServiceKey], external: set[str]
) -> ServiceKey | str:
    """A VirtualService host or destination as a Service key, or the host itself."""
    if host in external:
        return host
    parts = host.split(".")
    name = parts[0]
    ns = parts[1] if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc") else namespace
    key = ServiceKey(cluster, ns, name)
    if key in known:
        return key
    return host


def _selects(selector: Mapping[str, str], source_labels: Mapping[str, str]) -> bool:
    """Whether a Service's selector and a route's sourceLabels pick the same workloads."""
    shared = False
    for name, value in source_labels.items():
        if name in selector:
            if selector[name] != value:
                return False
            shared = True
    return shared


def _routes(
    vs: Mapping[str, Any], cluster: str, index: _ServiceIndex, external: set[str]
) -> list[ConfigRoute]:
    meta, spec = vs.get("metadata") or {}, vs.get("spec") or {}
    namespace, via = (
        meta.get("namespace", "default"),
        f"VirtualService {meta.get('namespace')}/{meta.get('name')}",
    )
    routes: list[ConfigRoute] = []
    seen: set[tuple[ServiceKey | None, ServiceKey | str]] = set()
    for kind in ("http", "tcp", "tls"):
        for rule in spec.get(kind) or []:
            sources: list[ServiceKey | None] = []
            for match in rule.get("match") or []:
                labels = match.get("sourceLabels") or {}
                if labels:
                    in_namespace = match.get("sourceNamespace") or namespace
                    sources.extend(
                        s.key
                        for s in index.by_namespace.get(in_namespace, ())
                        if _selects(s.selector, labels)
                    )
            if not sources:
                sources = [None]
            for dest in rule.get("route") or []:
                host = (dest.get("destination") or {}).get("host")
                if not host:
                    continue
                target = _resolve_host(host, namespace, cluster, index.keys, external)
                for source in sources:
                    if (source, target) not in seen:
                        seen.add((source, target))
                        routes.append(ConfigRoute(source=source, target=target, via=via))
    return routes
