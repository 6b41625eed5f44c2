"""A version's contract for people: what an API page shows of its stored description.

One reader per kind of file, each producing :class:`ContractView`:

* OpenAPI 3.x and Swagger 2.0 (``oas``): operations with their parameters,
  request body and responses, schemas and examples. ``$ref`` is followed only
  inside the document (``#/...``), to :data:`MAX_DEPTH` levels and at most
  :data:`MAX_NODES` schema nodes per rendering; a cycle or a reference out of
  the document is shown as the reference itself;
* WSDL 1.1 (``wsdl``): each binding operation with its SOAP action and the
  parts of its input and output messages;
* GraphQL SDL (``graphql``): the root types' fields with arguments and types;
* protobuf FileDescriptorSet (``grpc``/``protobuf``): each service's methods
  with request, response and streaming.

Every file is untrusted: size-capped (:data:`MAX_FILE`), parsed with safe
loaders (YAML's safe loader, lxml without DTDs, entities or network,
graphql-core with a token limit), and a file that cannot be read gives an
empty view with the reason in ``problem``; the page then falls back to the
operation signatures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

import graphql
import yaml
from google.protobuf import descriptor_pb2  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from lxml import etree

from catalog.model import AssetVersion

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE",
    "MAX_NODES",
    "Body",
    "ContractView",
    "Method",
    "Parameter",
    "View",
    "contract_view",
]

MAX_FILE: Final = 8 * 1024 * 1024
MAX_DEPTH: Final = 8
MAX_NODES: Final = 400
_MAX_SDL_TOKENS: Final = 500_000
_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
_SOAP_BINDINGS: Final = (
    "http://schemas.xmlsoap.org/wsdl/soap/",
    "http://schemas.xmlsoap.org/wsdl/soap12/",
)
_LABELS: Final = {1: "optional", 2: "required", 3: "repeated"}


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter (or a message part, a GraphQL argument)."""

    name: str
    where: str
    required: bool
    type: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Body:
    """A request or response body: its status or role, media type, schema and example."""

    label: str
    media_type: str
    description: str
    schema: str
    example: str


@dataclass(frozen=True, slots=True)
class View:
    """One operation of the contract, whatever its kind."""

    method: str
    name: str
    summary: str = ""
    description: str = ""
    deprecated: bool = False
    parameters: tuple[Parameter, ...] = ()
    request: tuple[Body, ...] = ()
    responses: tuple[Body, ...] = ()
    action: str = ""
    result: str = ""


@dataclass(frozen=True, slots=True)
class Method:
    """A gRPC method's request and response messages and whether each streams."""

    request: str
    response: str
    client_streaming: bool
    server_streaming: bool


@dataclass(frozen=True, slots=True)
class ContractView:
    """What the page shows of one version's contract.

    Attributes:
        kind: ``openapi``, ``swagger``, ``wsdl``, ``graphql``, ``grpc``, or
            ``""`` when no file could be read.
        title: The description's own title, if it says one.
        operations: Its operations in the description's order.
        problem: Why a file was not shown, or ``""``.
    """

    kind: str
    title: str = ""
    operations: tuple[View, ...] = ()
    problem: str = ""
    methods: dict[str, Method] = field(default_factory=dict)


def contract_view(version: AssetVersion) -> ContractView:
    """The contract of ``version`` from its first readable file."""
    problems = []
    for file in version.files:
        if len(file.content) > MAX_FILE:
            problems.append(f"{file.classifier} file larger than {MAX_FILE} bytes")
            continue
        try:
            if file.classifier == "oas":
                found = _openapi(_load(file.packaging, file.content))
            elif file.classifier == "wsdl":
                found = _wsdl(file.content)
            elif file.classifier == "graphql" and file.packaging == "graphql":
                found = _graphql(file.content.decode("utf-8", errors="replace"))
            elif file.classifier == "grpc" and file.packaging == "protobuf":
                found = _grpc(file.content)
            else:
                continue
        except _Unreadable as exc:
            problems.append(f"{file.classifier} file unreadable: {exc}")
            continue
        if found.operations:
            return found
    return ContractView(kind="", problem="; ".join(problems))


class _Unreadable(Exception):
    pass


# -- OpenAPI / Swagger ------------------------------------------------------------


def _load(packaging: str, content: bytes) -> Any:
    try:
        if packaging == "json":
            return json.loads(content)
        return yaml.safe_load(content)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        raise _Unreadable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _openapi(document: Any) -> ContractView:
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise _Unreadable("no paths")
    swagger = str(document.get("swagger", "")).startswith("2")
    refs = _Refs(document)
    info: dict[str, Any] = document["info"] if isinstance(document.get("info"), dict) else {}
    found: list[View] = []
    for path, item in document["paths"].items():
        item = refs.resolve(item)
        if not isinstance(item, dict):
            continue
        shared = _list(item.get("parameters"))
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            parameters: dict[tuple[str, str], dict[str, Any]] = {}
            for raw in [*shared, *_list(operation.get("parameters"))]:
                resolved = refs.resolve(raw)
                if isinstance(resolved, dict):
                    parameters[(str(resolved.get("in")), str(resolved.get("name")))] = resolved
            request: list[Body] = []
            rows: list[Parameter] = []
            for (where, name), raw in parameters.items():
                if swagger and where == "body":
                    request.append(
                        Body(
                            "body",
                            ", ".join(map(str, _list(operation.get("consumes"))))
                            or ", ".join(map(str, _list(document.get("consumes")))),
                            _text(raw.get("description")),
                            refs.render(raw.get("schema")),
                            _example(raw.get("x-example")),
                        )
                    )
                    continue
                schema = raw.get("schema") if not swagger else raw
                rows.append(
                    Parameter(
                        name=name,
                        where=where,
                        required=raw.get("required") is True,
                        type=refs.type_name(schema),
                        description=_text(raw.get("description")),
                    )
                )
            if not swagger:
                request += _bodies(refs, refs.resolve(operation.get("requestBody")), "request")
            responses: list[Body] = []
            raw_responses = operation.get("responses")
            for code, answer in raw_responses.items() if isinstance(raw_responses, dict) else ():
                answer = refs.resolve(answer)
                if not isinstance(answer, dict):
                    continue
                if swagger:
                    examples = answer.get("examples")
                    example = (
                        _example(next(iter(examples.values())))
                        if isinstance(examples, dict) and examples
                        else ""
                    )
                    responses.append(
                        Body(
                            str(code),
                            ", ".join(map(str, _list(operation.get("produces"))))
                            or ", ".join(map(str, _list(document.get("produces")))),
                            _text(answer.get("description")),
                            refs.render(answer.get("schema")) if "schema" in answer else "",
                            example,
                        )
                    )
                else:
                    found_bodies = _bodies(refs, answer, str(code))
                    responses += found_bodies or [
                        Body(str(code), "", _text(answer.get("description")), "", "")
                    ]
            found.append(
                View(
                    method=method.upper(),
                    name=str(path),
                    summary=_text(operation.get("summary")) or _text(operation.get("operationId")),
                    description=_text(operation.get("description")),
                    deprecated=operation.get("deprecated") is True,
                    parameters=tuple(rows),
                    request=tuple(request),
                    responses=tuple(responses),
                )
            )
    return ContractView(
        kind="swagger" if swagger else "openapi",
        title=_text(info.get("title")),
        operations=tuple(found),
    )


def _bodies(refs: _Refs, holder: Any, label: str) -> list[Body]:
    if not isinstance(holder, dict) or not isinstance(holder.get("content"), dict):
        return []
    out = []
    for media, value in holder["content"].items():
        value = refs.resolve(value)
        if not isinstance(value, dict):
            continue
        example = value.get("example")
        examples = value.get("examples")
        if example is None and isinstance(examples, dict) and examples:
            first = refs.resolve(next(iter(examples.values())))
            example = first.get("value") if isinstance(first, dict) else None
        schema = value.get("schema")
        if example is None and isinstance(refs.resolve(schema), dict):
            example = refs.resolve(schema).get("example")
        out.append(
            Body(
                label,
                str(media),
                _text(holder.get("description")),
                refs.render(schema) if schema is not None else "",
                _example(example),
            )
        )
    return out


class _Refs:
    """``$ref`` inside one document, bounded."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None
        node: Any = self._document
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node

    def resolve(self, value: Any) -> Any:
        seen: set[str] = set()
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            if ref in seen or len(seen) >= MAX_DEPTH:
                return None
            seen.add(ref)
            value = self.lookup(ref)
        return value

    def type_name(self, schema: Any) -> str:
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return ""
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = " | ".join(map(str, kind))
        if kind == "array":
            return f"array of {self.type_name(schema.get('items')) or 'any'}"
        name = str(kind or "")
        if schema.get("format"):
            name = f"{name} ({schema['format']})" if name else str(schema["format"])
        if isinstance(schema.get("enum"), list):
            shown = ", ".join(json.dumps(v) for v in schema["enum"][:8])
            name = f"{name} one of {shown}".strip()
        return name

    def render(self, schema: Any) -> str:
        """The schema with in-document references expanded, as indented JSON."""
        budget = [MAX_NODES]
        expanded = self._expand(schema, depth=0, trail=(), budget=budget)
        text = json.dumps(expanded, indent=2, ensure_ascii=False, default=str)
        return text if budget[0] > 0 else text + "\n… (cut: larger than the page shows)"

    def _expand(self, value: Any, *, depth: int, trail: tuple[str, ...], budget: list[int]) -> Any:
        budget[0] -= 1
        if budget[0] <= 0 or depth > MAX_DEPTH:
            return "…"
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                target = self.lookup(ref)
                if target is None or ref in trail:
                    why = "cycle" if ref in trail else "not in this document"
                    return {"$ref": ref, "note": why}
                return self._expand(target, depth=depth + 1, trail=(*trail, ref), budget=budget)
            return {
                str(k): self._expand(v, depth=depth + 1, trail=trail, budget=budget)
                for k, v in value.items()
                if budget[0] > 0
            }
        if isinstance(value, list):
            return [
                self._expand(v, depth=depth + 1, trail=trail, budget=budget)
                for v in value
                if budget[0] > 0
            ]
        return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _example(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= 20_000 else text[:20_000] + "\n…"


# -- WSDL ----------------------------------------------------------------------


def _wsdl(content: bytes) -> ContractView:
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise _Unreadable("a document type declaration is refused")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise _Unreadable(str(exc)) from exc
    w = f"{{{_WSDL}}}"
    fields = _schema_fields(root)
    messages: dict[str, list[Parameter]] = {}
    for message in root.iter(f"{w}message"):
        parts: list[Parameter] = []
        for part in message.iter(f"{w}part"):
            element = _local(part.get("element") or "")
            if element and element in fields:
                # Document/literal: the element's own fields are what a caller sends.
                parts += fields[element]
                continue
            parts.append(
                Parameter(
                    name=str(part.get("name", "")),
                    where="part",
                    required=True,
                    type=element or _local(part.get("type") or ""),
                )
            )
        messages[str(message.get("name", ""))] = parts
    port_ops: dict[str, tuple[str, str, str]] = {}
    operations = [op for pt in root.iter(f"{w}portType") for op in pt.iter(f"{w}operation")]
    for operation in operations:
        inp, out = operation.find(f"{w}input"), operation.find(f"{w}output")
        if inp is None and out is None:
            continue
        doc = operation.find(f"{w}documentation")
        port_ops[str(operation.get("name", ""))] = (
            _local(inp.get("message", "")) if inp is not None else "",
            _local(out.get("message", "")) if out is not None else "",
            (doc.text or "").strip() if doc is not None else "",
        )
    actions: dict[str, str] = {}
    for binding in root.iter(f"{w}binding"):
        for operation in binding.iter(f"{w}operation"):
            for ns in _SOAP_BINDINGS:
                soap = operation.find(f"{{{ns}}}operation")
                if soap is not None and soap.get("soapAction") is not None:
                    actions[str(operation.get("name", ""))] = str(soap.get("soapAction"))
    views = []
    for name, (inp_name, out_name, doc) in port_ops.items():
        views.append(
            View(
                method="SOAP",
                name=name,
                summary=doc,
                parameters=tuple(messages.get(inp_name, ())),
                action=actions.get(name, ""),
                request=(Body("input", "", "", inp_name, ""),) if inp_name else (),
                responses=tuple(
                    Body("output", "", "", f"{p.name}: {p.type}", "")
                    for p in messages.get(out_name, ())
                )
                or ((Body("output", "", "", out_name, ""),) if out_name else ()),
                result=out_name,
            )
        )
    return ContractView(kind="wsdl", title=str(root.get("name", "")), operations=tuple(views))


_XSD: Final = "{http://www.w3.org/2001/XMLSchema}"


def _schema_fields(root: Any) -> dict[str, list[Parameter]]:
    """Each top-level schema element's child elements (one level), by element name."""
    types: dict[str, Any] = {}
    for complex_type in root.iter(f"{_XSD}complexType"):
        if complex_type.get("name"):
            types[str(complex_type.get("name"))] = complex_type
    found: dict[str, list[Parameter]] = {}
    for schema in root.iter(f"{_XSD}schema"):
        for element in schema.findall(f"{_XSD}element"):
            name = str(element.get("name", ""))
            body = element.find(f"{_XSD}complexType")
            if body is None and element.get("type"):
                body = types.get(_local(str(element.get("type"))))
            if body is None:
                continue
            found[name] = [
                Parameter(
                    name=str(child.get("name") or _local(str(child.get("ref", "")))),
                    where=name,
                    required=child.get("minOccurs", "1") != "0",
                    type=_local(str(child.get("type", ""))),
                )
                for child in body.iter(f"{_XSD}element")
            ]
    return found


def _local(qname: str) -> str:
    return qname.rsplit(":", 1)[-1]


# -- GraphQL -------------------------------------------------------------------


def _graphql(sdl: str) -> ContractView:
    try:
        document = graphql.parse(sdl, no_location=True, max_tokens=_MAX_SDL_TOKENS)
        schema = graphql.build_ast_schema(document, assume_valid_sdl=True)
    except (graphql.GraphQLError, TypeError, ValueError, KeyError, RecursionError) as exc:
        raise _Unreadable(str(exc).splitlines()[0]) from exc
    views = []
    for label, root in (
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    ):
        if root is None:
            continue
        for name, field_def in root.fields.items():
            views.append(
                View(
                    method=label.upper(),
                    name=name,
                    summary=field_def.description or "",
                    deprecated=field_def.deprecation_reason is not None,
                    parameters=tuple(
                        Parameter(
                            name=arg_name,
                            where="argument",
                            required=graphql.is_non_null_type(arg.type)
                            and arg.default_value is graphql.Undefined,
                            type=str(arg.type),
                            description=arg.description or "",
                        )
                        for arg_name, arg in field_def.args.items()
                    ),
                    result=str(field_def.type),
                )
            )
    return ContractView(kind="graphql", operations=tuple(views))


# -- gRPC ----------------------------------------------------------------------


def _grpc(content: bytes) -> ContractView:
    try:
        found = descriptor_pb2.FileDescriptorSet.FromString(content)
    except (DecodeError, RecursionError) as exc:
        raise _Unreadable(f"not a FileDescriptorSet: {exc}") from exc
    fields: dict[str, tuple[Parameter, ...]] = {}
    for file in found.file:
        scope = file.package
        stack = [(scope, m) for m in file.message_type]
        while stack:
            prefix, message = stack.pop()
            full = f"{prefix}.{message.name}".lstrip(".")
            fields[full] = tuple(
                Parameter(
                    name=f.name,
                    where=f"#{f.number}",
                    required=f.label == 2,
                    type=(
                        f"{_LABELS.get(f.label, '')} "
                        + (f.type_name.lstrip(".") or _scalar(f.type))
                    ).strip(),
                )
                for f in message.field
            )
            stack += [(full, nested) for nested in message.nested_type]
    views = []
    methods: dict[str, Method] = {}
    for file in found.file:
        for service in file.service:
            service_name = f"{file.package}.{service.name}".lstrip(".")
            for method in service.method:
                request = method.input_type.lstrip(".")
                response = method.output_type.lstrip(".")
                name = f"{service_name}/{method.name}"
                flow = method.client_streaming, method.server_streaming
                methods[name] = Method(request, response, *flow)
                views.append(
                    View(
                        method="RPC",
                        name=name,
                        summary=_flow(*flow),
                        parameters=fields.get(request, ()),
                        request=(Body("request", "stream" if flow[0] else "", "", request, ""),),
                        responses=(
                            Body("response", "stream" if flow[1] else "", "", response, ""),
                        ),
                        result=response,
                    )
                )
    return ContractView(kind="grpc", operations=tuple(views), methods=methods)


def _flow(client: bool, server: bool) -> str:
    if client and server:
        return "bidirectional streaming"
    if client:
        return "client streaming"
    if server:
        return "server streaming"
    return "unary"


def _scalar(number: int) -> str:
    name: str = descriptor_pb2.FieldDescriptorProto.Type.Name(number)
    return name.removeprefix("TYPE_").lower()
