"""What every telemetry source shares: the interface, node naming, merging.

A :class:`TelemetrySource` answers one question, "which calls happened in the
window?", as :class:`~discovery.model.Edge` values with ``origin="telemetry"``.
Sources name services in their own ways (Istio labels, OpenTelemetry
``service.name``, Jaeger/Zipkin service names); :class:`NodeNamer` turns those
names into the node ids the rest of meshatlas uses, with the inventory in hand.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from discovery.errors import TelemetryError
from discovery.model import Edge, EdgeOrigin, Inventory, Problem, Service

__all__ = [
    "UNKNOWN",
    "NodeNamer",
    "TelemetryResult",
    "TelemetrySource",
    "collect",
    "merge_edges",
    "parse_window",
]

#: Istio's value for a label it could not fill, and the node id of callers
#: without identity.
UNKNOWN = "unknown"

_WINDOW = re.compile(r"^(?:(\d+)(ms|s|m|h|d|w|y))+$")
_WINDOW_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}


def parse_window(text: str) -> float:
    """Seconds in a Prometheus duration (``10m``, ``1h30m``, ``90s``).

    Raises:
        ValueError: ``text`` is not a Prometheus duration, or is zero.
    """
    if not _WINDOW.match(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 10m or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _WINDOW_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return float(seconds)


class NodeNamer:
    """Turns the names telemetry uses into graph node ids.

    Node ids are those of :class:`~discovery.model.Edge`: ``cluster/ns/name``
    for Services, the host for external hosts, ``unknown`` for callers
    without identity. A telemetry cluster label that names no inventory
    cluster (Istio's default is ``Kubernetes``) falls back to the only
    cluster holding that ``ns/name``, then to the first cluster.

    Args:
        inventory: What discovery read from the clusters.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.clusters = inventory.clusters
        self._services = inventory.services
        self._by_ns_name: dict[tuple[str, str], list[Service]] = {}
        self._by_name: dict[str, list[Service]] = {}
        self._by_namespace: dict[str, list[Service]] = {}
        for service in inventory.services:
            key = service.key
            self._by_ns_name.setdefault((key.namespace, key.name), []).append(service)
            self._by_name.setdefault(key.name, []).append(service)
            self._by_namespace.setdefault(key.namespace, []).append(service)
        # workload() is asked once per series read: thousands of times for few names.
        self._workloads: dict[tuple[str, str, str, str], str] = {}
        self.external_hosts = {h.host for h in inventory.external_hosts}
        # Ambient names a ServiceEntry's traffic after the entry, not the host
        # (Istio's ambient index builds its workload Service with the entry's
        # name and namespace and the host as hostname), so (namespace, entry)
        # finds the host too.
        self._entries: dict[tuple[str, str], str] = {}
        for entry in inventory.external_hosts:
            self._entries.setdefault((entry.namespace, entry.entry), entry.host)

    @property
    def default_cluster(self) -> str:
        return self.clusters[0] if self.clusters else "default"

    def namespaces(self) -> list[str]:
        """Namespaces holding at least one Service of the inventory, sorted."""
        return sorted({s.key.namespace for s in self._services})

    def service(self, *, cluster: str, namespace: str, name: str) -> str:
        """The node of Service ``namespace/name`` as seen from ``cluster``."""
        return f"{self._cluster(cluster, namespace, name)}/{namespace}/{name}"

    def workload(self, *, cluster: str, namespace: str, workload: str, app: str) -> str:
        """The node of a calling workload: the Service that selects it, if any.

        A workload is matched to the Service of its namespace whose selector's
        ``app`` is the workload's ``app`` label, else to the Service named like
        the app or the workload. A workload no Service fronts stays its own
        node, ``cluster/namespace/workload``.
        """
        if workload == UNKNOWN and app in ("", UNKNOWN):
            return UNKNOWN
        asked = (cluster, namespace, workload, app)
        known = self._workloads.get(asked)
        if known is None:
            known = self._workloads[asked] = self._workload(cluster, namespace, workload, app)
        return known

    def _workload(self, cluster: str, namespace: str, workload: str, app: str) -> str:
        candidates = self._by_namespace.get(namespace, [])
        for wanted in (app, workload):
            if wanted in ("", UNKNOWN):
                continue
            for service in candidates:
                if service.selector.get("app") == wanted or service.key.name == wanted:
                    return self.service(cluster=cluster, namespace=namespace, name=service.key.name)
        name = workload if workload not in ("", UNKNOWN) else app
        return f"{self._cluster(cluster, namespace, name)}/{namespace}/{name}"

    def named(self, name: str) -> str:
        """The node of a service known by name only (tracing, OTel servicegraph).

        Accepts ``name``, ``name.namespace``, ``name.namespace.svc[.cluster.local]``
        and ``namespace/name``; a name no Service carries is kept as is (an
        external host, or a service outside the inventory).
        """
        if name in ("", UNKNOWN):
            return UNKNOWN
        if name in self.external_hosts:
            return name
        if "/" in name:
            namespace, _, short = name.rpartition("/")
            namespace = namespace.rsplit("/", 1)[-1]
            return self.service(cluster="", namespace=namespace, name=short)
        parts = name.split(".")
        if len(parts) >= 2 and (parts[1], parts[0]) in self._by_ns_name:
            return self.service(cluster="", namespace=parts[1], name=parts[0])
        matches = self._by_name.get(name, [])
        if len({(s.key.namespace) for s in matches}) == 1:
            key = matches[0].key
            return self.service(cluster=key.cluster, namespace=key.namespace, name=key.name)
        return name

    def destination(
        self, *, cluster: str, namespace: str, name: str, host: str
    ) -> tuple[str, str | None]:
        """The node a request went to, and its egress kind if Istio passed it through.

        ``PassthroughCluster`` and ``BlackHoleCluster`` traffic goes to the host
        named in ``destination_service`` when Istio kept it, else to a node
        named after the Envoy cluster. Traffic to a host a ServiceEntry
        declares goes to that host's node: sidecars label it with the host as
        ``destination_service_name`` and the entry's namespace, ztunnel with
        the entry's name; a name with a dot is never a Kubernetes Service.
        """
        if name in ("PassthroughCluster", "BlackHoleCluster"):
            egress = "passthrough" if name == "PassthroughCluster" else "blackhole"
            target = host if host not in ("", UNKNOWN, name) else name
            return target, egress
        if host in self.external_hosts:
            return host, None
        entry_host = self._entries.get((namespace, name))
        if entry_host is not None:
            return entry_host, None
        if "." in name and name != UNKNOWN:
            return (host if host not in ("", UNKNOWN) else name), None
        if namespace not in ("", UNKNOWN) and name not in ("", UNKNOWN):
            return self.service(cluster=cluster, namespace=namespace, name=name), None
        parts = host.split(".")
        if len(parts) >= 3 and parts[2] == "svc":
            return self.service(cluster=cluster, namespace=parts[1], name=parts[0]), None
        return (host if host not in ("",) else UNKNOWN), None

    def _cluster(self, label: str, namespace: str, name: str) -> str:
        if label in self.clusters:
            return label
        holders = {s.key.cluster for s in self._by_ns_name.get((namespace, name), [])}
        if len(holders) == 1:
            return holders.pop()
        return self.default_cluster


class TelemetrySource(Protocol):
    """Anything that can say which calls happened recently.

    Attributes:
        kind: ``prometheus``, ``otel``, ``jaeger`` or ``zipkin``.
        url: Where the source is read, for problems and logs.
    """

    kind: str
    url: str

    async def edges(self, namer: NodeNamer) -> tuple[Edge, ...]:
        """The calls of the window as telemetry edges.

        Raises:
            TelemetryError: The source failed or answered only in part.
        """
        ...


@dataclass(frozen=True, slots=True)
class TelemetryResult:
    """Edges from every source that answered, and a problem for each that did not."""

    edges: tuple[Edge, ...]
    problems: tuple[Problem, ...]


async def collect(sources: Sequence[TelemetrySource], inventory: Inventory) -> TelemetryResult:
    """Ask every source at once; a failed source contributes a problem, no edges.

    A source that fails in part (Prometheus warnings, one query of many
    refused) contributes nothing: half an answer would draw a misleading graph.
    """
    namer = NodeNamer(inventory)
    results = await asyncio.gather(
        *(source.edges(namer) for source in sources), return_exceptions=True
    )
    edges: list[Edge] = []
    problems: list[Problem] = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, TelemetryError):
            problems.append(
                Problem(
                    where=f"{source.kind} {source.url}",
                    what="telemetry not read; the graph holds config edges only"
                    if len(sources) == 1
                    else "telemetry not read from this source",
                    why=result.message,
                )
            )
        elif isinstance(result, BaseException):
            raise result
        else:
            edges.extend(result)
    return TelemetryResult(edges=merge_edges(edges), problems=tuple(problems))


def merge_edges(edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """One edge per (source, target), in first-seen order.

    Config and telemetry edges of one pair become ``origin="both"``; the
    protocol and metrics telemetry observed win over what config declares;
    between telemetry sources the first known value of each metric wins, so
    list Prometheus before trace-derived sources. Workloads and sources are
    united.
    """
    merged: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        key = (edge.source, edge.target)
        current = merged.get(key)
        if current is None:
            merged[key] = edge
            continue
        if current.origin == "config" and edge.origin != "config":
            current, edge = edge, current
        origin: EdgeOrigin = current.origin if current.origin == edge.origin else "both"
        protocol = current.protocol
        if protocol in ("", UNKNOWN):
            protocol = edge.protocol or protocol
        merged[key] = replace(
            current,
            origin=origin,
            protocol=protocol,
            rps=_first(current.rps, edge.rps),
            error_rate=_first(current.error_rate, edge.error_rate),
            p50_ms=_first(current.p50_ms, edge.p50_ms),
            p95_ms=_first(current.p95_ms, edge.p95_ms),
            p99_ms=_first(current.p99_ms, edge.p99_ms),
            mtls=current.mtls if current.mtls is not None else edge.mtls,
            workloads=tuple(sorted(set(current.workloads) | set(edge.workloads))),
            bytes_per_s=_first(current.bytes_per_s, edge.bytes_per_s),
            egress=current.egress or edge.egress,
            sources=tuple(dict.fromkeys(current.sources + edge.sources)),
        )
    return tuple(merged.values())


def _first(current: float | None, incoming: float | None) -> float | None:
    return current if current is not None else incoming
