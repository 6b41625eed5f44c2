"""Methods and paths from traces, joined to the callers the metrics identify.

Istio's metrics say who called a workload (principal, namespace, mTLS, port)
but not what was asked; server spans say what was asked, and their parent
span says by which service (:mod:`discovery.telemetry.span_callers`). This
module splits each caller's observed call into one call per method and path
its spans show, so :mod:`governance.policy.allowlist` can name them in
``to.operation``. What cannot be joined is said, never guessed:

- a caller the metrics show but the traces do not keeps "any method and path";
- a caller the traces show but the metrics do not has no known identity
  (principal, mTLS): it is left out, so the policy would deny it;
- a span without a caller (its trace began at the workload) is attributed
  to nobody;
- more distinct paths than ``max_paths`` for one caller and method: that
  method is allowed on any path.

Paths are the exact request paths, without their query: a route template
(``/accounts/{id}``) is not copied, since Istio compares ``paths`` as exact,
prefix (``/a/*``) or suffix (``*/a``) values and a template is none of them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from governance.policy.allowlist import clean_method, clean_path
from governance.traffic import ObservedCall

__all__ = ["DEFAULT_MAX_PATHS", "Joined", "TracedOperation", "join"]

#: Distinct paths kept per caller and method before the method is allowed on any path.
DEFAULT_MAX_PATHS: Final = 50


@dataclass(frozen=True, slots=True)
class TracedOperation:
    """One server span: who called (``None``: unknown), whom, and what it asked."""

    caller: str | None
    target: str
    method: str | None
    path: str | None


@dataclass(frozen=True, slots=True)
class Joined:
    """The calls with methods and paths where traces gave them, and what could not be joined."""

    calls: tuple[ObservedCall, ...]
    #: Per target workload node, sentences for the suggestion's evidence.
    notes: dict[str, tuple[str, ...]]


def join(
    calls: Sequence[ObservedCall],
    traced: Sequence[TracedOperation],
    *,
    l7_targets: Collection[str],
    max_paths: int = DEFAULT_MAX_PATHS,
) -> Joined:
    """Split ``calls`` to the ``l7_targets`` by the operations their callers' spans show.

    Calls to other targets (enforced by ztunnel, which sees no method or
    path) are kept as they are.
    """
    spans_of: dict[str, dict[str | None, list[TracedOperation]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for op in traced:
        spans_of[op.target][op.caller].append(op)
    out: list[ObservedCall] = []
    notes: dict[str, list[str]] = defaultdict(list)
    callers_of: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        callers_of[call.target].add(call.source)
        by_caller = spans_of.get(call.target, {})
        if call.target not in l7_targets or not by_caller:
            out.append(call)
            continue
        own = by_caller.get(call.source, [])
        if not own:
            notes[call.target].append(
                f"{call.source}: no traced calls, so any method and path stays allowed"
            )
            out.append(call)
            continue
        out.extend(_split(call, own, max_paths=max_paths, notes=notes[call.target]))
    for target, by_caller in sorted(spans_of.items(), key=lambda item: item[0]):
        if target not in l7_targets:
            continue
        unknown = len(by_caller.get(None, []))
        if unknown:
            notes[target].append(
                f"{unknown} traced call{'s' if unknown != 1 else ''} without a known caller"
                " (the trace began here): attributed to nobody"
            )
        for caller in sorted(c for c in by_caller if c is not None):
            if caller not in callers_of[target]:
                count = len(by_caller[caller])
                notes[target].append(
                    f"{caller}: seen in {count} traced call{'s' if count != 1 else ''} but not"
                    " in the metrics, so its identity is unknown and it is not allowed"
                )
    return Joined(calls=tuple(out), notes={t: tuple(n) for t, n in notes.items()})


def _split(
    call: ObservedCall, own: Sequence[TracedOperation], *, max_paths: int, notes: list[str]
) -> list[ObservedCall]:
    seen: Counter[tuple[str | None, str | None]] = Counter(
        (clean_method(op.method), clean_path(op.path)) for op in own
    )
    paths_per_method: dict[str | None, set[str | None]] = defaultdict(set)
    for method, path in seen:
        paths_per_method[method].add(path)
    wide = {m for m, paths in paths_per_method.items() if len(paths) > max_paths}
    for method in sorted(m or "" for m in wide):
        notes.append(
            f"{call.source}: {len(paths_per_method[method or None])} paths traced for"
            f" {method or 'an unknown method'}, over {max_paths}: allowed on any path"
        )
    merged: Counter[tuple[str | None, str | None]] = Counter()
    for (method, path), count in seen.items():
        merged[(method, None if method in wide else path)] += count
    total = sum(merged.values())
    return [
        dataclasses.replace(
            call,
            method=method,
            path=path,
            requests=None if call.requests is None else call.requests * count / total,
        )
        for (method, path), count in sorted(
            merged.items(), key=lambda i: (i[0][0] or "", i[0][1] or "")
        )
    ]
