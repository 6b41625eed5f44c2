"""From observed calls to the ALLOW rules that permit exactly them.

Each caller is named by its principal, else by its namespace (see
:attr:`ObservedCall.identity`); callers that did the same operations share a
rule. An operation is a port with, where traces gave them and an L7 proxy
enforces the policy, one method and the paths seen with it: keeping methods
and paths paired stops a rule from allowing ``POST /a`` because ``GET /a``
and ``POST /b`` were seen. Whatever was not observed for some call (its
port, method or path) is left unconstrained for its group, so every observed
call stays allowed.

Istio compares paths without their query string (Istio's "Authorization
Policy Normalization", path with query) and reads ``*`` at either end of a
value as a wildcard, so an observed path holding ``*`` is never copied into
a policy; neither is a method that is not upper case (Istio rejects such
requests with 400 before any policy is evaluated).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from governance.istio.workload import Request
from governance.traffic import IdentityKind, ObservedCall

#: Distinct paths kept per port and method before they become one prefix.
DEFAULT_MAX_PATHS: Final = 16
_METHOD = re.compile(r"^[A-Z]+$")

#: (port, method, paths): one ``to.operation``; ``None``/``()`` is "not constrained".
Operation = tuple[int | None, str | None, tuple[str, ...]]
Identity = tuple[IdentityKind, str]


def clean_method(method: str | None) -> str | None:
    """The method as a policy may name it, ``None`` when it cannot."""
    return method if method is not None and _METHOD.match(method) else None


def clean_path(path: str | None) -> str | None:
    """The path as a policy compares it (no query), ``None`` when it cannot be copied."""
    if path is None:
        return None
    path = path.split("?", 1)[0].split("#", 1)[0]
    return path if path.startswith("/") and "*" not in path else None


def request_of(call: ObservedCall) -> Request:
    """The request an observed call makes, as :func:`governance.istio.authz.decide` takes it."""
    kind, name = call.identity
    if call.mtls is False:
        principal: str | None = ""
        namespace: str | None = ""
    else:
        principal = name if kind == "principal" else None
        # The namespace comes from the peer certificate: known when mTLS is.
        namespace = call.namespace if call.mtls or principal else None
    return Request(
        principal=principal,
        namespace=namespace,
        port=call.port,
        method=clean_method(call.method),
        path=clean_path(call.path),
    )


def operations_by_identity(
    calls: Sequence[ObservedCall], *, l7: bool, max_paths: int, notes: list[str]
) -> dict[Identity, tuple[Operation, ...]]:
    """The operations each nameable caller did; callers without identity are left out."""
    grouped: dict[Identity, list[ObservedCall]] = defaultdict(list)
    for call in calls:
        kind, name = call.identity
        if kind != "none" and name is not None:
            grouped[(kind, name)].append(call)
    return {
        identity: _operations(group, l7=l7, max_paths=max_paths, notes=notes)
        for identity, group in sorted(grouped.items())
    }


def rules(operations: Mapping[Identity, tuple[Operation, ...]]) -> list[dict[str, Any]]:
    """One rule per distinct set of operations, naming every identity that did them."""
    by_ops: dict[tuple[Operation, ...], list[Identity]] = defaultdict(list)
    for identity, ops in operations.items():
        by_ops[ops].append(identity)
    found: list[dict[str, Any]] = []
    for ops, identities in sorted(by_ops.items(), key=lambda item: sorted(item[1])):
        sources: list[dict[str, Any]] = []
        for kind, key in (("principal", "principals"), ("namespace", "namespaces")):
            names = sorted(name for k, name in identities if k == kind)
            if names:
                sources.append({"source": {key: names}})
        rule: dict[str, Any] = {"from": sources}
        if ops:
            rule["to"] = [{"operation": _operation_dict(op)} for op in ops]
        found.append(rule)
    return found


def describe(op: Operation) -> str:
    """``GET /a /b on port 8080``: one operation in words."""
    port, method, paths = op
    where = f"port {port}" if port is not None else "any port"
    what = method or "any method"
    return f"{what} {' '.join(paths) if paths else 'any path'} on {where}"


def _operations(
    calls: Sequence[ObservedCall], *, l7: bool, max_paths: int, notes: list[str]
) -> tuple[Operation, ...]:
    """The narrowest operations that still allow every call (``()``: any)."""
    by_port: dict[int | None, list[ObservedCall]] = defaultdict(list)
    any_port = any(c.port is None for c in calls)
    for call in calls:
        by_port[None if any_port else call.port].append(call)
    found: list[Operation] = []
    for port, on_port in by_port.items():
        methods = {clean_method(c.method) for c in on_port}
        if not l7 or None in methods:
            found.append((port, None, ()))
            continue
        for method in sorted(m for m in methods if m is not None):
            paths = {clean_path(c.path) for c in on_port if clean_method(c.method) == method}
            if None in paths:
                found.append((port, method, ()))
                continue
            kept = sorted(p for p in paths if p is not None)
            if len(kept) > max_paths:
                prefix = _common_prefix(kept)
                where = "any port" if port is None else f"port {port}"
                notes.append(f"{len(kept)} paths seen for {method} on {where}: allowed as {prefix}")
                kept = [prefix]
            found.append((port, method, tuple(kept)))
    if any(op == (None, None, ()) for op in found):
        return ()
    return tuple(sorted(found, key=lambda op: (op[0] or 0, op[1] or "", op[2])))


def _common_prefix(paths: Sequence[str]) -> str:
    """The longest whole-segment prefix of ``paths``, as an Istio prefix match."""
    shared = os.path.commonprefix(list(paths))
    return shared[: shared.rfind("/") + 1] + "*"


def _operation_dict(op: Operation) -> dict[str, list[str]]:
    port, method, paths = op
    out: dict[str, list[str]] = {}
    if port is not None:
        out["ports"] = [str(port)]
    if method is not None:
        out["methods"] = [method]
    if paths:
        out["paths"] = list(paths)
    return out
