"""Pins the catalogue's public surface and its place in the layering."""

from __future__ import annotations

import ast
from pathlib import Path

import catalog

CATALOG_DIR = Path(catalog.__file__).parent


def test_public_names() -> None:
    assert sorted(catalog.__all__) == [
        "Asset",
        "AssetDraft",
        "AssetFile",
        "AssetPage",
        "AssetSummary",
        "AssetType",
        "AssetVersion",
        "CatalogError",
        "CatalogStore",
        "Classifier",
        "DEFAULT_DEPRECATE_AFTER",
        "FULL_CHECK_EVERY",
        "FileSummary",
        "HttpTarget",
        "Instance",
        "InvalidAsset",
        "Lifecycle",
        "NotFound",
        "Packaging",
        "Provenance",
        "PublishOutcome",
        "PublishResult",
        "PublishTarget",
        "QuietPort",
        "RemoteError",
        "RunSummary",
        "Sighting",
        "StoreError",
        "VersionConflict",
        "VersionExists",
        "VersionHeader",
        "VersionSummary",
        "create_catalog_engine",
        "open_store",
        "open_target",
    ]
    for name in catalog.__all__:
        assert hasattr(catalog, name), name


def test_error_tree() -> None:
    for error in (
        catalog.StoreError,
        catalog.VersionConflict,
        catalog.NotFound,
        catalog.InvalidAsset,
        catalog.VersionExists,
        catalog.RemoteError,
    ):
        assert issubclass(error, catalog.CatalogError)


def test_catalog_imports_nothing_from_later_or_earlier_stages() -> None:
    forbidden = {"discovery", "graph", "meshatlas"}
    offenders = []
    for path in sorted(CATALOG_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


def test_server_public_names() -> None:
    from catalog import server

    assert sorted(server.__all__) == [
        "Auth",
        "DEFAULT_MAX_BODY",
        "DEFAULT_READ_TIMEOUT",
        "EXCHANGE",
        "LINGERING_TIME",
        "MESHATLAS",
        "RunningServer",
        "hash_token",
        "make_app",
        "parse_hashes",
        "read_hash_file",
    ]
    for name in server.__all__:
        assert hasattr(server, name), name
