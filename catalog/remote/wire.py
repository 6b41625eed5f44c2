"""Request bodies of the catalogue API, shared by the REST server and the HTTP publisher.

Field names follow Anypoint Exchange's (``groupId``, ``assetId``, ``classifier``,
``packaging``, ``instances``, ``dependencies``) where it has them. Reading is
strict, because the bodies come from the network: an unknown field, a wrong
type or a missing field is refused with :class:`~catalog.errors.InvalidAsset`
naming the field, before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, cast

from catalog.errors import InvalidAsset
from catalog.model import (
    DEFAULT_STALE_AFTER,
    AssetDraft,
    AssetFile,
    AssetType,
    Classifier,
    ExposureSource,
    Instance,
    InstanceExposure,
    InstanceRef,
    InstanceSubset,
    Packaging,
    Provenance,
    PublishResult,
    RunCoverage,
    RunSummary,
)

__all__ = [
    "draft_from_json",
    "draft_json",
    "exposure_json",
    "instance_json",
    "load_json",
    "publication_from_json",
    "publication_json",
    "read_int",
    "read_list",
    "read_object",
    "read_str",
    "read_strs",
    "read_time",
    "result_from_json",
    "result_json",
    "run_from_json",
    "run_json",
    "summary_from_json",
    "summary_json",
]

JsonObject = dict[str, Any]

_DRAFT_FIELDS: Final = {
    "groupId": True,
    "assetId": True,
    "name": True,
    "type": True,
    "description": False,
    "specVersion": False,
    "files": False,
    "operations": False,
    "tags": False,
    "owner": False,
    "lifecycle": False,
    "instance": True,
    "dependencies": False,
    "provenance": True,
}
_FILE_FIELDS: Final = {"classifier": True, "packaging": True, "content": True}
_INSTANCE_FIELDS: Final = {
    "cluster": True,
    "namespace": True,
    "service": True,
    "port": True,
    "endpointUri": True,
    "environment": False,
    # Absent: mesh-internal (and what servers before exposure were sent).
    "exposure": False,
    "subsets": False,
}
_SUBSET_FIELDS: Final = {"name": True, "version": False, "rule": False}
_EXPOSURE_FIELDS: Final = {
    "gateway": True,
    "source": True,
    "host": True,
    "port": False,
    "path": False,
    "pathMatch": False,
    "protocol": False,
    "route": False,
}
_PROVENANCE_FIELDS: Final = {"method": True, "detail": True}
_RUN_FIELDS: Final = {
    "groupId": True,
    "seen": True,
    "startedAt": True,
    "finishedAt": True,
    "complete": False,
    "deprecateAfter": False,
    "clusters": False,
    "namespaces": False,
    "coverage": False,
    "staleAfter": False,
}
_COVERAGE_FIELDS: Final = {
    "answered": False,
    "unsure": False,
    "listed": False,
    "unlisted": False,
    "excluded": False,
}
_SERVICE_FIELDS: Final = {"cluster": True, "namespace": True, "service": True}
_PLACE_FIELDS: Final = {"cluster": True, "namespace": True}
_INSTANCE_REF_FIELDS: Final = {**_SERVICE_FIELDS, "assetId": True, "port": True}
_SUMMARY_FIELDS: Final = {
    **dict.fromkeys(
        ("runId", "groupId", "counted", "seen", "missed", "deprecated", "restored"), True
    ),
    "held": False,  # not sent by servers before stale instances
    "stale": False,
}


def load_json(raw: bytes) -> Any:
    """The JSON value of a request body.

    A body nested past the interpreter's recursion limit is refused like any
    other malformed body: a network peer chooses the nesting, so it must cost
    a 400, never a ``RecursionError`` (a 500) in the server.

    Raises:
        InvalidAsset: Not UTF-8 JSON, or nested too deeply to read.
    """
    try:
        return json.loads(raw)
    except RecursionError as exc:  # the C decoder unwinds cleanly before raising it
        raise InvalidAsset("body", "is nested too deeply to read") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidAsset("body", f"is not valid JSON: {exc}") from exc


def read_object(field: str, value: Any, fields: Mapping[str, bool]) -> JsonObject:
    """Check that ``value`` is an object with only ``fields`` and every required one.

    Args:
        field: Where the object is, for messages (``""`` for the body itself).
        value: Parsed JSON.
        fields: Allowed field names, each mapped to whether it is required.

    Raises:
        InvalidAsset: Not an object, an unknown field, or a missing one.
    """
    where = field or "body"
    if not isinstance(value, dict):
        raise InvalidAsset(where, f"must be a JSON object, not {_kind(value)}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise InvalidAsset(_at(field, unknown[0]), "is not a known field")
    for name, required in fields.items():
        if required and name not in value:
            raise InvalidAsset(_at(field, name), "is required")
    return value


def draft_json(draft: AssetDraft) -> JsonObject:
    """A draft as a publication body; file contents in base64."""
    return {
        "groupId": draft.group_id,
        "assetId": draft.asset_id,
        "name": draft.name,
        "type": draft.type,
        "description": draft.description,
        "specVersion": draft.spec_version_hint,
        "files": [
            {
                "classifier": f.classifier,
                "packaging": f.packaging,
                "content": base64.b64encode(f.content).decode(),
            }
            for f in draft.files
        ],
        "operations": list(draft.operations),
        "tags": list(draft.tags),
        "owner": draft.owner,
        "lifecycle": draft.lifecycle,
        "instance": instance_json(draft.instance, draft=True),
        "dependencies": list(draft.dependencies),
        "provenance": {"method": draft.provenance.method, "detail": draft.provenance.detail},
    }


def draft_from_json(body: Any, *, where: str = "") -> AssetDraft:
    """Read a publication body into a draft.

    Only the shape is checked here; :func:`catalog.publishing.validation.check_draft`
    (run by every publish) checks the values.

    Raises:
        InvalidAsset: The body is not a well-formed publication.
    """
    data = read_object(where, body, _DRAFT_FIELDS)
    files = []
    for index, raw in enumerate(read_list(_at(where, "files"), data.get("files", []))):
        at = _at(where, f"files[{index}]")
        item = read_object(at, raw, _FILE_FIELDS)
        files.append(
            AssetFile(
                classifier=cast(Classifier, read_str(f"{at}.classifier", item["classifier"])),
                packaging=cast(Packaging, read_str(f"{at}.packaging", item["packaging"])),
                content=_base64(f"{at}.content", item["content"]),
            )
        )
    at = _at(where, "instance")
    inst = read_object(at, data["instance"], _INSTANCE_FIELDS)
    prov = read_object(_at(where, "provenance"), data["provenance"], _PROVENANCE_FIELDS)
    return AssetDraft(
        group_id=read_str(_at(where, "groupId"), data["groupId"]),
        asset_id=read_str(_at(where, "assetId"), data["assetId"]),
        name=read_str(_at(where, "name"), data["name"]),
        type=cast(AssetType, read_str(_at(where, "type"), data["type"])),
        description=_opt_str(_at(where, "description"), data.get("description")),
        spec_version_hint=_opt_str(_at(where, "specVersion"), data.get("specVersion")),
        files=tuple(files),
        operations=read_strs(_at(where, "operations"), data.get("operations", [])),
        tags=read_strs(_at(where, "tags"), data.get("tags", [])),
        owner=_opt_str(_at(where, "owner"), data.get("owner")),
        lifecycle=_opt_str(_at(where, "lifecycle"), data.get("lifecycle")),
        instance=Instance(
            cluster=read_str(f"{at}.cluster", inst["cluster"]),
            namespace=read_str(f"{at}.namespace", inst["namespace"]),
            service=read_str(f"{at}.service", inst["service"]),
            port=read_int(f"{at}.port", inst["port"]),
            endpoint_uri=read_str(f"{at}.endpointUri", inst["endpointUri"]),
            environment=_opt_str(f"{at}.environment", inst.get("environment")),
            exposure=_exposure(f"{at}.exposure", inst.get("exposure", [])),
            subsets=_subsets(f"{at}.subsets", inst.get("subsets", [])),
        ),
        dependencies=read_strs(_at(where, "dependencies"), data.get("dependencies", [])),
        provenance=Provenance(
            method=read_str(_at(where, "provenance.method"), prov["method"]),
            detail=read_str(_at(where, "provenance.detail"), prov["detail"]),
        ),
    )


def publication_json(draft: AssetDraft, *, seen_at: datetime) -> JsonObject:
    """A publication body: the draft and when it was seen."""
    return {**draft_json(draft), "seenAt": seen_at.isoformat()}


def publication_from_json(
    body: Any, *, defaults: Mapping[str, str] | None = None
) -> tuple[AssetDraft, datetime | None]:
    """Read a publication body: a draft plus an optional ``seenAt``.

    Args:
        body: Parsed JSON.
        defaults: Fields filled in when the body leaves them out (the route's
            ``groupId`` and ``assetId``); a body that names them differently
            is refused.

    Raises:
        InvalidAsset: The body is not a well-formed publication.
    """
    if not isinstance(body, dict):
        raise InvalidAsset("body", f"must be a JSON object, not {_kind(body)}")
    data = dict(body)
    for name, value in (defaults or {}).items():
        given = data.setdefault(name, value)
        if given != value:
            raise InvalidAsset(name, f"{given!r} does not match the path's {value!r}")
    seen_at = read_time("seenAt", data.pop("seenAt")) if "seenAt" in data else None
    return draft_from_json(data), seen_at


def result_json(result: PublishResult) -> JsonObject:
    """A publish result."""
    return {
        "groupId": result.group_id,
        "assetId": result.asset_id,
        "version": result.version,
        "outcome": result.outcome,
        "reason": result.reason,
    }


def result_from_json(body: Any) -> PublishResult:
    """Read a publish result sent by a server.

    Raises:
        InvalidAsset: The body is not a publish result.
    """
    fields = {"groupId": True, "assetId": True, "version": True, "outcome": True, "reason": True}
    data = read_object("", body, fields)
    outcome = read_str("outcome", data["outcome"])
    if outcome not in ("created", "new-version", "unchanged"):
        raise InvalidAsset("outcome", f"{outcome!r} is not a publish outcome")
    return PublishResult(
        group_id=read_str("groupId", data["groupId"]),
        asset_id=read_str("assetId", data["assetId"]),
        version=read_str("version", data["version"]),
        outcome=cast(Any, outcome),
        reason=read_str("reason", data["reason"]),
    )


def run_json(
    *,
    group_id: str,
    seen: list[str],
    started_at: datetime,
    finished_at: datetime,
    complete: bool,
    deprecate_after: int,
    clusters: list[str] | None,
    namespaces: list[str] | None,
    coverage: RunCoverage | None = None,
    stale_after: int = DEFAULT_STALE_AFTER,
) -> JsonObject:
    """The body that records a run (``POST /meshatlas/api/v1/runs``).

    ``coverage`` and ``staleAfter`` are sent only when given (a run without
    them reads as an older crawler's, which every server takes).
    """
    body: JsonObject = {
        "groupId": group_id,
        "seen": seen,
        "startedAt": started_at.isoformat(),
        "finishedAt": finished_at.isoformat(),
        "complete": complete,
        "deprecateAfter": deprecate_after,
        "clusters": clusters,
        "namespaces": namespaces,
    }
    if coverage is not None:
        body["coverage"] = {
            "answered": [_service_json(ref) for ref in sorted(coverage.answered)],
            "unsure": [_service_json(ref) for ref in sorted(coverage.unsure)],
            "listed": coverage.listed,
            "unlisted": [{"cluster": c, "namespace": n} for c, n in sorted(coverage.unlisted)],
            "excluded": sorted(coverage.excluded),
        }
    if coverage is not None or stale_after != DEFAULT_STALE_AFTER:
        body["staleAfter"] = stale_after
    return body


def _service_json(ref: tuple[str, str, str]) -> JsonObject:
    return {"cluster": ref[0], "namespace": ref[1], "service": ref[2]}


def _coverage_from_json(body: Any) -> RunCoverage:
    data = read_object("coverage", body, _COVERAGE_FIELDS)
    services: dict[str, frozenset[tuple[str, str, str]]] = {}
    for part in ("answered", "unsure"):
        found = []
        for index, raw in enumerate(read_list(f"coverage.{part}", data.get(part, []))):
            at = f"coverage.{part}[{index}]"
            item = read_object(at, raw, _SERVICE_FIELDS)
            found.append(
                (
                    read_str(f"{at}.cluster", item["cluster"]),
                    read_str(f"{at}.namespace", item["namespace"]),
                    read_str(f"{at}.service", item["service"]),
                )
            )
        services[part] = frozenset(found)
    unlisted = []
    for index, raw in enumerate(read_list("coverage.unlisted", data.get("unlisted", []))):
        at = f"coverage.unlisted[{index}]"
        item = read_object(at, raw, _PLACE_FIELDS)
        cluster = read_str(f"{at}.cluster", item["cluster"])
        unlisted.append((cluster, read_str(f"{at}.namespace", item["namespace"])))
    listed = data.get("listed", True)
    if not isinstance(listed, bool):
        raise InvalidAsset("coverage.listed", f"must be true or false, not {_kind(listed)}")
    return RunCoverage(
        answered=services["answered"],
        unsure=services["unsure"],
        listed=listed,
        unlisted=frozenset(unlisted),
        excluded=frozenset(read_strs("coverage.excluded", data.get("excluded", []))),
    )


def run_from_json(body: Any) -> dict[str, Any]:
    """Read a run body into keyword arguments for :meth:`CatalogStore.record_run`.

    Raises:
        InvalidAsset: The body is not a well-formed run.
    """
    data = read_object("", body, _RUN_FIELDS)
    arguments: dict[str, Any] = {
        "group_id": read_str("groupId", data["groupId"]),
        "seen": list(read_strs("seen", data["seen"])),
        "started_at": read_time("startedAt", data["startedAt"]),
        "finished_at": read_time("finishedAt", data["finishedAt"]),
    }
    if "complete" in data:
        if not isinstance(data["complete"], bool):
            raise InvalidAsset("complete", f"must be true or false, not {_kind(data['complete'])}")
        arguments["complete"] = data["complete"]
    if "deprecateAfter" in data:
        arguments["deprecate_after"] = read_int("deprecateAfter", data["deprecateAfter"])
    for key, name in (("clusters", "clusters"), ("namespaces", "namespaces")):
        if data.get(key) is not None:
            arguments[name] = list(read_strs(key, data[key]))
    if data.get("coverage") is not None:
        arguments["coverage"] = _coverage_from_json(data["coverage"])
    if "staleAfter" in data:
        arguments["stale_after"] = read_int("staleAfter", data["staleAfter"])
    return arguments


def summary_json(summary: RunSummary) -> JsonObject:
    """A run summary."""
    return {
        "runId": summary.run_id,
        "groupId": summary.group_id,
        "counted": summary.counted,
        "seen": list(summary.seen),
        "missed": list(summary.missed),
        "deprecated": list(summary.deprecated),
        "restored": list(summary.restored),
        "held": list(summary.held),
        "stale": [
            {
                "assetId": ref.asset_id,
                "cluster": ref.cluster,
                "namespace": ref.namespace,
                "service": ref.service,
                "port": ref.port,
            }
            for ref in summary.stale
        ],
    }


def summary_from_json(body: Any) -> RunSummary:
    """Read a run summary sent by a server.

    Raises:
        InvalidAsset: The body is not a run summary.
    """
    data = read_object("", body, _SUMMARY_FIELDS)
    stale = []
    for index, raw in enumerate(read_list("stale", data.get("stale", []))):
        at = f"stale[{index}]"
        item = read_object(at, raw, _INSTANCE_REF_FIELDS)
        stale.append(
            InstanceRef(
                asset_id=read_str(f"{at}.assetId", item["assetId"]),
                cluster=read_str(f"{at}.cluster", item["cluster"]),
                namespace=read_str(f"{at}.namespace", item["namespace"]),
                service=read_str(f"{at}.service", item["service"]),
                port=read_int(f"{at}.port", item["port"]),
            )
        )
    return RunSummary(
        run_id=read_int("runId", data["runId"]),
        group_id=read_str("groupId", data["groupId"]),
        counted=bool(data["counted"]),
        seen=read_strs("seen", data["seen"]),
        missed=read_strs("missed", data["missed"]),
        deprecated=read_strs("deprecated", data["deprecated"]),
        restored=read_strs("restored", data["restored"]),
        held=read_strs("held", data.get("held", [])),
        stale=tuple(stale),
    )


def instance_json(
    instance: Instance, *, version: str | None = None, draft: bool = False
) -> JsonObject:
    """An instance; with ``version`` when listed across versions.

    ``lastSeen`` and ``stale`` are there when the catalogue's read carried them
    (never in a draft's body). ``exposure`` is always there in a read (``[]``:
    mesh-internal); a draft's body carries it only when there is some, so a
    mesh-internal draft still reads on servers older than exposure. The
    same goes for ``subsets``.
    """
    out: JsonObject = {
        "cluster": instance.cluster,
        "namespace": instance.namespace,
        "service": instance.service,
        "port": instance.port,
        "endpointUri": instance.endpoint_uri,
        "environment": instance.environment,
    }
    if instance.last_seen is not None:
        out["lastSeen"] = instance.last_seen.isoformat()
    if instance.stale is not None:
        out["stale"] = instance.stale
    if instance.exposure or not draft:
        out["exposure"] = [exposure_json(place) for place in instance.exposure]
    if instance.subsets or not draft:
        out["subsets"] = [
            {"name": s.name, "version": s.version, "rule": s.rule} for s in instance.subsets
        ]
    if version is not None:
        out["version"] = version
    return out


def exposure_json(place: InstanceExposure) -> JsonObject:
    """One place an instance is reachable from outside the mesh."""
    return {
        "gateway": place.gateway,
        "source": place.source,
        "host": place.host,
        "port": place.port,
        "path": place.path,
        "pathMatch": place.path_match,
        "protocol": place.protocol,
        "route": place.route,
    }


def _subsets(field: str, value: Any) -> tuple[InstanceSubset, ...]:
    found = []
    for index, raw in enumerate(read_list(field, value)):
        at = f"{field}[{index}]"
        item = read_object(at, raw, _SUBSET_FIELDS)
        found.append(
            InstanceSubset(
                name=read_str(f"{at}.name", item["name"]),
                version=_opt_str(f"{at}.version", item.get("version")),
                rule=_opt_str(f"{at}.rule", item.get("rule")),
            )
        )
    return tuple(found)


def _exposure(field: str, value: Any) -> tuple[InstanceExposure, ...]:
    places = []
    for index, raw in enumerate(read_list(field, value)):
        at = f"{field}[{index}]"
        item = read_object(at, raw, _EXPOSURE_FIELDS)
        port = item.get("port")
        places.append(
            InstanceExposure(
                gateway=read_str(f"{at}.gateway", item["gateway"]),
                source=cast(ExposureSource, read_str(f"{at}.source", item["source"])),
                host=read_str(f"{at}.host", item["host"]),
                port=None if port is None else read_int(f"{at}.port", port),
                path=_opt_str(f"{at}.path", item.get("path")),
                path_match=_opt_str(f"{at}.pathMatch", item.get("pathMatch")),
                protocol=_opt_str(f"{at}.protocol", item.get("protocol")),
                route=_opt_str(f"{at}.route", item.get("route")),
            )
        )
    return tuple(places)


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "an array" if isinstance(value, list) else "an object"
    )


def read_str(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidAsset(field, f"must be a string, not {_kind(value)}")
    return value


def _opt_str(field: str, value: Any) -> str | None:
    return None if value is None else read_str(field, value)


def read_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAsset(field, f"must be an integer, not {_kind(value)}")
    return value


def read_list(field: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidAsset(field, f"must be an array, not {_kind(value)}")
    return value


def read_strs(field: str, value: Any) -> tuple[str, ...]:
    return tuple(read_str(f"{field}[{i}]", item) for i, item in enumerate(read_list(field, value)))


def _base64(field: str, value: Any) -> bytes:
    try:
        return base64.b64decode(read_str(field, value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidAsset(field, "must be base64") from exc


_EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)


def read_time(field: str, value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(read_str(field, value))
    except ValueError as exc:
        raise InvalidAsset(field, f"{value!r} is not an ISO 8601 timestamp") from exc
    if parsed.utcoffset() is None:
        raise InvalidAsset(field, f"{value!r} needs a UTC offset")
    if not _EARLIEST <= parsed <= _LATEST:
        # The catalogue computes with times (retention windows): the far ends of
        # datetime's range would overflow there, and no crawl ran then.
        raise InvalidAsset(field, f"{value!r} is outside 1970-01-01 to 9000-01-01")
    return parsed
