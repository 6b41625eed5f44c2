"""Mesh config readers: Istio networking and security, the Gateway API, ambient mode.

Each module types one family of raw Kubernetes objects at the edge and
converts it once into the frozen values of :mod:`discovery.mesh.model`;
:mod:`discovery.inventory` lists the objects and hands them over. No module
here does I/O.
"""

from __future__ import annotations

from discovery.mesh.model import (
    WAYPOINT_CLASS,
    AmbientConfig,
    Dataplane,
    Exposure,
    GatewayFlavour,
    MeshConfig,
    PathMatch,
    ServiceDataplane,
    ServiceSubset,
    Waypoint,
)
from discovery.mesh.security import SecurityConfig

__all__ = [
    "WAYPOINT_CLASS",
    "AmbientConfig",
    "Dataplane",
    "Exposure",
    "GatewayFlavour",
    "MeshConfig",
    "PathMatch",
    "SecurityConfig",
    "ServiceDataplane",
    "ServiceSubset",
    "Waypoint",
]
