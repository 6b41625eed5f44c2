"""GraphQL schemas: from an introspection answer or a served SDL, to SDL and operations.

The schema is asked for with graphql-core's standard introspection query
(:data:`INTROSPECTION_REQUEST`, of a fixed depth), in one request, and the
answer is read here, in a worker process: it is bounded in size and depth
before graphql-core builds a schema from it (``build_client_schema``). The
file kept is the schema printed as SDL (``print_schema``, types and fields in
name order, so the same schema always gives the same bytes whatever order a
server lists it in); the operations are the root fields, ``query users``,
``mutation createUser``, ``subscription orderShipped``.

A server that refuses introspection (an ``errors`` answer without a schema,
common in production) is told by :func:`refusal` on the answer's first bytes.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import graphql
from graphql.language import Lexer, Source, TokenKind

from discovery import untrusted
from discovery.errors import NotASpecError, SpecError, SpecRefusedError
from discovery.model import Operation, SpecDocument

if TYPE_CHECKING:
    from discovery.specs import SpecLimits

__all__ = [
    "INTROSPECTION_QUERY",
    "INTROSPECTION_REQUEST",
    "read_schema",
    "refusal",
    "root_fields",
]

#: graphql-core's standard introspection query, descriptions included. Its
#: depth is fixed (``ofType`` nested a few levels), so one answer has a bounded shape.
INTROSPECTION_QUERY: Final = graphql.get_introspection_query(descriptions=True)
INTROSPECTION_REQUEST: Final = json.dumps(
    {"query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery"}
).encode()
_ROOTS: Final = ("query", "mutation", "subscription")
_MAX_MESSAGE: Final = 200


def refusal(body: bytes) -> str | None:
    """The server's words when ``body`` is a GraphQL answer that holds no schema.

    ``None`` when it holds one, or is too large to be a mere refusal (then it
    is read in a worker like any schema), or is no GraphQL answer at all
    (then :func:`read_schema` says what it is).
    """
    value = untrusted.load_json(body)
    if not isinstance(value, dict) or _schema_of(value) is not None:
        return None
    errors = value.get("errors")
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else None
    return _short(message) if isinstance(message, str) and message.strip() else "errors only"


def read_schema(content: bytes, *, url: str, limits: SpecLimits) -> SpecDocument:
    """Read a GraphQL schema: an introspection answer (JSON) or SDL text.

    Raises:
        NotASpecError: the bytes hold no GraphQL schema (a refusal, HTML, bad SDL).
        SpecRefusedError: too large, too deep, or too many values to read.
    """
    if len(content) > limits.max_bytes:
        raise SpecRefusedError(f"{len(content)} bytes is over the {limits.max_bytes} limit")
    text = _decode(content)
    try:
        if text.lstrip()[:1] == "{":
            schema, source = _from_introspection(content, limits=limits), "introspection"
        else:
            schema, source = _from_sdl(text, limits=limits), "sdl"
        problems = graphql.validate_schema(schema)
        printed = graphql.print_schema(graphql.lexicographic_sort_schema(schema))
    except RecursionError as exc:
        raise SpecRefusedError("schema nests too deeply to read", url=url) from exc
    except SpecError as exc:
        exc.url = exc.url or url
        raise
    except (graphql.GraphQLError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # graphql-core's builders assume a sane shape; a hostile one breaks them.
        raise NotASpecError(_short(f"not a usable GraphQL schema: {exc}"), url=url) from exc
    errors = tuple(_short(p.message) for p in problems[: limits.max_errors])
    return SpecDocument(
        format="graphql",
        spec_version=source,
        url=url,
        packaging="graphql",
        title=None,
        api_version=None,
        description=_text(schema.description),
        operations=tuple(_operations(schema)),
        valid=not errors,
        errors=errors,
        content=printed.encode() + b"\n",
    )


def root_fields(schema: graphql.GraphQLSchema) -> Iterator[tuple[str, str]]:
    """``(operation type, field name)`` of every root field, in name order."""
    for kind in _ROOTS:
        root = schema.get_root_type(graphql.OperationType(kind))
        if root is not None:
            for name in sorted(root.fields):
                yield kind, name


def _operations(schema: graphql.GraphQLSchema) -> Iterator[Operation]:
    for kind, name in root_fields(schema):
        root = schema.get_root_type(graphql.OperationType(kind))
        assert root is not None
        field = root.fields[name]
        yield Operation(
            name=f"{kind} {name}",
            method=kind,
            summary=_first_line(field.description),
            deprecated=field.deprecation_reason is not None,
        )


def _from_introspection(content: bytes, *, limits: SpecLimits) -> graphql.GraphQLSchema:
    value = untrusted.load_json(content, max_bytes=limits.max_bytes)
    if value is None:
        if _json_depth(content) > limits.max_depth:
            raise SpecRefusedError(f"answer nests deeper than {limits.max_depth} levels")
        raise NotASpecError("not JSON")
    _check_shape(value, limits=limits)
    if not isinstance(value, dict):
        raise NotASpecError("JSON array, not an introspection answer")
    schema = _schema_of(value)
    if schema is None:
        said = refusal(content) if len(content) <= untrusted.MAX_JSON_BYTES else None
        if said is not None:
            raise NotASpecError(f"introspection refused: {said}")
        keys = ", ".join(sorted(value)[:8]) or "none"
        raise NotASpecError(f"no __schema in the answer (keys: {keys})")
    # Validated by graphql-core's own checks as it builds; the SDL it prints is ours.
    return graphql.build_client_schema({"__schema": schema})  # type: ignore[typeddict-item]


def _from_sdl(text: str, *, limits: SpecLimits) -> graphql.GraphQLSchema:
    _check_tokens(text, limits=limits)
    try:
        document = graphql.parse(text, no_location=True)
    except graphql.GraphQLError as exc:
        raise NotASpecError(_short(f"not GraphQL SDL: {exc.message}")) from exc
    return graphql.build_ast_schema(document)


_OPENING: Final = frozenset({TokenKind.BRACKET_L, TokenKind.BRACE_L, TokenKind.PAREN_L})
_CLOSING: Final = frozenset({TokenKind.BRACKET_R, TokenKind.BRACE_R, TokenKind.PAREN_R})


def _check_tokens(text: str, *, limits: SpecLimits) -> None:
    """Refuse SDL nested deeper than ``limits.max_depth`` or longer than ``max_nodes`` tokens.

    One pass of graphql-core's lexer, before its recursive parser sees the text.
    """
    lexer = Lexer(Source(text))
    depth = tokens = 0
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF:
            tokens += 1
            if tokens > limits.max_nodes:
                raise SpecRefusedError(f"SDL holds more than {limits.max_nodes} tokens")
            if token.kind in _OPENING:
                depth += 1
                if depth > limits.max_depth:
                    raise SpecRefusedError(f"SDL nests deeper than {limits.max_depth} levels")
            elif token.kind in _CLOSING:
                depth -= 1
            token = lexer.advance()
    except graphql.GraphQLError as exc:
        raise NotASpecError(_short(f"not GraphQL SDL: {exc.message}")) from exc


_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def _json_depth(content: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings left out."""
    brackets = _STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _schema_of(value: dict[str, object]) -> dict[str, object] | None:
    data = value.get("data")
    holder = data if isinstance(data, dict) else value
    schema = holder.get("__schema")
    return schema if isinstance(schema, dict) else None


def _check_shape(value: object, *, limits: SpecLimits) -> None:
    """Refuse JSON deeper than ``limits.max_depth`` or holding more than ``max_nodes`` values.

    An introspection answer is a few levels deep whatever the schema (the
    query fixes how far ``ofType`` goes); anything deeper is not one.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > limits.max_nodes:
            raise SpecRefusedError(f"answer holds more than {limits.max_nodes} values")
        if depth > limits.max_depth:
            raise SpecRefusedError(f"answer nests deeper than {limits.max_depth} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _decode(content: bytes) -> str:
    encoding = "utf-8-sig" if content.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotASpecError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    if not text.strip():
        raise NotASpecError("empty body")
    return text


def _text(value: str | None) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _first_line(value: str | None) -> str | None:
    text = _text(value)
    return _short(text.strip().splitlines()[0]) if text else None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
