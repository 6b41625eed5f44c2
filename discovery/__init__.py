"""Discovery: read clusters, probe Services, describe the APIs found.

Everything that touches the outside world (Kubernetes API, HTTP probes) lives
here; results are the frozen dataclasses of :mod:`discovery.model`. This
package knows nothing of ``graph`` or ``catalog``.
"""

from __future__ import annotations

from discovery.crawl import config_edges, discover
from discovery.errors import (
    DiscoveryError,
    KubeError,
    NotASpecError,
    ProbeError,
    ProbeTimeout,
    SpecError,
    SpecRefusedError,
    TelemetryError,
)
from discovery.fetch import Fetcher, Limits, make_client
from discovery.inventory import DEFAULT_EXCLUDED, Scope, read_inventory
from discovery.kube import ClusterConnection, connect
from discovery.model import (
    Api,
    ApiKind,
    ConfigRoute,
    Discovery,
    Edge,
    ExternalHost,
    Inventory,
    Operation,
    Overrides,
    ProbeSkip,
    Problem,
    Service,
    ServiceFindings,
    ServiceKey,
    ServicePort,
    SpecDocument,
)
from discovery.probe import Prober, ProbeSettings
from discovery.protocols import mesh_protocol
from discovery.specs import parse_spec

__all__ = [
    "DEFAULT_EXCLUDED",
    "Api",
    "ApiKind",
    "ClusterConnection",
    "ConfigRoute",
    "Discovery",
    "DiscoveryError",
    "Edge",
    "ExternalHost",
    "Fetcher",
    "Inventory",
    "KubeError",
    "Limits",
    "NotASpecError",
    "Operation",
    "Overrides",
    "Problem",
    "ProbeError",
    "ProbeTimeout",
    "ProbeSettings",
    "ProbeSkip",
    "Prober",
    "Scope",
    "Service",
    "ServiceFindings",
    "ServiceKey",
    "ServicePort",
    "SpecDocument",
    "SpecError",
    "SpecRefusedError",
    "TelemetryError",
    "config_edges",
    "connect",
    "discover",
    "make_client",
    "mesh_protocol",
    "parse_spec",
    "read_inventory",
]
