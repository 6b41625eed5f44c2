"""Quantiles of classic Prometheus histograms, computed from bucket rates.

The edges meshatlas draws are *logical*: one edge sums the series of every
calling workload (a Service's canary and its stable Deployment) and of every
proxy hop that makes up the call. PromQL cannot group by that mapping, so the
source asks for the per-series bucket rates, sums them per edge and ``le``,
and takes the quantile here. A quantile per caller with the largest kept is
not the edge's quantile (a slow canary with 3% of the calls would set it).

:func:`bucket_quantile` follows what Prometheus's ``histogram_quantile``
documents for classic histograms: linear interpolation inside the bucket that
holds the rank, the lowest bucket starting at 0 when its upper bound is
positive, the highest finite bound when the rank falls in ``+Inf``, no answer
without a ``+Inf`` bucket or without observations, and cumulative counts made
monotonic first (rates of separately scraped counters can dip by rounding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["bucket_quantile", "parse_le"]


def parse_le(text: str) -> float | None:
    """The upper bound a ``le`` label names (``"+Inf"``, ``"0.25"``), or None."""
    try:
        bound = float(text)
    except ValueError:
        return None
    return None if math.isnan(bound) else bound


def bucket_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of a histogram given as ``{upper bound: cumulative rate}``.

    Returns None where Prometheus answers NaN (no ``+Inf`` bucket, fewer than
    two buckets, no observations) and for ``q`` outside [0, 1].
    """
    if not 0.0 <= q <= 1.0 or math.inf not in buckets or len(buckets) < 2:
        return None
    bounds = sorted(buckets)
    counts: list[float] = []
    for bound in bounds:
        counts.append(max(buckets[bound], counts[-1]) if counts else buckets[bound])
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[index], counts[index]
    if index > 0:
        start = bounds[index - 1]
        count -= counts[index - 1]
        rank -= counts[index - 1]
    if count <= 0:
        return end
    return start + (end - start) * (rank / count)
