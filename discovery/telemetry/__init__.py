"""Telemetry: which services called which, from what the mesh observed.

Every source implements :class:`TelemetrySource` and yields
:class:`~discovery.model.Edge` values with ``origin="telemetry"``:

* :class:`IstioPrometheusSource`: Istio's standard metrics in Prometheus
  (requests, errors, latency percentiles, TCP traffic, mTLS), Kiali-style.
* :class:`OtelServiceGraphSource`: OpenTelemetry Collector servicegraph metrics.
* :class:`JaegerSource`, :class:`ZipkinSource`: tracing back ends' dependency links.

The same back ends' server spans, for traffic operation by operation, are
read by :mod:`discovery.telemetry.spans` (``JaegerSpans``, ``ZipkinSpans``).

:func:`collect` asks them all; a source that fails, in whole or in part,
becomes a :class:`~discovery.model.Problem` and contributes no edge.
"""

from __future__ import annotations

from discovery.telemetry.base import (
    UNKNOWN,
    NodeNamer,
    TelemetryResult,
    TelemetrySource,
    collect,
    merge_edges,
    parse_window,
)
from discovery.telemetry.istio import IstioPrometheusSource
from discovery.telemetry.otel import OtelServiceGraphSource
from discovery.telemetry.prometheus import PrometheusApi, Sample
from discovery.telemetry.traces import JaegerSource, ZipkinSource

__all__ = [
    "UNKNOWN",
    "IstioPrometheusSource",
    "JaegerSource",
    "NodeNamer",
    "OtelServiceGraphSource",
    "PrometheusApi",
    "Sample",
    "TelemetryResult",
    "TelemetrySource",
    "ZipkinSource",
    "collect",
    "merge_edges",
    "parse_window",
]
