"""``meshatlas export exchange|openapi|wsdl`` on the demo mesh's catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import catalog
from meshatlas.cli import main


@pytest.fixture(scope="module")
def assets(demo_catalog: dict[str, Any]) -> dict[str, catalog.Asset]:
    with catalog.open_store(demo_catalog["url"]) as store:
        return {a.asset_id: a for a in store.list_assets()}


def _export(target: str, demo_catalog: dict[str, Any], out: Path) -> Path:
    assert main(["export", target, "--catalog", demo_catalog["url"], "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(("target", "classifier"), [("openapi", "oas"), ("wsdl", "wsdl")])
def test_raw_specs_are_byte_identical(
    target: str,
    classifier: str,
    demo_catalog: dict[str, Any],
    assets: dict[str, catalog.Asset],
    tmp_path: Path,
) -> None:
    out = _export(target, demo_catalog, tmp_path)
    expected = {
        f"meshatlas/{a.asset_id}/{v.version}.{f.packaging}": f.content
        for a in assets.values()
        for v in a.versions
        for f in v.files
        if f.classifier == classifier
    }
    written = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert written == expected
    assert len(expected) == (6 if target == "openapi" else 2)
    assert "meshatlas/shop-inventory/1.0.0-SNAPSHOT.yaml" in written or target == "wsdl"


def test_exchange_folders_hold_spec_descriptor_and_publish_form(
    demo_catalog: dict[str, Any], assets: dict[str, catalog.Asset], tmp_path: Path
) -> None:
    out = _export("exchange", demo_catalog, tmp_path)
    folders = sorted(p.parent for p in out.rglob("exchange.json"))
    assert len(folders) == sum(len(a.versions) for a in assets.values())

    orders = out / "meshatlas" / "shop-orders" / assets["shop-orders"].latest.version
    descriptor = json.loads((orders / "exchange.json").read_text())
    assert descriptor["groupId"] == "meshatlas"
    assert descriptor["assetId"] == "shop-orders"
    assert descriptor["version"] == "2.3.1"
    assert descriptor["type"] == "rest-api"
    assert descriptor["classifier"] == "oas"
    assert descriptor["main"] == "shop-orders.json"
    assert descriptor["categories"]["namespace"] == ["shop"]
    assert {d["assetId"] for d in descriptor["dependencies"]} == {"shop-payments", "shop-inventory"}
    spec = assets["shop-orders"].latest.files[0].content
    assert (orders / "shop-orders.json").read_bytes() == spec

    form = json.loads((orders / "publish.json").read_text())
    assert form["path"].endswith("/assets/meshatlas/shop-orders/2.3.1")
    assert form["fields"]["type"] == "rest-api"
    assert form["fields"]["properties.mainFile"] == "shop-orders.json"
    assert form["fields"]["properties.apiVersion"] == "v2"
    assert form["files"] == {"files.oas.json": "shop-orders.json"}
    assert set(form["fields"]["dependencies"].split(",")) == set(
        assets["shop-orders"].latest.dependencies
    )

    wsdl = json.loads((out / "meshatlas/billing-invoice-ws/1.0.0/exchange.json").read_text())
    assert (wsdl["type"], wsdl["classifier"], wsdl["main"]) == (
        "soap-api",
        "wsdl",
        "billing-invoice-ws.wsdl",
    )
    # Exchange takes a SOAP or REST API only with its description: these become http-api.
    legacy = json.loads((out / "meshatlas/billing-legacy-soap/1.0.0/exchange.json").read_text())
    assert (legacy["type"], legacy["meshatlasType"], legacy["main"]) == ("http-api", "soap-api", "")
    assert sorted(p.name for p in (out / "meshatlas/billing-legacy-soap/1.0.0").iterdir()) == [
        "exchange.json",
        "publish.json",
    ]


def test_export_from_a_server_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    code = main(["export", "exchange", "--catalog", "http://127.0.0.1:9", "--out", str(tmp_path)])
    assert code == 1
    assert list(tmp_path.iterdir()) == []
