"""``import discovery`` stays light; every public name still imports from the package."""

from __future__ import annotations

import subprocess
import sys

import discovery


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    shown = f"{code}; import sys; print('\\n'.join(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", shown], capture_output=True, text=True, check=True, timeout=60
    )
    return set(proc.stdout.split())


def test_importing_the_package_imports_none_of_its_dependencies() -> None:
    loaded = _loaded_after("import discovery")
    for heavy in ("aiohttp", "kubernetes", "yaml", "jsonschema", "discovery.probing.probe"):
        assert heavy not in loaded
    # One module costs its own imports only.
    secrets = _loaded_after("from discovery import secrets")
    assert "aiohttp" not in secrets and "kubernetes" not in secrets


def test_every_public_name_imports_from_the_package() -> None:
    for name in discovery.__all__:
        namespace: dict[str, object] = {}
        exec(f"from discovery import {name}", namespace)  # as users write it
        assert namespace[name] is getattr(discovery, name)
    from discovery.model import Service

    assert discovery.Service is Service
    assert set(discovery.__all__) <= set(dir(discovery))
    try:
        discovery.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchName" in str(exc)
    else:
        raise AssertionError("an unknown name was found")
