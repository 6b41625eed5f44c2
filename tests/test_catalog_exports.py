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
        "AssetType",
        "AssetVersion",
        "CatalogError",
        "CatalogStore",
        "Classifier",
        "Instance",
        "InvalidAsset",
        "Lifecycle",
        "NotFound",
        "Packaging",
        "Provenance",
        "PublishOutcome",
        "PublishResult",
        "StoreError",
        "VersionConflict",
        "create_catalog_engine",
        "open_store",
    ]
    for name in catalog.__all__:
        assert hasattr(catalog, name), name


def test_error_tree() -> None:
    for error in (
        catalog.StoreError,
        catalog.VersionConflict,
        catalog.NotFound,
        catalog.InvalidAsset,
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
