"""Lookups the mesh readers share: a cluster's Services by key, namespace and host."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from discovery.model import Service, ServiceKey

#: Most route prefixes kept per Service (each one costs probe requests).
MAX_PREFIXES = 4
#: Most exposures kept per Service: a route with many hostnames on many
#: listeners multiplies, and a report entry per product helps no one.
MAX_EXPOSURES = 32


@dataclass(frozen=True, slots=True)
class ServiceIndex:
    """A cluster's Services by key and by namespace, so each route is a lookup, not a scan."""

    cluster: str
    keys: frozenset[ServiceKey]
    by_namespace: Mapping[str, Sequence[Service]]
    by_key: Mapping[ServiceKey, Service]

    @classmethod
    def of(cls, cluster: str, services: Sequence[Service]) -> ServiceIndex:
        by_namespace: dict[str, list[Service]] = {}
        for s in services:
            by_namespace.setdefault(s.key.namespace, []).append(s)
        return cls(
            cluster=cluster,
            keys=frozenset(s.key for s in services),
            by_namespace=by_namespace,
            by_key={s.key: s for s in services},
        )


def resolve_host(
    host: str, namespace: str, cluster: str, known: frozenset[ServiceKey], external: Collection[str]
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


def selects(selector: Mapping[str, str], source_labels: Mapping[str, str]) -> bool:
    """Whether a Service's selector and a route's sourceLabels pick the same workloads."""
    shared = False
    for name, value in source_labels.items():
        if name in selector:
            if selector[name] != value:
                return False
            shared = True
    return shared


def selects_pod(selector: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
    """Whether a Service's (non-empty) selector picks a Pod with these labels."""
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def host_matches(pattern: str, host: str) -> bool:
    """Whether ``host`` falls under ``pattern`` (``*``, ``*.example.com`` or exact).

    Both Istio Gateway server hosts and Gateway API listener hostnames use
    a leading ``*.`` for "any subdomain".
    """
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*."):
        if host.startswith("*."):
            return host.endswith(pattern[1:])
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return False


def narrower(a: str, b: str) -> str | None:
    """The hostnames ``a`` and ``b`` both allow, as the narrower one; None if none."""
    if host_matches(a, b):
        return b
    if host_matches(b, a):
        return a
    return None


def clean_prefix(path: str) -> str | None:
    """A path prefix as a Service sees it, or None when it is not a usable prefix."""
    path = path.rstrip("/")
    if path.startswith("/") and len(path) <= 128 and "//" not in path:
        return path
    return None
