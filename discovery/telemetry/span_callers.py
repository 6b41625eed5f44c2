"""Server spans with their caller: who asked for each operation a trace shows.

:mod:`discovery.telemetry.spans` reads what each API served; this module
keeps, beside each server span, the service of its parent span in the same
trace. A server span is the child of its caller's client span (the caller's
sidecar, or its own tracing library, wrote that span under the caller's
service name), so the parent's service is the caller. A server span whose
parent is not in the trace (the trace started there: a call from outside the
mesh, or a caller that does not trace) has no known caller, and says so
(``caller`` is ``None``) rather than being guessed.

The readers are those of :mod:`discovery.telemetry.spans` (same paging, caps,
byte limits and problems); only how a page's spans are kept differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from discovery.telemetry.base import UNKNOWN, NodeNamer
from discovery.telemetry.spans import JaegerSpans, Span, SpanRead, ZipkinSpans

__all__ = ["CalledSpan", "CallerJaegerSpans", "CallerZipkinSpans", "read_with_callers"]


@dataclass(frozen=True, slots=True)
class CalledSpan:
    """One server span and the node of the service that called it (``None``: unknown)."""

    span: Span
    caller: str | None


class _Callers:
    """What a reader learnt about callers, by the identity of the spans it yielded."""

    def __init__(self) -> None:
        self.by_span: dict[int, str | None] = {}

    def called(self, read: SpanRead) -> tuple[CalledSpan, ...]:
        return tuple(CalledSpan(s, self.by_span.get(id(s))) for s in read.spans)


class CallerJaegerSpans(JaegerSpans):
    """Jaeger server spans, each with its parent's (``CHILD_OF``) service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callers = _Callers()

    def _server_spans(
        self, trace: Any, name: str, namer: NodeNamer, malformed: list[str]
    ) -> Iterable[tuple[tuple[str, str], Span | None, int]]:
        parents = _jaeger_parents(trace)
        for key, span, start in super()._server_spans(trace, name, namer, malformed):
            if span is not None:
                parent = parents.get(key[1])
                self.callers.by_span[id(span)] = _caller(namer, parent, span.service)
            yield key, span, start


class CallerZipkinSpans(ZipkinSpans):
    """Zipkin server spans, each with its parent's (``parentId``) service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callers = _Callers()

    def _server_spans(
        self, trace: Any, name: str, namer: NodeNamer, malformed: list[str]
    ) -> Iterable[tuple[tuple[str, str], Span | None, int]]:
        parents = _zipkin_parents(trace)
        for key, span, start in super()._server_spans(trace, name, namer, malformed):
            if span is not None:
                parent = parents.get(key[1])
                self.callers.by_span[id(span)] = _caller(namer, parent, span.service)
            yield key, span, start


async def read_with_callers(
    sources: Iterable[CallerJaegerSpans | CallerZipkinSpans],
    namer: NodeNamer,
    wanted: Collection[str] | None = None,
) -> tuple[tuple[CalledSpan, ...], SpanRead]:
    """Every source's server spans with their callers, and what the read said."""
    chosen = list(sources)
    reads = await asyncio.gather(*(s.read(namer, wanted) for s in chosen))
    called = [c for s, r in zip(chosen, reads, strict=True) for c in s.callers.called(r)]
    merged = SpanRead(
        spans=tuple(c.span for c in called),
        problems=tuple(p for r in reads for p in r.problems),
        capped=tuple(dict.fromkeys(c for r in reads for c in r.capped)),
        requests=sum(r.requests for r in reads),
        sources=tuple(s.kind for s in chosen),
    )
    return tuple(called), merged


def _caller(namer: NodeNamer, parent_service: str | None, served_by: str) -> str | None:
    if parent_service is None or parent_service in ("", UNKNOWN):
        return None
    node = namer.named(parent_service)
    # A parent in the serving service itself is an internal hop, not a caller.
    return None if node == served_by else node


def _jaeger_parents(trace: Any) -> dict[str, str]:
    """spanID -> the service of its parent span, for the spans whose parent is in the trace."""
    if not isinstance(trace, Mapping):
        return {}
    processes = trace.get("processes")
    raw_spans = trace.get("spans")
    if not isinstance(processes, Mapping) or not isinstance(raw_spans, list):
        return {}
    service_of: dict[str, str] = {}
    for raw in raw_spans:
        if isinstance(raw, Mapping):
            process = processes.get(raw.get("processID"))
            if isinstance(process, Mapping) and isinstance(process.get("serviceName"), str):
                service_of[str(raw.get("spanID"))] = process["serviceName"]
    parents: dict[str, str] = {}
    for raw in raw_spans:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("references"), list):
            continue
        for ref in raw["references"]:
            if isinstance(ref, Mapping) and ref.get("refType", "CHILD_OF") == "CHILD_OF":
                found = service_of.get(str(ref.get("spanID")))
                if found is not None:
                    parents[str(raw.get("spanID"))] = found
                    break
    return parents


def _zipkin_parents(trace: Any) -> dict[str, str]:
    if not isinstance(trace, list):
        return {}
    service_of: dict[str, str] = {}
    for raw in trace:
        if isinstance(raw, Mapping):
            local = raw.get("localEndpoint")
            if isinstance(local, Mapping) and isinstance(local.get("serviceName"), str):
                service_of[str(raw.get("id"))] = local["serviceName"]
    return {
        str(raw.get("id")): service_of[str(raw["parentId"])]
        for raw in trace
        if isinstance(raw, Mapping) and str(raw.get("parentId")) in service_of
    }
