"""The zoo fixture itself: every app serves what its apps.yaml entry says.

A failure here is a fault in the fixture (a broken app, a wrong expectation),
not in meshatlas, which these tests never touch.
"""

from __future__ import annotations

import httpx
import pytest
import yaml

from fixtures.mesh import Mesh
from fixtures.zoo import Zoo, ZooApp, ZooError, load_apps
from tests.conftest import mesh_octet

APPS = load_apps()


@pytest.mark.parametrize("app", APPS, ids=[a.key for a in APPS])
def test_app_serves_its_documented_description(zoo: Zoo, app: ZooApp) -> None:
    truth = zoo.truth[app.key]
    expect = app.expect
    assert truth.kind == expect.kind
    assert truth.format == expect.format
    if expect.location is None:
        assert truth.operations is None  # nothing describes the app
        return
    assert truth.location == expect.location
    assert truth.operations == expect.operations
    if expect.format == "openapi":
        assert truth.spec_version is not None and truth.spec_version.startswith("3.")
    elif expect.format == "swagger":
        assert truth.spec_version == "2.0"


def test_every_app_has_its_own_address(zoo: Zoo) -> None:
    addresses = [p.address for p in zoo.placements]
    assert len(set(addresses)) == len(addresses) == len(APPS)
    assert all(a.startswith(f"127.{zoo.octet}.") for a in addresses)


def test_manifests_make_a_fixture_cluster(
    zoo: Zoo,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    docs = zoo.manifests()
    workdir = tmp_path_factory.mktemp("zoo-mesh")
    with Mesh(
        ["zoo"],
        octet=zoo.octet,
        workdir=workdir,
        generated={"zoo": docs},
        generated_backends={"zoo": []},
    ) as mesh:
        server = yaml.safe_load(mesh.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        token = mesh.state("zoo").token
        with httpx.Client(trust_env=False, headers={"authorization": f"Bearer {token}"}) as client:
            services = client.get(f"{server}/api/v1/services").json()["items"]
            slices = client.get(f"{server}/apis/discovery.k8s.io/v1/endpointslices").json()
    by_key = {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s for s in services}
    assert set(by_key) == {a.key for a in APPS}
    for placement in zoo.placements:
        spec = by_key[placement.app.key]["spec"]
        assert spec["clusterIP"] == placement.address
        assert spec["ports"][0]["port"] == placement.app.port
    assert len(slices["items"]) == len(APPS)


def test_missing_interpreters_say_run_make_zoo(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("zoo-empty")
    with pytest.raises(ZooError, match="run `make zoo`"):
        Zoo(mesh_octet(offset=8), workdir, apps=APPS[:1], root=workdir).start()
