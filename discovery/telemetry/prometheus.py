"""A small client of Prometheus's HTTP query API.

Only instant queries (``/api/v1/query``) are needed: every telemetry question
meshatlas asks is a ``rate()`` over a window, evaluated once. The raw answer
is typed at the edge (``TypedDict``) and turned into :class:`Sample` values;
every failure, including an answer that carries ``warnings`` (partial data),
becomes a :class:`~discovery.errors.TelemetryError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

import httpx

from discovery.errors import TelemetryError

__all__ = ["PrometheusApi", "Sample"]


class _RawSample(TypedDict):
    metric: dict[str, str]
    value: list[Any]


class _RawData(TypedDict):
    resultType: str
    result: list[_RawSample]


class _RawAnswer(TypedDict):
    status: str
    data: NotRequired[_RawData]
    errorType: NotRequired[str]
    error: NotRequired[str]
    warnings: NotRequired[list[str]]


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector: its labels and its (finite) value."""

    labels: Mapping[str, str] = field(hash=False)
    value: float


class PrometheusApi:
    """Instant queries against one Prometheus, through an injected client.

    Args:
        client: The ``httpx.AsyncClient`` every request goes through.
        url: Base URL of Prometheus (``http://prometheus.istio-system:9090``);
            a path prefix (``/prometheus``) is kept.
        at: Evaluation time of every query; ``None`` means Prometheus's now.
        timeout: Seconds one query may take, told to Prometheus and enforced here.
        source: Name used in errors (``prometheus``, ``otel``).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        at: datetime | None = None,
        timeout: float = 10.0,
        source: str = "prometheus",
    ) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.at = at
        self.timeout = timeout
        self.source = source
        self.queries = 0

    async def query(self, promql: str) -> list[Sample]:
        """Evaluate ``promql`` as an instant vector.

        Samples whose value is not a finite number (``NaN`` from 0/0, ``+Inf``
        from ``histogram_quantile``) are left out.

        Raises:
            TelemetryError: Prometheus could not be reached, took too long,
                answered with an error or a non-vector, or returned warnings.
        """
        endpoint = f"{self.url}/api/v1/query"
        params = {"query": promql, "timeout": f"{self.timeout:g}s"}
        if self.at is not None:
            params["time"] = f"{self.at.timestamp():.3f}"
        self.queries += 1
        try:
            response = await self.client.get(endpoint, params=params, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise self._error(f"no answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"cannot reach Prometheus: {_describe(exc)}") from exc
        answer = _decode(response)
        if answer is None:
            raise self._error(
                f"HTTP {response.status_code} from {endpoint} without a Prometheus answer"
            )
        if answer.get("status") != "success":
            kind = answer.get("errorType", "error")
            raise self._error(
                f"Prometheus refused the query ({kind}, HTTP {response.status_code}): "
                f"{answer.get('error', 'no reason given')}"
            )
        warnings = answer.get("warnings") or []
        if warnings:
            raise self._error("Prometheus returned partial data: " + "; ".join(warnings))
        data = answer.get("data")
        if data is None or data.get("resultType") != "vector":
            got = None if data is None else data.get("resultType")
            raise self._error(f"expected an instant vector, got {got!r}")
        return [s for s in (_sample(raw) for raw in data.get("result", [])) if s is not None]

    def _error(self, message: str) -> TelemetryError:
        return TelemetryError(message, source=self.source, url=self.url)


def _decode(response: httpx.Response) -> _RawAnswer | None:
    try:
        loaded = json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: nesting past the interpreter's limit
        return None
    if not isinstance(loaded, dict) or "status" not in loaded:
        return None
    answer: _RawAnswer = loaded  # type: ignore[assignment]
    return answer


def _sample(raw: _RawSample) -> Sample | None:
    try:
        value = float(raw["value"][1])
        labels = {str(k): str(v) for k, v in raw["metric"].items()}
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return Sample(labels=labels, value=value)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text
