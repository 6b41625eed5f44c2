"""The Kubernetes Gateway API (``gateway.networking.k8s.io``), typed at the edge and converted once.

Field meanings and defaults follow the Gateway API specification
(gateway-api.sigs.k8s.io/reference/spec/) and its GAMMA mesh profile
(gateway-api.sigs.k8s.io/mesh/):

- A route whose ``parentRefs`` name a **Service** routes mesh traffic sent
  to that Service to the route's ``backendRefs``. In the Service's own
  namespace it is a *producer* route and applies to every client; elsewhere
  it is a *consumer* route and applies only to clients in the route's
  namespace.
- A route whose ``parentRefs`` name a **Gateway** attaches to the Gateway's
  listeners it is allowed on (``sectionName``/``port``, ``allowedRoutes``,
  hostname intersection) and exposes its backends there.
- ``status.parents[].conditions``: a parent whose ``Accepted`` condition is
  ``False`` does not route; ``ResolvedRefs`` ``False`` says some backends
  cannot be used.
- A ``backendRef`` to another namespace needs a ReferenceGrant there that
  allows it; without one that backend gets no traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from discovery.mesh.index import (
    MAX_PREFIXES,
    ServiceIndex,
    clean_prefix,
    narrower,
)
from discovery.mesh.model import WAYPOINT_CLASS, Exposure, PathMatch
from discovery.model import ConfigRoute, ServiceKey

GROUP = "gateway.networking.k8s.io"
#: Kind, plural and the versions tried in turn (the first one served is read).
KINDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Gateway", "gateways", ("v1", "v1beta1")),
    ("HTTPRoute", "httproutes", ("v1", "v1beta1")),
    ("GRPCRoute", "grpcroutes", ("v1", "v1alpha2")),
    ("TLSRoute", "tlsroutes", ("v1", "v1alpha3", "v1alpha2")),
    ("TCPRoute", "tcproutes", ("v1", "v1alpha2")),
    ("ReferenceGrant", "referencegrants", ("v1", "v1beta1")),
)
ROUTE_KINDS = {"httproutes": "HTTPRoute", "grpcroutes": "GRPCRoute"} | {
    "tlsroutes": "TLSRoute",
    "tcproutes": "TCPRoute",
}
#: Route kinds a listener accepts when ``allowedRoutes.kinds`` is not given.
_DEFAULT_KINDS = {
    "HTTP": {"HTTPRoute", "GRPCRoute"},
    "HTTPS": {"HTTPRoute", "GRPCRoute"},
    "TLS": {"TLSRoute"},
    "TCP": {"TCPRoute"},
}
_PATH_TYPES: Mapping[str, PathMatch] = {
    "PathPrefix": "prefix",
    "Exact": "exact",
    "RegularExpression": "regex",
}


class RawRef(TypedDict, total=False):
    group: str
    kind: str
    namespace: str
    name: str
    sectionName: str
    port: int
    weight: int


@dataclass(frozen=True, slots=True)
class GatewayApiConfig:
    """What the Gateway API objects of one cluster declare."""

    routes: tuple[ConfigRoute, ...] = ()
    prefixes: Mapping[ServiceKey, tuple[str, ...]] = field(default_factory=dict)
    exposures: tuple[Exposure, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Backend:
    target: ServiceKey
    port: int | None
    weight: int


def _meta(raw: Mapping[str, Any]) -> dict[str, Any]:
    meta = raw.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    spec = raw.get("spec")
    return spec if isinstance(spec, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def is_waypoint(gateway: Mapping[str, Any]) -> bool:
    return _spec(gateway).get("gatewayClassName") == WAYPOINT_CLASS


def _deployed_as(gateway: Mapping[str, Any], namespace: str, name: str) -> str | None:
    """The Deployment Istio runs for ``gateway``: ``<name>-<gatewayClassName>``.

    Istio's automated deployment names the Deployment and Service that way
    (istio.io, "Kubernetes Gateway API", Deployment methods), and telemetry
    reports the gateway's traffic with that workload as the source.
    """
    gateway_class = _spec(gateway).get("gatewayClassName")
    if not isinstance(gateway_class, str) or not gateway_class:
        return None
    return f"{namespace}/{name}-{gateway_class}"


@dataclass
class _Converter:
    index: ServiceIndex
    gateways: Mapping[tuple[str, str], Mapping[str, Any]]
    grants: Sequence[Mapping[str, Any]]
    namespace_labels: Mapping[str, Mapping[str, str]]
    routes: list[ConfigRoute] = field(default_factory=list)
    prefixes: dict[ServiceKey, list[str]] = field(default_factory=dict)
    exposures: list[Exposure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(f"{self.index.cluster}: {text}")

    def route(self, kind: str, raw: Mapping[str, Any]) -> None:
        meta, spec = _meta(raw), _spec(raw)
        namespace = str(meta.get("namespace") or "default")
        via = f"{kind} {namespace}/{meta.get('name')}"
        rules = _dicts(spec.get("rules"))
        seen: set[tuple[ServiceKey | None, ServiceKey]] = set()
        for parent in _dicts(spec.get("parentRefs")):
            ref: RawRef = parent  # type: ignore[assignment]
            accepted, why = _accepted(raw, ref, namespace)
            p_kind, p_group = ref.get("kind", "Gateway"), ref.get("group", GROUP)
            p_ns, p_name = ref.get("namespace") or namespace, ref.get("name", "")
            if accepted is False:
                self.note(f"{via} is not accepted by {p_kind} {p_ns}/{p_name} ({why}); ignored")
                continue
            if p_kind == "Service" and p_group in ("", "core"):
                self._mesh_route(
                    kind, via, namespace, rules, ServiceKey(self.index.cluster, p_ns, p_name), seen
                )
            elif p_kind == "Gateway" and p_group == GROUP:
                self._ingress_route(kind, via, namespace, raw, ref, rules, seen)
            else:
                self.note(f"{via}: parent {p_group or 'core'}/{p_kind} {p_name} not understood")

    def _mesh_route(
        self,
        kind: str,
        via: str,
        namespace: str,
        rules: Sequence[Mapping[str, Any]],
        parent: ServiceKey,
        seen: set[tuple[ServiceKey | None, ServiceKey]],
    ) -> None:
        if parent not in self.index.keys:
            self.note(f"{via}: parent Service {parent.short} not found; ignored")
            return
        # GAMMA: a producer route (the Service's own namespace) applies to every
        # client; a consumer route only to clients in the route's namespace.
        sources: list[ServiceKey | None]
        if parent.namespace == namespace:
            sources = [None]
        else:
            sources = [s.key for s in self.index.by_namespace.get(namespace, ())]
        for rule in rules:
            for backend, share in self._backends(kind, via, namespace, rule):
                self._mount(kind, rule, backend.target)
                for source in sources:
                    if source != backend.target and (source, backend.target) not in seen:
                        seen.add((source, backend.target))
                        self.routes.append(ConfigRoute(source, backend.target, via, share))

    def _ingress_route(
        self,
        kind: str,
        via: str,
        namespace: str,
        raw: Mapping[str, Any],
        ref: RawRef,
        rules: Sequence[Mapping[str, Any]],
        seen: set[tuple[ServiceKey | None, ServiceKey]],
    ) -> None:
        gw_ns, gw_name = ref.get("namespace") or namespace, ref.get("name", "")
        gateway = self.gateways.get((gw_ns, gw_name))
        if gateway is None:
            self.note(f"{via}: Gateway {gw_ns}/{gw_name} not found; ignored")
            return
        if is_waypoint(gateway):
            return  # a waypoint is mesh infrastructure, not an ingress
        listeners = [
            lst
            for lst in _dicts(_spec(gateway).get("listeners"))
            if self._attaches(kind, namespace, ref, lst, gw_ns)
        ]
        if not listeners:
            self.note(f"{via}: no listener of Gateway {gw_ns}/{gw_name} admits it; ignored")
            return
        hostnames = _strings(_spec(raw).get("hostnames")) or ["*"]
        for rule in rules:
            backends = self._backends(kind, via, namespace, rule)
            for backend, share in backends:
                self._mount(kind, rule, backend.target)
                if (None, backend.target) not in seen:
                    seen.add((None, backend.target))
                    self.routes.append(ConfigRoute(None, backend.target, via, share))
            for listener in listeners:
                hosts = [
                    h
                    for h in (narrower(listener.get("hostname") or "*", r) for r in hostnames)
                    if h is not None
                ]
                for host in dict.fromkeys(hosts):
                    for path, match in _paths(kind, rule):
                        for backend, _share in backends:
                            self.exposures.append(
                                Exposure(
                                    service=backend.target,
                                    gateway=f"{gw_ns}/{gw_name}",
                                    flavour="gateway-api",
                                    host=host,
                                    port=listener.get("port"),
                                    protocol=str(listener.get("protocol") or "HTTP").upper(),
                                    path=path,
                                    path_match=match,
                                    route=via,
                                    service_port=backend.port,
                                    workload=_deployed_as(gateway, gw_ns, gw_name),
                                )
                            )

    def _attaches(
        self, kind: str, namespace: str, ref: RawRef, listener: Mapping[str, Any], gw_ns: str
    ) -> bool:
        if "sectionName" in ref and listener.get("name") != ref["sectionName"]:
            return False
        if "port" in ref and listener.get("port") != ref["port"]:
            return False
        allowed = listener.get("allowedRoutes") or {}
        kinds = {k.get("kind") for k in _dicts(allowed.get("kinds"))}
        if not kinds:
            kinds = set(_DEFAULT_KINDS.get(str(listener.get("protocol") or "").upper(), ()))
        if kind not in kinds:
            return False
        spaces = allowed.get("namespaces") or {}
        source = spaces.get("from") or "Same"
        if source == "All":
            return True
        if source == "Selector":
            return _selector_matches(
                spaces.get("selector") or {}, self.namespace_labels.get(namespace, {})
            )
        return namespace == gw_ns

    def _backends(
        self, kind: str, via: str, namespace: str, rule: Mapping[str, Any]
    ) -> list[tuple[_Backend, int]]:
        refs = _dicts(rule.get("backendRefs"))
        weights = [r.get("weight", 1) if isinstance(r.get("weight", 1), int) else 0 for r in refs]
        total = sum(weights)
        out: list[tuple[_Backend, int]] = []
        for raw, weight in zip(refs, weights, strict=True):
            ref: RawRef = raw  # type: ignore[assignment]
            b_group, b_kind = ref.get("group", ""), ref.get("kind", "Service")
            b_ns, b_name = ref.get("namespace") or namespace, ref.get("name", "")
            if b_kind != "Service" or b_group not in ("", "core"):
                self.note(f"{via}: backend {b_group}/{b_kind} {b_ns}/{b_name} not followed")
                continue
            target = ServiceKey(self.index.cluster, b_ns, b_name)
            if b_ns != namespace and not self._granted(kind, namespace, b_ns, b_name):
                self.note(
                    f"{via}: backend Service {b_ns}/{b_name} is in another namespace and no "
                    f"ReferenceGrant there allows it; no traffic goes to it"
                )
                continue
            if target not in self.index.keys:
                self.note(f"{via}: backend Service {b_ns}/{b_name} not found")
                continue
            share = round(100 * weight / total) if total else 0
            port = ref.get("port")
            out.append((_Backend(target, port if isinstance(port, int) else None, weight), share))
        return out

    def _granted(self, kind: str, from_ns: str, to_ns: str, name: str) -> bool:
        for grant in self.grants:
            if _meta(grant).get("namespace") != to_ns:
                continue
            spec = _spec(grant)
            allows_from = any(
                f.get("group") == GROUP and f.get("kind") == kind and f.get("namespace") == from_ns
                for f in _dicts(spec.get("from"))
            )
            allows_to = any(
                t.get("group", "") in ("", "core")
                and t.get("kind") == "Service"
                and t.get("name", name) == name
                for t in _dicts(spec.get("to"))
            )
            if allows_from and allows_to:
                return True
        return False

    def _mount(self, kind: str, rule: Mapping[str, Any], target: ServiceKey) -> None:
        """Record where an HTTPRoute mounts ``target``, as :mod:`discovery.mesh.istio` does."""
        if kind != "HTTPRoute":
            return
        rewrite = None
        for f in _dicts(rule.get("filters")):
            path = (f.get("urlRewrite") or {}).get("path") or {}
            if path.get("type") == "ReplacePrefixMatch":
                rewrite = path.get("replacePrefixMatch")
        candidates = (
            [rewrite]
            if isinstance(rewrite, str) and rewrite
            else [p for p, m in _paths(kind, rule) if m == "prefix" and p is not None]
        )
        mounted = [p for p in (clean_prefix(c) for c in candidates) if p is not None]
        known = self.prefixes.setdefault(target, []) if mounted else []
        known.extend(p for p in mounted if p not in known and len(known) < MAX_PREFIXES)


def _paths(kind: str, rule: Mapping[str, Any]) -> list[tuple[str | None, PathMatch | None]]:
    """The paths an HTTPRoute rule matches; one ``/`` prefix when it names none."""
    if kind != "HTTPRoute":
        return [(None, None)]
    out: list[tuple[str | None, PathMatch | None]] = []
    for match in _dicts(rule.get("matches")) or [{}]:
        path = match.get("path") or {}
        out.append((str(path.get("value", "/")), _PATH_TYPES.get(path.get("type", "PathPrefix"))))
    return out


def _same_parent(status_ref: Mapping[str, Any], ref: RawRef, namespace: str) -> bool:
    return (
        status_ref.get("name") == ref.get("name")
        and (status_ref.get("namespace") or namespace) == (ref.get("namespace") or namespace)
        and status_ref.get("kind", "Gateway") == ref.get("kind", "Gateway")
        and status_ref.get("sectionName") == ref.get("sectionName")
    )


def _accepted(raw: Mapping[str, Any], ref: RawRef, namespace: str) -> tuple[bool | None, str]:
    """Whether a controller accepted the route for this parent (None: no status yet)."""
    verdicts: list[tuple[bool, str]] = []
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    for parent in _dicts((status or {}).get("parents")):
        if not _same_parent(parent.get("parentRef") or {}, ref, namespace):
            continue
        for cond in _dicts(parent.get("conditions")):
            if cond.get("type") == "Accepted":
                reason = str(cond.get("reason") or cond.get("message") or "no reason given")
                verdicts.append((cond.get("status") == "True", reason))
    if not verdicts:
        return None, ""
    if any(ok for ok, _ in verdicts):
        return True, ""
    return False, verdicts[0][1]


def unresolved(raw: Mapping[str, Any]) -> list[str]:
    """Reasons a controller gave for refs it could not resolve (``ResolvedRefs`` False)."""
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    return [
        str(cond.get("reason") or cond.get("message") or "unresolved references")
        for parent in _dicts((status or {}).get("parents"))
        for cond in _dicts(parent.get("conditions"))
        if cond.get("type") == "ResolvedRefs" and cond.get("status") == "False"
    ]


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes LabelSelector (``matchLabels``, ``matchExpressions``) against labels."""
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in _dicts(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), _strings(expr.get("values"))
        present = key in labels
        if op == "In" and not (present and labels[str(key)] in values):
            return False
        if op == "NotIn" and present and labels[str(key)] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def convert(
    docs: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    index: ServiceIndex,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> GatewayApiConfig:
    """Turn listed Gateway API objects (by plural) into frozen values."""
    gateways = {
        (str(_meta(g).get("namespace") or "default"), str(_meta(g).get("name") or "")): g
        for g in docs.get("gateways", ())
    }
    converter = _Converter(
        index=index,
        gateways=gateways,
        grants=list(docs.get("referencegrants", ())),
        namespace_labels=namespace_labels,
    )
    for plural, kind in ROUTE_KINDS.items():
        for raw in docs.get(plural, ()):
            converter.route(kind, raw)
            for reason in unresolved(raw):
                meta = _meta(raw)
                converter.note(
                    f"{kind} {meta.get('namespace')}/{meta.get('name')}: "
                    f"references not resolved ({reason})"
                )
    return GatewayApiConfig(
        routes=tuple(converter.routes),
        prefixes={k: tuple(v) for k, v in converter.prefixes.items() if v},
        exposures=tuple(converter.exposures),
        notes=tuple(dict.fromkeys(converter.notes)),
    )


def gateways_of(docs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Gateways that are waypoints."""
    return [g for g in docs if is_waypoint(g)]
