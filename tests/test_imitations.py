"""A cold ``meshatlas discover`` of the imitations cluster: frameworks that cannot be
installed here (ASMX, CXF, WCF, gqlgen, Hasura, Micronaut, Liberty, swaggo, huma...),
imitated by fixtures/backends/_imitations.py, plus servers that name their description
only by a link (RFC 8631, RFC 9727, Redoc, Scalar, a mount prefix) and one docs page
that points off the Service.

The expectations are ``fixtures/clusters/imitations/expected.yaml``, counted from the
spec files themselves; ``test_expected_counts_match_the_spec_files`` recounts them here
without meshatlas.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from fixtures.mesh import CLUSTERS_DIR, SPECS_DIR, Mesh
from meshatlas.cli import main
from tests.conftest import mesh_octet

EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CLUSTERS_DIR / "imitations" / "expected.yaml").read_text()
)
TRIPWIRES = ("tripwire/offhost-80", "tripwire/offhost-8080")
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_WSDL = "{http://schemas.xmlsoap.org/wsdl/}"


def _count(spec: str) -> tuple[str, str, int]:
    """(format, version, operations) of a spec file, counted without meshatlas."""
    path = SPECS_DIR / spec
    if path.suffix == ".wsdl":
        root = ET.fromstring(path.read_bytes())
        names: set[str | None] = set()
        for binding in root.iter(_WSDL + "binding"):
            if any("soap" in child.tag and child.tag.endswith("}binding") for child in binding):
                names |= {op.get("name") for op in binding.findall(_WSDL + "operation")}
        return "wsdl", "1.1", len(names)
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    count = sum(1 for item in doc["paths"].values() for method in item if method in _METHODS)
    if "swagger" in doc:
        return "swagger", str(doc["swagger"]), count
    return "openapi", str(doc["openapi"]), count


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir: Path = tmp_path_factory.mktemp("imitations-mesh")
    with Mesh(["imitations"], octet=mesh_octet(offset=11), workdir=workdir) as mesh:
        report_path = workdir / "report.json"
        code = main(
            ["discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run"]
            + ["--report", str(report_path)]
        )
        report = json.loads(report_path.read_text())
        yield {"code": code, "report": report, "requests": mesh.backend_requests()}


def _api(run: dict[str, Any], key: str) -> dict[str, Any] | None:
    namespace, name = key.split("/")
    for service in run["report"]["services"]:
        if (service["namespace"], service["name"]) == (namespace, name):
            apis = service["apis"]
            assert len(apis) <= 1, (key, apis)
            return apis[0] if apis else None
    raise AssertionError(f"{key} is not in the report")


def _location(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_expected_counts_match_the_spec_files() -> None:
    for key, want in EXPECTED.items():
        if want.get("spec_file"):
            fmt, version, operations = _count(want["spec_file"])
            assert (fmt, version, operations) == (
                want["format"],
                want["spec_version"],
                want["operations"],
            ), key


def test_discover_completes(run: dict[str, Any]) -> None:
    assert run["code"] == 0
    assert run["report"]["clusters"] == ["imitations"]


@pytest.mark.parametrize("key", [k for k, v in EXPECTED.items() if v["format"] is not None])
def test_description_is_found_where_the_framework_serves_it(run: dict[str, Any], key: str) -> None:
    want = EXPECTED[key]
    api = _api(run, key)
    assert api is not None, f"{key}: no API recorded"
    assert api["kind"] == want["kind"], key
    spec = api["spec"]
    assert spec is not None, f"{key}: no description found (kind {api['kind']})"
    assert spec["format"] == want["format"], key
    assert spec["version"] == want["spec_version"], key
    assert spec["operation_count"] == want["operations"], key
    assert spec["valid"] is want["valid"], (key, spec["errors"])
    assert _location(spec["url"]) == want["location"], key


@pytest.mark.parametrize("key", [k for k, v in EXPECTED.items() if v["kind"] == "graphql"])
def test_graphql_endpoint_is_found(run: dict[str, Any], key: str) -> None:
    api = _api(run, key)
    assert api is not None, f"{key}: no API recorded"
    assert api["kind"] == "graphql", key
    assert api["spec"] is None, key
    answered = [e for e in api["evidence"] if e["check"] == "graphql"]
    assert answered, (key, api["evidence"])
    assert _location(answered[0]["url"]) == EXPECTED[key]["location"], key


def test_offhost_links_are_not_followed(run: dict[str, Any]) -> None:
    api = _api(run, "misc/offhost")
    assert api is not None
    assert api["kind"] == EXPECTED["misc/offhost"]["kind"]
    assert api["spec"] is None
    assert run["requests"]["misc/offhost"] > 0
    for tripwire in TRIPWIRES:
        assert run["requests"][tripwire] == 0, tripwire
