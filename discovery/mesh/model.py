"""Frozen values of the mesh's networking config, as discovery hands them on.

What the readers of :mod:`discovery.mesh` make of Istio networking objects
and the Kubernetes Gateway API, beyond the routes themselves
(:class:`~discovery.model.ConfigRoute`): where a Service is reachable from
outside the mesh, which data plane carries its traffic (sidecar or ambient,
and through which waypoint), and which versions of it DestinationRule
subsets name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from discovery.mesh.security import SecurityConfig
from discovery.model import ServiceKey

#: ``istio`` for a ``networking.istio.io`` Gateway, ``gateway-api`` for a
#: ``gateway.networking.k8s.io`` one.
GatewayFlavour = Literal["istio", "gateway-api"]
#: How a route matches the request path: Gateway API's ``PathPrefix``/``Exact``/
#: ``RegularExpression``, Istio's ``uri.prefix``/``exact``/``regex``.
PathMatch = Literal["prefix", "exact", "regex"]
#: Which proxy carries a Service's traffic: a sidecar, ztunnel (ambient), or none.
Dataplane = Literal["sidecar", "ambient", "none"]

#: The GatewayClass Istio gives its waypoints.
WAYPOINT_CLASS = "istio-waypoint"


@dataclass(frozen=True, slots=True)
class Exposure:
    """One place outside the mesh a Service is reachable from: an ingress listener.

    ``port`` and ``protocol`` are the gateway's (listener or server), ``host``
    the hostname clients use (``*`` for any), ``path`` what the route matches
    (``None``: every path). ``service_port`` is the Service port the route
    sends to, when the route names one.
    """

    service: ServiceKey
    gateway: str
    flavour: GatewayFlavour
    host: str
    port: int | None
    protocol: str
    path: str | None
    path_match: PathMatch | None
    route: str
    service_port: int | None = None
    #: The gateway's workload (``namespace/name`` of its Deployment) as telemetry
    #: names it, when config tells: Istio deploys a Gateway API Gateway as
    #: ``<gateway>-<gatewayClassName>`` in the Gateway's namespace. None for an
    #: Istio ``Gateway``, whose selector picks Pods config does not name.
    #: Derived from the gateway, so not part of the value's equality.
    workload: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ServiceSubset:
    """A DestinationRule subset: one named version of a Service."""

    service: ServiceKey
    name: str
    labels: Mapping[str, str] = field(hash=False)
    rule: str

    @property
    def version(self) -> str | None:
        """The subset's ``version`` label, the usual way versions are told apart."""
        return self.labels.get("version")


@dataclass(frozen=True, slots=True)
class Waypoint:
    """An ambient-mode waypoint: a Gateway of class ``istio-waypoint``.

    Istio runs it as a Deployment (and ServiceAccount) named after the
    Gateway, so ``workload`` and ``service_account`` are the Gateway's name
    unless the Gateway says otherwise. ``traffic_for`` is its
    ``istio.io/waypoint-for`` label (``service`` when absent); ``serves`` the
    Services bound to it with ``istio.io/use-waypoint``.
    """

    cluster: str
    namespace: str
    name: str
    workload: str
    service_account: str
    traffic_for: str = "service"
    serves: tuple[ServiceKey, ...] = ()

    @property
    def workload_id(self) -> tuple[str, str]:
        """``(namespace, workload)``, as telemetry labels name the proxy."""
        return (self.namespace, self.workload)

    @property
    def handles_services(self) -> bool:
        """Whether traffic addressed to a Service passes through it."""
        return self.traffic_for in ("service", "all")

    def principal(self, trust_domain: str = "cluster.local") -> str:
        """The waypoint's SPIFFE identity in a mesh of ``trust_domain``."""
        return f"spiffe://{trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServiceDataplane:
    """How one Service's traffic is carried, and whether telemetry can see L7."""

    service: ServiceKey
    dataplane: Dataplane
    waypoint: str | None = None

    @property
    def l7_blind(self) -> bool:
        """Ambient without a waypoint: ztunnel reports who calls, never how (L4 only)."""
        return self.dataplane == "ambient" and self.waypoint is None


@dataclass(frozen=True, slots=True)
class AmbientConfig:
    """Ambient mode as the cluster config declares it."""

    waypoints: tuple[Waypoint, ...] = ()
    services: tuple[ServiceDataplane, ...] = ()
    #: ``(cluster, namespace)`` labelled ``istio.io/dataplane-mode=ambient``.
    ambient_namespaces: frozenset[tuple[str, str]] = frozenset()
    # Indexes built once: dataplane() and waypoint_for() are asked per Service.
    _dataplanes: Mapping[ServiceKey, ServiceDataplane] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _waypoints: Mapping[ServiceKey, Waypoint] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        planes: dict[ServiceKey, ServiceDataplane] = {}
        for plane in self.services:
            planes.setdefault(plane.service, plane)
        serving: dict[ServiceKey, Waypoint] = {}
        for waypoint in self.waypoints:
            for key in waypoint.serves:
                serving.setdefault(key, waypoint)
        object.__setattr__(self, "_dataplanes", planes)
        object.__setattr__(self, "_waypoints", serving)

    def dataplane(self, key: ServiceKey) -> ServiceDataplane | None:
        return self._dataplanes.get(key)

    @property
    def l7_blind(self) -> frozenset[ServiceKey]:
        return frozenset(s.service for s in self.services if s.l7_blind)

    def waypoint_for(self, key: ServiceKey) -> Waypoint | None:
        return self._waypoints.get(key)

    def is_waypoint(self, cluster: str, namespace: str, workload: str) -> bool:
        return any(
            w.cluster == cluster and w.workload_id == (namespace, workload) for w in self.waypoints
        )


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """Everything :mod:`discovery.mesh` read beyond routes, for every cluster."""

    exposures: tuple[Exposure, ...] = ()
    subsets: tuple[ServiceSubset, ...] = ()
    ambient: AmbientConfig = AmbientConfig()
    #: PeerAuthentication, AuthorizationPolicy, RequestAuthentication (``security.istio.io``).
    security: SecurityConfig = SecurityConfig()

    def exposed(self, key: ServiceKey, port: int | None = None) -> tuple[Exposure, ...]:
        """Where ``key`` (on ``port``, if given) is reachable from outside."""
        return tuple(
            e
            for e in self.exposures
            if e.service == key and (port is None or e.service_port in (None, port))
        )

    def versions(self, key: ServiceKey) -> tuple[ServiceSubset, ...]:
        return tuple(s for s in self.subsets if s.service == key)
