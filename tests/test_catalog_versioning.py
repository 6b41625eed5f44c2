"""Unit tests for catalog.publishing.versioning: semver parsing, precedence, numbering, identity."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import catalog
from catalog.publishing import versioning
from catalog.publishing.versioning import SemVer

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0", SemVer(0, 0, 0)),
        ("1.2.3", SemVer(1, 2, 3)),
        ("10.20.30", SemVer(10, 20, 30)),
        ("1.0.0-alpha", SemVer(1, 0, 0, ("alpha",))),
        ("1.0.0-alpha.1", SemVer(1, 0, 0, ("alpha", "1"))),
        ("1.0.0-0.3.7", SemVer(1, 0, 0, ("0", "3", "7"))),
        ("1.0.0-x-y-z.--", SemVer(1, 0, 0, ("x-y-z", "--"))),
        ("1.0.0+20130313144700", SemVer(1, 0, 0)),
        ("1.0.0-beta+exp.sha.5114f85", SemVer(1, 0, 0, ("beta",))),
    ],
)
def test_parse_accepts_semver_and_drops_build_metadata(text: str, expected: SemVer) -> None:
    assert versioning.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "1.2",
        "v1.2.3",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3.4",
        " 1.2.3",
        "",
    ],
)
def test_parse_refuses_what_is_not_semver(text: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        versioning.parse(text)


def test_precedence_follows_semver_section_11() -> None:
    # The ordering example given in the semver 2.0.0 specification.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "1.10.0",
        "2.0.0",
    ]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    assert versioning.sort_versions(shuffled) == ordered
    assert versioning.latest(shuffled) == "2.0.0"
    assert versioning.latest([]) is None


@pytest.mark.parametrize(
    ("hint", "version", "note"),
    [
        ("2.3.1", "2.3.1", ""),
        ("1.4", "1.4.0", "spec version '1.4' read as 1.4.0"),
        ("1.0.0+build.7", "1.0.0", "spec version '1.0.0+build.7' read as 1.0.0"),
        ("v1", None, "spec version 'v1' is not semver"),
        ("1", None, "spec version '1' is not semver"),
        ("latest", None, "spec version 'latest' is not semver"),
    ],
)
def test_parse_hint(hint: str, version: str | None, note: str) -> None:
    parsed, said = versioning.parse_hint(hint)
    assert (None if parsed is None else str(parsed)) == version
    assert said == note


def test_next_minor_resets_patch_and_prerelease() -> None:
    assert str(SemVer(1, 4, 2).next_minor()) == "1.5.0"
    assert str(SemVer(1, 4, 0, ("rc", "1")).next_minor()) == "1.5.0"


@pytest.mark.parametrize(
    ("hint", "published", "version", "reason"),
    [
        (None, [], "1.0.0", "first version; spec declares no version, so 1.0.0"),
        ("v1", [], "1.0.0", "first version; spec version 'v1' is not semver, so 1.0.0"),
        ("3.1.0", [], "3.1.0", "first version; spec version '3.1.0'"),
        (
            None,
            ["1.0.0", "1.2.0"],
            "1.3.0",
            "content changed; spec declares no version, so next minor after 1.2.0",
        ),
        (
            "v1",
            ["1.0.0"],
            "1.1.0",
            "content changed; spec version 'v1' is not semver, so next minor after 1.0.0",
        ),
        (
            "1.0.0",
            ["1.0.0", "1.1.0"],
            "1.2.0",
            "content changed; spec version '1.0.0' is already published, so next minor after 1.1.0",
        ),
        (
            "1.0",
            ["1.0.0"],
            "1.1.0",
            "content changed; spec version '1.0' (1.0.0) is already published,"
            " so next minor after 1.0.0",
        ),
        ("2.0.0", ["1.0.0"], "2.0.0", "content changed; spec version '2.0.0'"),
        (
            "1.5.0",
            ["2.0.0"],
            "1.5.0",
            "content changed; spec version '1.5.0'; below the latest 2.0.0",
        ),
    ],
)
def test_choose_version(hint: str | None, published: list[str], version: str, reason: str) -> None:
    choice = versioning.choose_version(hint=hint, published=published)
    assert (choice.version, choice.reason) == (version, reason)


def test_choose_version_never_returns_a_published_version() -> None:
    published: list[str] = []
    for hint in [None, "1.0.0", "1.0.0", "v2", "1.1", "1.2.0", None]:
        choice = versioning.choose_version(hint=hint, published=published)
        assert choice.version not in published
        published.append(choice.version)
    assert published == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0"]


def test_content_key_ignores_file_order_but_not_content() -> None:
    key = versioning.content_key(asset_type="rest-api", file_digests=["a", "b"], operations=[])
    assert key == versioning.content_key(
        asset_type="rest-api", file_digests=["b", "a"], operations=["GET /x"]
    )
    assert key != versioning.content_key(
        asset_type="rest-api", file_digests=["a", "c"], operations=[]
    )
    assert len(key) == 64


def test_content_key_without_files_uses_type_and_operation_set() -> None:
    def key(asset_type: str, operations: list[str]) -> str:
        return versioning.content_key(asset_type=asset_type, file_digests=[], operations=operations)

    assert key("soap-api", ["Pay", "Refund"]) == key("soap-api", ["Refund", "Pay", "Pay"])
    assert key("soap-api", ["Pay"]) != key("soap-api", ["Pay", "Refund"])
    assert key("soap-api", []) != key("http-api", [])


# -- a version without a contract never outranks one with a contract --------------


@pytest.mark.parametrize(
    ("hint", "published", "version", "reason"),
    [
        (
            "1.0.0-SNAPSHOT",
            ["1.0.0"],
            "1.1.0",
            "content changed; spec version '1.0.0-SNAPSHOT' is below 1.0.0, which was"
            " published without a contract, so next minor after 1.0.0",
        ),
        (
            "0.9",
            ["1.0.0", "1.2.0"],
            "1.3.0",
            "content changed; spec version '0.9' (0.9.0) is below 1.2.0, which was"
            " published without a contract, so next minor after 1.2.0",
        ),
        # Above the spec-less version, the spec's own version is honoured as always.
        ("2.0.0", ["1.0.0"], "2.0.0", "content changed; spec version '2.0.0'"),
    ],
)
def test_a_described_version_is_numbered_above_a_spec_less_latest(
    hint: str, published: list[str], version: str, reason: str
) -> None:
    choice = versioning.choose_version(
        hint=hint, published=published, contract=True, top_contract=False
    )
    assert (choice.version, choice.reason) == (version, reason)
    assert versioning.latest([*published, choice.version]) == choice.version


def test_a_lower_hint_is_still_honoured_when_the_latest_has_a_contract_too() -> None:
    choice = versioning.choose_version(
        hint="1.0.0-SNAPSHOT", published=["1.0.0"], contract=True, top_contract=True
    )
    assert choice.version == "1.0.0-SNAPSHOT"
    assert choice.reason.endswith("below the latest 1.0.0")


def test_the_catalogue_makes_the_described_version_latest(tmp_path: Path) -> None:
    # As issue 21 saw it: an interrupted probe published a spec-less 1.0.0; the
    # real description, Quarkus-style 1.0.0-SNAPSHOT, came a run later.
    spec = (
        b'{"openapi": "3.0.3", "info": {"title": "Inventory", "version": "1.0.0-SNAPSHOT"},'
        b' "paths": {"/items": {"get": {"responses": {"200": {"description": "ok"}}}}}}'
    )
    where = catalog.Instance(
        cluster="c", namespace="shop", service="inventory", port=8080, endpoint_uri="http://i"
    )

    def draft(**changes: Any) -> catalog.AssetDraft:
        base = catalog.AssetDraft(
            group_id="acme",
            asset_id="shop-inventory",
            name="inventory",
            type="http-api",
            description=None,
            spec_version_hint=None,
            files=(),
            operations=(),
            tags=(),
            owner=None,
            lifecycle=None,
            instance=where,
            dependencies=(),
            provenance=catalog.Provenance(method="probe", detail="answers HTTP"),
        )
        return dataclasses.replace(base, **changes)

    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        first = store.publish(draft(), seen_at=T0)
        described = store.publish(
            draft(
                type="rest-api",
                spec_version_hint="1.0.0-SNAPSHOT",
                files=(catalog.AssetFile(classifier="oas", packaging="json", content=spec),),
                operations=("GET /items",),
            ),
            seen_at=T1,
        )
        asset = store.get("acme", "shop-inventory")
    assert first.version == "1.0.0"
    assert described.version == "2.0.0"  # type changed, so a major bump after 1.0.0
    assert "published without a contract" in described.reason
    assert asset.latest.version == "2.0.0" and asset.latest.files
