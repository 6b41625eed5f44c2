"""Discovery: read clusters, probe Services, describe the APIs found.

Everything that touches the outside world (Kubernetes API, HTTP probes) lives
here; results are the frozen dataclasses of :mod:`discovery.model`. This
package knows nothing of ``graph`` or ``catalog``.

The names below are imported when first used (``from discovery import
Service`` works as ever): importing the package, or one of its modules,
costs only that module's own imports, not the whole package's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
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
    from discovery.probing.fetch import Fetcher, Limits, make_client
    from discovery.probing.probe import Prober, ProbeSettings
    from discovery.protocols import mesh_protocol
    from discovery.specs import parse_spec

#: Each public name, and the module it comes from.
_HOMES: Final = {
    "Api": "discovery.model",
    "ApiKind": "discovery.model",
    "ClusterConnection": "discovery.kube",
    "ConfigRoute": "discovery.model",
    "DEFAULT_EXCLUDED": "discovery.inventory",
    "Discovery": "discovery.model",
    "DiscoveryError": "discovery.errors",
    "Edge": "discovery.model",
    "ExternalHost": "discovery.model",
    "Fetcher": "discovery.probing.fetch",
    "Inventory": "discovery.model",
    "KubeError": "discovery.errors",
    "Limits": "discovery.probing.fetch",
    "NotASpecError": "discovery.errors",
    "Operation": "discovery.model",
    "Overrides": "discovery.model",
    "ProbeError": "discovery.errors",
    "ProbeSettings": "discovery.probing.probe",
    "ProbeSkip": "discovery.model",
    "ProbeTimeout": "discovery.errors",
    "Prober": "discovery.probing.probe",
    "Problem": "discovery.model",
    "Scope": "discovery.inventory",
    "Service": "discovery.model",
    "ServiceFindings": "discovery.model",
    "ServiceKey": "discovery.model",
    "ServicePort": "discovery.model",
    "SpecDocument": "discovery.model",
    "SpecError": "discovery.errors",
    "SpecRefusedError": "discovery.errors",
    "TelemetryError": "discovery.errors",
    "config_edges": "discovery.crawl",
    "connect": "discovery.kube",
    "discover": "discovery.crawl",
    "make_client": "discovery.probing.fetch",
    "mesh_protocol": "discovery.protocols",
    "parse_spec": "discovery.specs",
    "read_inventory": "discovery.inventory",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'discovery' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
