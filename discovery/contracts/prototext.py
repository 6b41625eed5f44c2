"""``.proto`` source text from file descriptors, for people to read.

Reflection hands out compiled descriptors, not the files they came from:
comments and formatting are gone. What is rendered here says the same
things in the language's own syntax: package, imports, scalar options,
messages (nested types, ``oneof``, ``map<,>``, reserved numbers and names),
enums, extensions and services with their streaming. Type names are written
relative to the file's package where that is unambiguous enough to read,
fully qualified (with the leading dot, as ``protoc`` accepts them) elsewhere.
Each file of a set is one section, headed by its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from google.protobuf import descriptor_pb2  # type: ignore[import-untyped]

__all__ = ["render"]

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS: Final = {
    _F.TYPE_DOUBLE: "double",
    _F.TYPE_FLOAT: "float",
    _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64",
    _F.TYPE_INT32: "int32",
    _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32",
    _F.TYPE_BOOL: "bool",
    _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes",
    _F.TYPE_UINT32: "uint32",
    _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64",
    _F.TYPE_SINT32: "sint32",
    _F.TYPE_SINT64: "sint64",
}
_INDENT: Final = "  "


def render(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> str:
    """The ``.proto`` text of every file, one section per file."""
    return "\n".join(_file(f) for f in files)


def _file(file: descriptor_pb2.FileDescriptorProto) -> str:
    lines = [f"// ---- {file.name} ----"]
    if file.syntax == "editions":
        lines.append(f"edition = {_quote(_edition(file))};")
    else:
        lines.append(f'syntax = "{file.syntax or "proto2"}";')
    if file.package:
        lines += ["", f"package {file.package};"]
    public, weak = set(file.public_dependency), set(file.weak_dependency)
    if file.dependency:
        lines.append("")
        for index, name in enumerate(file.dependency):
            how = "public " if index in public else "weak " if index in weak else ""
            lines.append(f"import {how}{_quote(name)};")
    options = list(_options(file.options))
    if options:
        lines.append("")
        lines += [f"option {option};" for option in options]
    scope = f".{file.package}." if file.package else "."
    for enum in file.enum_type:
        lines += ["", *_enum(enum, 0)]
    for message in file.message_type:
        lines += ["", *_message(message, 0, scope, file.syntax)]
    lines += _extensions(file.extension, 0, scope, file.syntax)
    for service in file.service:
        lines += ["", *_service(service, scope)]
    return "\n".join(lines) + "\n"


def _message(
    message: descriptor_pb2.DescriptorProto, depth: int, scope: str, syntax: str
) -> Iterator[str]:
    body = list(_message_body(message, depth, scope, syntax))
    pad = _INDENT * depth
    if not body:
        yield f"{pad}message {message.name} {{}}"
        return
    yield f"{pad}message {message.name} {{"
    yield from body
    yield f"{pad}}}"


def _message_body(
    message: descriptor_pb2.DescriptorProto, depth: int, scope: str, syntax: str
) -> Iterator[str]:
    inner = _INDENT * (depth + 1)
    maps = {nested.name: nested for nested in message.nested_type if nested.options.map_entry}
    for option in _options(message.options, skip=("map_entry",)):
        yield f"{inner}option {option};"
    for enum in message.enum_type:
        yield from _enum(enum, depth + 1)
    for nested in message.nested_type:
        if nested.name not in maps:
            yield from _message(nested, depth + 1, scope, syntax)
    oneofs: dict[int, list[descriptor_pb2.FieldDescriptorProto]] = {}
    for field in message.field:
        real_oneof = field.HasField("oneof_index") and not field.proto3_optional
        if real_oneof:
            if field.oneof_index not in oneofs:
                oneofs[field.oneof_index] = []
                yield f"{inner}oneof {message.oneof_decl[field.oneof_index].name} {{"
                for member in message.field:
                    same = member.HasField("oneof_index") and not member.proto3_optional
                    if same and member.oneof_index == field.oneof_index:
                        oneofs[field.oneof_index].append(member)
                        yield _INDENT + _field(member, inner, scope, syntax, maps, in_oneof=True)
                yield f"{inner}}}"
            continue
        yield _field(field, inner, scope, syntax, maps)
    for ranges in message.reserved_range:
        yield f"{inner}reserved {_range(ranges.start, ranges.end - 1)};"
    if message.reserved_name:
        yield f"{inner}reserved {', '.join(_quote(n) for n in message.reserved_name)};"
    for ranges in message.extension_range:
        yield f"{inner}extensions {_range(ranges.start, ranges.end - 1)};"
    yield from _extensions(message.extension, depth + 1, scope, syntax)


def _field(
    field: descriptor_pb2.FieldDescriptorProto,
    pad: str,
    scope: str,
    syntax: str,
    maps: dict[str, descriptor_pb2.DescriptorProto],
    *,
    in_oneof: bool = False,
) -> str:
    entry = maps.get(field.type_name.rsplit(".", 1)[-1]) if field.type_name else None
    if entry is not None and field.label == _F.LABEL_REPEATED and len(entry.field) == 2:
        key, value = entry.field
        kind = f"map<{_type(key, scope)}, {_type(value, scope)}>"
        label = ""
    else:
        kind = _type(field, scope)
        label = "" if in_oneof else _label(field, syntax)
    details = []
    if field.HasField("default_value"):
        default = field.default_value
        shown = _quote(default) if field.type in (_F.TYPE_STRING, _F.TYPE_BYTES) else default
        details.append(f"default = {shown}")
    details += list(_options(field.options))
    suffix = f" [{', '.join(details)}]" if details else ""
    return f"{pad}{label}{kind} {field.name} = {field.number}{suffix};"


def _label(field: descriptor_pb2.FieldDescriptorProto, syntax: str) -> str:
    if field.label == _F.LABEL_REPEATED:
        return "repeated "
    if field.label == _F.LABEL_REQUIRED:
        return "required "
    if field.proto3_optional or syntax in ("", "proto2"):
        return "optional "
    return ""


def _type(field: descriptor_pb2.FieldDescriptorProto, scope: str) -> str:
    if field.type in _SCALARS:
        return _SCALARS[field.type]
    return _relative(field.type_name, scope)


def _relative(type_name: str, scope: str) -> str:
    """``SearchHit`` for ``.pkg.SearchHit`` in package ``pkg``; other names stay qualified."""
    if type_name.startswith(scope) and scope != ".":
        return type_name[len(scope) :]
    return type_name


def _enum(enum: descriptor_pb2.EnumDescriptorProto, depth: int) -> Iterator[str]:
    pad, inner = _INDENT * depth, _INDENT * (depth + 1)
    yield f"{pad}enum {enum.name} {{"
    for option in _options(enum.options):
        yield f"{inner}option {option};"
    for value in enum.value:
        details = list(_options(value.options))
        suffix = f" [{', '.join(details)}]" if details else ""
        yield f"{inner}{value.name} = {value.number}{suffix};"
    for ranges in enum.reserved_range:
        yield f"{inner}reserved {_range(ranges.start, ranges.end)};"
    if enum.reserved_name:
        yield f"{inner}reserved {', '.join(_quote(n) for n in enum.reserved_name)};"
    yield f"{pad}}}"


def _extensions(
    fields: Iterable[descriptor_pb2.FieldDescriptorProto], depth: int, scope: str, syntax: str
) -> list[str]:
    pad = _INDENT * depth
    lines: list[str] = []
    by_extendee: dict[str, list[descriptor_pb2.FieldDescriptorProto]] = {}
    for field in fields:
        by_extendee.setdefault(field.extendee, []).append(field)
    for extendee, members in by_extendee.items():
        lines += ["", f"{pad}extend {_relative(extendee, scope)} {{"]
        lines += [_field(m, pad + _INDENT, scope, syntax, {}) for m in members]
        lines.append(f"{pad}}}")
    return lines


def _service(service: descriptor_pb2.ServiceDescriptorProto, scope: str) -> Iterator[str]:
    yield f"service {service.name} {{"
    for option in _options(service.options):
        yield f"{_INDENT}option {option};"
    for method in service.method:
        request = ("stream " if method.client_streaming else "") + _relative(
            method.input_type, scope
        )
        response = ("stream " if method.server_streaming else "") + _relative(
            method.output_type, scope
        )
        options = list(_options(method.options))
        head = f"{_INDENT}rpc {method.name}({request}) returns ({response})"
        if options:
            yield head + " {"
            for option in options:
                yield f"{_INDENT * 2}option {option};"
            yield f"{_INDENT}}}"
        else:
            yield head + ";"
    yield "}"


def _options(options: object, *, skip: tuple[str, ...] = ()) -> Iterator[str]:
    """``name = value`` for each scalar option set (extensions and messages are left out)."""
    list_fields = getattr(options, "ListFields", None)
    if list_fields is None:
        return
    for descriptor, value in list_fields():
        if descriptor.name in skip or descriptor.is_extension:
            continue
        if isinstance(value, bool):
            yield f"{descriptor.name} = {'true' if value else 'false'}"
        elif isinstance(value, str):
            yield f"{descriptor.name} = {_quote(value)}"
        elif isinstance(value, int | float) and descriptor.enum_type is not None:
            member = descriptor.enum_type.values_by_number.get(int(value))
            yield f"{descriptor.name} = {member.name if member else int(value)}"
        elif isinstance(value, int | float):
            yield f"{descriptor.name} = {value}"


def _edition(file: descriptor_pb2.FileDescriptorProto) -> str:
    name = descriptor_pb2.Edition.Name(file.edition) if file.edition else "EDITION_2023"
    return name.removeprefix("EDITION_")


def _range(start: int, end: int) -> str:
    return str(start) if start == end else f"{start} to {'max' if end >= 536870911 else end}"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
