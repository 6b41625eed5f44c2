"""What governance knows about a workload and about one request to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Workload:
    """The pods behind one Service, as far as config tells.

    ``labels`` are the labels every pod is known to carry (the Service's
    selector): a policy selector asking for another label can neither be
    confirmed nor ruled out. ``waypoint`` names the waypoint that serves the
    Service in ambient mode, ``None`` without one.
    """

    cluster: str
    namespace: str
    service: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    ambient: bool = False
    waypoint: str | None = None

    @property
    def node(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.service}"


@dataclass(frozen=True, slots=True)
class Request:
    """What is known of a request; ``None`` is "not observed".

    ``principal`` and ``request_principal`` are ``""`` when known to be
    absent: a plaintext connection carries no peer identity, a request
    without a JWT no request principal. Istio derives ``source.namespace``
    from the peer identity, so a plaintext caller has no namespace either.
    """

    principal: str | None = None
    namespace: str | None = None
    source_ip: str | None = None
    request_principal: str | None = None
    method: str | None = None
    path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def from_caller(
        cls,
        *,
        namespace: str | None,
        mtls: bool | None,
        principal: str | None = None,
        port: int | None = None,
    ) -> Request:
        """A request as telemetry describes a caller: plaintext has no identity."""
        if mtls is False:
            return cls(principal="", namespace="", port=port)
        return cls(principal=principal, namespace=namespace if mtls else None, port=port)
