"""An API's traffic over the kept runs: ``GET .../assets/{groupId}/{assetId}/analytics``.

Each run's service graph (:mod:`catalog.storage.graphs`) carries, on every
Service node telemetry measured, that Service's inbound traffic
(:class:`~catalog.graphmodel.NodeAnalytics`). An asset's history is read from
the kept graphs of every cluster it runs in: the nodes of its instances'
Services (``cluster/namespace/service``), and any node the graph names as
serving the asset. One point per (run, node), oldest first; runs in which
the node received nothing measured have no point (a missing point is not a
zero: the run may not have read telemetry at all).

The retention is that of the run graphs (``keep`` when publishing, default
:data:`catalog.storage.graphs.DEFAULT_KEPT` per cluster); at most
:data:`MAX_RUNS` of a cluster's newest graphs are read for one answer.

The history is read by :func:`catalog.portal.charts.history`, which the
portal's API page draws from too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from catalog.model import Asset
from catalog.portal.charts import MAX_RUNS, AnalyticsPoint, history

__all__ = ["MAX_RUNS", "AnalyticsPoint", "history", "history_json"]


def history_json(asset: Asset, points: Iterable[AnalyticsPoint]) -> dict[str, Any]:
    """The REST body: the asset's points, oldest first, each with its top consumers."""
    listed = list(points)
    return {
        "groupId": asset.group_id,
        "assetId": asset.asset_id,
        "clusters": sorted({p.cluster for p in listed}),
        "points": [
            {
                "takenAt": p.taken_at.isoformat(),
                "cluster": p.cluster,
                "node": p.node,
                "runId": p.run_id,
                "window": p.window,
                "rps": p.analytics.rps,
                "errorRate": p.analytics.error_rate,
                "clientErrorRate": p.analytics.client_error_rate,
                "p50Ms": p.analytics.p50_ms,
                "p95Ms": p.analytics.p95_ms,
                "p99Ms": p.analytics.p99_ms,
                "consumers": [
                    {
                        "source": c.source,
                        "rps": c.rps,
                        "share": c.share,
                        "errorRate": c.error_rate,
                    }
                    for c in p.analytics.consumers
                ],
            }
            for p in listed
        ],
    }
