"""Suggestions as Kubernetes YAML, one file per workload.

Pure: :func:`files` returns the relative path and text of every file, and
the command that asked for them writes them. The layout is
``<namespace>/<workload>.yaml``, under ``<cluster>/`` when the suggestions
span several clusters. Each file opens with comments saying what traffic
the policies were built from and what they would deny, then holds the
AuthorizationPolicy and, where suggested, the PeerAuthentication, as
``---``-separated documents with keys in Kubernetes' usual order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from governance.policy.suggestion import Suggestion

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def render(suggestion: Suggestion) -> str:
    """The YAML file for one suggestion: a comment header, then the objects."""
    header = "".join(f"# {_printable(line)}\n" for line in _summary(suggestion))
    docs = "---\n".join(_dump(obj) for obj in suggestion.objects)
    return f"{header}---\n{docs}"


def files(suggestions: Iterable[Suggestion]) -> dict[str, str]:
    """Relative path (POSIX) -> file text, sorted by path."""
    chosen = list(suggestions)
    several = len({s.workload.cluster for s in chosen}) > 1
    out: dict[str, str] = {}
    for s in chosen:
        w = s.workload
        path = f"{w.namespace}/{w.service}.yaml"
        out[f"{w.cluster}/{path}" if several else path] = render(s)
    return dict(sorted(out.items()))


def _dump(obj: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False, width=100)


def _summary(s: Suggestion) -> list[str]:
    w = s.workload
    window = s.window if s.window_end is None else f"{s.window} ending {s.window_end}"
    lines = [
        f"Suggested by meshatlas for {w.node} from telemetry over {window}.",
        f"Enforced by the {s.enforced_by}; callers named by {s.identified_by}.",
        "Built from:",
    ]
    for t in s.traffic:
        who = f"{t.identity} {t.name}" if t.name else "no nameable identity"
        counted = "requests not counted" if t.requests is None else f"{round(t.requests)} requests"
        tls = {True: "mTLS", False: "plaintext", None: "mTLS unknown"}[t.mtls]
        lines.append(f"  {t.caller}: {who}, {counted}, {tls}; {t.verdict} after applying")
        lines.extend(f"    {op}" for op in t.operations)
    if s.would_deny:
        lines.append("Would deny what is allowed today:")
        lines.extend(f"  {d.who}: today {d.today}; after: {d.after}" for d in s.would_deny)
    if s.still_allowed:
        lines.append("Not observed, yet still allowed by today's policies:")
        lines.extend(f"  {line}" for line in s.still_allowed)
    if s.notes:
        lines.append("Notes:")
        lines.extend(f"  {note}" for note in s.notes)
    return lines


def _printable(text: str) -> str:
    """Telemetry names are not trusted: no line break may end the comment early."""
    return _UNPRINTABLE.sub("?", text)
