"""End to end: ``discover --catalog http://…`` publishing through ``meshatlas serve``.

A real catalogue server on loopback (SQLite behind it), the demo fixture mesh,
and the CLI in-process; the token travels in ``MESHATLAS_TOKEN``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import catalog
import fixtures.mesh
from catalog import server
from fixtures.mesh import Mesh
from meshatlas.cli import main
from tests.conftest import mesh_octet
from tests.test_discover_demo import EXPECTED

TOKEN = "discover-publishes-with-this"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, catalog.CatalogStore]]:
    with catalog.open_store(f"sqlite:///{tmp_path / 'served.db'}") as store:
        auth = server.Auth(token_hashes=server.parse_hashes([server.hash_token(TOKEN)]))
        with server.RunningServer(server.make_app(store, auth=auth)) as running:
            yield running.url, store


def discover(mesh: Mesh, url: str, report: Path) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(mesh.kubeconfig),
            "--catalog",
            url,
            "--report",
            str(report),
        ]
    )
    return code, json.loads(report.read_text())


def test_discover_publishes_through_the_server_idempotently(
    demo_mesh: Mesh,
    served: tuple[str, catalog.CatalogStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, store = served
    monkeypatch.setenv("MESHATLAS_TOKEN", TOKEN)

    code, first = discover(demo_mesh, url, tmp_path / "first.json")
    again_code, again = discover(demo_mesh, url, tmp_path / "again.json")

    assert (code, again_code) == (0, 0), first["problems"]
    assert first["catalog"] == url
    assert first["stats"]["published"] == {"created": len(EXPECTED)}
    assert again["stats"]["published"] == {"unchanged": len(EXPECTED)}
    assets = store.list_assets(group_id="meshatlas")
    assert len(assets) == len(EXPECTED)
    assert all(len(a.versions) == 1 for a in assets)
    orders = store.get("meshatlas", "shop-orders")
    assert orders.latest.version == "2.3.1"
    assert orders.latest.instances[0].cluster == "demo"


def test_discover_without_a_token_fails_and_publishes_nothing(
    demo_mesh: Mesh,
    served: tuple[str, catalog.CatalogStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, store = served
    monkeypatch.delenv("MESHATLAS_TOKEN", raising=False)

    # The token is checked before anything is probed: a usage error, no report.
    report = tmp_path / "report.json"
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--catalog",
            url,
            "--report",
            str(report),
        ]
    )

    assert code == 2
    assert not report.exists()
    assert store.list_assets() == []


@pytest.mark.slow
def test_a_changed_spec_adds_exactly_one_version_with_its_bump(
    demo_mesh: Mesh,
    served: tuple[str, catalog.CatalogStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, store = served
    monkeypatch.setenv("MESHATLAS_TOKEN", TOKEN)
    code, _ = discover(demo_mesh, url, tmp_path / "before.json")
    assert code == 0

    # The same cluster after a deploy: orders gained an operation, but its
    # authors left info.version at 2.3.1.
    specs = tmp_path / "specs"
    shutil.copytree(fixtures.mesh.SPECS_DIR, specs)
    orders = specs / "openapi/3.1/orders-fastapi.json"
    document = json.loads(orders.read_text())
    document["paths"]["/api/v1/orders/{order_id}/refunds"] = {
        "post": {"operationId": "refund_order", "responses": {"200": {"description": "OK"}}}
    }
    orders.write_text(json.dumps(document))
    monkeypatch.setattr(fixtures.mesh, "SPECS_DIR", specs)
    with Mesh(["demo"], octet=mesh_octet(offset=101), workdir=tmp_path / "mesh") as changed:
        code, report = discover(changed, url, tmp_path / "after.json")

    assert code == 0, report["problems"]
    assert report["stats"]["published"] == {"unchanged": len(EXPECTED) - 1, "new-version": 1}
    versions = {a.asset_id: [v.version for v in a.versions] for a in store.list_assets()}
    assert versions["shop-orders"] == ["2.3.1", "2.4.0"]
    assert sum(len(v) for v in versions.values()) == len(EXPECTED) + 1
    new = store.get_version("meshatlas", "shop-orders", version="2.4.0")
    assert new.reason == (
        "content changed; spec version '2.3.1' is already published, so minor bump after 2.3.1"
        " (1 operation added: POST /api/v1/orders/{order_id}/refunds)"
    )
    assert [i.cluster for i in new.instances] == ["demo"]
