"""The layering is one-way: discovery → graph → governance → catalog → meshatlas."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import discovery

ROOT = Path(__file__).resolve().parent.parent
#: What each package must never import.
FORBIDDEN = {
    "discovery": {"graph", "governance", "catalog", "meshatlas", "fixtures"},
    "graph": {"governance", "catalog", "meshatlas", "fixtures"},
    "governance": {"catalog", "meshatlas", "fixtures"},
    "catalog": {"discovery", "graph", "meshatlas", "fixtures"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layers(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_discovery_public_surface() -> None:
    assert all(hasattr(discovery, name) for name in discovery.__all__)
    assert {"discover", "Service", "Api", "parse_spec", "Prober", "Scope"} <= set(discovery.__all__)
