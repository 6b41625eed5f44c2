"""Probe hints from what the catalogue remembers."""

from __future__ import annotations

import catalog
from discovery.model import Hint
from meshatlas import memory


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


def test_unknown_types_are_ignored() -> None:
    assert memory.hints([_sighting("mystery-api", "probe", "http://x/y")]) == {}


def test_remote_and_unopenable_catalogues_give_no_hints(tmp_path: object) -> None:
    assert memory.load("https://catalog.example") == {}
    assert memory.load("sqlite:////nonexistent-dir/x/y.db") == {}
