"""What changed between two versions' contents, and which semver bump that is.

Used when a spec does not say its own version (no ``info.version``, not semver,
or already taken). The rule, in order:

- **major**: an operation was removed, an operation's required parameters
  changed (added, removed, or moved between ``query``/``header``/...), or the
  asset type changed;
- **minor**: operations were added and nothing above happened;
- **patch**: the operations and their required parameters are the same, so
  only documentation, examples, schemas or formatting moved.

Operations are the drafts' signatures (``GET /orders/{id}``, SOAP operation
names). Required parameters are read here from the stored OpenAPI/Swagger
file, so a version published before this module existed compares the same as
a new one, and publishers need to send nothing extra. A file that cannot be
read contributes operations only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yaml

__all__ = ["Bump", "Change", "Contract", "compare", "contract"]

Bump = Literal["major", "minor", "patch"]

_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# How many operations a reason names before it says "and N more".
_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class Contract:
    """What clients of one version rely on.

    Attributes:
        type: The asset type.
        operations: Operation signatures.
        required: Per ``METHOD /path`` operation found in a spec file, its
            required parameters as ``in:name`` (``body`` for a required body).
    """

    type: str
    operations: frozenset[str]
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """The bump a change calls for, and the words that say why."""

    bump: Bump
    reason: str


def contract(
    *, asset_type: str, operations: Iterable[str], files: Iterable[tuple[str, str, bytes]]
) -> Contract:
    """Build the contract of a version.

    Args:
        asset_type: The asset type.
        operations: Operation signatures.
        files: ``(classifier, packaging, content)`` of each file; only ``oas``
            files are read.
    """
    required: dict[str, frozenset[str]] = {}
    for classifier, packaging, content in files:
        if classifier == "oas":
            required.update(_required_parameters(_load(packaging, content)))
    return Contract(type=asset_type, operations=frozenset(operations), required=required)


def compare(old: Contract, new: Contract) -> Change:
    """Classify the change from ``old`` to ``new`` (see the module docstring)."""
    if old.type != new.type:
        return Change("major", f"type changed from {old.type} to {new.type}")
    removed = sorted(old.operations - new.operations)
    added = sorted(new.operations - old.operations)
    changed = [
        _describe_required(op, old.required[op], new.required[op])
        for op in sorted(old.required.keys() & new.required.keys())
        if old.required[op] != new.required[op]
    ]
    words: list[str] = []
    if removed:
        words.append(f"{_count(removed, 'operation')} removed: {_names(removed)}")
    if changed:
        words.append("required parameters changed: " + "; ".join(changed[:_SHOWN]))
        if len(changed) > _SHOWN:
            words[-1] += f" and {len(changed) - _SHOWN} more"
    if words:
        if added:
            words.append(f"{_count(added, 'operation')} added")
        return Change("major", ", ".join(words))
    if added:
        return Change("minor", f"{_count(added, 'operation')} added: {_names(added)}")
    return Change("patch", "same operations and required parameters, documentation only")


def _describe_required(op: str, old: frozenset[str], new: frozenset[str]) -> str:
    parts = [f"+{name}" for name in sorted(new - old)]
    parts += [f"-{name}" for name in sorted(old - new)]
    return f"{op} {' '.join(parts)}"


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


def _load(packaging: str, content: bytes) -> Any:
    try:
        if packaging == "json":
            return json.loads(content)
        return yaml.safe_load(content)
    except (ValueError, yaml.YAMLError, RecursionError):
        return None


def _required_parameters(document: Any) -> dict[str, frozenset[str]]:
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return {}
    out: dict[str, frozenset[str]] = {}
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        shared = _parameters(document, item.get("parameters"))
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            # An operation's parameter overrides the path's one of the same in+name.
            merged = {**shared, **_parameters(document, operation.get("parameters"))}
            names = {key for key, required in merged.items() if required}
            body = _resolve(document, operation.get("requestBody"))
            if isinstance(body, dict) and body.get("required") is True:
                names.add("body")
            out[f"{method.upper()} {path}"] = frozenset(names)
    return out


def _parameters(document: dict[str, Any], value: Any) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for raw in value if isinstance(value, list) else []:
        parameter = _resolve(document, raw)
        if not isinstance(parameter, dict):
            continue
        where, name = parameter.get("in"), parameter.get("name")
        if isinstance(where, str) and isinstance(name, str):
            # Path parameters are always required, whatever the spec says.
            found[f"{where}:{name}"] = where == "path" or parameter.get("required") is True
    return found


def _resolve(document: dict[str, Any], value: Any) -> Any:
    # Local references only (#/components/parameters/x, #/parameters/x); a
    # chain is followed a few steps, so a cycle cannot loop.
    for _ in range(8):
        if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
            return value
        ref: str = value["$ref"]
        if not ref.startswith("#/"):
            return None
        target: Any = document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key) if isinstance(target, dict) else None
        value = target
    return None
