"""Unit tests for the operation diff that picks major/minor/patch."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from catalog.publishing import changes
from catalog.publishing.versioning import SemVer


def spec(paths: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"openapi": "3.0.3", "info": {"title": "t"}, "paths": paths, **top}).encode()


def contract(content: bytes | None = None, *ops: str, kind: str = "rest-api") -> changes.Contract:
    files = [("oas", "json", content)] if content is not None else []
    return changes.contract(asset_type=kind, operations=ops, files=files)


def test_required_parameters_merge_path_and_operation_levels_and_follow_refs() -> None:
    content = spec(
        {
            "/orders/{id}": {
                "parameters": [
                    {"name": "id", "in": "path"},
                    {"name": "tenant", "in": "header", "required": True},
                ],
                "get": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Limit"},
                        # Overrides the path-level one: no longer required.
                        {"name": "tenant", "in": "header", "required": False},
                    ]
                },
                "put": {"requestBody": {"$ref": "#/components/requestBodies/Order"}},
            }
        },
        components={
            "parameters": {"Limit": {"name": "limit", "in": "query", "required": True}},
            "requestBodies": {"Order": {"required": True, "content": {}}},
        },
    )
    found = contract(content).required

    assert found == {
        "GET /orders/{id}": frozenset({"path:id", "query:limit"}),
        "PUT /orders/{id}": frozenset({"path:id", "header:tenant", "body"}),
    }


def test_swagger_2_yaml_body_parameters_are_read() -> None:
    document = {
        "swagger": "2.0",
        "paths": {"/r": {"post": {"parameters": [{"$ref": "#/parameters/Body"}]}}},
        "parameters": {"Body": {"name": "review", "in": "body", "required": True}},
    }
    found = changes.contract(
        asset_type="rest-api",
        operations=["POST /r"],
        files=[("oas", "yaml", yaml.safe_dump(document).encode())],
    )
    assert found.required == {"POST /r": frozenset({"body:review"})}


@pytest.mark.parametrize(
    "content", [b"{not json", b"[]", b'{"paths": []}', spec({"/a": {"$ref": "#/a"}})]
)
def test_unreadable_files_contribute_operations_only(content: bytes) -> None:
    assert contract(content, "GET /a").required in ({}, {"GET /a": frozenset()})


def test_reference_cycles_end() -> None:
    content = spec({"/a": {"get": {"parameters": [{"$ref": "#/x"}]}}}, x={"$ref": "#/x"})
    assert contract(content).required == {"GET /a": frozenset()}


@pytest.mark.parametrize(
    ("old", "new", "bump", "reason"),
    [
        (("GET /a",), ("GET /a",), "patch", "same operations and required parameters"),
        (("GET /a",), ("GET /a", "GET /b"), "minor", "1 operation added: GET /b"),
        (("GET /a", "GET /b"), ("GET /a",), "major", "1 operation removed: GET /b"),
        (
            ("A", "B", "C", "D", "E"),
            ("F",),
            "major",
            "5 operations removed: A, B, C and 2 more, 1 operation added",
        ),
    ],
)
def test_compare_operations(
    old: tuple[str, ...], new: tuple[str, ...], bump: str, reason: str
) -> None:
    change = changes.compare(contract(None, *old), contract(None, *new))
    assert change.bump == bump
    assert change.reason.startswith(reason)


def test_a_required_parameter_made_optional_is_still_major() -> None:
    def with_limit(required: bool) -> bytes:
        parameter = {"name": "limit", "in": "query", "required": required}
        return spec({"/a": {"get": {"parameters": [parameter]}}})

    change = changes.compare(
        contract(with_limit(True), "GET /a"), contract(with_limit(False), "GET /a")
    )
    assert change == changes.Change("major", "required parameters changed: GET /a -query:limit")


def test_a_type_change_is_major() -> None:
    change = changes.compare(contract(None, kind="http-api"), contract(None, kind="rest-api"))
    assert change == changes.Change("major", "type changed from http-api to rest-api")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("major", SemVer(3, 0, 0)), ("minor", SemVer(2, 5, 0)), ("patch", SemVer(2, 4, 7))],
)
def test_bumps_start_from_the_core(kind: changes.Bump, expected: SemVer) -> None:
    assert SemVer(2, 4, 6).bump(kind) == expected
    assert SemVer(2, 4, 6, ("rc", "1")).bump(kind) == expected
