"""AsyncAPI documents: an event-driven API's channels, operations and brokers.

An AsyncAPI document is recognised by its content, like OpenAPI (a top-level
``asyncapi`` key; :func:`discovery.specs.parse_spec` hands the loaded tree
here), so it arrives bounded and is read in a worker process like every
description. It is validated against the AsyncAPI Initiative's own JSON
Schemas, shipped in ``schemas/asyncapi/`` with their licence: 2.6.0 for every
2.x document (2.x minor releases only added to the schema, so an earlier 2.x
document is judged by 2.6.0's rules with its version key read as 2.6.0) and
3.0.0 for 3.0.x. Any other version is kept, marked invalid, with the reason.

What the catalogue keeps of it:

* operations: each channel (``channel orders.created``) and each operation,
  2.x ``publish``/``subscribe`` on a channel, 3.0 ``send``/``receive``
  named by its id, with its channel's address as the path;
* servers: the brokers it talks to, as ``protocol://host`` (3.0 ``host`` and
  ``pathname``, 2.x ``url``);
* title, ``info.version`` and description, tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed
from typing import TYPE_CHECKING, Any, Final

import jsonschema
from referencing import Registry

from discovery.errors import NotASpecError
from discovery.model import Operation, Packaging, SpecDocument

if TYPE_CHECKING:
    from discovery.specs import SpecLimits

__all__ = ["SCHEMA_VERSIONS", "read_document", "schema_for"]

#: The schema files shipped, by the AsyncAPI major.minor they judge.
SCHEMA_VERSIONS: Final = {"2": "2.6.0", "3.0": "3.0.0"}
_ACTIONS_2: Final = ("publish", "subscribe")
_ACTIONS_3: Final = ("send", "receive")
_MAX_MESSAGE: Final = 200
_NOT_A_REFERENCE: Final = "'$ref' is a required property"


def _versions() -> str:
    try:
        return f"jsonschema {_installed('jsonschema')}"
    except PackageNotFoundError:  # a frozen build without metadata
        return "jsonschema ?"


#: Part of every check key: another validator release may judge differently.
_VALIDATOR_VERSION: Final = _versions()


def schema_for(version: str) -> str | None:
    """The shipped schema (its file's version) that judges an ``asyncapi: version`` document."""
    parts = version.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    if parts[0] == "2":
        return SCHEMA_VERSIONS["2"]
    return SCHEMA_VERSIONS.get(f"{parts[0]}.{parts[1]}")


@cache
def _validator(schema_version: str) -> jsonschema.Draft7Validator:
    """One validator per shipped schema and process; nothing is ever fetched.

    The files are the schemas "without $id": every reference is local
    (``#/definitions/...``), and the empty registry refuses any other.
    """
    folder = resources.files("discovery.contracts") / "schemas" / "asyncapi"
    schema = json.loads((folder / f"{schema_version}.json").read_bytes())
    return jsonschema.Draft7Validator(schema, registry=Registry())


def read_document(
    tree: Mapping[str, Any],
    content: bytes,
    *,
    url: str,
    packaging: Packaging,
    limits: SpecLimits,
    known: Mapping[str, Sequence[str]],
    digest: str,
) -> SpecDocument:
    """Read and validate an AsyncAPI document already loaded (bounded) as ``tree``.

    Args:
        tree: The document as plain JSON values, with its ``asyncapi`` key.
        content: The bytes as received; kept as they are.
        url: Where it came from.
        packaging: ``json`` or ``yaml``.
        limits: How many messages are kept.
        known: Validation outcomes by check key from an earlier run.
        digest: The content's SHA-256 (hex), part of the check key.

    Raises:
        NotASpecError: the ``asyncapi`` key holds no version.
    """
    raw = tree.get("asyncapi")
    if not isinstance(raw, str) or not raw.strip():
        raise NotASpecError(f"'asyncapi' holds {_short(repr(raw))}, not a version", url=url)
    version = raw.strip()
    schema_version = schema_for(version)
    check_key: str | None = None
    if schema_version is None:
        shipped = ", ".join(f"{major}.x" for major in SCHEMA_VERSIONS)
        errors = [f"unsupported AsyncAPI version {version!r} (schemas shipped: {shipped})"]
    else:
        check_key = "/".join(
            (digest, f"asyncapi-{schema_version}", _VALIDATOR_VERSION, str(limits.max_errors))
        )
        remembered = known.get(check_key)
        errors = (
            list(remembered)
            if remembered is not None
            else _validate(tree, schema_version, limits=limits)
        )
    info = _dict(tree.get("info"))
    api_version = info.get("version")
    three = version.startswith("3.")
    return SpecDocument(
        format="asyncapi",
        spec_version=version,
        url=url,
        packaging=packaging,
        title=_text(info.get("title")),
        api_version=str(api_version) if isinstance(api_version, str | int | float) else None,
        description=_text(info.get("description")),
        operations=tuple(_operations_3(tree) if three else _operations_2(tree)),
        valid=not errors,
        errors=tuple(errors),
        content=content,
        tags=_tags(info.get("tags") if three else tree.get("tags")),
        check_key=check_key,
        servers=tuple(dict.fromkeys(_servers(tree, three=three))),
    )


def _validate(tree: Mapping[str, Any], schema_version: str, *, limits: SpecLimits) -> list[str]:
    errors = [
        f"$ref {ref!r} points outside the document and is not followed"
        for ref in _external_refs(tree)
    ]
    judged = dict(tree)
    if schema_version.startswith("2.") and tree.get("asyncapi") != schema_version:
        judged["asyncapi"] = schema_version  # an earlier 2.x, by 2.6.0's rules
    try:
        found = _validator(schema_version).iter_errors(judged)
        for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
            if len(errors) >= limits.max_errors:
                break
            errors.append(_describe(error))
    except RecursionError:
        errors.append("validation stopped: the document nests too deeply")
    return list(dict.fromkeys(errors))[: limits.max_errors]


def _describe(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message
    # "<the whole value> is not valid under any of the given schemas" says
    # little: the closest alternative's complaint says what is wrong. A
    # Reference object is always one alternative; it is not what was meant.
    context = [e for e in error.context or () if e.message != _NOT_A_REFERENCE]
    best = jsonschema.exceptions.best_match(context) if context else None
    if best is not None:
        inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.relative_path)
        message = (
            f"matches none of the allowed shapes ({inner.lstrip('.') or 'here'}: {best.message})"
        )
    return _short(f"{where.lstrip('.')}: {message}" if where else message)


def _external_refs(tree: Mapping[str, Any]) -> list[str]:
    found: dict[str, None] = {}
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found[ref] = None
            # Examples are data: a "$ref" key inside them is no reference.
            stack.extend(
                v
                for k, v in node.items()
                if k not in ("examples", "example") and not k.startswith("x-")
            )
    return sorted(found)


def _operations_2(tree: Mapping[str, Any]) -> Iterator[Operation]:
    for name, item in sorted(_dict(tree.get("channels")).items()):
        channel = _dict(item)
        yield Operation(
            name=f"channel {name}",
            method="channel",
            path=name,
            summary=_first_line(channel.get("description")),
        )
        for action in _ACTIONS_2:
            if action not in channel:
                continue
            operation = _dict(channel[action])
            yield Operation(
                name=_text(operation.get("operationId")) or f"{action} {name}",
                method=action,
                path=name,
                summary=_first_line(operation.get("summary")),
            )


def _operations_3(tree: Mapping[str, Any]) -> Iterator[Operation]:
    channels = _dict(tree.get("channels"))
    for key, item in sorted(channels.items()):
        channel = _dict(item)
        address = channel_address(key, channel)
        yield Operation(
            name=f"channel {address}",
            method="channel",
            path=address,
            summary=_first_line(channel.get("summary") or channel.get("description")),
        )
    for key, item in sorted(_dict(tree.get("operations")).items()):
        operation = _dict(item)
        action = operation.get("action")
        ref = _dict(operation.get("channel")).get("$ref")
        target = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        on = channel_address(target, _dict(channels.get(target))) if target else None
        yield Operation(
            name=key,
            method=action if action in _ACTIONS_3 else "operation",
            path=on,
            summary=_first_line(operation.get("summary") or operation.get("description")),
        )


def channel_address(key: str, channel: Mapping[str, Any]) -> str:
    """A 3.0 channel's address; its key when the address is unknown (``null``) or absent."""
    address = channel.get("address")
    return address if isinstance(address, str) and address.strip() else key


def _servers(tree: Mapping[str, Any], *, three: bool) -> Iterator[str]:
    for _, item in sorted(_dict(tree.get("servers")).items()):
        server = _dict(item)
        protocol = _text(server.get("protocol"))
        if three:
            host = _text(server.get("host"))
            where = (host or "") + (_text(server.get("pathname")) or "")
        else:
            where = _text(server.get("url")) or ""
        if not where:
            continue
        if "://" in where or protocol is None:
            yield _short(where)
        else:
            yield _short(f"{protocol}://{where}")


def _tags(value: Any) -> tuple[str, ...]:
    names = [
        name
        for tag in (value if isinstance(value, list) else [])
        if (name := _text(_dict(tag).get("name")))
    ]
    return tuple(dict.fromkeys(names))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _first_line(value: Any) -> str | None:
    text = _text(value)
    return _short(text.strip().splitlines()[0]) if text else None


def _short(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
