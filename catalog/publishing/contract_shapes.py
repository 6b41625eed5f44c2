"""What a stored WSDL or AsyncAPI file promises its clients, and how two of them differ.

:mod:`catalog.publishing.changes` numbers versions; this module reads the two contract
kinds whose rules are plain set comparisons, from the files exactly as
catalogued (so a version published before these rules compares the same as
a new one):

- **WSDL 1.1**: every ``portType`` operation, and the parts (name and
  ``element`` or ``type``) of the messages it takes and gives. An operation
  removed, or a part of its input or output added, removed or retyped →
  major (a client built from the old WSDL sends or expects other XML);
  an operation added → minor.
- **AsyncAPI 2.x / 3.0**: every channel (by address), the messages it
  carries, and the operations on it (``publish``/``subscribe`` in 2.x,
  ``send``/``receive`` in 3.0). A channel, message or operation removed →
  major (a consumer or producer loses what it uses); any of them added →
  minor.

Each finding is a short sentence; :func:`catalog.publishing.changes.compare` turns them
into a bump and a reason. A file that cannot be read gives ``None``, and the
caller falls back to comparing operation names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from lxml import etree

__all__ = ["Findings", "asyncapi_changes", "wsdl_changes"]

_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
#: Files larger than this are compared by their operations only.
_MAX_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Findings:
    """What broke and what was added between two files, in words."""

    broken: list[str]
    added: list[str]


# --- WSDL -----------------------------------------------------------------------

#: An operation's parts: direction (``input``/``output``) → part name → element or type.
_Parts = dict[str, dict[str, str]]


def wsdl_changes(old: bytes, new: bytes) -> Findings | None:
    """Compare two WSDL 1.1 files' operations and message parts; None if one is unreadable."""
    before, after = _wsdl_operations(old), _wsdl_operations(new)
    if before is None or after is None:
        return None
    broken: list[str] = []
    for name, parts in before.items():
        now = after.get(name)
        if now is None:
            broken.append(f"operation {name} removed")
            continue
        for direction in ("input", "output"):
            was, became = parts.get(direction, {}), now.get(direction, {})
            for part in sorted(was.keys() - became.keys()):
                broken.append(f"operation {name} {direction} part {part} removed")
            for part in sorted(became.keys() - was.keys()):
                broken.append(f"operation {name} {direction} part {part} added")
            for part in sorted(was.keys() & became.keys()):
                if was[part] != became[part]:
                    broken.append(
                        f"operation {name} {direction} part {part} changed from"
                        f" {was[part]} to {became[part]}"
                    )
    added = [f"operation {name} added" for name in sorted(after.keys() - before.keys())]
    return Findings(broken, added)


def _wsdl_operations(content: bytes) -> dict[str, _Parts] | None:
    """``PortType.operation`` → its input and output parts, read without resolving anything."""
    root = _xml(content)
    if root is None or root.tag != f"{{{_WSDL}}}definitions":
        return None
    messages: dict[str, dict[str, str]] = {}
    for message in root.iterfind(f"{{{_WSDL}}}message"):
        messages[str(message.get("name", ""))] = {
            str(part.get("name", "")): _local(part.get("element") or part.get("type") or "")
            for part in message.iterfind(f"{{{_WSDL}}}part")
        }
    found: dict[str, _Parts] = {}
    for port_type in root.iterfind(f"{{{_WSDL}}}portType"):
        for operation in port_type.iterfind(f"{{{_WSDL}}}operation"):
            name = f"{port_type.get('name', '')}.{operation.get('name', '')}"
            parts: _Parts = {}
            for direction in ("input", "output"):
                used = operation.find(f"{{{_WSDL}}}{direction}")
                if used is not None:
                    parts[direction] = messages.get(_local(used.get("message") or ""), {})
            found[name] = parts
    return found


def _xml(content: bytes) -> Any:
    if len(content) > _MAX_BYTES:
        return None
    # Stored files came through discovery's bounded reader; read them as
    # warily anyway: no entities, no DTD, no network.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        tree = etree.fromstring(content, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if tree.getroottree().docinfo.doctype:
        return None
    return tree


def _local(qualified: str) -> str:
    return qualified.rsplit(":", 1)[-1]


# --- AsyncAPI -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Events:
    """Channels by address with their messages, and operations as ``action address``."""

    channels: Mapping[str, frozenset[str]]
    operations: frozenset[str]


def asyncapi_changes(old: tuple[str, bytes], new: tuple[str, bytes]) -> Findings | None:
    """Compare two AsyncAPI files, each ``(packaging, content)``; None if one is unreadable."""
    before, after = _events(*old), _events(*new)
    if before is None or after is None:
        return None
    broken: list[str] = []
    added: list[str] = []
    for address, messages in sorted(before.channels.items()):
        now = after.channels.get(address)
        if now is None:
            broken.append(f"channel {address} removed")
            continue
        broken += [f"message {m} removed from channel {address}" for m in sorted(messages - now)]
        added += [f"message {m} added to channel {address}" for m in sorted(now - messages)]
    added += [
        f"channel {address} added" for address in sorted(after.channels.keys() - before.channels)
    ]
    broken += [f"operation {op} removed" for op in sorted(before.operations - after.operations)]
    added += [f"operation {op} added" for op in sorted(after.operations - before.operations)]
    return Findings(broken, added)


def _events(packaging: str, content: bytes) -> _Events | None:
    if len(content) > _MAX_BYTES:
        return None
    try:
        document = json.loads(content) if packaging == "json" else yaml.safe_load(content)
    except (ValueError, yaml.YAMLError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("asyncapi"), str):
        return None
    if document["asyncapi"].startswith("3."):
        return _events_3(document)
    return _events_2(document)


def _events_2(document: dict[str, Any]) -> _Events:
    channels: dict[str, frozenset[str]] = {}
    operations: set[str] = set()
    for address, item in _dict(document.get("channels")).items():
        messages: set[str] = set()
        for action in ("publish", "subscribe"):
            operation = _dict(_dict(item).get(action))
            if not operation and action not in _dict(item):
                continue
            operations.add(f"{action} {address}")
            message = _dict(operation.get("message"))
            choices = message.get("oneOf")
            for one in choices if isinstance(choices, list) else [message]:
                if name := _message_name(_dict(one)):
                    messages.add(name)
        channels[str(address)] = frozenset(messages)
    return _Events(channels, frozenset(operations))


def _events_3(document: dict[str, Any]) -> _Events:
    raw = _dict(document.get("channels"))
    addresses = {key: _address(key, _dict(item)) for key, item in raw.items()}
    channels = {
        addresses[key]: frozenset(str(name) for name in _dict(_dict(item).get("messages")))
        for key, item in raw.items()
    }
    operations: set[str] = set()
    for item in _dict(document.get("operations")).values():
        operation = _dict(item)
        ref = _dict(operation.get("channel")).get("$ref")
        target = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        operations.add(f"{operation.get('action')} {addresses.get(target, target)}")
    return _Events(channels, frozenset(operations))


def _address(key: str, channel: dict[str, Any]) -> str:
    address = channel.get("address")
    return address if isinstance(address, str) and address.strip() else str(key)


def _message_name(message: dict[str, Any]) -> str | None:
    ref = message.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    for key in ("messageId", "name", "title"):
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
