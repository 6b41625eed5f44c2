"""Istio's own CRD schemas, and validation of the objects meshatlas writes.

The schemas in ``governance/policy/schemas/`` are the ``openAPIV3Schema`` of the
``security.istio.io/v1`` CustomResourceDefinitions, vendored from Istio's
release (see ``schemas/NOTICE``). The API server checks an object in three
ways, and so does :func:`validate`:

- the OpenAPI schema itself (types, enums, patterns, ``maxItems``), here
  with ``jsonschema``;
- unknown fields: a structural schema prunes them silently, and
  ``kubectl apply --validate=strict`` (server-side field validation
  ``Strict``) rejects them; a field meshatlas writes and the API server drops
  would be a policy that says less than meshatlas meant, so they are errors;
- ``x-kubernetes-validations``: CEL rules, which ``jsonschema`` ignores.
  Each rule Istio ships is translated by hand below, keyed by its message;
  :func:`untranslated_rules` names any rule a newer schema brings that has
  no translation yet, and a test keeps that list empty.

Metadata is checked as Kubernetes does for every object: the name a DNS-1123
subdomain, the namespace a DNS-1123 label, label keys and values qualified
names (apimachinery's ``validation.IsQualifiedName``/``IsValidLabelValue``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

import jsonschema

from governance.errors import InvalidPolicyError

API_VERSION: Final = "security.istio.io/v1"
#: kind -> vendored schema file under governance/policy/schemas/.
SCHEMA_FILES: Final[Mapping[str, str]] = {
    "AuthorizationPolicy": "authorizationpolicy.v1.json",
    "PeerAuthentication": "peerauthentication.v1.json",
}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ALWAYS_KNOWN: Final = frozenset({"apiVersion", "kind", "metadata"})


def _one_attachment(spec: Any) -> bool:
    return sum(key in spec for key in ("selector", "targetRef", "targetRefs")) <= 1


def _service_accounts_alone(source: Any) -> bool:
    if "serviceAccounts" not in source and "notServiceAccounts" not in source:
        return True
    return not any(
        k in source for k in ("principals", "notPrincipals", "namespaces", "notNamespaces")
    )


def _port_level_needs_selector(spec: Any) -> bool:
    if "portLevelMtls" not in spec:
        return True
    return len((spec.get("selector") or {}).get("matchLabels") or {}) > 0


def _ports_in_range(ports: Any) -> bool:
    return all(str(key).isdigit() and 0 < int(key) <= 65535 for key in ports)


#: Istio's CEL rules (``x-kubernetes-validations``) by message, as Python
#: predicates over ``self``, the value the rule is attached to.
CEL_RULES: Final[Mapping[str, Callable[[Any], bool]]] = {
    "only one of targetRefs or selector can be set": _one_attachment,
    "Cannot set serviceAccounts with namespaces or principals": _service_accounts_alone,
    "wildcard not allowed in label key match": lambda labels: all("*" not in k for k in labels),
    "key must not be empty": lambda labels: all(len(k) != 0 for k in labels),
    "wildcard not allowed in label value match": lambda value: "*" not in value,
    "cross namespace referencing is not currently supported": lambda value: len(value) == 0,
    "portLevelMtls requires selector": _port_level_needs_selector,
    "port must be between 1-65535": _ports_in_range,
}


@cache
def schema(kind: str) -> Mapping[str, Any]:
    """The vendored ``openAPIV3Schema`` of ``kind`` (``KeyError`` for another kind)."""
    text = resources.files("governance.policy").joinpath("schemas", SCHEMA_FILES[kind]).read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def problems(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Everything the API server would refuse in ``obj``; empty when it is valid."""
    kind = obj.get("kind")
    if obj.get("apiVersion") != API_VERSION or kind not in SCHEMA_FILES:
        return (f"not a {API_VERSION} {'/'.join(SCHEMA_FILES)}: {obj.get('apiVersion')} {kind}",)
    found = list(_metadata_problems(obj.get("metadata")))
    root = schema(str(kind))
    validator = jsonschema.Draft7Validator(root)
    schema_errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    found.extend(f"{_where(e.absolute_path)}: {e.message}" for e in schema_errors)
    if not schema_errors:
        found.extend(_walk(obj, root, "", top=True))
    return tuple(found)


def validate(obj: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidPolicyError` unless ``obj`` passes Istio's schema."""
    found = problems(obj)
    if found:
        meta = obj.get("metadata") or {}
        name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
        raise InvalidPolicyError(str(obj.get("kind")), name, found)


def untranslated_rules() -> tuple[str, ...]:
    """CEL rule messages in the vendored schemas that :data:`CEL_RULES` lacks."""
    missing = {
        rule["message"]
        for kind in SCHEMA_FILES
        for rules in _rule_lists(schema(kind))
        for rule in rules
        if rule["message"] not in CEL_RULES
    }
    return tuple(sorted(missing))


def _rule_lists(node: Any) -> Iterator[list[dict[str, str]]]:
    if isinstance(node, Mapping):
        if "x-kubernetes-validations" in node:
            yield node["x-kubernetes-validations"]
        for value in node.values():
            yield from _rule_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rule_lists(value)


def _walk(value: Any, node: Mapping[str, Any], where: str, *, top: bool = False) -> Iterator[str]:
    """Unknown fields and CEL rules, the two checks ``jsonschema`` does not make."""
    for rule in node.get("x-kubernetes-validations", ()):
        check = CEL_RULES.get(rule["message"])
        if check is None:
            yield f"{where or '.'}: no translation of the CEL rule {rule['rule']!r}"
        elif not check(value):
            yield f"{where or '.'}: {rule['message']}"
    if isinstance(value, Mapping):
        properties: Mapping[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties")
        open_ended = node.get("x-kubernetes-preserve-unknown-fields") or extra is True
        for key, child in value.items():
            path = f"{where}.{key}"
            if key in properties:
                yield from _walk(child, properties[key], path)
            elif isinstance(extra, Mapping):
                yield from _walk(child, extra, path)
            elif not open_ended and not (top and key in _ALWAYS_KNOWN):
                yield f"{path}: unknown field"
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for i, child in enumerate(value):
            yield from _walk(child, node["items"], f"{where}[{i}]")


def _metadata_problems(meta: Any) -> Iterator[str]:
    if not isinstance(meta, Mapping):
        yield "metadata: required"
        return
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield f"metadata.name: {name!r} is not a DNS-1123 subdomain"
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace):
        yield f"metadata.namespace: {namespace!r} is not a DNS-1123 label"
    for key, value in (meta.get("labels") or {}).items():
        if not _qualified(key):
            yield f"metadata.labels: key {key!r} is not a qualified name"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f"metadata.labels.{key}: {value!r} is not a label value"
    for key, value in (meta.get("annotations") or {}).items():
        if not _qualified(key):
            yield f"metadata.annotations: key {key!r} is not a qualified name"
        if not isinstance(value, str):
            yield f"metadata.annotations.{key}: must be a string"


def _qualified(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def _where(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "."
