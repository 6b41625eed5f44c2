"""``meshatlas export portal`` writes the run graph and findings pages the served portal has.

A real SQLite catalogue holds one API and kept run graphs of two clusters
(two runs of ``east``, one of ``west``), each handing in findings. The
expected pages come from what the test stored: the findings of each
cluster's newest run, the nodes of each cluster's newest graph. The exported
folder is then served by a plain loopback file server and read in headless
Chromium, where the CSP must refuse nothing.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from catalog import findings
from catalog.exports import portal as portal_export
from catalog.graphmodel import GraphEdge, GraphNode, RunGraph
from catalog.model import AssetDraft, AssetFile, Instance, Provenance
from catalog.storage.store import open_store
from meshatlas.cli import main
from tests.chromium import chromium

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _draft() -> AssetDraft:
    return AssetDraft(
        group_id="acme",
        asset_id="shop-orders",
        name="Orders",
        type="rest-api",
        description=None,
        spec_version_hint=None,
        files=(AssetFile(classifier="oas", packaging="json", content=b'{"openapi": "3.0.3"}'),),
        operations=("GET /orders",),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=Instance("east", "shop", "orders", 8000, "http://orders.shop:8000"),
        dependencies=(),
        provenance=Provenance(method="probe", detail="test"),
    )


def _node(cluster: str, namespace: str, name: str) -> GraphNode:
    return GraphNode(
        id=f"{cluster}/{namespace}/{name}",
        kind="service",
        name=name,
        namespace=namespace,
        cluster=cluster,
    )


def _finding(severity: str, kind: str, node: str, **extra: Any) -> findings.RunFinding:
    return findings.RunFinding(
        source="posture",
        severity=severity,  # type: ignore[arg-type]
        kind=kind,
        subject=node,
        objects=(f"PeerAuthentication {node.split('/')[1]}/default",),
        reason=f"{kind} on {node}",
        node=node,
        **extra,
    )


OLD_ONLY = _finding("medium", "no-authorization-policy", "east/shop/payments")
EAST_NEW = (
    _finding("low", "jwt-optional", "east/shop/orders", asset="acme:shop-orders"),
    _finding("high", "plaintext-accepted", "east/shop/orders", asset="acme:shop-orders"),
    _finding("info", "exposed-without-auth", "east/shop/frontend"),
)
WEST = (_finding("medium", "no-authorization-policy", "west/billing/ledger"),)


def _graphs() -> list[RunGraph]:
    east_old = RunGraph(
        "east",
        T0,
        "10m",
        (
            _node("east", "shop", "orders"),
            _node("east", "shop", "payments"),
            _node("east", "shop", "legacy"),
        ),
        (),
        findings=findings.RunFindings(items=(OLD_ONLY, EAST_NEW[1])),
    )
    east_nodes = (
        _node("east", "shop", "frontend"),
        _node("east", "shop", "orders"),
        _node("east", "shop", "payments"),
    )
    east_new = RunGraph(
        "east",
        T0 + timedelta(minutes=10),
        "10m",
        east_nodes,
        (
            GraphEdge("east/shop/frontend", "east/shop/orders", "http", "telemetry", rps=4.0),
            GraphEdge("east/shop/orders", "east/shop/payments", "http", "both", rps=2.0),
        ),
        # It judged payments again and found it fixed: the older finding is resolved.
        findings=findings.RunFindings(
            items=EAST_NEW, posture_judged=tuple(n.id for n in east_nodes)
        ),
    )
    west = RunGraph(
        "west",
        T0 + timedelta(minutes=5),
        None,
        (_node("west", "billing", "ledger"), _node("west", "billing", "invoice")),
        (GraphEdge("west/billing/invoice", "west/billing/ledger", "http", "config"),),
        findings=findings.RunFindings(items=WEST),
    )
    return [east_old, east_new, west]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{tmp / 'c.db'}"
    with open_store(url) as store:
        store.publish(_draft(), seen_at=T0)
        for one in _graphs():
            store.save_run_graph(one)
    out = tmp / "site"
    assert main(["export", "portal", "--catalog", url, "--out", str(out)]) == 0
    return out


def _rows(page: str, table: str) -> list[str]:
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr class=\"(?:finding|resolved)\".*?</tr>", body, flags=re.S)


def test_the_pages_exist_and_the_home_page_links_them(exported: Path) -> None:
    for name in ("index.html", "graph.html", "graph-east.html", "graph-west.html", "findings.html"):
        assert (exported / name).is_file(), name
    home = (exported / "index.html").read_text()
    assert 'href="graph.html" id="nav-graph"' in home
    assert 'href="findings.html" id="nav-findings"' in home
    assert "<script>" not in home and 'http-equiv="Content-Security-Policy"' in home


def test_the_findings_listed_are_the_newest_runs_findings_most_severe_first(
    exported: Path,
) -> None:
    page = (exported / "findings.html").read_text()
    rows = _rows(page, "findings")
    stored = [*EAST_NEW, *WEST]
    assert len(rows) == len(stored)
    listed = [
        (re.search(r'data-severity="(\w+)"', r)[1], re.search(r'data-kind="([\w-]+)"', r)[1])  # type: ignore[index]
        for r in rows
    ]
    order = ("high", "medium", "low", "info")
    assert sorted(listed) == sorted((f.severity, f.kind) for f in stored)
    assert [order.index(s) for s, _ in listed] == sorted(order.index(s) for s, _ in listed)
    for f in stored:
        assert html.escape(f.reason) in page
    # The finding the newer east run no longer holds is listed as resolved.
    resolved = _rows(page, "resolved")
    assert len(resolved) == 1 and OLD_ONLY.kind in resolved[0]
    assert f"<code>{OLD_ONLY.subject}</code>" in resolved[0]
    # No filter form: a static site has no server to filter in.
    assert "<form" not in page and 'id="f-severity"' not in page
    assert 'href="apis/acme/shop-orders.html"' in page


def test_the_graph_pages_name_the_nodes_of_each_clusters_newest_graph(exported: Path) -> None:
    east = (exported / "graph-east.html").read_text()
    assert (exported / "graph.html").read_text() == east  # the first cluster, as served
    for name in ("frontend", "orders", "payments"):
        assert f"east/shop/{name}" in east, name
    assert "legacy" not in east  # only the older run had it
    west = (exported / "graph-west.html").read_text()
    assert "west/billing/ledger" in west and "west/billing/invoice" in west
    assert "east/shop" not in west.split('id="graph-edges"', 1)[1]
    for page in (east, west):
        assert 'href="graph-east.html"' in page and 'href="graph-west.html"' in page
        assert "<form" not in page


def test_without_kept_graphs_the_findings_page_is_still_there(tmp_path: Path) -> None:
    written = portal_export.write([], tmp_path / "site")
    page = (tmp_path / "site" / "findings.html").read_text()
    assert tmp_path / "site" / "findings.html" in written
    assert 'id="findings-none"' in page and "No run has handed in findings yet." in page
    assert 'id="graph-clusters"' not in (tmp_path / "site" / "graph.html").read_text()


@pytest.fixture(scope="module")
def site_url(exported: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(exported))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_the_exported_pages_render_in_chromium_without_console_errors(
    site_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "chromium") as driver:
        driver.get(site_url + "index.html")
        driver.find_element(By.ID, "nav-findings").click()
        rows = driver.find_elements(By.CSS_SELECTOR, "#findings tbody tr.finding")
        assert len(rows) == len(EAST_NEW) + len(WEST)
        assert rows[0].get_attribute("data-severity") == "high"
        driver.find_element(By.ID, "nav-graph").click()
        assert "east" in driver.find_element(By.ID, "graph-run").text
        assert driver.find_elements(By.CSS_SELECTOR, "#graph svg")
        driver.find_element(By.LINK_TEXT, "west").click()
        assert driver.current_url.endswith("graph-west.html")
        assert "west" in driver.find_element(By.ID, "graph-run").text
        errors = [
            e["message"]
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "/favicon.ico" not in e["message"]
        ]
        assert errors == []
