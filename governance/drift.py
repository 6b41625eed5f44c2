"""Operation-level traffic and drift: what each API serves against what its contract says.

Each server span (:class:`~discovery.telemetry.spans.Span`) is given to the
API of its Service that fits its protocol (and its port, when the span says),
and looked up in that API's compiled router (:mod:`governance.routes`). Per
operation: calls, errors (HTTP 5xx, gRPC status other than 0, or a failed span
without a status), client errors (4xx) apart, the p95 of span durations, and
when it was last seen. Findings, in the shape of :class:`~governance.findings.Finding`:

* ``undocumented-operation`` (medium): calls to an operation the contract
  lacks, a shadow API. Keyed by method and route template, else by the path
  with numeric and UUID segments as ``{param}``.
* ``unused-operation`` (low): a documented operation with no call in the
  window, reported only for APIs whose traffic was seen operation by
  operation and not capped (one window: "in N runs" needs the catalogue's history).
* ``deprecated-operation-called`` (medium): an operation its contract marks
  deprecated (OpenAPI ``deprecated: true``, GraphQL ``@deprecated``, protobuf
  ``option deprecated = true``) still called.
* ``deprecated-api-called`` (high): an API whose Service is annotated
  ``meshatlas.io/lifecycle: deprecated`` still receiving calls (a zombie).
* ``contract-outdated`` (medium): calls the contract lacks but a newer
  version of the same API (the same Service and port in another cluster of
  the run) documents: the instance runs newer code than its contract says.

GraphQL operation names are chosen by clients, not by the schema: a named
operation no root field is named after is counted, never a finding, and
GraphQL fields are never reported unused.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from discovery.model import Api, SpecDocument
from discovery.telemetry.spans import Span
from governance import routes
from governance.findings import Finding, ordered

__all__ = [
    "MAX_UNDOCUMENTED",
    "ApiTraffic",
    "Drift",
    "OperationTraffic",
    "analyse",
    "api_subject",
]

#: Distinct undocumented operations kept per API; the rest are counted together.
MAX_UNDOCUMENTED: Final = 1000
#: The key the rest are counted under.
OTHERS: Final = "(other undocumented operations)"
_VERSION_PART = re.compile(r"\d+")
_MAX_KEY: Final = 256
_KINDS_BY_PROTOCOL: Final[Mapping[str, tuple[str, ...]]] = {
    "grpc": ("grpc",),
    "graphql": ("graphql",),
    "soap": ("soap",),
    "http": ("rest", "http", "soap", "graphql"),
}


@dataclass(frozen=True, slots=True)
class OperationTraffic:
    """What one operation of one API served in the window.

    Attributes:
        operation: the operation's label (``GET /api/orders/{id}``, ``rpc
            pkg.Svc/Method``, ``query users``, a SOAP operation).
        documented: the API's contract has it.
        deprecated: the contract marks it deprecated.
        calls / errors / client_errors: spans, failed ones (5xx, gRPC ≠ 0),
            4xx ones.
        p95_ms: the 95th percentile of span durations (nearest rank).
        last_seen: when the last call ended (RFC 3339), ``None`` if never.
        newer_version: the newer version of the API that documents it, for
            an operation this contract lacks.
    """

    operation: str
    documented: bool
    deprecated: bool = False
    calls: int = 0
    errors: int = 0
    client_errors: int = 0
    p95_ms: float | None = None
    last_seen: str | None = None
    newer_version: str | None = None


@dataclass(frozen=True, slots=True)
class ApiTraffic:
    """One API's operations, documented first in contract order, then the rest."""

    subject: str
    kind: str
    version: str | None
    calls: int
    operations: tuple[OperationTraffic, ...]
    #: Calls that could not be put on an operation (no path, route or method said).
    unattributed: int = 0
    #: The window's spans of this API were capped: a sample, not all of them.
    sampled: bool = False


@dataclass(frozen=True, slots=True)
class Drift:
    """Operation traffic of every API, and the drift findings."""

    apis: tuple[ApiTraffic, ...]
    findings: tuple[Finding, ...]
    #: Spans of Services without an API the run found.
    unmatched_spans: int = 0
    spans: int = 0
    window_s: float = 0.0


@dataclass(slots=True)
class _Tally:
    calls: int = 0
    errors: int = 0
    client_errors: int = 0
    last_us: int = 0
    durations: array[int] = field(default_factory=lambda: array("q"))

    def add(self, span: Span) -> None:
        self.calls += 1
        failed, client = _failed(span)
        self.errors += failed
        self.client_errors += client
        self.durations.append(span.duration_us)
        self.last_us = max(self.last_us, span.start_us + span.duration_us)


@dataclass(slots=True)
class _ApiState:
    api: Api
    contract: SpecDocument | None
    router: routes.Router | None
    documented: dict[str, _Tally] = field(default_factory=dict)
    undocumented: dict[str, _Tally] = field(default_factory=dict)
    unattributed: int = 0
    calls: int = 0


def api_subject(api: Api) -> str:
    """The subject of an API's findings: ``cluster/namespace/service:port``."""
    key = api.service
    return f"{key.cluster}/{key.namespace}/{key.name}:{api.port.port}"


def analyse(
    *,
    apis: Sequence[Api],
    spans: Iterable[Span],
    window_s: float,
    deprecated_services: Collection[str] = (),
    capped: Collection[str] = (),
) -> Drift:
    """Operation traffic and drift findings of ``apis`` from ``spans``.

    Args:
        apis: The APIs the run found, with their contracts.
        spans: Server spans of the window.
        window_s: The window's length in seconds, for the reasons' words.
        deprecated_services: Node ids (``cluster/ns/name``) of Services whose
            lifecycle is ``deprecated``.
        capped: Node ids whose spans were capped: absence of calls proves nothing there.
    """
    states: dict[str, list[_ApiState]] = {}
    for api in sorted(apis, key=lambda a: (a.service.cluster, a.service.namespace, a.port.port)):
        contract = api.spec or api.contract
        router = routes.compile_router(contract) if contract is not None else None
        node = f"{api.service.cluster}/{api.service.namespace}/{api.service.name}"
        states.setdefault(node, []).append(_ApiState(api=api, contract=contract, router=router))
    unmatched = 0
    total = 0
    for span in spans:
        total += 1
        candidates = states.get(span.service)
        if not candidates:
            unmatched += 1
            continue
        _attribute(span, candidates)
    newer = _newer_routers(states)
    traffic: list[ApiTraffic] = []
    findings: list[Finding] = []
    words = _window_words(window_s)
    for node, node_states in states.items():
        for state in node_states:
            subject = api_subject(state.api)
            upgrade = newer.get(subject)
            operations = _operations(state, upgrade)
            sampled = node in capped
            traffic.append(
                ApiTraffic(
                    subject=subject,
                    kind=state.api.kind,
                    version=state.contract.api_version if state.contract else None,
                    calls=state.calls,
                    operations=operations,
                    unattributed=state.unattributed,
                    sampled=sampled,
                )
            )
            findings.extend(
                _findings(
                    state,
                    subject=subject,
                    operations=operations,
                    words=words,
                    sampled=sampled,
                    deprecated=node in deprecated_services,
                )
            )
    return Drift(
        apis=tuple(traffic),
        findings=ordered(findings),
        unmatched_spans=unmatched,
        spans=total,
        window_s=window_s,
    )


def _attribute(span: Span, candidates: list[_ApiState]) -> None:
    fitting = candidates
    if len(candidates) > 1:  # several APIs on one Service: its protocol, then its port
        kinds = _KINDS_BY_PROTOCOL[span.protocol]
        fitting = [s for s in candidates if s.api.kind in kinds] or candidates
        if span.port is not None:
            fitting = [s for s in fitting if s.api.port.port == span.port] or fitting
    for state in fitting:
        route = _match(state.router, span) if state.router is not None else None
        if route is not None:
            state.calls += 1
            state.documented.setdefault(route.label, _Tally()).add(span)
            return
    state = next((s for s in fitting if s.router is not None), fitting[0])
    state.calls += 1
    key = _undocumented_key(span)
    if key is not None:
        key = key[:_MAX_KEY]  # whatever a client sent, bounded
    if key is None or state.router is None:
        state.unattributed += 1
        return
    tally = state.undocumented.get(key)
    if tally is None:
        if len(state.undocumented) >= MAX_UNDOCUMENTED:
            key = OTHERS
        tally = state.undocumented.setdefault(key, _Tally())
    tally.add(span)


def _match(router: routes.Router, span: Span) -> routes.Route | None:
    if span.protocol == "grpc":
        assert span.rpc_service is not None and span.rpc_method is not None
        return router.rpc(span.rpc_service, span.rpc_method)
    if span.protocol == "graphql":
        return router.graphql(span.graphql_type, span.graphql_name or "")
    if span.protocol == "soap":
        assert span.soap_action is not None
        return router.soap(span.soap_action)
    if span.method is None:
        return None
    found = None
    if span.route is not None:
        found = router.http_route(span.method, span.route)
    if found is None and span.path is not None:
        found = router.http(span.method, span.path)
    return found


def _undocumented_key(span: Span) -> str | None:
    if span.protocol == "grpc":
        return f"rpc {span.rpc_service}/{span.rpc_method}"
    if span.protocol == "graphql":
        return f"{span.graphql_type or 'query'} {span.graphql_name or '(anonymous)'}"
    if span.protocol == "soap":
        return f"soap {span.soap_action}"
    if span.method is None:
        return None
    if span.route is not None:
        return f"{span.method} {routes.template_key(span.route)}"
    if span.path is not None:
        return f"{span.method} {routes.normalise_path(span.path)}"
    return None


def _operations(
    state: _ApiState, upgrade: tuple[str, routes.Router] | None
) -> tuple[OperationTraffic, ...]:
    found: list[OperationTraffic] = []
    if state.router is not None:
        for route in state.router.routes:
            tally = state.documented.get(route.label)
            found.append(_traffic(route.label, tally, documented=True, deprecated=route.deprecated))
    for key, tally in sorted(state.undocumented.items()):
        version = None
        if upgrade is not None and key != OTHERS and _known_to(upgrade[1], key):
            version = upgrade[0]
        found.append(_traffic(key, tally, documented=False, newer_version=version))
    return tuple(found)


def _traffic(
    label: str,
    tally: _Tally | None,
    *,
    documented: bool,
    deprecated: bool = False,
    newer_version: str | None = None,
) -> OperationTraffic:
    if tally is None:
        return OperationTraffic(operation=label, documented=documented, deprecated=deprecated)
    return OperationTraffic(
        operation=label,
        documented=documented,
        deprecated=deprecated,
        calls=tally.calls,
        errors=tally.errors,
        client_errors=tally.client_errors,
        p95_ms=_p95_ms(tally.durations),
        last_seen=datetime.fromtimestamp(tally.last_us / 1_000_000, UTC).isoformat(),
        newer_version=newer_version,
    )


def _findings(
    state: _ApiState,
    *,
    subject: str,
    operations: Sequence[OperationTraffic],
    words: str,
    sampled: bool,
    deprecated: bool,
) -> list[Finding]:
    key = state.api.service
    objects = (f"Service {key.namespace}/{key.name}",)
    found: list[Finding] = []
    if deprecated and state.calls:
        found.append(
            Finding(
                kind="deprecated-api-called",
                severity="high",
                subject=subject,
                objects=objects,
                reason=f"lifecycle is deprecated, yet it served {state.calls} calls in {words}",
            )
        )
    outdated = [op for op in operations if op.newer_version is not None]
    if outdated:
        version = outdated[0].newer_version
        names = ", ".join(op.operation for op in outdated[:3])
        found.append(
            Finding(
                kind="contract-outdated",
                severity="medium",
                subject=subject,
                objects=objects,
                reason=(
                    f"contract {state.contract.api_version if state.contract else '?'} lacks "
                    f"{len(outdated)} called operations that version {version} documents: {names}"
                ),
            )
        )
    seen_by_operation = bool(state.documented or state.undocumented)
    for op in operations:
        if op.documented and op.deprecated and op.calls:
            found.append(
                Finding(
                    kind="deprecated-operation-called",
                    severity="medium",
                    subject=subject,
                    objects=(*objects, f"Operation {op.operation}"),
                    reason=f"{op.operation} is deprecated, yet it was called {op.calls} times"
                    f" in {words}",
                )
            )
        elif not op.documented and op.newer_version is None:
            if state.api.kind == "graphql" and op.operation.split(" ", 1)[0] in (
                "query",
                "mutation",
                "subscription",
            ):
                continue  # client-chosen operation names are no contract element
            found.append(
                Finding(
                    kind="undocumented-operation",
                    severity="medium",
                    subject=subject,
                    objects=(*objects, f"Operation {op.operation}"),
                    reason=f"{op.operation} was called {op.calls} times in {words}"
                    " but the contract does not document it (a shadow API)",
                )
            )
        elif (
            op.documented
            and not op.calls
            and seen_by_operation
            and not sampled
            and state.api.kind != "graphql"
        ):
            found.append(
                Finding(
                    kind="unused-operation",
                    severity="low",
                    subject=subject,
                    objects=(*objects, f"Operation {op.operation}"),
                    reason=f"{op.operation} had no call in {words} (one window; history"
                    " across runs is not kept yet)",
                )
            )
    return found


def _newer_routers(states: Mapping[str, list[_ApiState]]) -> dict[str, tuple[str, routes.Router]]:
    """For each API, the newest other version of it in the run, when newer than its own.

    The same API is the same namespace, Service and port name in another
    cluster (the catalogue's asset identity).
    """
    by_asset: dict[tuple[str, str, str], list[_ApiState]] = {}
    for node_states in states.values():
        for state in node_states:
            if state.router is None or state.contract is None or not state.contract.api_version:
                continue
            key = state.api.service
            by_asset.setdefault((key.namespace, key.name, state.api.port.name), []).append(state)
    newer: dict[str, tuple[str, routes.Router]] = {}
    for siblings in by_asset.values():
        if len(siblings) < 2:
            continue
        latest = max(siblings, key=lambda s: _version_key(s.contract))
        assert latest.contract is not None and latest.router is not None
        for state in siblings:
            if _version_key(state.contract) < _version_key(latest.contract):
                newer[api_subject(state.api)] = (str(latest.contract.api_version), latest.router)
    return newer


def _known_to(router: routes.Router, key: str) -> bool:
    method, _, rest = key.partition(" ")
    if method == "rpc":
        service, _, name = rest.partition("/")
        return router.rpc(service, name) is not None
    if method == "soap":
        return router.soap(rest) is not None
    return router.http_route(method, rest) is not None or router.http(method, rest) is not None


def _version_key(contract: SpecDocument | None) -> tuple[int, ...]:
    text = contract.api_version if contract is not None else None
    return tuple(int(n) for n in _VERSION_PART.findall(text or ""))[:4]


def _failed(span: Span) -> tuple[int, int]:
    if span.protocol == "grpc" and span.grpc_status is not None:
        return int(span.grpc_status != 0), 0
    if span.status is not None:
        return int(span.status >= 500), int(400 <= span.status < 500)
    return int(span.error), 0


def _p95_ms(durations: array[int]) -> float | None:
    if not durations:
        return None
    ordered_us = sorted(durations)
    rank = max(1, math.ceil(0.95 * len(ordered_us)))
    return round(ordered_us[rank - 1] / 1000, 3)


def _window_words(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"the {int(seconds // 3600)}h window"
    if seconds >= 60 and seconds % 60 == 0:
        return f"the {int(seconds // 60)}m window"
    return f"the {seconds:g}s window"
