"""Istio's security resources, typed at the edge and converted once.

``security.istio.io/v1`` (and v1beta1, which has the same shape) objects come
from the Kubernetes API as plain JSON; :func:`read_security` turns a list of
them into :class:`SecurityConfig`, frozen values the governance stage can
evaluate without looking at raw dictionaries again. An object that cannot be
understood is left out with a note saying why: a policy meshatlas
misreads would give a wrong posture, which is worse than a missing one.

The fields follow Istio's reference for PeerAuthentication,
AuthorizationPolicy and RequestAuthentication (istio.io/latest/docs/reference/
config/security/).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
Action = Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"]
SecurityKind = Literal["PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"]

_MODES: frozenset[str] = frozenset({"UNSET", "DISABLE", "PERMISSIVE", "STRICT"})
_ACTIONS: frozenset[str] = frozenset({"ALLOW", "DENY", "AUDIT", "CUSTOM"})
#: Istio's default root namespace; a mesh's own is in its MeshConfig.
DEFAULT_ROOT_NAMESPACE = "istio-system"
#: The API group of the three kinds, and its versions in the order tried
#: (v1 since Istio 1.22; v1beta1 has the same shape and older meshes serve only it).
GROUP = "security.istio.io"
VERSIONS = ("v1", "v1beta1")
#: ``(kind, plural)`` of every kind read.
KINDS: tuple[tuple[SecurityKind, str], ...] = (
    ("PeerAuthentication", "peerauthentications"),
    ("AuthorizationPolicy", "authorizationpolicies"),
    ("RequestAuthentication", "requestauthentications"),
)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Which config object something came from, as findings name it."""

    kind: SecurityKind
    cluster: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A ``targetRef``/``targetRefs`` entry: the resource a policy attaches to."""

    kind: str
    name: str
    group: str = ""
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class PeerAuthentication:
    """The mTLS mode a namespace, the mesh or some workloads accept."""

    ref: ObjectRef
    selector: Mapping[str, str] | None
    mode: MtlsMode
    #: ``portLevelMtls``: workload (container) port -> mode.
    port_modes: tuple[tuple[int, MtlsMode], ...] = ()
    created: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """One ``from.source`` entry; empty tuples mean "not constrained"."""

    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    request_principals: tuple[str, ...] = ()
    not_request_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    ip_blocks: tuple[str, ...] = ()
    not_ip_blocks: tuple[str, ...] = ()
    remote_ip_blocks: tuple[str, ...] = ()
    not_remote_ip_blocks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """One ``to.operation`` entry; empty tuples mean "not constrained"."""

    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    not_ports: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``when`` entry: an attribute ``key`` and the values it must (not) have."""

    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: it matches when any source, any operation and every condition do."""

    sources: tuple[Source, ...] = ()
    operations: tuple[Operation, ...] = ()
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorizationPolicy:
    """Who may call which workloads, and how."""

    ref: ObjectRef
    action: Action
    selector: Mapping[str, str] | None
    target_refs: tuple[TargetRef, ...]
    rules: tuple[Rule, ...]
    #: ``provider.name`` of a CUSTOM policy (an external authoriser).
    provider: str | None = None
    created: str = ""


@dataclass(frozen=True, slots=True)
class JwtRule:
    issuer: str
    audiences: tuple[str, ...] = ()
    jwks_uri: str | None = None


@dataclass(frozen=True, slots=True)
class RequestAuthentication:
    """Which JWTs a workload validates (a request without one still passes)."""

    ref: ObjectRef
    selector: Mapping[str, str] | None
    target_refs: tuple[TargetRef, ...]
    jwt_rules: tuple[JwtRule, ...]


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Every security object read from the clusters, and what could not be read."""

    peer_authentications: tuple[PeerAuthentication, ...] = ()
    authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    request_authentications: tuple[RequestAuthentication, ...] = ()
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    notes: tuple[str, ...] = ()
    #: ``(cluster, namespace)`` whose objects could not be listed (403), and
    #: ``(cluster, "*")`` for a cluster where none could: a posture there is a guess.
    unread: frozenset[tuple[str, str]] = frozenset()

    def read_in(self, cluster: str, namespace: str) -> bool:
        """Whether what applies to ``namespace`` of ``cluster`` was read: its own
        objects and the root namespace's."""
        return not {(cluster, "*"), (cluster, namespace), (cluster, self.root_namespace)} & set(
            self.unread
        )


def convert(
    docs: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    cluster: str,
    root_namespace: str = DEFAULT_ROOT_NAMESPACE,
    unread: Iterable[tuple[str, str]] = (),
) -> SecurityConfig:
    """:func:`read_security` over lists keyed by plural, as the inventory lists them."""
    found = read_security(
        cluster=cluster,
        peer_authentications=docs.get("peerauthentications", ()),
        authorization_policies=docs.get("authorizationpolicies", ()),
        request_authentications=docs.get("requestauthentications", ()),
        root_namespace=root_namespace,
    )
    return SecurityConfig(
        peer_authentications=found.peer_authentications,
        authorization_policies=found.authorization_policies,
        request_authentications=found.request_authentications,
        root_namespace=found.root_namespace,
        notes=found.notes,
        unread=frozenset(unread),
    )


def read_security(
    *,
    cluster: str,
    peer_authentications: Iterable[Mapping[str, Any]] = (),
    authorization_policies: Iterable[Mapping[str, Any]] = (),
    request_authentications: Iterable[Mapping[str, Any]] = (),
    root_namespace: str = DEFAULT_ROOT_NAMESPACE,
) -> SecurityConfig:
    """Convert the raw objects of one cluster; unusable ones become notes."""
    notes: list[str] = []
    peers = [
        p
        for raw in peer_authentications
        if (p := _guarded(_peer, raw, cluster, "PeerAuthentication", notes)) is not None
    ]
    policies = [
        p
        for raw in authorization_policies
        if (p := _guarded(_policy, raw, cluster, "AuthorizationPolicy", notes)) is not None
    ]
    requests = [
        r
        for raw in request_authentications
        if (r := _guarded(_request_auth, raw, cluster, "RequestAuthentication", notes)) is not None
    ]
    return SecurityConfig(
        peer_authentications=tuple(peers),
        authorization_policies=tuple(policies),
        request_authentications=tuple(requests),
        root_namespace=root_namespace,
        notes=tuple(notes),
    )


def merge(configs: Iterable[SecurityConfig]) -> SecurityConfig:
    """One config over several clusters (objects keep their cluster in ``ref``)."""
    configs = list(configs)
    return SecurityConfig(
        peer_authentications=tuple(p for c in configs for p in c.peer_authentications),
        authorization_policies=tuple(p for c in configs for p in c.authorization_policies),
        request_authentications=tuple(r for c in configs for r in c.request_authentications),
        root_namespace=configs[0].root_namespace if configs else DEFAULT_ROOT_NAMESPACE,
        notes=tuple(n for c in configs for n in c.notes),
        unread=frozenset(u for c in configs for u in c.unread),
    )


class _Unreadable(ValueError):
    """An object's spec does not have the shape Istio's reference gives."""


def _guarded(
    convert: Any, raw: Mapping[str, Any], cluster: str, kind: str, notes: list[str]
) -> Any:
    try:
        return convert(raw, cluster)
    except _Unreadable as exc:
        meta = _mapping(raw.get("metadata"), "metadata")
        where = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
        notes.append(f"{kind} {where} in {cluster} left out: {exc}")
        return None


def _ref(raw: Mapping[str, Any], cluster: str, kind: SecurityKind) -> tuple[ObjectRef, str]:
    meta = _mapping(raw.get("metadata"), "metadata")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise _Unreadable("metadata.name and metadata.namespace are required")
    created = meta.get("creationTimestamp")
    return ObjectRef(kind, cluster, namespace, name), created if isinstance(created, str) else ""


def _peer(raw: Mapping[str, Any], cluster: str) -> PeerAuthentication:
    ref, created = _ref(raw, cluster, "PeerAuthentication")
    spec = _mapping(raw.get("spec"), "spec")
    mode = _mode(_mapping(spec.get("mtls"), "spec.mtls").get("mode"), "spec.mtls.mode")
    ports: list[tuple[int, MtlsMode]] = []
    for port, setting in _mapping(spec.get("portLevelMtls"), "spec.portLevelMtls").items():
        try:
            number = int(port)
        except (TypeError, ValueError):
            raise _Unreadable(f"portLevelMtls key {port!r} is not a port number") from None
        where = f"spec.portLevelMtls.{port}"
        ports.append((number, _mode(_mapping(setting, where).get("mode"), f"{where}.mode")))
    return PeerAuthentication(
        ref=ref,
        selector=_selector(spec),
        mode=mode,
        port_modes=tuple(sorted(ports)),
        created=created,
    )


def _policy(raw: Mapping[str, Any], cluster: str) -> AuthorizationPolicy:
    ref, created = _ref(raw, cluster, "AuthorizationPolicy")
    spec = _mapping(raw.get("spec"), "spec")
    action = spec.get("action", "ALLOW")
    if action not in _ACTIONS:
        raise _Unreadable(f"spec.action {action!r} is not one of {sorted(_ACTIONS)}")
    rules = tuple(_rule(r, f"spec.rules[{i}]") for i, r in enumerate(_list(spec, "rules")))
    provider = _mapping(spec.get("provider"), "spec.provider").get("name")
    return AuthorizationPolicy(
        ref=ref,
        action=action,
        selector=_selector(spec),
        target_refs=_target_refs(spec),
        rules=rules,
        provider=provider if isinstance(provider, str) else None,
        created=created,
    )


def _request_auth(raw: Mapping[str, Any], cluster: str) -> RequestAuthentication:
    ref, _ = _ref(raw, cluster, "RequestAuthentication")
    spec = _mapping(raw.get("spec"), "spec")
    rules: list[JwtRule] = []
    for i, item in enumerate(_list(spec, "jwtRules")):
        rule = _mapping(item, f"spec.jwtRules[{i}]")
        issuer = rule.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            raise _Unreadable(f"spec.jwtRules[{i}].issuer is required")
        jwks = rule.get("jwksUri")
        rules.append(
            JwtRule(
                issuer=issuer,
                audiences=_strings(rule, "audiences", f"spec.jwtRules[{i}]"),
                jwks_uri=jwks if isinstance(jwks, str) else None,
            )
        )
    return RequestAuthentication(
        ref=ref, selector=_selector(spec), target_refs=_target_refs(spec), jwt_rules=tuple(rules)
    )


def _rule(raw: Any, where: str) -> Rule:
    rule = _mapping(raw, where)
    sources = tuple(
        _source(_mapping(_mapping(item, f"{where}.from[{i}]").get("source"), "source"))
        for i, item in enumerate(_list(rule, "from"))
    )
    operations = tuple(
        _operation(_mapping(_mapping(item, f"{where}.to[{i}]").get("operation"), "operation"))
        for i, item in enumerate(_list(rule, "to"))
    )
    conditions: list[Condition] = []
    for i, item in enumerate(_list(rule, "when")):
        cond = _mapping(item, f"{where}.when[{i}]")
        key = cond.get("key")
        if not isinstance(key, str) or not key:
            raise _Unreadable(f"{where}.when[{i}].key is required")
        conditions.append(
            Condition(
                key=key,
                values=_strings(cond, "values", where),
                not_values=_strings(cond, "notValues", where),
            )
        )
    return Rule(sources=sources, operations=operations, conditions=tuple(conditions))


def _source(raw: Mapping[str, Any]) -> Source:
    s = "source"
    return Source(
        principals=_strings(raw, "principals", s),
        not_principals=_strings(raw, "notPrincipals", s),
        request_principals=_strings(raw, "requestPrincipals", s),
        not_request_principals=_strings(raw, "notRequestPrincipals", s),
        namespaces=_strings(raw, "namespaces", s),
        not_namespaces=_strings(raw, "notNamespaces", s),
        ip_blocks=_strings(raw, "ipBlocks", s),
        not_ip_blocks=_strings(raw, "notIpBlocks", s),
        remote_ip_blocks=_strings(raw, "remoteIpBlocks", s),
        not_remote_ip_blocks=_strings(raw, "notRemoteIpBlocks", s),
    )


def _operation(raw: Mapping[str, Any]) -> Operation:
    o = "operation"
    return Operation(
        hosts=_strings(raw, "hosts", o),
        not_hosts=_strings(raw, "notHosts", o),
        ports=_strings(raw, "ports", o),
        not_ports=_strings(raw, "notPorts", o),
        methods=_strings(raw, "methods", o),
        not_methods=_strings(raw, "notMethods", o),
        paths=_strings(raw, "paths", o),
        not_paths=_strings(raw, "notPaths", o),
    )


def _selector(spec: Mapping[str, Any]) -> Mapping[str, str] | None:
    if spec.get("selector") is None:
        return None
    labels = _mapping(_mapping(spec["selector"], "spec.selector").get("matchLabels"), "matchLabels")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _Unreadable("spec.selector.matchLabels must map strings to strings")
    return dict(labels)


def _target_refs(spec: Mapping[str, Any]) -> tuple[TargetRef, ...]:
    raws: list[Any] = list(_list(spec, "targetRefs"))
    if spec.get("targetRef") is not None:
        raws.append(spec["targetRef"])
    refs: list[TargetRef] = []
    for i, item in enumerate(raws):
        ref = _mapping(item, f"spec.targetRefs[{i}]")
        kind, name = ref.get("kind"), ref.get("name")
        if not isinstance(kind, str) or not isinstance(name, str):
            raise _Unreadable(f"spec.targetRefs[{i}] needs kind and name")
        group, namespace = ref.get("group", ""), ref.get("namespace")
        refs.append(
            TargetRef(
                kind=kind,
                name=name,
                group=group if isinstance(group, str) else "",
                namespace=namespace if isinstance(namespace, str) else None,
            )
        )
    return tuple(refs)


def _mode(value: Any, where: str) -> MtlsMode:
    if value is None:
        return "UNSET"
    if value not in _MODES:
        raise _Unreadable(f"{where} {value!r} is not one of {sorted(_MODES)}")
    mode: MtlsMode = value
    return mode


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Unreadable(f"{where} is a {type(value).__name__}, not an object")
    return value


def _list(parent: Mapping[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unreadable(f"{key} is a {type(value).__name__}, not a list")
    return value


def _strings(parent: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _list(parent, key)
    if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in items):
        raise _Unreadable(f"{where}.{key} must be a list of strings")
    return tuple(str(item) for item in items)
