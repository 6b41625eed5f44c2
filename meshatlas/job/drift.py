"""Wire span sources into a run: read server spans, match them, say where contracts drift.

The composition root's part of :mod:`governance.drift`: which span sources
the options name (``--jaeger``, ``--zipkin``, the telemetry window), the one
``httpx.AsyncClient`` they share, and the JSON-able ``drift`` section of the
report, which ``meshatlas drift`` prints too. Every value is plain data, so a
later catalogue can keep it per run.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from discovery import telemetry
from discovery.model import Discovery, Problem
from discovery.telemetry import spans
from governance import drift
from meshatlas.errors import UsageError
from meshatlas.interface.parsing import positive_int

#: Server spans read per traced service and window, unless ``--span-cap`` says.
DEFAULT_SPAN_CAP = spans.DEFAULT_SPAN_CAP

__all__ = [
    "DEFAULT_SPAN_CAP",
    "DriftOptions",
    "DriftRun",
    "add_arguments",
    "check",
    "observe",
    "option_values",
    "section",
    "wanted",
]


class DriftOptions(Protocol):
    """The fields of ``DiscoverOptions`` drift reads."""

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
    def span_cap(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DriftRun:
    """What the span sources said and what the matching made of it."""

    drift: drift.Drift
    problems: tuple[Problem, ...]
    sources: tuple[str, ...]
    capped: tuple[str, ...]
    requests: int


def wanted(options: DriftOptions) -> bool:
    """True when the options name a span source."""
    return bool(options.jaeger or options.zipkin)


def check(options: DriftOptions) -> None:
    """Refuse a cap that cannot work."""
    if options.span_cap < 1:
        raise UsageError("--span-cap must be at least 1")


def observe(options: DriftOptions, found: Discovery) -> DriftRun | None:
    """Read the spans of ``found``'s APIs, match them, and judge drift (``None``: no source).

    Runs its own event loop: call it after discovery's has finished.
    """
    if not wanted(options):
        return None
    read = asyncio.run(_read(options, found))
    deprecated = {
        f"{s.key.cluster}/{s.key.namespace}/{s.key.name}"
        for s in found.inventory.services
        if (s.overrides.lifecycle or "").lower() == "deprecated"
    }
    judged = drift.analyse(
        apis=found.apis,
        spans=read.spans,
        window_s=telemetry.parse_window(options.telemetry_window),
        deprecated_services=deprecated,
        capped=read.capped,
    )
    return DriftRun(
        drift=judged,
        problems=read.problems,
        sources=read.sources,
        capped=read.capped,
        requests=read.requests,
    )


async def _read(options: DriftOptions, found: Discovery) -> spans.SpanRead:
    namer = telemetry.NodeNamer(found.inventory)
    nodes = {f"{a.service.cluster}/{a.service.namespace}/{a.service.name}" for a in found.apis}
    settings: dict[str, Any] = {
        "window": options.telemetry_window,
        "at": options.telemetry_at,
        "timeout": options.telemetry_timeout,
        "cap": options.span_cap,
    }
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        sources: list[spans.SpanSource] = []
        if options.jaeger:
            sources.append(spans.JaegerSpans(client=client, url=options.jaeger, **settings))
        if options.zipkin:
            sources.append(spans.ZipkinSpans(client=client, url=options.zipkin, **settings))
        return await spans.read_all(sources, namer, nodes)


def section(run: DriftRun) -> dict[str, Any]:
    """The report's ``drift`` section: operation traffic per API, and the findings."""
    result = run.drift
    return {
        "window_s": result.window_s,
        "sources": list(run.sources),
        "spans": result.spans,
        "unmatched_spans": result.unmatched_spans,
        "requests": run.requests,
        "capped": list(run.capped),
        "apis": [_api(a) for a in result.apis],
        "findings": [_plain(asdict(f)) for f in result.findings],
    }


def _api(api: drift.ApiTraffic) -> dict[str, Any]:
    fields: dict[str, Any] = _plain(asdict(api))
    return fields


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flag that bounds span reading (the sources are the telemetry flags)."""
    parser.add_argument(
        "--span-cap",
        type=positive_int,
        default=DEFAULT_SPAN_CAP,
        metavar="N",
        help="server spans read per traced service and window, at most; with --jaeger or"
        " --zipkin, operations are matched to contracts and drift reported"
        " (default: %(default)s)",
    )


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    """``DiscoverOptions`` fields from the parsed drift flag."""
    return {"span_cap": args.span_cap}
