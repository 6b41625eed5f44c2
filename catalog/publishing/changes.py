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

When both versions carry the same kind of schema, the schemas decide, by the
same three bumps:

- **GraphQL** (a ``graphql`` file, SDL): graphql-core's
  ``find_breaking_changes`` (a type, field, argument or enum value removed, a
  type or field type changed incompatibly, a nullable input made non-null, a
  required argument or input field added) → major; anything added (types,
  fields, arguments, enum values, by schema coordinate) or one of
  ``find_dangerous_changes`` (a default value changed, an optional argument
  added...) → minor; otherwise patch;
- **protobuf** (a ``grpc`` file, packaging ``protobuf``: a FileDescriptorSet):
  a service, method, message, field or enum value removed, a method's
  request or response type or its streaming changed, a field's number, name,
  type or cardinality changed → major; any of them added → minor; otherwise
  patch;
- **WSDL** (a ``wsdl`` file): an operation removed, or a part of the message
  it takes or gives added, removed or retyped → major; an operation added →
  minor; otherwise patch (bindings, addresses, documentation);
- **AsyncAPI** (an ``asyncapi`` file): a channel, a message of a channel or an
  operation removed → major; any of them added → minor; otherwise patch
  (payload schemas, bindings, servers, documentation).
  :mod:`catalog.publishing.contract_shapes` reads both.

The reason names what changed, the first few of each in the schema's own words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import graphql
import yaml
from google.protobuf import descriptor_pb2  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from catalog.publishing import contract_shapes

__all__ = ["Bump", "Change", "Contract", "compare", "contract"]

Bump = Literal["major", "minor", "patch"]

_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# How many operations a reason names before it says "and N more".
_SHOWN: Final = 3
#: Schemas larger than this are compared by their operations only.
_MAX_SCHEMA_BYTES: Final = 16 * 1024 * 1024
#: Tokens one stored SDL may hold to be read (a bound on the parser's work).
_MAX_SDL_TOKENS: Final = 4_000_000


@dataclass(frozen=True, slots=True)
class Contract:
    """What clients of one version rely on.

    Attributes:
        type: The asset type.
        operations: Operation signatures.
        required: Per ``METHOD /path`` operation found in a spec file, its
            required parameters as ``in:name`` (``body`` for a required body).
        graphql_sdl: The GraphQL schema of a ``graphql`` file, if any.
        protobuf: The FileDescriptorSet of a ``grpc`` ``protobuf`` file, if any.
        wsdl: The ``wsdl`` file, if any.
        asyncapi: ``(packaging, content)`` of an ``asyncapi`` file, if any.
    """

    type: str
    operations: frozenset[str]
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)
    graphql_sdl: str | None = None
    protobuf: bytes | None = field(default=None, repr=False)
    wsdl: bytes | None = field(default=None, repr=False)
    asyncapi: tuple[str, bytes] | None = field(default=None, repr=False)


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
        files: ``(classifier, packaging, content)`` of each file; ``oas``,
            ``graphql``, ``grpc``/``protobuf``, ``wsdl`` and ``asyncapi`` files are read.
    """
    required: dict[str, frozenset[str]] = {}
    sdl: str | None = None
    descriptors: bytes | None = None
    wsdl: bytes | None = None
    events: tuple[str, bytes] | None = None
    for classifier, packaging, content in files:
        if classifier == "oas":
            required.update(_required_parameters(_load(packaging, content)))
        elif classifier == "graphql" and packaging == "graphql":
            sdl = content.decode("utf-8", errors="replace")
        elif classifier == "grpc" and packaging == "protobuf":
            descriptors = content
        elif classifier == "wsdl":
            wsdl = content
        elif classifier == "asyncapi":
            events = (packaging, content)
    return Contract(
        type=asset_type,
        operations=frozenset(operations),
        required=required,
        graphql_sdl=sdl,
        protobuf=descriptors,
        wsdl=wsdl,
        asyncapi=events,
    )


def compare(old: Contract, new: Contract) -> Change:
    """Classify the change from ``old`` to ``new`` (see the module docstring)."""
    if old.type != new.type:
        return Change("major", f"type changed from {old.type} to {new.type}")
    schemas: Change | None = None
    if old.graphql_sdl is not None and new.graphql_sdl is not None:
        schemas = _graphql_change(old.graphql_sdl, new.graphql_sdl)
    elif old.protobuf is not None and new.protobuf is not None:
        schemas = _protobuf_change(old.protobuf, new.protobuf)
    elif old.wsdl is not None and new.wsdl is not None:
        found = contract_shapes.wsdl_changes(old.wsdl, new.wsdl)
        same = "same operations and message parts: bindings, addresses or documentation only"
        schemas = _verdict(found.broken, found.added, [], same) if found else None
    elif old.asyncapi is not None and new.asyncapi is not None:
        found = contract_shapes.asyncapi_changes(old.asyncapi, new.asyncapi)
        same = (
            "same channels, messages and operations:"
            " payloads, bindings, servers or documentation only"
        )
        schemas = _verdict(found.broken, found.added, [], same) if found else None
    if schemas is not None:
        return schemas
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


def _verdict(broken: list[str], added: list[str], dangerous: list[str], same: str) -> Change:
    """The bump and reason for a schema comparison's findings."""
    if broken:
        words = [f"{_count(broken, 'breaking change')}: {_list(broken)}"]
        if added:
            words.append(f"{_count(added, 'addition')}")
        return Change("major", ", ".join(words))
    if added or dangerous:
        words = [f"{_count(added, 'addition')}: {_list(added)}"] if added else []
        if dangerous:
            words.append(f"{_count(dangerous, 'dangerous change')}: {_list(dangerous)}")
        return Change("minor", ", ".join(words))
    return Change("patch", same)


def _list(items: list[str]) -> str:
    shown = "; ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


# --- GraphQL ------------------------------------------------------------------


def _graphql_change(old_sdl: str, new_sdl: str) -> Change | None:
    """Compare two GraphQL schemas with graphql-core's own rules; None if one is unreadable."""
    old, new = _graphql_schema(old_sdl), _graphql_schema(new_sdl)
    if old is None or new is None:
        return None
    try:
        broken = [_sentence(c.description) for c in graphql.find_breaking_changes(old, new)]
        dangerous = [_sentence(c.description) for c in graphql.find_dangerous_changes(old, new)]
        # A standard scalar no longer referenced follows from another change: said last.
        broken.sort(key=lambda said: said.startswith("Standard scalar"))
    except (graphql.GraphQLError, TypeError, ValueError, RecursionError):
        return None
    added = sorted(_coordinates(new) - _coordinates(old))
    return _verdict(
        broken,
        [f"{name} added" for name in added],
        dangerous,
        "same types, fields and arguments: descriptions or directives only",
    )


def _graphql_schema(sdl: str) -> graphql.GraphQLSchema | None:
    if len(sdl) > _MAX_SCHEMA_BYTES:
        return None
    try:
        document = graphql.parse(sdl, no_location=True, max_tokens=_MAX_SDL_TOKENS)
        return graphql.build_ast_schema(document, assume_valid_sdl=True)
    except (graphql.GraphQLError, TypeError, ValueError, KeyError, RecursionError):
        return None


def _coordinates(schema: graphql.GraphQLSchema) -> set[str]:
    """Schema coordinates of what the schema defines: ``Type``, ``Type.field``,
    ``Type.field(arg:)``, ``Enum.VALUE``, ``@directive``, ``@directive(arg:)``."""
    found: set[str] = set()
    for name, named in schema.type_map.items():
        if name.startswith("__") or graphql.is_specified_scalar_type(named):
            continue
        found.add(name)
        if isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
            for field_name, field_def in named.fields.items():
                found.add(f"{name}.{field_name}")
                found.update(f"{name}.{field_name}({arg}:)" for arg in field_def.args)
        elif isinstance(named, graphql.GraphQLInputObjectType):
            found.update(f"{name}.{field_name}" for field_name in named.fields)
        elif isinstance(named, graphql.GraphQLEnumType):
            found.update(f"{name}.{value}" for value in named.values)
        elif isinstance(named, graphql.GraphQLUnionType):
            found.update(f"{name}|{member.name}" for member in named.types)
    for directive in schema.directives:
        if not graphql.is_specified_directive(directive):
            found.add(f"@{directive.name}")
            found.update(f"@{directive.name}({arg}:)" for arg in directive.args)
    return found


def _sentence(text: str) -> str:
    return text.strip().rstrip(".")


# --- protobuf -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Protos:
    """What a FileDescriptorSet promises its clients, by full name."""

    services: Mapping[str, Mapping[str, tuple[str, str, str]]]
    messages: Mapping[str, Mapping[int, tuple[str, str, str]]]
    enums: Mapping[str, Mapping[int, str]]


def _protobuf_change(old_set: bytes, new_set: bytes) -> Change | None:
    """Compare two FileDescriptorSets; None if one cannot be read."""
    old, new = _protos(old_set), _protos(new_set)
    if old is None or new is None:
        return None
    broken: list[str] = []
    added: list[str] = []
    for service, methods in old.services.items():
        now = new.services.get(service)
        if now is None:
            broken.append(f"service {service} removed")
            continue
        for method, (request, response, flow) in methods.items():
            rpc = f"rpc {service}/{method}"
            if method not in now:
                broken.append(f"{rpc} removed")
                continue
            new_request, new_response, new_flow = now[method]
            if new_request != request:
                broken.append(f"{rpc} request type changed from {request} to {new_request}")
            if new_response != response:
                broken.append(f"{rpc} response type changed from {response} to {new_response}")
            if new_flow != flow:
                broken.append(f"{rpc} changed from {flow} to {new_flow}")
        added += [f"rpc {service}/{m} added" for m in sorted(now.keys() - methods.keys())]
    added += [f"service {s} added" for s in sorted(new.services.keys() - old.services.keys())]
    for message, fields in old.messages.items():
        now_fields = new.messages.get(message)
        if now_fields is None:
            broken.append(f"message {message} removed")
            continue
        for number, (name, kind, label) in fields.items():
            if number not in now_fields:
                broken.append(f"field {message}.{name} = {number} removed")
                continue
            new_name, new_kind, new_label = now_fields[number]
            if new_name != name:
                broken.append(f"field {number} of {message} renamed from {name} to {new_name}")
            if new_kind != kind:
                broken.append(f"field {message}.{name} changed type from {kind} to {new_kind}")
            if new_label != label:
                broken.append(f"field {message}.{name} changed from {label} to {new_label}")
        added += [
            f"field {message}.{now_fields[n][0]} = {n} added"
            for n in sorted(now_fields.keys() - fields.keys())
        ]
    added += [f"message {m} added" for m in sorted(new.messages.keys() - old.messages.keys())]
    for enum, values in old.enums.items():
        now_values = new.enums.get(enum)
        if now_values is None:
            broken.append(f"enum {enum} removed")
            continue
        broken += [
            f"enum value {enum}.{values[n]} = {n} removed"
            for n in sorted(values.keys() - now_values.keys())
        ]
        added += [
            f"enum value {enum}.{now_values[n]} = {n} added"
            for n in sorted(now_values.keys() - values.keys())
        ]
    added += [f"enum {e} added" for e in sorted(new.enums.keys() - old.enums.keys())]
    return _verdict(broken, added, [], "same services, methods and messages: options only")


_LABELS: Final = {1: "optional", 2: "required", 3: "repeated"}


def _protos(content: bytes) -> _Protos | None:
    if len(content) > _MAX_SCHEMA_BYTES:
        return None
    try:
        found = descriptor_pb2.FileDescriptorSet.FromString(content)
    except (DecodeError, RecursionError):
        return None
    services: dict[str, dict[str, tuple[str, str, str]]] = {}
    messages: dict[str, dict[int, tuple[str, str, str]]] = {}
    enums: dict[str, dict[int, str]] = {}
    for file in found.file:
        scope = f".{file.package}" if file.package else ""
        for service in file.service:
            services[f"{scope}.{service.name}".lstrip(".")] = {
                m.name: (m.input_type.lstrip("."), m.output_type.lstrip("."), _flow(m))
                for m in service.method
            }
        for full, message in _messages(scope, file.message_type):
            messages[full] = {f.number: (f.name, _field_type(f), _label(f)) for f in message.field}
            for enum in message.enum_type:
                enums[f"{full}.{enum.name}"] = {v.number: v.name for v in enum.value}
        for enum in file.enum_type:
            enums[f"{scope}.{enum.name}".lstrip(".")] = {v.number: v.name for v in enum.value}
    return _Protos(services=services, messages=messages, enums=enums)


def _messages(scope: str, found: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    # Iterative: nesting is bounded by the protobuf decoder, but stay flat anyway.
    pending = [(scope, message) for message in found]
    while pending:
        outer, message = pending.pop()
        full = f"{outer}.{message.name}"
        yield full.lstrip("."), message  # map entries too: a map's value type is a field's
        pending.extend((full, nested) for nested in message.nested_type)


def _flow(method: Any) -> str:
    if method.client_streaming and method.server_streaming:
        return "bidirectional streaming"
    if method.client_streaming:
        return "client streaming"
    return "server streaming" if method.server_streaming else "unary"


def _field_type(field_proto: Any) -> str:
    if field_proto.type_name:
        return str(field_proto.type_name).lstrip(".")
    name: str = descriptor_pb2.FieldDescriptorProto.Type.Name(field_proto.type)
    return name.removeprefix("TYPE_").lower()


def _label(field_proto: Any) -> str:
    label = _LABELS.get(field_proto.label, "optional")
    return "repeated" if label == "repeated" else "singular" if label != "required" else label
