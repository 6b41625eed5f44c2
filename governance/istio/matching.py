"""How Istio compares a policy's strings with a request's attributes.

Istio's AuthorizationPolicy reference: a value matches exactly, as a prefix
(``abc*``), as a suffix (``*abc``), or, for ``*`` alone, any non-empty value.
Hosts compare without regard to case. ``ipBlocks`` are addresses or CIDRs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from governance.istio.logic import Tri, all_of, negate


def value_matches(pattern: str, actual: str) -> bool:
    if pattern == "*":
        return actual != ""
    if pattern.endswith("*"):
        return actual.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return actual.endswith(pattern[1:])
    return pattern == actual


def ip_matches(block: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def field_matches(
    values: Sequence[str],
    not_values: Sequence[str],
    actual: str | None,
    *,
    ip: bool = False,
    fold_case: bool = False,
) -> Tri:
    """One field of a source or operation: in ``values`` (if any) and not in ``not_values``."""
    if not values and not not_values:
        return True
    if actual is None:
        return None
    probe = actual.lower() if fold_case else actual

    def hit(patterns: Sequence[str]) -> bool:
        if ip:
            return any(ip_matches(p, probe) for p in patterns)
        return any(value_matches(p.lower() if fold_case else p, probe) for p in patterns)

    positive: Tri = hit(values) if values else True
    negative: Tri = negate(hit(not_values)) if not_values else True
    return all_of((positive, negative))
