"""Wire telemetry sources from the command line into a discovery run.

The composition root's part of telemetry: which sources the options ask for,
the one ``httpx.AsyncClient`` they share, and folding their edges (merged with
the config edges) and problems into the :class:`~discovery.model.Discovery`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from discovery import telemetry
from discovery.mesh.model import Waypoint
from discovery.model import Discovery, ServiceKey
from discovery.telemetry import analytics
from meshatlas.errors import UsageError

__all__ = [
    "TelemetryOptions",
    "add_arguments",
    "check",
    "infrastructure",
    "observe",
    "option_values",
    "sources",
]


class TelemetryOptions(Protocol):
    """The fields of ``DiscoverOptions`` telemetry reads."""

    @property
    def prometheus(self) -> str | None: ...
    @property
    def otel_prometheus(self) -> str | None: ...
    @property
    def jaeger(self) -> str | None: ...
    @property
    def zipkin(self) -> str | None: ...
    @property
    def telemetry_window(self) -> str: ...
    @property
    def telemetry_timeout(self) -> float: ...
    @property
    def telemetry_at(self) -> datetime | None: ...
    @property
    def show_waypoints(self) -> bool: ...


def check(options: TelemetryOptions) -> None:
    """Refuse a bad window or URL before anything is contacted."""
    try:
        telemetry.parse_window(options.telemetry_window)
    except ValueError as exc:
        raise UsageError(f"--telemetry-window: {exc}") from exc
    for flag, url in (
        ("--prometheus", options.prometheus),
        ("--otel-prometheus", options.otel_prometheus),
        ("--jaeger", options.jaeger),
        ("--zipkin", options.zipkin),
    ):
        if url is not None and not url.startswith(("http://", "https://")):
            raise UsageError(f"{flag} must be an http:// or https:// URL, not {url!r}")
    if options.telemetry_timeout <= 0:
        raise UsageError("--telemetry-timeout must be positive")


def sources(
    options: TelemetryOptions,
    client: httpx.AsyncClient,
    waypoints: Iterable[Waypoint] = (),
) -> list[telemetry.TelemetrySource]:
    """The sources the options name; Prometheus first, so its metrics win merges.

    ``waypoints`` are those the cluster config declares (Gateways of class
    ``istio-waypoint``): Istio's reader takes their workloads for
    infrastructure even where the series alone would not tell.
    """
    window, at, timeout = options.telemetry_window, options.telemetry_at, options.telemetry_timeout
    found: list[telemetry.TelemetrySource] = []
    if options.prometheus:
        found.append(
            telemetry.IstioPrometheusSource(
                client=client,
                url=options.prometheus,
                window=window,
                at=at,
                timeout=timeout,
                waypoints=sorted({w.workload_id for w in waypoints}),
                include_waypoints=options.show_waypoints,
            )
        )
    if options.otel_prometheus:
        found.append(
            telemetry.OtelServiceGraphSource(
                client=client, url=options.otel_prometheus, window=window, at=at, timeout=timeout
            )
        )
    if options.jaeger:
        found.append(
            telemetry.JaegerSource(
                client=client, url=options.jaeger, window=window, at=at, timeout=timeout
            )
        )
    if options.zipkin:
        found.append(
            telemetry.ZipkinSource(
                client=client, url=options.zipkin, window=window, at=at, timeout=timeout
            )
        )
    return found


async def observe(options: TelemetryOptions, found: Discovery) -> Discovery:
    """Add telemetry edges (merged with config edges) and problems to ``found``."""
    if not any((options.prometheus, options.otel_prometheus, options.jaeger, options.zipkin)):
        return found  # no client: making one loads the TLS trust store (~0.1 s)
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        wanted = sources(options, client, found.inventory.mesh.ambient.waypoints)
        if not wanted:
            return found
        result = await telemetry.collect(wanted, found.inventory)
    found = _note_no_series(options, wanted, found)
    merged = telemetry.merge_edges((*found.edges, *result.edges))
    traffic = _inbound_traffic(wanted, found)
    return replace(found, edges=merged, problems=found.problems + result.problems, traffic=traffic)


def _inbound_traffic(
    wanted: Iterable[telemetry.TelemetrySource], found: Discovery
) -> tuple[analytics.ApiTraffic, ...]:
    """Per-API analytics from the series Istio's source read (none when it failed)."""
    for source in wanted:
        if isinstance(source, telemetry.IstioPrometheusSource) and source.observations:
            return analytics.inbound_traffic(
                source.observations,
                telemetry.NodeNamer(found.inventory),
                waypoints=source.waypoints,
            )
    return ()


def _note_no_series(
    options: TelemetryOptions, wanted: Iterable[telemetry.TelemetrySource], found: Discovery
) -> Discovery:
    """Say so (a warning and a report note) when Prometheus answered with no Istio series.

    An empty window looks like a mesh without traffic; it is more often a
    window before the data, a Prometheus that does not scrape Istio, or the
    wrong Prometheus (issue 21, "silent empties").
    """
    from meshatlas.interface import console

    notes = []
    for source in wanted:
        if (
            isinstance(source, telemetry.IstioPrometheusSource)
            and source.series == 0 < source.queries
        ):
            ending = options.telemetry_at.isoformat() if options.telemetry_at else "now"
            notes.append(
                f"no Istio series in the window ({options.telemetry_window} ending {ending})"
                f" at {source.url} for the namespaces crawled: the graph holds config edges"
                " only; check --telemetry-window and --telemetry-at, and that this"
                " Prometheus scrapes Istio's proxies"
            )
    for note in notes:
        console.warning(note)
    if not notes:
        return found
    inventory = replace(found.inventory, notes=(*found.inventory.notes, *notes))
    return replace(found, inventory=inventory)


def infrastructure(found: Discovery) -> tuple[ServiceKey, ...]:
    """The Services of the mesh itself: the waypoints config declares (Istio names
    each waypoint's Service after its Gateway)."""
    return tuple(
        ServiceKey(w.cluster, w.namespace, w.name) for w in found.inventory.mesh.ambient.waypoints
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``discover`` flags that name telemetry sources."""
    group = parser.add_argument_group("telemetry (who calls whom)")
    group.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus holding Istio's metrics, e.g. http://prometheus.istio-system:9090",
    )
    group.add_argument(
        "--telemetry-window",
        default="10m",
        metavar="DURATION",
        help="rate window, a Prometheus duration (default: %(default)s)",
    )
    group.add_argument(
        "--otel-prometheus",
        metavar="URL",
        help="Prometheus holding OpenTelemetry servicegraph metrics",
    )
    group.add_argument("--jaeger", metavar="URL", help="Jaeger query service (/api/dependencies)")
    group.add_argument("--zipkin", metavar="URL", help="Zipkin server (/api/v2/dependencies)")
    group.add_argument(
        "--telemetry-at",
        type=_instant,
        metavar="TIME",
        help="evaluate telemetry at this time (RFC 3339 or Unix seconds; default: now)",
    )
    group.add_argument(
        "--telemetry-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="deadline of each telemetry query (default: %(default)s)",
    )
    group.add_argument(
        "--show-waypoints",
        action="store_true",
        help="also draw the hops to and from ambient waypoints (mesh infrastructure,"
        " left out of the graph by default)",
    )


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    """``DiscoverOptions`` fields from the parsed telemetry flags."""
    return {
        "prometheus": args.prometheus,
        "otel_prometheus": args.otel_prometheus,
        "jaeger": args.jaeger,
        "zipkin": args.zipkin,
        "telemetry_window": args.telemetry_window,
        "telemetry_timeout": args.telemetry_timeout,
        "telemetry_at": args.telemetry_at,
        "show_waypoints": args.show_waypoints,
    }


def _instant(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not RFC 3339 or Unix seconds") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
