"""Posture findings kept per run in the catalogue, served by REST, the portal and Backstage.

Three real discovers of the ``secure`` fixture mesh (the fixture kube API,
its backends, a real Prometheus holding :mod:`fixtures.telemetry_secure`'s
series) publish into one SQLite catalogue: two of the mesh as built, ten
minutes apart, then one of its closed variant (``closed_manifests()``). A
copy of the catalogue is taken after the second run. Each copy is read
through its own ``meshatlas serve``.

The expected findings are each run's report (built by another code path:
``meshatlas.job.posture.section``) and, for a few, the fixture's truth as
tests/test_posture_secure.py states it; the times are the ``--telemetry-at``
each run was given.
"""

from __future__ import annotations

import dataclasses
import html
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from catalog import findings as catalog_findings
from catalog.graphmodel import GraphNode, RunGraph, graph_from_json, graph_json
from catalog.model import AssetDraft, AssetFile, Instance, Provenance
from catalog.portal import LiveSite
from catalog.storage.store import open_store
from fixtures.mesh import Mesh, backend_plan
from fixtures.telemetry import STEP, PrometheusServer
from fixtures.telemetry_secure import closed_manifests, write_openmetrics
from meshatlas.cli import main
from tests.chromium import chromium
from tests.conftest import mesh_octet
from tests.serving import serve_process
from tests.test_export_backstage import _validate, schemas  # noqa: F401 (a fixture)
from tests.test_posture_secure import EXPECTED, SECURED

C = "secure"
TOKEN = "findings-test-token"
LEDGER_DENIED = f"{C}/bank/teller -> {C}/bank/ledger"


@dataclass(frozen=True)
class Runs:
    """The three runs' reports and times, and the two catalogues."""

    reports: tuple[dict[str, Any], ...]
    times: tuple[datetime, ...]
    after_two: str
    after_three: str
    workdir: Path


def _discover(mesh: Mesh, prom: PrometheusServer, at: datetime, db: Path, out: Path) -> Any:
    argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--catalog", f"sqlite:///{db}"]
    argv += ["--prometheus", prom.url, "--telemetry-at", str(int(at.timestamp()))]
    argv += ["--report", str(out)]
    assert main(argv) == 0
    return orjson.loads(out.read_bytes())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    work = tmp_path_factory.mktemp("findings")
    db = work / "catalogue.db"
    end = None
    with PrometheusServer(work / "prom", series=write_openmetrics) as prom:
        end = prom.at
        # Ten minutes apart, every window inside the backfilled 40 minutes.
        times = tuple(
            datetime.fromtimestamp(end.timestamp() - back, UTC) for back in (1200, 600, 0)
        )
        reports = []
        with Mesh([C], octet=mesh_octet(offset=101), workdir=work / "mesh") as mesh:
            for index in (0, 1):
                reports.append(_discover(mesh, prom, times[index], db, work / f"r{index}.json"))
        after_two = work / "after-two.db"
        shutil.copyfile(db, after_two)
        octet = mesh_octet(offset=103)
        docs = {C: closed_manifests(octet=octet)}
        backends = {C: backend_plan(C, docs[C], octet=octet)}
        with Mesh(
            [C],
            octet=octet,
            workdir=work / "closed",
            generated=docs,
            generated_backends=backends,
        ) as closed:
            reports.append(_discover(closed, prom, times[2], db, work / "r2.json"))
    assert STEP < 600
    return Runs(tuple(reports), times, f"sqlite:///{after_two}", f"sqlite:///{db}", work)


@pytest.fixture(scope="module")
def served(runs: Runs) -> Iterator[str]:
    """``meshatlas serve`` over the catalogue as it was after the two runs of the open mesh."""
    place = runs.workdir / "serve-two"
    place.mkdir()
    with serve_process(runs.after_two, place, token=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def served_closed(runs: Runs) -> Iterator[str]:
    place = runs.workdir / "serve-three"
    place.mkdir()
    with serve_process(runs.after_three, place, token=TOKEN) as url:
        yield url


def _get(url: str, path: str, **params: str) -> Any:
    response = httpx.get(f"{url}{path}", params=params, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return response.json() if "json" in response.headers["content-type"] else response.text


def _keys(found: list[dict[str, Any]]) -> set[tuple[str, str, str, tuple[str, ...], str]]:
    return {
        (f["kind"], f["severity"], f["subject"], tuple(f["objects"]), f["reason"]) for f in found
    }


def _asset_of(report: dict[str, Any], namespace: str, service: str) -> tuple[str, str]:
    (found,) = [
        api["asset"]
        for s in report["services"]
        if (s["namespace"], s["name"]) == (namespace, service)
        for api in s["apis"]
        if api.get("asset")
    ]
    return found["group_id"], found["asset_id"]


# -- REST ---------------------------------------------------------------------------


def test_rest_findings_equal_the_reports_posture_findings(runs: Runs, served: str) -> None:
    answer = _get(served, "/meshatlas/api/v1/findings", limit="1000")
    report = runs.reports[1]["posture"]["findings"]
    assert answer["total"] == len(report) == len(EXPECTED)
    assert _keys(answer["findings"]) == _keys(report)
    assert all(f["source"] == "posture" and f["cluster"] == C for f in answer["findings"])
    # The fixture's truth, independent of any output: bank/ledger denies bank/teller.
    (denied,) = [f for f in answer["findings"] if f["subject"] == LEDGER_DENIED]
    assert (denied["kind"], denied["severity"]) == ("policy-denies-observed-caller", "high")
    assert denied["objects"] == ["AuthorizationPolicy bank/ledger"]
    assert denied["node"] == f"{C}/bank/ledger" and denied["namespace"] == "bank"
    group_id, asset_id = _asset_of(runs.reports[1], "bank", "ledger")
    assert denied["asset"] == f"{group_id}:{asset_id}"
    assert answer["resolved"] == []


def test_first_seen_is_the_first_run_and_last_seen_the_second(runs: Runs, served: str) -> None:
    answer = _get(served, "/meshatlas/api/v1/findings", limit="1000")
    first, second = (t.isoformat() for t in runs.times[:2])
    assert {(f["firstSeen"], f["lastSeen"]) for f in answer["findings"]} == {(first, second)}
    (run,) = answer["runs"]
    assert run["takenAt"] == second and run["carriesFindings"] is True


def test_filters_narrow_the_list(runs: Runs, served: str) -> None:
    report = runs.reports[1]["posture"]["findings"]
    high = _get(served, "/meshatlas/api/v1/findings", severity="high")
    assert high["total"] == sum(1 for f in report if f["severity"] == "high")
    pricing = _get(
        served, "/meshatlas/api/v1/findings", namespace="pricing", kind="l7-policy-on-ztunnel"
    )
    assert [f["subject"] for f in pricing["findings"]] == [f"{C}/pricing/quotes"]
    assert _get(served, "/meshatlas/api/v1/findings", source="drift")["total"] == 0
    assert _get(served, "/meshatlas/api/v1/findings", cluster="elsewhere")["total"] == 0
    paged = _get(served, "/meshatlas/api/v1/findings", limit="5", offset="10")
    assert len(paged["findings"]) == len(report) - 10 and paged["total"] == len(report)
    refused = httpx.get(f"{served}/meshatlas/api/v1/findings", params={"severity": "dire"})
    assert refused.status_code == 400 and refused.json()["field"] == "severity"


def test_an_assets_findings_are_its_instances_findings(runs: Runs, served: str) -> None:
    report = runs.reports[1]
    instances = {
        (i["namespace"], i["service"], i["port"]): i for i in report["posture"]["instances"]
    }
    group_id, asset_id = _asset_of(report, "bank", "ledger")
    answer = _get(served, f"/meshatlas/api/v1/assets/{group_id}/{asset_id}/findings")
    assert sorted(f["kind"] for f in answer["findings"]) == sorted(
        instances[("bank", "ledger", 8080)]["findings"]
    )
    assert answer["posture"] == "high"
    for secured in SECURED:
        namespace, service = secured.split("/")
        group_id, asset_id = _asset_of(report, namespace, service)
        answer = _get(served, f"/meshatlas/api/v1/assets/{group_id}/{asset_id}/findings")
        assert (answer["posture"], answer["findings"]) == ("ok", []), secured
    missing = httpx.get(f"{served}/meshatlas/api/v1/assets/{group_id}/no-such-api/findings")
    assert missing.status_code == 404


def test_closing_the_gaps_lists_them_as_resolved(runs: Runs, served_closed: str) -> None:
    before = runs.reports[1]["posture"]["findings"]
    after = runs.reports[2]["posture"]["findings"]
    answer = _get(served_closed, "/meshatlas/api/v1/findings", limit="1000")
    assert _keys(answer["findings"]) == _keys(after)
    gone = {(f["kind"], f["subject"]) for f in before} - {(f["kind"], f["subject"]) for f in after}
    assert gone and (("policy-denies-observed-caller", LEDGER_DENIED) in gone)
    assert {(f["kind"], f["subject"]) for f in answer["resolved"]} == gone
    (ledger,) = [f for f in answer["resolved"] if f["subject"] == LEDGER_DENIED]
    assert ledger["resolved"] is True
    assert (ledger["firstSeen"], ledger["lastSeen"]) == (
        runs.times[0].isoformat(),
        runs.times[1].isoformat(),
    )


# -- the portal ---------------------------------------------------------------------


def _rows(html: str, table: str) -> int:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return body.count('<tr class="finding"') + body.count('<tr class="resolved"')


def test_the_findings_page_filters_in_the_server(runs: Runs, served: str) -> None:
    report = runs.reports[1]["posture"]["findings"]
    page = _get(served, "/portal/findings.html")
    assert _rows(page, "findings") == len(report)
    assert 'id="nav-findings"' in page and "<script>" not in page
    for severity in ("high", "medium", "low"):
        page = _get(served, "/portal/findings.html", severity=severity)
        assert _rows(page, "findings") == sum(1 for f in report if f["severity"] == severity)
        assert f'<option value="{severity}" selected>' in page
    page = _get(served, "/portal/findings.html", kind="no-authorization-policy", namespace="web")
    assert _rows(page, "findings") == 1 and f"{C}/web/storefront" in page
    page = _get(served, "/portal/findings.html", source="drift")
    assert _rows(page, "findings") == 0 and 'id="findings-none"' in page
    csp = httpx.get(f"{served}/portal/findings.html", trust_env=False).headers
    assert "script-src 'self'" in csp["content-security-policy"]


def test_badges_on_the_home_list_and_the_api_page(runs: Runs, served: str) -> None:
    report = runs.reports[1]
    home = _get(served, "/portal/")
    assert '<span class="badge posture-high">high</span>' in home
    assert '<span class="badge posture-ok">ok</span>' in home
    group_id, asset_id = _asset_of(report, "bank", "ledger")
    page = _get(served, f"/portal/apis/{group_id}/{asset_id}.html")
    assert 'id="posture-badge">high<' in page and html.escape(LEDGER_DENIED) in page
    assert 'id="drift"' in page
    group_id, asset_id = _asset_of(report, "bank", "accounts")
    page = _get(served, f"/portal/apis/{group_id}/{asset_id}.html")
    assert 'id="posture-badge">ok<' in page and "Judged, and nothing found." in page


def test_the_findings_page_renders_in_chromium(runs: Runs, served: str) -> None:
    from selenium.webdriver.common.by import By

    from tests.test_portal import _screenshot

    with chromium(runs.workdir / "chromium", size=(1280, 1000)) as driver:
        driver.get(f"{served}/portal/findings.html?severity=high")
        rows = driver.find_elements(By.CSS_SELECTOR, "#findings tbody tr.finding")
        high = [f for f in runs.reports[1]["posture"]["findings"] if f["severity"] == "high"]
        assert len(rows) == len(high)
        badge = driver.find_element(By.CSS_SELECTOR, "#findings .badge.posture-high")
        assert badge.value_of_css_property("background-color") == "rgba(254, 202, 202, 1)"
        _screenshot(driver, "findings")
        group_id, asset_id = _asset_of(runs.reports[1], "bank", "ledger")
        driver.get(f"{served}/portal/apis/{group_id}/{asset_id}.html")
        assert driver.find_element(By.ID, "posture-badge").text == "high"
        _screenshot(driver, "api-posture")
        # Nothing refused by the CSP, nothing failing but the favicon no page names.
        errors = [
            e["message"]
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "/favicon.ico" not in e["message"]
        ]
        assert errors == []


# -- Backstage ----------------------------------------------------------------------


def test_backstage_entities_carry_posture(
    runs: Runs,
    served: str,
    schemas: dict[str, Any],  # noqa: F811
) -> None:
    text = _get(served, "/meshatlas/api/v1/backstage/catalog-info.yaml", layout="single")
    entities = [e for e in yaml.safe_load_all(text) if e]
    apis = {
        e["metadata"]["annotations"]["meshatlas.io/asset"].rsplit(":", 1)[0]: e
        for e in entities
        if e["kind"] == "API"
    }
    report = runs.reports[1]
    ledger = apis[":".join(_asset_of(report, "bank", "ledger"))]
    instance = next(
        i
        for i in report["posture"]["instances"]
        if (i["namespace"], i["service"]) == ("bank", "ledger")
    )
    annotations = ledger["metadata"]["annotations"]
    assert annotations["meshatlas.io/posture"] == "high"
    assert annotations["meshatlas.io/findings"] == str(len(instance["findings"]))
    assert "posture-high" in ledger["metadata"]["tags"]
    accounts = apis[":".join(_asset_of(report, "bank", "accounts"))]
    assert accounts["metadata"]["annotations"]["meshatlas.io/posture"] == "ok"
    assert accounts["metadata"]["annotations"]["meshatlas.io/findings"] == "0"
    assert "posture-ok" in accounts["metadata"]["tags"]
    for entity in entities:
        _validate(entity, schemas)
        for tag in entity["metadata"].get("tags", []):
            assert len(tag) <= 63


# -- kept per run: the stored form -----------------------------------------------------


def test_a_graph_without_findings_reads_and_digests_as_before() -> None:
    node = GraphNode(id="c/ns/a", kind="service", name="a", namespace="ns", cluster="c")
    old = RunGraph("c", datetime(2026, 1, 1, tzinfo=UTC), None, (node,), ())
    body = graph_json(old)
    assert "findings" not in body
    assert graph_from_json(body) == old
    found = catalog_findings.RunFindings(
        items=(
            catalog_findings.RunFinding(
                source="drift",
                severity="medium",
                kind="undocumented-operation",
                subject="c/ns/a:8080",
                objects=("Operation GET /x",),
                reason="r",
                node="c/ns/a",
                operation="GET /x",
                calls=7,
            ),
        ),
        drift_judged=("c/ns/a",),
    )
    new = RunGraph("c", old.taken_at, None, (node,), (), findings=found)
    assert graph_from_json(orjson.loads(orjson.dumps(graph_json(new)))) == new
    assert new.digest() != old.digest()


def test_the_drift_panel_shows_drift_findings_with_calls(tmp_path: Path) -> None:
    # A run graph handed in with drift findings about one API's instance: its page lists them.
    draft = AssetDraft(
        group_id="acme",
        asset_id="ns-a",
        name="A",
        type="rest-api",
        description=None,
        spec_version_hint=None,
        files=(AssetFile(classifier="oas", packaging="json", content=b'{"openapi": "3.0.3"}'),),
        operations=("GET /documented",),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=Instance("c", "ns", "a", 8080, "http://a.ns:8080"),
        dependencies=(),
        provenance=Provenance(method="probe", detail="test"),
    )
    node = GraphNode(id="c/ns/a", kind="service", name="a", namespace="ns", cluster="c")
    shadow = catalog_findings.RunFinding(
        source="drift",
        severity="medium",
        kind="undocumented-operation",
        subject="c/ns/a:8080",
        objects=("Operation GET /shadow",),
        reason="GET /shadow was called 7 times",
        node="c/ns/a",
        asset="acme:ns-a",
        operation="GET /shadow",
        calls=7,
    )
    unused = dataclasses.replace(
        shadow, kind="unused-operation", severity="low", operation="GET /documented", calls=0
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        store.publish(draft, seen_at=at)
        site = LiveSite(store)
        before = (site.page("apis/acme/ns-a.html", {}) or _none()).content.decode()
        assert 'id="posture-badge">not judged<' in before and 'id="drift-table"' not in before
        found = catalog_findings.RunFindings(items=(shadow, unused), drift_judged=("c/ns/a",))
        store.save_run_graph(RunGraph("c", at, None, (node,), (), findings=found))
        page = (site.page("apis/acme/ns-a.html", {}) or _none()).content.decode()
        panel = page.split('id="drift-table"', 1)[1].split("</table>", 1)[0]
        assert panel.count('<tr class="drift"') == 2
        assert "<code>GET /shadow</code>" in panel and '<td class="num">7</td>' in panel
        assert '<td class="num">0</td>' in panel
        # Drift alone does not judge posture.
        assert 'id="posture-badge">not judged<' in page
        listed = (site.page("findings.html", {"source": "drift"}) or _none()).content.decode()
        assert _rows(listed, "findings") == 2


def _none() -> Any:
    pytest.fail("no page")
