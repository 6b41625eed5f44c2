"""Observed calls to a workload: what a least-privilege policy is built from.

Telemetry says who called whom over a window; traces may add the method and
path of the requests, and the metrics the port and the caller's principal.
:class:`ObservedCall` holds one such fact with ``None`` for what no source
showed, so the policy built from it is as narrow as the evidence allows and
no narrower.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from governance.istio.workload import Workload
from governance.posture import Caller

#: How a caller can be named in an AuthorizationPolicy ``from.source``.
IdentityKind = Literal["principal", "namespace", "none"]

_SPIFFE = "spiffe://"
#: Namespaces are DNS-1123 labels; anything else (a ``*`` above all, which a
#: policy would read as a wildcard) cannot be a caller's namespace.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class ObservedCall:
    """Requests from one caller to one workload, as far as they were observed.

    Attributes:
        source: the caller's node (``cluster/namespace/service`` or ``unknown``).
        target: the called workload's node.
        namespace: the caller's namespace, ``None`` when unknown.
        principal: the caller's peer identity (``cluster.local/ns/x/sa/y``;
            a ``spiffe://`` prefix is dropped), ``None`` when unknown. One
            holding ``*`` is ignored: a policy would read it as a wildcard.
        mtls: True when the calls used mutual TLS, False when plaintext,
            ``None`` when no source said.
        port: the workload (target) port called, ``None`` when unknown.
        method / path: the HTTP method and path, from traces; ``None`` when unknown.
        requests: how many requests over the window, ``None`` when unknown.
    """

    source: str
    target: str
    namespace: str | None = None
    principal: str | None = None
    mtls: bool | None = None
    port: int | None = None
    method: str | None = None
    path: str | None = None
    requests: float | None = None

    @property
    def identity(self) -> tuple[IdentityKind, str | None]:
        """How a policy can name the caller: its principal, else its namespace.

        Istio derives ``source.principal`` and ``source.namespace`` from the
        peer certificate, so a plaintext caller has neither and no ALLOW rule
        naming a caller can match it.
        """
        principal = normalised_principal(self.principal)
        if principal and "*" not in principal:
            return "principal", principal
        if self.mtls is False or not self.namespace or not _DNS_LABEL.match(self.namespace):
            return "none", None
        return "namespace", self.namespace


def normalised_principal(principal: str | None) -> str | None:
    """A principal as AuthorizationPolicy spells it (no ``spiffe://``)."""
    if principal is None:
        return None
    return principal[len(_SPIFFE) :] if principal.startswith(_SPIFFE) else principal


def calls_from_callers(
    workload: Workload, callers: Iterable[Caller], *, window_seconds: float
) -> tuple[ObservedCall, ...]:
    """Observed calls from :func:`governance.posture.callers_of`'s callers.

    Callers carry a rate, not a count, and no port, method or path: the
    count is the rate over the window, the rest stays unknown.
    """
    return tuple(
        ObservedCall(
            source=c.node,
            target=workload.node,
            namespace=c.namespace,
            principal=c.principal,
            mtls=c.mtls,
            requests=None if c.rps is None else c.rps * window_seconds,
        )
        for c in callers
    )
