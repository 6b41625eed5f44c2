"""Probe hints from what the catalogue remembers."""

from __future__ import annotations

from pathlib import Path

import pytest

import catalog
from discovery.model import Hint
from meshatlas.job import memory


def _sighting(asset_type: str, method: str, detail: str) -> catalog.Sighting:
    return catalog.Sighting("c", "ns", "svc", 8080, asset_type, method, detail)


def test_located_descriptions_become_paths() -> None:
    hints = memory.hints(
        [
            _sighting("rest-api", "probe", "http://127.0.0.1:8080/v3/api-docs"),
        ]
    )
    assert hints == {("c", "ns", "svc", 8080): Hint(path="/v3/api-docs", kind="rest")}


def test_query_strings_are_kept_and_spec_less_kinds_have_no_path() -> None:
    (wsdl,) = memory.hints(
        [_sighting("soap-api", "probe", "http://127.0.0.1:8080/services/Invoice?wsdl")]
    ).values()
    assert wsdl == Hint(path="/services/Invoice?wsdl", kind="soap")
    (plain,) = memory.hints([_sighting("http-api", "probe", "http: answers HTTP")]).values()
    assert plain == Hint(path=None, kind="http")
    (searched,) = memory.hints(
        [_sighting("rest-api", "probe", "json: JSON; searched with framework table 0a1b2c3d4e5f")]
    ).values()
    assert searched == Hint(path=None, kind="rest", knowledge="0a1b2c3d4e5f")


def test_unknown_types_are_ignored() -> None:
    assert memory.hints([_sighting("mystery-api", "probe", "http://x/y")]) == {}


def test_remote_and_failing_catalogues_give_no_memory(tmp_path: Path) -> None:
    remote = catalog.open_target("https://catalog.example")
    assert memory.recall(remote) == memory.Memory()
    store = catalog.open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.engine.dispose()
    (tmp_path / "c.db").unlink()
    (tmp_path / "c.db").mkdir()  # the database file is gone, a directory in its place
    with pytest.raises(catalog.CatalogError):
        store.sightings()
    assert memory.recall(store) == memory.Memory()
