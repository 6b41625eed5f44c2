"""Bodies of the routes only crawlers use: publication batches and probe memory.

A crawl publishing to a catalogue server sends its drafts in batches
(``POST /meshatlas/api/v1/publication-batches``) instead of one request per
API, and reads and keeps what it learnt about probing
(``/meshatlas/api/v1/probe-memory``), so a crawl through a server is as warm
as one writing to the database itself. Reading is as strict as
:mod:`catalog.remote.wire`: a malformed envelope is refused whole, naming the field;
a malformed publication inside a well-formed batch is refused alone, and the
others are published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from catalog.errors import CatalogError, InvalidAsset, RemoteError
from catalog.model import AssetDraft, PublishResult, QuietPort, Sighting
from catalog.remote import wire
from catalog.storage.probes import PortKey, ServiceRef

__all__ = [
    "MAX_BATCH",
    "Lessons",
    "ProbeMemory",
    "Refusal",
    "batch_from_json",
    "batch_json",
    "batch_results_from_json",
    "batch_results_json",
    "lessons_from_json",
    "lessons_json",
    "memory_from_json",
    "memory_json",
]

#: Most publications one batch may hold.
MAX_BATCH: Final = 500

JsonObject = dict[str, Any]

_BATCH_FIELDS: Final = {"seenAt": True, "publications": True}
_ENTRY_FIELDS: Final = {"status": True, "result": False, "error": False, "message": False}
_ENTRY_FIELDS_ALL: Final = {**_ENTRY_FIELDS, "field": False}
_MEMORY_FIELDS: Final = {"sightings": True, "quietPorts": True, "specChecks": True}
_SIGHTING_FIELDS: Final = {
    "cluster": True,
    "namespace": True,
    "service": True,
    "port": True,
    "assetType": True,
    "method": True,
    "detail": True,
}
_QUIET_FIELDS: Final = {
    "cluster": True,
    "namespace": True,
    "service": True,
    "port": True,
    "since": True,
    "shortChecks": True,
}
_LESSONS_FIELDS: Final = {"at": True, "probed": True, "silent": True, "short": True, "checks": True}
_SERVICE_FIELDS: Final = {"cluster": True, "namespace": True, "service": True}
_PORT_FIELDS: Final = {**_SERVICE_FIELDS, "port": True}


# -- publication batches ----------------------------------------------------------


def batch_json(drafts: Sequence[AssetDraft], *, seen_at: datetime) -> JsonObject:
    """A batch body: the drafts, all seen at ``seen_at``."""
    return {"seenAt": seen_at.isoformat(), "publications": [wire.draft_json(d) for d in drafts]}


def batch_from_json(body: Any) -> tuple[datetime, list[AssetDraft | InvalidAsset]]:
    """Read a batch body: when it was seen, and each publication or why it is refused.

    Raises:
        InvalidAsset: The envelope is malformed, or holds more than
            :data:`MAX_BATCH` publications; nothing is published then.
    """
    data = wire.read_object("", body, _BATCH_FIELDS)
    seen_at = wire.read_time("seenAt", data["seenAt"])
    items = wire.read_list("publications", data["publications"])
    if len(items) > MAX_BATCH:
        raise InvalidAsset(
            "publications", f"holds {len(items)} publications; at most {MAX_BATCH} per batch"
        )
    entries: list[AssetDraft | InvalidAsset] = []
    for index, item in enumerate(items):
        try:
            entries.append(wire.draft_from_json(item, where=f"publications[{index}]"))
        except InvalidAsset as exc:
            entries.append(exc)
    return seen_at, entries


#: Why a publication was refused: (status, message, field).
Refusal = tuple[int, str, str | None]


def batch_results_json(entries: Sequence[PublishResult | Refusal]) -> JsonObject:
    """The answer to a batch: per publication, its result or its refusal.

    A refusal is ``(status, message, field)`` with the status the same
    publication would have got alone.
    """
    out: list[JsonObject] = []
    for entry in entries:
        if isinstance(entry, PublishResult):
            status = 200 if entry.outcome == "unchanged" else 201
            out.append({"status": status, "result": wire.result_json(entry)})
        else:
            status, message, field = entry
            refused: JsonObject = {"status": status, "message": message}
            if field is not None:
                refused["field"] = field
            out.append(refused)
    return {"results": out}


def batch_results_from_json(
    body: Any, *, expected: int, url: str
) -> list[PublishResult | CatalogError]:
    """Read a server's answer to a batch of ``expected`` publications.

    Raises:
        RemoteError: The answer is not one entry per publication.
    """
    try:
        data = wire.read_object("", body, {"results": True})
        items = data["results"]
        if not isinstance(items, list) or len(items) != expected:
            raise InvalidAsset("results", f"must hold {expected} entries")
        out: list[PublishResult | CatalogError] = []
        for index, item in enumerate(items):
            entry = wire.read_object(f"results[{index}]", item, _ENTRY_FIELDS_ALL)
            status = wire.read_int(f"results[{index}].status", entry["status"])
            if status in (200, 201) and "result" in entry:
                out.append(wire.result_from_json(entry["result"]))
                continue
            message = str(entry.get("message") or f"HTTP {status}")
            if status == 400:
                out.append(InvalidAsset(str(entry.get("field") or "body"), message))
            else:
                out.append(
                    RemoteError(
                        f"catalogue server answered {status} for this publication: {message}",
                        url=url,
                        status=status,
                    )
                )
        return out
    except InvalidAsset as exc:
        raise RemoteError(
            f"catalogue server {url} gave an unreadable batch answer: {exc}", url=url, status=None
        ) from exc


# -- probe memory -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeMemory:
    """What a catalogue remembers of earlier crawls (see :mod:`catalog.storage.probes`)."""

    sightings: tuple[Sighting, ...] = ()
    quiet_ports: tuple[QuietPort, ...] = ()
    spec_checks: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Lessons:
    """One crawl's probing lessons, as :meth:`CatalogStore.record_probes` takes them."""

    probed: tuple[ServiceRef, ...]
    silent: tuple[PortKey, ...]
    short: tuple[PortKey, ...]
    checks: Mapping[str, tuple[str, ...]]
    at: datetime


def memory_json(
    sightings: Sequence[Sighting],
    quiet: Sequence[QuietPort],
    checks: Mapping[str, Sequence[str]],
) -> JsonObject:
    """The answer to ``GET probe-memory``."""
    return {
        "sightings": [
            {
                "cluster": s.cluster,
                "namespace": s.namespace,
                "service": s.service,
                "port": s.port,
                "assetType": s.asset_type,
                "method": s.method,
                "detail": s.detail,
            }
            for s in sightings
        ],
        "quietPorts": [
            {
                "cluster": q.cluster,
                "namespace": q.namespace,
                "service": q.service,
                "port": q.port,
                "since": q.since.isoformat(),
                "shortChecks": q.short_checks,
            }
            for q in quiet
        ],
        "specChecks": {key: list(errors) for key, errors in checks.items()},
    }


def memory_from_json(body: Any) -> ProbeMemory:
    """Read a server's answer to ``GET probe-memory``.

    Raises:
        InvalidAsset: The body is not a probe memory.
    """
    data = wire.read_object("", body, _MEMORY_FIELDS)
    sightings = []
    for index, raw in enumerate(wire.read_list("sightings", data["sightings"])):
        at = f"sightings[{index}]"
        item = wire.read_object(at, raw, _SIGHTING_FIELDS)
        sightings.append(
            Sighting(
                *_port_key(at, item),
                asset_type=wire.read_str(f"{at}.assetType", item["assetType"]),
                method=wire.read_str(f"{at}.method", item["method"]),
                detail=wire.read_str(f"{at}.detail", item["detail"]),
            )
        )
    quiet = []
    for index, raw in enumerate(wire.read_list("quietPorts", data["quietPorts"])):
        at = f"quietPorts[{index}]"
        item = wire.read_object(at, raw, _QUIET_FIELDS)
        quiet.append(
            QuietPort(
                *_port_key(at, item),
                since=wire.read_time(f"{at}.since", item["since"]),
                short_checks=wire.read_int(f"{at}.shortChecks", item["shortChecks"]),
            )
        )
    return ProbeMemory(
        sightings=tuple(sightings),
        quiet_ports=tuple(quiet),
        spec_checks=_checks("specChecks", data["specChecks"]),
    )


def lessons_json(
    *,
    probed: Collection[ServiceRef],
    silent: Collection[PortKey],
    short: Collection[PortKey],
    checks: Mapping[str, Sequence[str]],
    at: datetime,
) -> JsonObject:
    """The body of ``POST probe-memory``."""
    return {
        "at": at.isoformat(),
        "probed": [{"cluster": c, "namespace": n, "service": s} for c, n, s in sorted(probed)],
        "silent": [_port_json(key) for key in sorted(silent)],
        "short": [_port_json(key) for key in sorted(short)],
        "checks": {key: list(errors) for key, errors in checks.items()},
    }


def lessons_from_json(body: Any) -> Lessons:
    """Read a ``POST probe-memory`` body.

    Raises:
        InvalidAsset: The body is not a crawl's lessons.
    """
    data = wire.read_object("", body, _LESSONS_FIELDS)
    probed = []
    for index, raw in enumerate(wire.read_list("probed", data["probed"])):
        at = f"probed[{index}]"
        item = wire.read_object(at, raw, _SERVICE_FIELDS)
        probed.append(
            (
                wire.read_str(f"{at}.cluster", item["cluster"]),
                wire.read_str(f"{at}.namespace", item["namespace"]),
                wire.read_str(f"{at}.service", item["service"]),
            )
        )
    return Lessons(
        probed=tuple(probed),
        silent=_ports("silent", data["silent"]),
        short=_ports("short", data["short"]),
        checks=_checks("checks", data["checks"]),
        at=wire.read_time("at", data["at"]),
    )


def _port_json(key: PortKey) -> JsonObject:
    cluster, namespace, service, port = key
    return {"cluster": cluster, "namespace": namespace, "service": service, "port": port}


def _ports(field: str, value: Any) -> tuple[PortKey, ...]:
    return tuple(
        _port_key(f"{field}[{index}]", wire.read_object(f"{field}[{index}]", raw, _PORT_FIELDS))
        for index, raw in enumerate(wire.read_list(field, value))
    )


def _port_key(at: str, item: JsonObject) -> PortKey:
    """The (cluster, namespace, service, port) an object names."""
    return (
        wire.read_str(f"{at}.cluster", item["cluster"]),
        wire.read_str(f"{at}.namespace", item["namespace"]),
        wire.read_str(f"{at}.service", item["service"]),
        wire.read_int(f"{at}.port", item["port"]),
    )


def _checks(field: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise InvalidAsset(field, "must be a JSON object of check key to error messages")
    return {
        wire.read_str(field, key): wire.read_strs(f"{field}.{key}", errors)
        for key, errors in value.items()
    }
