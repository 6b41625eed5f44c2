"""Operations of a version for people: method, path and summary from its spec.

The version's own operation signatures are the fallback (SOAP operation
names, or a spec-less REST API's observed routes). Spec files are untrusted:
they are read with the safe YAML loader, size-capped, and only the first two
levels of ``paths`` are visited; anything unreadable falls back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import yaml

from catalog.model import Asset, AssetVersion

__all__ = ["Operation", "VersionChange", "changes", "operations"]

_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_SPEC: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Operation:
    """One row of an API page's operations table."""

    method: str
    path: str
    summary: str
    deprecated: bool = False


@dataclass(frozen=True, slots=True)
class VersionChange:
    """What a version changed against the one before it."""

    version: str
    previous: str | None
    reason: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


def operations(version: AssetVersion) -> list[Operation]:
    """The version's operations, from its OpenAPI/Swagger file when it has one."""
    for file in version.files:
        if file.classifier == "oas":
            found = _from_openapi(_load(file.packaging, file.content))
            if found:
                return found
    rows = []
    for signature in version.operations:
        method, _, path = signature.partition(" ")
        if path and method.isupper():
            rows.append(Operation(method=method, path=path, summary=""))
        else:
            rows.append(Operation(method="", path=signature, summary=""))
    return rows


def changes(asset: Asset) -> list[VersionChange]:
    """Each version against its predecessor, newest first."""
    out: list[VersionChange] = []
    previous: AssetVersion | None = None
    for version in asset.versions:
        before = set(previous.operations) if previous else set()
        now = set(version.operations)
        out.append(
            VersionChange(
                version=version.version,
                previous=previous.version if previous else None,
                reason=version.reason,
                added=tuple(sorted(now - before)) if previous else (),
                removed=tuple(sorted(before - now)),
            )
        )
        previous = version
    return out[::-1]


def _load(packaging: str, content: bytes) -> Any:
    if len(content) > _MAX_SPEC:
        return None
    try:
        if packaging == "json":
            return json.loads(content)
        return yaml.safe_load(content)
    except (ValueError, yaml.YAMLError, RecursionError):
        return None


def _from_openapi(document: Any) -> list[Operation]:
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return []
    rows: list[Operation] = []
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            summary = operation.get("summary") or operation.get("operationId") or ""
            rows.append(
                Operation(
                    method=method.upper(),
                    path=str(path),
                    summary=str(summary),
                    deprecated=operation.get("deprecated") is True,
                )
            )
    return rows
