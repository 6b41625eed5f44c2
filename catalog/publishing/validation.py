"""Checks on what publishers and callers hand to the catalogue.

Drafts are built by other code from cluster annotations, so nothing about them
is trusted: each check raises :class:`~catalog.errors.InvalidAsset` naming the
field, before the store opens a transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, cast

from catalog.errors import InvalidAsset
from catalog.model import (
    ASSET_TYPES,
    CLASSIFIERS,
    EXPOSURE_SOURCES,
    LIFECYCLE_MOVES,
    LIFECYCLES,
    PACKAGINGS,
    AssetDraft,
    AssetFile,
    AssetType,
    Instance,
    InstanceExposure,
    InstanceSubset,
    Lifecycle,
)
from catalog.publishing import versioning

__all__ = [
    "check_asset_type",
    "check_draft",
    "check_id",
    "check_lifecycle",
    "check_seen_at",
    "check_version",
    "lifecycle_move_allowed",
    "parse_dependency",
]

# Exchange's alphabet for group and asset ids. Ids name files in exports and
# segments of API paths, so they start with a letter or digit and never hold
# "..": no id can be read as a relative path.
_ID_RE: Final = re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{0,127}")


def check_id(field: str, value: object) -> str:
    """Check a group or asset id: 1–128 lowercase letters, digits, dots, dashes,
    starting with a letter or digit, with no ``..``.

    Returns:
        ``value``, typed as str.

    Raises:
        InvalidAsset: ``value`` is not a valid id.
    """
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise InvalidAsset(
            field,
            f"{value!r} must be 1-128 lowercase letters, digits, dots or dashes,"
            " starting with a letter or digit, without '..'",
        )
    return value


def check_asset_type(field: str, value: object) -> AssetType:
    """Check an asset type against the catalogue's types.

    Raises:
        InvalidAsset: ``value`` is not one of the asset types.
    """
    if value not in ASSET_TYPES:
        raise InvalidAsset(field, f"{value!r} is not one of {sorted(ASSET_TYPES)}")
    return cast(AssetType, value)


def check_lifecycle(field: str, value: object) -> Lifecycle:
    """Check a lifecycle status.

    Raises:
        InvalidAsset: ``value`` is not a lifecycle status.
    """
    if value not in LIFECYCLES:
        raise InvalidAsset(field, f"{value!r} is not one of {sorted(LIFECYCLES)}")
    return cast(Lifecycle, value)


def lifecycle_move_allowed(current: str, target: str) -> bool:
    """Whether an asset may go from ``current`` to ``target`` (staying is allowed)."""
    return current == target or (current, target) in LIFECYCLE_MOVES


def check_version(field: str, value: object) -> str:
    """Check a version named by a publisher: canonical semver, no build metadata.

    Raises:
        InvalidAsset: ``value`` is not such a version.
    """
    try:
        parsed = versioning.parse(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise InvalidAsset(
            field, f"{value!r} must be a semantic version like 1.2.3, without build metadata"
        )
    return value


def check_seen_at(seen_at: object) -> datetime:
    """Check a publish timestamp and return it in UTC.

    Naive datetimes are refused rather than guessed: a cluster's local time
    silently read as UTC would reorder ``last_seen`` across publishers.

    Raises:
        InvalidAsset: ``seen_at`` is not a timezone-aware datetime.
    """
    if not isinstance(seen_at, datetime) or seen_at.utcoffset() is None:
        raise InvalidAsset("seen_at", f"{seen_at!r} must be a timezone-aware datetime")
    return seen_at.astimezone(UTC)


def parse_dependency(field: str, value: object) -> tuple[str, str]:
    """Split a ``group:asset`` dependency into its two ids.

    Raises:
        InvalidAsset: ``value`` is not ``group:asset`` with valid ids.
    """
    if not isinstance(value, str) or value.count(":") != 1:
        raise InvalidAsset(field, f"{value!r} must be 'group:asset'")
    group_id, asset_id = value.split(":")
    return check_id(field, group_id), check_id(field, asset_id)


def check_draft(draft: AssetDraft) -> None:
    """Check every field of a draft.

    Raises:
        InvalidAsset: The first field found invalid, named in ``field``.
    """
    check_id("group_id", draft.group_id)
    check_id("asset_id", draft.asset_id)
    _check_text("name", draft.name)
    check_asset_type("type", draft.type)
    _check_optional_text("description", draft.description)
    _check_optional_text("spec_version_hint", draft.spec_version_hint)
    _check_optional_text("owner", draft.owner)
    if draft.lifecycle is not None:
        check_lifecycle("lifecycle", draft.lifecycle)
    _check_files(draft.files)
    for index, operation in enumerate(_as_tuple("operations", draft.operations)):
        _check_text(f"operations[{index}]", operation)
    for index, tag in enumerate(_as_tuple("tags", draft.tags)):
        _check_text(f"tags[{index}]", tag)
    for index, dependency in enumerate(_as_tuple("dependencies", draft.dependencies)):
        parse_dependency(f"dependencies[{index}]", dependency)
    _check_instance(draft.instance)
    _check_text("provenance.method", draft.provenance.method)
    if not isinstance(draft.provenance.detail, str):
        raise InvalidAsset("provenance.detail", "must be a string")


#: Longest check key kept (the column's width).
CHECK_KEY_MAX: Final = 256


def check_lessons(
    *,
    probed: Collection[Sequence[object]],
    silent: Collection[Sequence[object]],
    checks: Mapping[str, Sequence[object]],
) -> None:
    """Check a crawl's probing lessons before any is kept.

    Raises:
        InvalidAsset: The first value found invalid, named in ``field``.
    """
    for index, ref in enumerate(probed):
        for name, value in zip(("cluster", "namespace", "service"), ref, strict=True):
            _check_name(f"probed[{index}].{name}", value)
    for index, port_key in enumerate(silent):
        *names, port = port_key
        for name, value in zip(("cluster", "namespace", "service"), names, strict=True):
            _check_name(f"silent[{index}].{name}", value)
        _check_port(f"silent[{index}].port", port)
    for key, errors in checks.items():
        if not isinstance(key, str) or not 0 < len(key) <= CHECK_KEY_MAX or "\x00" in key:
            raise InvalidAsset("checks", f"a check key must be 1 to {CHECK_KEY_MAX} characters")
        for index, error in enumerate(errors):
            if not isinstance(error, str) or "\x00" in error:
                raise InvalidAsset(f"checks.{key}[{index}]", "must be a string without NUL")


def _check_name(field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 1024:
        raise InvalidAsset(field, f"{value!r:.80} must be a non-empty name without NUL")


def _check_port(field: str, port: object) -> None:
    # bool is an int subclass; True is not port 1.
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidAsset(field, f"{port!r:.80} must be an integer from 1 to 65535")


def _check_files(files: object) -> None:
    seen: dict[str, int] = {}
    for index, file in enumerate(_as_tuple("files", files)):
        field = f"files[{index}]"
        if not isinstance(file, AssetFile):
            raise InvalidAsset(field, f"must be an AssetFile, not {type(file).__name__}")
        if file.classifier not in CLASSIFIERS:
            raise InvalidAsset(
                f"{field}.classifier", f"{file.classifier!r} is not one of {sorted(CLASSIFIERS)}"
            )
        if file.packaging not in PACKAGINGS:
            raise InvalidAsset(
                f"{field}.packaging", f"{file.packaging!r} is not one of {sorted(PACKAGINGS)}"
            )
        if not isinstance(file.content, bytes):
            raise InvalidAsset(f"{field}.content", "must be bytes")
        # Identity is the set of file digests; a repeated file would make two
        # drafts with the same files look different.
        digest = file.sha256
        if digest in seen:
            raise InvalidAsset(field, f"has the same content as files[{seen[digest]}]")
        seen[digest] = index


def _check_instance(instance: object) -> None:
    if not isinstance(instance, Instance):
        raise InvalidAsset("instance", f"must be an Instance, not {type(instance).__name__}")
    for name in ("cluster", "namespace", "service", "endpoint_uri"):
        _check_text(f"instance.{name}", getattr(instance, name))
    _check_port("instance.port", instance.port)
    _check_optional_text("instance.environment", instance.environment)
    exposure = _as_tuple("instance.exposure", instance.exposure)
    if len(exposure) > MAX_EXPOSURES:
        raise InvalidAsset("instance.exposure", f"holds more than {MAX_EXPOSURES} places")
    for index, place in enumerate(exposure):
        _check_exposure(f"instance.exposure[{index}]", place)
    subsets = _as_tuple("instance.subsets", instance.subsets)
    if len(subsets) > MAX_SUBSETS:
        raise InvalidAsset("instance.subsets", f"holds more than {MAX_SUBSETS} subsets")
    for index, subset in enumerate(subsets):
        at = f"instance.subsets[{index}]"
        if not isinstance(subset, InstanceSubset):
            raise InvalidAsset(at, f"must be an InstanceSubset, not {type(subset).__name__}")
        _check_text(f"{at}.name", subset.name)
        _check_optional_text(f"{at}.version", subset.version)
        _check_optional_text(f"{at}.rule", subset.rule)


#: Places one instance may be exposed at; a route fan-out beyond this is config gone wrong.
MAX_EXPOSURES: Final = 64
#: Subsets one instance's Service may have named.
MAX_SUBSETS: Final = 64
_PATH_MATCHES: Final = frozenset({"prefix", "exact", "regex"})


def _check_exposure(field: str, place: object) -> None:
    if not isinstance(place, InstanceExposure):
        raise InvalidAsset(field, f"must be an InstanceExposure, not {type(place).__name__}")
    _check_text(f"{field}.gateway", place.gateway)
    _check_text(f"{field}.host", place.host)
    if place.source not in EXPOSURE_SOURCES:
        raise InvalidAsset(
            f"{field}.source", f"{place.source!r:.80} is not one of {sorted(EXPOSURE_SOURCES)}"
        )
    if place.port is not None:
        _check_port(f"{field}.port", place.port)
    for name in ("path", "protocol", "route"):
        _check_optional_text(f"{field}.{name}", getattr(place, name))
    if place.path_match is not None and place.path_match not in _PATH_MATCHES:
        raise InvalidAsset(
            f"{field}.pathMatch", f"{place.path_match!r:.80} is not one of {sorted(_PATH_MATCHES)}"
        )


def _as_tuple(field: str, value: object) -> tuple[object, ...]:
    # A str is iterable too; refusing it catches tags="a,b" passed by mistake.
    if not isinstance(value, tuple):
        raise InvalidAsset(field, f"must be a tuple, not {type(value).__name__}")
    return value


def _check_text(field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAsset(field, f"{value!r} must be a non-empty string")


def _check_optional_text(field: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidAsset(field, f"{value!r} must be a string or None")
