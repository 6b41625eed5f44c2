"""An API's traffic over the kept runs, and the small SVG charts its page shows.

:func:`history` reads, from the kept run graphs of every cluster an asset
runs in, the inbound traffic each run measured on the asset's Service nodes
(:class:`~catalog.graphmodel.NodeAnalytics`): one :class:`AnalyticsPoint` per
(run, node), oldest first. The REST route
(``catalog.server.analyticsviews``) answers it as JSON; :func:`panel` turns it
into what the API page draws: three line charts (request rate, error rate,
p95 over time) rendered here as inline SVG, so the page needs no script and
the portal's CSP (no inline script or style) holds, and a table of each
node's latest figures with its top consumers.

A run in which a node received nothing measured has no point: a gap is not
a zero, since the run may not have read telemetry at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from markupsafe import Markup, escape

from catalog.graphmodel import NodeAnalytics, RunGraph, RunGraphHeader
from catalog.model import Asset

__all__ = [
    "MAX_RUNS",
    "MAX_SERIES",
    "AnalyticsPanel",
    "AnalyticsPoint",
    "Chart",
    "LatestFigures",
    "history",
    "panel",
]

#: Newest run graphs read per cluster for one history.
MAX_RUNS: Final = 100
#: Lines one chart draws (the busiest nodes); the table lists every node.
MAX_SERIES: Final = 6
_WIDTH: Final = 320
_HEIGHT: Final = 120
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 10, 22


@dataclass(frozen=True, slots=True)
class AnalyticsPoint:
    """One Service node's inbound traffic in one kept run.

    Attributes:
        taken_at: When the run's graph holds (the end of its telemetry window).
        cluster: The cluster the graph is of.
        node: The Service's node id, ``cluster/namespace/service``.
        graph_id: The kept graph it was read from.
        run_id: The catalogue's run, where recorded.
        window: The telemetry window of the run (``10m``).
        analytics: The figures.
    """

    taken_at: datetime
    cluster: str
    node: str
    graph_id: int
    run_id: int | None
    window: str | None
    analytics: NodeAnalytics


def history(
    asset: Asset,
    *,
    headers: Callable[[str], Sequence[RunGraphHeader]],
    load: Callable[[int], RunGraph],
    max_runs: int = MAX_RUNS,
) -> tuple[AnalyticsPoint, ...]:
    """The asset's points over the kept runs of its clusters, oldest first.

    A node belongs to the asset when an instance of any of its versions is
    that Service (``cluster/namespace/service``), or when the graph names the
    asset as what the node serves.

    Args:
        asset: The asset, with its versions' instances.
        headers: A cluster's kept graphs, newest first (``CatalogStore.run_graphs``).
        load: One kept graph in full (``CatalogStore.run_graph``).
        max_runs: Newest graphs read per cluster.
    """
    key = f"{asset.group_id}:{asset.asset_id}"
    instances = [i for v in asset.versions for i in v.instances]
    nodes = {f"{i.cluster}/{i.namespace}/{i.service}" for i in instances}
    points: list[AnalyticsPoint] = []
    for cluster in sorted({i.cluster for i in instances}):
        for header in list(headers(cluster))[:max_runs]:
            graph = load(header.id)
            for node in graph.nodes:
                if node.analytics is None or not (node.id in nodes or node.asset == key):
                    continue
                points.append(
                    AnalyticsPoint(
                        taken_at=graph.taken_at,
                        cluster=graph.cluster,
                        node=node.id,
                        graph_id=header.id,
                        run_id=graph.run_id,
                        window=graph.window,
                        analytics=node.analytics,
                    )
                )
    points.sort(key=lambda p: (p.taken_at, p.cluster, p.node, p.graph_id))
    return tuple(points)


@dataclass(frozen=True, slots=True)
class Chart:
    """One drawn chart: its element id, title, the SVG and how many points it marks."""

    id: str
    title: str
    svg: Markup
    points: int


@dataclass(frozen=True, slots=True)
class LatestFigures:
    """A node's newest point, as the table under the charts lists it."""

    point: AnalyticsPoint
    series: int | None

    @property
    def consumers(self) -> str:
        """``source (share %)``, busiest first."""
        return ", ".join(
            f"{c.source} ({c.share * 100:.1f} %)" for c in self.point.analytics.consumers
        )


@dataclass(frozen=True, slots=True)
class AnalyticsPanel:
    """What the API page's analytics section shows."""

    charts: tuple[Chart, ...]
    latest: tuple[LatestFigures, ...]
    runs: int


_Value = Callable[[NodeAnalytics], float | None]
#: (element id, title, the value, how a value is written)
_CHARTS: Final[tuple[tuple[str, str, _Value, Callable[[float], str]], ...]] = (
    ("chart-rps", "Requests per second", lambda a: a.rps, lambda v: f"{v:.3g}/s"),
    ("chart-errors", "Error rate (5xx, gRPC ≠ 0)", lambda a: a.error_rate, lambda v: f"{v:.1%}"),
    ("chart-p95", "p95 latency", lambda a: a.p95_ms, lambda v: f"{v:.4g} ms"),
)


def panel(points: Sequence[AnalyticsPoint]) -> AnalyticsPanel | None:
    """The charts and latest figures of ``points`` (oldest first), or None without any."""
    if not points:
        return None
    by_node: dict[str, list[AnalyticsPoint]] = {}
    for point in points:
        by_node.setdefault(point.node, []).append(point)
    ranked = sorted(by_node, key=lambda n: (-by_node[n][-1].analytics.rps, n))
    drawn = ranked[:MAX_SERIES]
    times = sorted({p.taken_at for p in points})
    charts = tuple(
        _chart(chart_id, title, value, shown, [by_node[n] for n in drawn], times)
        for chart_id, title, value, shown in _CHARTS
    )
    latest = tuple(
        LatestFigures(by_node[n][-1], drawn.index(n) if n in drawn else None) for n in ranked
    )
    return AnalyticsPanel(charts=charts, latest=latest, runs=len(times))


def _chart(
    chart_id: str,
    title: str,
    value: _Value,
    shown: Callable[[float], str],
    series: Sequence[Sequence[AnalyticsPoint]],
    times: Sequence[datetime],
) -> Chart:
    measured = [(p, v) for line in series for p in line if (v := value(p.analytics)) is not None]
    top = max((v for _, v in measured), default=0.0)
    top = top * 1.1 if top > 0 else 1.0
    first, last = times[0], times[-1]
    span = (last - first).total_seconds()
    inner_w = _WIDTH - _LEFT - _RIGHT
    inner_h = _HEIGHT - _TOP - _BOTTOM

    def x(at: datetime) -> float:
        if span <= 0:
            return _LEFT + inner_w / 2
        return _LEFT + inner_w * (at - first).total_seconds() / span

    def y(v: float) -> float:
        return _TOP + inner_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}"'
        f' viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}"'
        f' role="img" aria-label="{escape(title)}" data-points="{len(measured)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + inner_h}" x2="{_WIDTH - _RIGHT}"'
        f' y2="{_TOP + inner_h}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + inner_h}"/>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end">'
        f"{escape(shown(top))}</text>",
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + inner_h}" text-anchor="end">0</text>',
        f'<text class="tick" x="{_LEFT}" y="{_HEIGHT - 6}">{first:%m-%d %H:%M}</text>',
    ]
    if span > 0:
        parts.append(
            f'<text class="tick" x="{_WIDTH - _RIGHT}" y="{_HEIGHT - 6}" text-anchor="end">'
            f"{last:%m-%d %H:%M}</text>"
        )
    for index, line in enumerate(series):
        drawn = [(p, v) for p in line if (v := value(p.analytics)) is not None]
        if len(drawn) > 1:
            path = " ".join(f"{x(p.taken_at):.1f},{y(v):.1f}" for p, v in drawn)
            parts.append(f'<polyline class="trend s{index}" points="{path}"/>')
        for p, v in drawn:
            parts.append(
                f'<circle class="pt s{index}" cx="{x(p.taken_at):.1f}" cy="{y(v):.1f}" r="2.5">'
                f"<title>{escape(p.node)} {p.taken_at:%Y-%m-%d %H:%M} UTC:"
                f" {escape(shown(v))}</title></circle>"
            )
    parts.append("</svg>")
    return Chart(id=chart_id, title=title, svg=Markup("".join(parts)), points=len(measured))
