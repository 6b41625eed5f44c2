"""Istio networking config (``networking.istio.io``), typed at the edge and converted once.

ServiceEntries give external hosts; VirtualServices give routes (with their
weights) and the path prefixes Services are mounted at; a VirtualService
bound to Gateways (``spec.gateways``) makes its destinations reachable at
those Gateways' servers; DestinationRule subsets name a Service's versions.
Field meanings follow Istio's networking reference
(istio.io/latest/docs/reference/config/networking/).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from discovery.mesh.index import (
    MAX_PREFIXES,
    ServiceIndex,
    clean_prefix,
    host_matches,
    resolve_host,
    selects,
)
from discovery.mesh.model import Exposure, PathMatch, ServiceSubset
from discovery.model import ConfigRoute, ExternalHost, ServiceKey

GROUP = "networking.istio.io"
VERSIONS = ("v1", "v1beta1")
#: The plurals read, in the order they are read.
PLURALS = ("serviceentries", "virtualservices", "destinationrules", "gateways")
#: The reserved gateway name for "sidecars in the mesh".
MESH = "mesh"


class RawMeta(TypedDict, total=False):
    name: str
    namespace: str
    labels: dict[str, str]


class RawObject(TypedDict, total=False):
    metadata: RawMeta
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IstioConfig:
    """What the Istio networking objects of one cluster declare."""

    external: tuple[ExternalHost, ...]
    routes: tuple[ConfigRoute, ...]
    prefixes: Mapping[ServiceKey, tuple[str, ...]]
    exposures: tuple[Exposure, ...]
    subsets: tuple[ServiceSubset, ...]
    notes: tuple[str, ...]


def convert(docs: Mapping[str, Sequence[Mapping[str, Any]]], *, index: ServiceIndex) -> IstioConfig:
    """Turn listed Istio objects (by plural) into frozen values."""
    cluster = index.cluster
    external = tuple(_external_hosts(docs.get("serviceentries", ()), cluster))
    hosts = {h.host for h in external}
    routes: list[ConfigRoute] = []
    prefixes: dict[ServiceKey, list[str]] = {}
    exposures: list[Exposure] = []
    notes: list[str] = []
    gateways = {
        (_meta(g).get("namespace", "default"), _meta(g).get("name", "")): g
        for g in docs.get("gateways", ())
    }
    for vs in docs.get("virtualservices", ()):
        routes.extend(_routes(vs, index, hosts))
        _route_prefixes(vs, index, hosts, prefixes)
        exposures.extend(_exposures(vs, index, hosts, gateways, notes))
    subsets = tuple(_subsets(docs.get("destinationrules", ()), index, hosts))
    return IstioConfig(
        external=external,
        routes=tuple(routes),
        prefixes={k: tuple(dict.fromkeys(v)) for k, v in prefixes.items()},
        exposures=tuple(exposures),
        subsets=subsets,
        notes=tuple(notes),
    )


def _meta(raw: Mapping[str, Any]) -> RawMeta:
    meta = raw.get("metadata")
    return meta if isinstance(meta, dict) else {}  # type: ignore[return-value]


def _spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    spec = raw.get("spec")
    return spec if isinstance(spec, dict) else {}


def _external_hosts(entries: Iterable[Mapping[str, Any]], cluster: str) -> Iterable[ExternalHost]:
    for se in entries:
        spec, meta = _spec(se), _meta(se)
        if (spec.get("location") or "MESH_EXTERNAL") != "MESH_EXTERNAL":
            continue
        ports = tuple(int(p["number"]) for p in spec.get("ports") or [] if "number" in p)
        for host in spec.get("hosts") or []:
            yield ExternalHost(
                host, ports, meta.get("namespace", ""), meta.get("name", ""), cluster
            )


def _mounted(rule: Mapping[str, Any]) -> list[str]:
    """Where a rule's destination sees its requests: the rewrite, else the matched prefixes.

    A ``uri.prefix`` match routes ``/orders/...`` to the destination; unless
    the route rewrites it, the destination sees the same prefix.
    """
    rewrite = (rule.get("rewrite") or {}).get("uri")
    found = [((m.get("uri") or {}).get("prefix") or "") for m in rule.get("match") or []]
    candidates = [rewrite] if rewrite else found
    return [p for p in (clean_prefix(c) for c in candidates) if p is not None]


def _route_prefixes(
    vs: Mapping[str, Any],
    index: ServiceIndex,
    external: set[str],
    into: dict[ServiceKey, list[str]],
) -> None:
    namespace = _meta(vs).get("namespace", "default")
    for rule in _spec(vs).get("http") or []:
        mounted = _mounted(rule)
        if not mounted:
            continue
        for dest in rule.get("route") or []:
            host = (dest.get("destination") or {}).get("host")
            target = (
                resolve_host(host, namespace, index.cluster, index.keys, external) if host else None
            )
            if isinstance(target, ServiceKey):
                known = into.setdefault(target, [])
                known.extend(p for p in mounted if p not in known and len(known) < MAX_PREFIXES)


def _weights(destinations: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Each destination's share in percent; Istio's weights are percentages already.

    A lone destination without a weight takes all the traffic; several
    without weights are not said.
    """
    stated = [d.get("weight") for d in destinations]
    if len(destinations) == 1 and stated[0] is None:
        return [100]
    return [int(w) if isinstance(w, int) else None for w in stated]


def _routes(vs: Mapping[str, Any], index: ServiceIndex, external: set[str]) -> list[ConfigRoute]:
    meta, spec = _meta(vs), _spec(vs)
    namespace = meta.get("namespace", "default")
    via = f"VirtualService {meta.get('namespace')}/{meta.get('name')}"
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
                        if selects(s.selector, labels)
                    )
            if not sources:
                sources = [None]
            destinations = [d for d in rule.get("route") or [] if isinstance(d, dict)]
            for dest, weight in zip(destinations, _weights(destinations), strict=True):
                host = (dest.get("destination") or {}).get("host")
                if not host:
                    continue
                target = resolve_host(host, namespace, index.cluster, index.keys, external)
                for source in sources:
                    if (source, target) not in seen:
                        seen.add((source, target))
                        routes.append(
                            ConfigRoute(source=source, target=target, via=via, weight=weight)
                        )
    return routes


def _gateway_refs(vs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The Gateways a VirtualService binds to, as (namespace, name); ``mesh`` left out."""
    namespace = _meta(vs).get("namespace", "default")
    refs: list[tuple[str, str]] = []
    for ref in _spec(vs).get("gateways") or []:
        if not isinstance(ref, str) or ref == MESH:
            continue
        ns, _, name = ref.rpartition("/")
        refs.append((ns or namespace, name))
    return refs


def _server_hosts(server: Mapping[str, Any], gateway_ns: str, vs_ns: str) -> list[str]:
    """A Gateway server's hosts open to VirtualServices of ``vs_ns``.

    Istio writes them ``namespace/host``: ``*/`` (or no namespace) for any
    namespace, ``./`` for the Gateway's own.
    """
    out: list[str] = []
    for entry in server.get("hosts") or []:
        if not isinstance(entry, str):
            continue
        ns, _, host = entry.rpartition("/")
        if ns in ("", "*") or (ns == "." and vs_ns == gateway_ns) or ns == vs_ns:
            out.append(host)
    return out


def _paths(rule: Mapping[str, Any]) -> list[tuple[str | None, PathMatch | None]]:
    paths: list[tuple[str | None, PathMatch | None]] = []
    for match in rule.get("match") or []:
        uri = match.get("uri") or {}
        for key, kind in (("prefix", "prefix"), ("exact", "exact"), ("regex", "regex")):
            if isinstance(uri.get(key), str):
                paths.append((uri[key], kind))  # type: ignore[arg-type]
                break
        else:
            paths.append((None, None))
    return paths or [(None, None)]


def _exposures(
    vs: Mapping[str, Any],
    index: ServiceIndex,
    external: set[str],
    gateways: Mapping[tuple[str, str], Mapping[str, Any]],
    notes: list[str],
) -> list[Exposure]:
    meta, spec = _meta(vs), _spec(vs)
    namespace = meta.get("namespace", "default")
    via = f"VirtualService {namespace}/{meta.get('name')}"
    vs_hosts = [h for h in spec.get("hosts") or [] if isinstance(h, str)]
    out: list[Exposure] = []
    for gw_ns, gw_name in _gateway_refs(vs):
        gateway = gateways.get((gw_ns, gw_name))
        if gateway is None:
            notes.append(f"{index.cluster}: {via} names Gateway {gw_ns}/{gw_name}, which is absent")
            continue
        for server in _spec(gateway).get("servers") or []:
            port = server.get("port") or {}
            open_hosts = _server_hosts(server, gw_ns, namespace)
            hosts = [h for h in vs_hosts for pattern in open_hosts if host_matches(pattern, h)] or [
                p for p in open_hosts for h in vs_hosts if h == "*"
            ]
            for host in dict.fromkeys(hosts):
                out.extend(
                    _rule_exposures(
                        spec,
                        index=index,
                        external=external,
                        namespace=namespace,
                        base=dict(
                            gateway=f"{gw_ns}/{gw_name}",
                            host=host,
                            port=port.get("number"),
                            protocol=str(port.get("protocol") or "HTTP").upper(),
                            route=via,
                        ),
                    )
                )
    return out


def _rule_exposures(
    spec: Mapping[str, Any],
    *,
    index: ServiceIndex,
    external: set[str],
    namespace: str,
    base: Mapping[str, Any],
) -> Iterable[Exposure]:
    for kind in ("http", "tcp", "tls"):
        for rule in spec.get(kind) or []:
            paths = _paths(rule) if kind == "http" else [(None, None)]
            for dest in rule.get("route") or []:
                destination = dest.get("destination") or {}
                host = destination.get("host")
                if not host:
                    continue
                target = resolve_host(host, namespace, index.cluster, index.keys, external)
                if not isinstance(target, ServiceKey):
                    continue
                number = (destination.get("port") or {}).get("number")
                for path, match in paths:
                    yield Exposure(
                        service=target,
                        flavour="istio",
                        path=path,
                        path_match=match,
                        service_port=number if isinstance(number, int) else None,
                        **base,
                    )


def _subsets(
    rules: Iterable[Mapping[str, Any]], index: ServiceIndex, external: set[str]
) -> Iterable[ServiceSubset]:
    for dr in rules:
        meta, spec = _meta(dr), _spec(dr)
        host = spec.get("host")
        if not isinstance(host, str):
            continue
        namespace = meta.get("namespace", "default")
        target = resolve_host(host, namespace, index.cluster, index.keys, external)
        if not isinstance(target, ServiceKey):
            continue
        for subset in spec.get("subsets") or []:
            name, labels = subset.get("name"), subset.get("labels") or {}
            if isinstance(name, str) and isinstance(labels, dict):
                yield ServiceSubset(
                    service=target,
                    name=name,
                    labels={str(k): str(v) for k, v in labels.items()},
                    rule=f"DestinationRule {namespace}/{meta.get('name')}",
                )
