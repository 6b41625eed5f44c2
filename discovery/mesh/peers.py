"""Who called whom, with which identity and over what, as the server's side saw it.

The security posture needs what the dependency edges leave out: the
caller's SPIFFE identity (``source_principal``), the server's
(``destination_principal``, which names its service account), and how much
of the traffic used mutual TLS (``connection_security_policy``). Only the
receiving side can tell: a sidecar client reports ``unknown`` for the
policy, the server's sidecar ``mutual_tls`` or ``none``, ztunnel
``mutual_tls`` or ``unknown`` (ztunnel's ``src/proxy/metrics.rs``,
``SecurityPolicy``), and a waypoint reports the original client with the
identity it presented. So the queries ask for ``reporter="destination"``
and ``reporter="waypoint"``, per namespace of the inventory::

    sum(rate(istio_requests_total{reporter=~"destination|waypoint",
        destination_service_namespace="bank"}[10m]))
      by (reporter, source_workload, ..., source_principal, destination_principal,
          connection_security_policy)

and the same over ``istio_tcp_connections_opened_total`` for L4-only traffic
(TCP Services, ambient without a waypoint). This module builds the queries
and reads their samples; the composition root sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.prometheus import Sample

__all__ = ["PeerTraffic", "Unit", "principal", "queries", "read_samples"]

#: ``requests`` per second from L7 series, ``connections`` per second from L4 ones.
Unit = Literal["requests", "connections"]

_BY: Final = (
    "reporter",
    "source_cluster",
    "source_workload_namespace",
    "source_workload",
    "source_app",
    "source_principal",
    "destination_cluster",
    "destination_service_namespace",
    "destination_service_name",
    "destination_principal",
    "connection_security_policy",
)
_METRICS: Final[tuple[tuple[Unit, str], ...]] = (
    ("requests", "istio_requests_total"),
    ("connections", "istio_tcp_connections_opened_total"),
)


@dataclass(frozen=True, slots=True)
class PeerTraffic:
    """Traffic from one caller identity to one Service, as its receiving proxy saw it.

    ``source`` and ``target`` are graph node ids (those of
    :class:`~discovery.model.Edge`). Principals are Istio's form, without
    ``spiffe://`` (``cluster.local/ns/bank/sa/teller``), ``None`` when the
    proxy did not know one (plaintext has none). ``mtls`` is True for
    ``mutual_tls``, False for ``none`` and None for ``unknown``.
    """

    source: str
    target: str
    source_principal: str | None
    target_principal: str | None
    mtls: bool | None
    rate: float
    unit: Unit
    #: ``namespace/workload`` of the caller, as telemetry names it.
    workload: str = UNKNOWN


def queries(namespaces: Iterable[str], *, window: str) -> tuple[tuple[Unit, str], ...]:
    """Every query to send: per namespace, one over requests and one over connections."""
    out: list[tuple[Unit, str]] = []
    by = ",".join(_BY)
    for namespace in namespaces:
        selector = (
            f'reporter=~"destination|waypoint",destination_service_namespace="{_quote(namespace)}"'
        )
        for unit, metric in _METRICS:
            out.append((unit, f"sum(rate({metric}{{{selector}}}[{window}])) by ({by})"))
    return tuple(out)


def principal(value: str | None) -> str | None:
    """Istio's policy form of a SPIFFE id: ``spiffe://td/ns/x/sa/y`` -> ``td/ns/x/sa/y``."""
    if value is None or value in ("", UNKNOWN):
        return None
    return value.removeprefix("spiffe://")


def read_samples(
    samples: Iterable[tuple[Unit, Sample]],
    namer: NodeNamer,
    *,
    waypoints: Sequence[tuple[str, str]] = (),
) -> tuple[PeerTraffic, ...]:
    """The traffic the samples describe, one value per (caller, identity, Service, mTLS).

    A destination-side sample whose source is a waypoint (``waypoints``:
    ``(namespace, workload)``) is the waypoint's own hop: the waypoint's
    report of the same call names the original client, so the hop is left
    out. Samples with a zero rate say nothing and are dropped.
    """
    hops = frozenset(waypoints)
    totals: dict[tuple[str, str, str | None, str | None, bool | None, Unit, str], float] = {}
    for unit, sample in samples:
        labels = sample.labels
        if sample.value <= 0:
            continue
        src_ns = labels.get("source_workload_namespace", UNKNOWN)
        src_workload = labels.get("source_workload", UNKNOWN)
        if labels.get("reporter") == "destination" and (src_ns, src_workload) in hops:
            continue
        source = namer.workload(
            cluster=labels.get("source_cluster", UNKNOWN),
            namespace=src_ns,
            workload=src_workload,
            app=labels.get("source_app", UNKNOWN),
        )
        target = namer.service(
            cluster=labels.get("destination_cluster", UNKNOWN),
            namespace=labels.get("destination_service_namespace", UNKNOWN),
            name=labels.get("destination_service_name", UNKNOWN),
        )
        policy = labels.get("connection_security_policy", UNKNOWN)
        mtls = True if policy == "mutual_tls" else False if policy == "none" else None
        key = (
            source,
            target,
            principal(labels.get("source_principal")),
            principal(labels.get("destination_principal")),
            mtls,
            unit,
            f"{src_ns}/{src_workload}",
        )
        totals[key] = totals.get(key, 0.0) + sample.value
    return tuple(
        PeerTraffic(
            source=source,
            target=target,
            source_principal=src_p,
            target_principal=dst_p,
            mtls=mtls,
            rate=rate,
            unit=unit,
            workload=workload,
        )
        for (source, target, src_p, dst_p, mtls, unit, workload), rate in sorted(
            totals.items(), key=lambda item: tuple(str(part) for part in item[0])
        )
    )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
