"""Three-valued logic for evaluating policies on partly known traffic.

Telemetry rarely says everything Istio's policies can test (a caller's
service account, a request's path). A test on an attribute nobody observed is
``None``: neither true nor false. The connectives follow Kleene's strong
three-valued logic, so a verdict is definite exactly when the known facts
decide it whatever the unknown ones are.
"""

from __future__ import annotations

from collections.abc import Iterable

#: True, False, or None for "cannot tell from what was observed".
Tri = bool | None


def all_of(values: Iterable[Tri]) -> Tri:
    """Kleene AND: False wins, then None, else True (True for no values)."""
    unknown = False
    for value in values:
        if value is False:
            return False
        if value is None:
            unknown = True
    return None if unknown else True


def any_of(values: Iterable[Tri]) -> Tri:
    """Kleene OR: True wins, then None, else False (False for no values)."""
    unknown = False
    for value in values:
        if value is True:
            return True
        if value is None:
            unknown = True
    return None if unknown else False


def negate(value: Tri) -> Tri:
    return None if value is None else not value
