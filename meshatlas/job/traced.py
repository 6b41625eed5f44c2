"""Read server spans with their callers for ``policy suggest`` (``--jaeger``, ``--zipkin``).

The composition root's part of :mod:`governance.policy.traced`: the span
sources the options name, the one ``httpx.AsyncClient`` they share, and the
spans reduced to :class:`~governance.policy.traced.TracedOperation` values
for the workloads asked about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx

from discovery import telemetry
from discovery.model import Inventory, Problem
from discovery.telemetry import span_callers
from governance.policy.traced import TracedOperation
from meshatlas.job.drift import DriftOptions

__all__ = ["Traced", "read"]


@dataclass(frozen=True, slots=True)
class Traced:
    """The operations the spans show, and whatever failed while reading them."""

    operations: tuple[TracedOperation, ...]
    problems: tuple[Problem, ...]


def read(options: DriftOptions, inventory: Inventory, targets: Collection[str]) -> Traced:
    """The server spans of ``targets`` (workload nodes) with their callers.

    Runs its own event loop: call it after telemetry's has finished.
    """
    if not (options.jaeger or options.zipkin):
        return Traced(operations=(), problems=())
    return asyncio.run(_read(options, inventory, targets))


async def _read(options: DriftOptions, inventory: Inventory, targets: Collection[str]) -> Traced:
    namer = telemetry.NodeNamer(inventory)
    settings: dict[str, Any] = {
        "window": options.telemetry_window,
        "at": options.telemetry_at,
        "timeout": options.telemetry_timeout,
        "cap": options.span_cap,
    }
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        sources: list[span_callers.CallerJaegerSpans | span_callers.CallerZipkinSpans] = []
        if options.jaeger:
            sources.append(
                span_callers.CallerJaegerSpans(client=client, url=options.jaeger, **settings)
            )
        if options.zipkin:
            sources.append(
                span_callers.CallerZipkinSpans(client=client, url=options.zipkin, **settings)
            )
        called, read = await span_callers.read_with_callers(sources, namer, targets)
    return Traced(
        operations=tuple(
            TracedOperation(
                caller=c.caller, target=c.span.service, method=c.span.method, path=c.span.path
            )
            for c in called
            if c.span.protocol == "http"
        ),
        problems=read.problems,
    )
