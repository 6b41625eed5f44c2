"""Per-API analytics of a run: the report's ``analytics`` section and the run graph's values.

Discovery measures each Service's inbound traffic
(:mod:`discovery.telemetry.analytics`); this module only reshapes it: into the
report's JSON, with the assets each Service serves, and into the catalogue's
:class:`~catalog.graphmodel.NodeAnalytics`, which each run's stored graph
carries on the Service's node, so an API keeps a history as long as its
cluster keeps run graphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from catalog.graphmodel import NodeAnalytics, NodeConsumer, RunGraph
from discovery.model import ServiceKey
from discovery.telemetry.analytics import ApiTraffic

__all__ = ["attach", "by_node", "section"]


def section(
    traffic: Iterable[ApiTraffic], assets: Mapping[tuple[ServiceKey, int], Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The report's ``analytics``: one entry per Service that received requests."""
    served: dict[str, set[str]] = {}
    for (service, _port), fields in assets.items():
        group, asset = fields.get("group_id"), fields.get("asset_id")
        if group and asset:
            served.setdefault(str(service), set()).add(f"{group}:{asset}")
    return [
        {
            "service": t.node,
            "assets": sorted(served.get(t.node, ())),
            "rps": t.rps,
            "error_rate": _fraction(t.error_rate),
            "client_error_rate": _fraction(t.client_error_rate),
            "p50_ms": t.p50_ms,
            "p95_ms": t.p95_ms,
            "p99_ms": t.p99_ms,
            "callers": t.callers,
            "consumers": [
                {
                    "source": c.node,
                    "rps": c.rps,
                    "share": _fraction(c.share),
                    "error_rate": _fraction(c.error_rate),
                }
                for c in t.consumers
            ],
        }
        for t in traffic
    ]


def by_node(traffic: Iterable[ApiTraffic]) -> dict[str, NodeAnalytics]:
    """The catalogue's values, by node id, for the run graph's Service nodes."""
    return {
        t.node: NodeAnalytics(
            rps=max(0.0, t.rps),
            error_rate=_fraction(t.error_rate),
            client_error_rate=_fraction(t.client_error_rate),
            p50_ms=t.p50_ms,
            p95_ms=t.p95_ms,
            p99_ms=t.p99_ms,
            consumers=tuple(
                NodeConsumer(
                    source=c.node,
                    rps=max(0.0, c.rps),
                    share=_fraction(c.share),
                    error_rate=_fraction(c.error_rate),
                )
                for c in t.consumers
            ),
        )
        for t in traffic
    }


def _fraction(value: float) -> float:
    """Clamped to [0, 1]: sums of separately scraped rates can overshoot by rounding."""
    return min(1.0, max(0.0, value))


def attach(graphs: Iterable[RunGraph], traffic: Iterable[ApiTraffic]) -> list[RunGraph]:
    """The run graphs with each measured Service node carrying its analytics."""
    measured = by_node(traffic)
    if not measured:
        return list(graphs)
    return [
        replace(
            g,
            nodes=tuple(
                replace(n, analytics=measured[n.id])
                if n.id in measured and n.kind in ("service", "tcp")
                else n
                for n in g.nodes
            ),
        )
        for g in graphs
    ]
