"""Read meshatlas's annotations and labels, and keep only what is safe to store.

A Service's own annotations win over its Namespace's. Everything outside the
allowlist is dropped at the edge: ``last-applied-configuration`` can hold a
whole manifest, and annotation values sometimes carry tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from discovery import secrets
from discovery.model import Overrides

PREFIX: Final = "meshatlas.io/"
IGNORE: Final = PREFIX + "ignore"
OPENAPI_PATH: Final = PREFIX + "openapi-path"
WSDL_PATH: Final = PREFIX + "wsdl-path"
GRAPHQL_SCHEMA_PATH: Final = PREFIX + "graphql-schema-path"
PORT: Final = PREFIX + "port"
ASSET_ID: Final = PREFIX + "asset-id"
OWNER: Final = PREFIX + "owner"
LIFECYCLE: Final = PREFIX + "lifecycle"
TAGS: Final = PREFIX + "tags"
DESCRIPTION: Final = PREFIX + "description"
GLOO_OPT_OUT: Final = "discovery.solo.io/function_discovery"
BACKSTAGE_ID: Final = "backstage.io/kubernetes-id"
PROVIDES_API_FROM_URL: Final = "terasky.backstage.io/provides-api-from-url"

#: Annotations and labels meshatlas keeps; everything else is dropped.
ALLOWED: Final = frozenset(
    {
        IGNORE,
        OPENAPI_PATH,
        WSDL_PATH,
        GRAPHQL_SCHEMA_PATH,
        PORT,
        ASSET_ID,
        OWNER,
        LIFECYCLE,
        TAGS,
        DESCRIPTION,
        GLOO_OPT_OUT,
        BACKSTAGE_ID,
        PROVIDES_API_FROM_URL,
        "app",
        "app.kubernetes.io/name",
        "app.kubernetes.io/version",
        "app.kubernetes.io/part-of",
        "app.kubernetes.io/component",
        "version",
        "team",
    }
)
_LIFECYCLES: Final = frozenset({"development", "stable", "deprecated"})
_MAX_VALUE: Final = 1024


def keep(values: Mapping[str, str] | None) -> dict[str, str]:
    """The allowlisted subset of labels or annotations, with short safe values."""
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        if key not in ALLOWED or not isinstance(value, str):
            continue
        if len(value) > _MAX_VALUE or secrets.looks_secret(value):
            continue
        out[key] = value
    return out


def _safe(value: str | None) -> str:
    """A value to keep and show, or nothing when it is too long or looks secret."""
    if not isinstance(value, str) or len(value) > _MAX_VALUE or secrets.looks_secret(value):
        return ""
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def _path(value: str | None, own_hosts: frozenset[str] = frozenset()) -> str | None:
    """An annotation's path (and query), only if it stays on the Service.

    A path is taken as it is (``/calculator.asmx?WSDL`` keeps its query); a
    URL only when it names the Service itself, and then only its path and
    query are used: the probe goes to the Service's address, never to a name.
    """
    if not value:
        return None
    value = value.strip()
    if value.lower().startswith(("http://", "https://")):
        return _own_path(value, own_hosts)
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(c.isspace() or ord(c) < 32 for c in value) or len(value) > 512:
        return None
    return value.split("#", 1)[0]


def overrides(
    service_annotations: Mapping[str, str],
    service_labels: Mapping[str, str],
    namespace_annotations: Mapping[str, str],
    namespace_labels: Mapping[str, str],
    *,
    own_hosts: frozenset[str] = frozenset(),
) -> Overrides:
    """Merge Namespace and Service settings (Service wins) into :class:`Overrides`."""
    merged = {**namespace_annotations, **service_annotations}
    labels = {**namespace_labels, **service_labels}
    ignore = (
        _truthy(merged.get(IGNORE))
        or _truthy(labels.get(IGNORE))
        or labels.get(GLOO_OPT_OUT, merged.get(GLOO_OPT_OUT, "")).lower() == "disabled"
    )
    lifecycle = (merged.get(LIFECYCLE) or "").strip().lower() or None
    tags = tuple(
        t.strip() for t in _safe(merged.get(TAGS)).split(",") if t.strip() and len(t) <= 63
    )
    openapi_path = _path(service_annotations.get(OPENAPI_PATH), own_hosts)
    provided = service_annotations.get(PROVIDES_API_FROM_URL)
    if openapi_path is None and provided:
        openapi_path = _path(provided, own_hosts)
    return Overrides(
        ignore=ignore,
        openapi_path=openapi_path,
        wsdl_path=_path(service_annotations.get(WSDL_PATH), own_hosts),
        graphql_schema_path=_path(service_annotations.get(GRAPHQL_SCHEMA_PATH), own_hosts),
        port=(service_annotations.get(PORT) or "").strip() or None,
        asset_id=(service_annotations.get(ASSET_ID) or "").strip() or None,
        owner=_safe(merged.get(OWNER)).strip() or None,
        lifecycle=lifecycle if lifecycle in _LIFECYCLES else None,
        tags=tags,
        description=_safe(service_annotations.get(DESCRIPTION)).strip() or None,
        backstage_id=(service_annotations.get(BACKSTAGE_ID) or service_labels.get(BACKSTAGE_ID)),
    )


def _own_path(url: str, own_hosts: frozenset[str]) -> str | None:
    """The path and query of a URL that names the Service itself.

    Probes go only to the Service's own address, so a URL naming any other
    host (or carrying credentials) is ignored, and of one naming this
    Service only the path and query are used.
    """
    match = re.match(r"^https?://([^/:?#@]+)(?::\d+)?(/[^#\s]*)?(?:#\S*)?$", url.strip(), re.I)
    if match is None or match.group(1).lower() not in own_hosts:
        return None
    path = match.group(2) or "/"
    return _path(path) if not path.lower().startswith(("http:", "https:")) else None
