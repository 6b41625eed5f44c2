"""Portal graph benchmark: page weight and render time of the graph views at 5,000 Services.

    python bench/portal_graph.py [--namespaces 50] [--per-namespace 100] [--repeat 5]
                                 [--no-browser]

Stores one synthetic run graph (``tests.test_portal_graph.synthetic_graph``:
Services in namespaces calling each other in trees, rings across namespaces,
unknown ingress, external hosts, TCP services) in a fresh SQLite catalogue,
publishes the same graph once through ``POST /meshatlas/api/v1/run-graphs``
of a catalogue server on loopback, then asks that server for each view of
the graph page: the whole mesh (namespaces as nodes), one namespace drilled
into, a find, and the mesh Service by Service (capped). For each view it
prints the page's bytes, the SVG's, nodes and edges drawn, the server's time
for the first request (the view laid out by Graphviz) and the median of the
repeats (the cached view). With Chromium and chromedriver installed it then
loads each view in headless Chromium (views the server has drawn once, as
any second visitor gets them) and prints the time from navigation until the
page has loaded and until the first graph node is inside the window (the
issue's target: within 2 s), then the same figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import catalog  # noqa: E402
from catalog import server  # noqa: E402
from catalog.graphmodel import graph_json  # noqa: E402
from tests.test_portal_graph import VISIBLE_NODES, synthetic_graph  # noqa: E402

TOKEN = "bench-portal-graph"
VIEWS = {
    "mesh (namespaces)": {},
    "namespace ns-03": {"namespace": "ns-03"},
    "find svc-005": {"find": "svc-005"},
    "mesh (services, capped)": {"view": "services"},
}


def _server_figures(url: str, repeat: int) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
        for name, params in VIEWS.items():
            started = time.perf_counter()
            page = http.get("/portal/graph.html", params=params)
            cold = time.perf_counter() - started
            page.raise_for_status()
            warm = []
            for _ in range(repeat):
                started = time.perf_counter()
                http.get("/portal/graph.html", params=params).raise_for_status()
                warm.append(time.perf_counter() - started)
            html = page.text
            svg = html[html.find("<svg") : html.find("</svg>") + 6] if "<svg" in html else ""
            figures[name] = {
                "page_bytes": len(page.content),
                "svg_bytes": len(svg.encode()),
                "nodes": svg.count('class="node"'),
                "edges": svg.count('class="edge"'),
                "first_ms": round(cold * 1000, 1),
                "cached_ms": round(statistics.median(warm) * 1000, 1),
            }
    return figures


def _browser_figures(url: str) -> dict[str, dict[str, Any]] | None:
    chromium, chromedriver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and chromedriver.exists()):
        return None
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tempfile.mkdtemp(prefix='bench-chromium-')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(chromedriver))
    )
    figures: dict[str, dict[str, Any]] = {}
    try:
        for name, params in VIEWS.items():
            query = str(httpx.QueryParams(params))
            target = f"{url}/portal/graph.html" + (f"?{query}" if query else "")
            driver.get("about:blank")
            started = time.perf_counter()
            driver.get(target)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(VISIBLE_NODES) > 0)
            visible = time.perf_counter() - started
            timing = driver.execute_script(
                "var t = performance.getEntriesByType('navigation')[0];"
                " return [t.responseEnd, t.domContentLoadedEventEnd, t.loadEventEnd];"
            )
            figures[name] = {
                "response_ms": round(timing[0], 1),
                "dom_ready_ms": round(timing[1], 1),
                "loaded_ms": round(timing[2], 1),
                "node_visible_ms": round(visible * 1000, 1),
                "nodes_in_window": driver.execute_script(VISIBLE_NODES),
            }
    finally:
        driver.quit()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--per-namespace", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)

    graph = synthetic_graph(namespaces=args.namespaces, per_namespace=args.per_namespace)
    services = sum(1 for n in graph.nodes if n.kind in ("service", "tcp"))
    print(f"graph: {services} Services, {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    result: dict[str, Any] = {"services": services, "nodes": len(graph.nodes)}
    with tempfile.TemporaryDirectory() as tmp:
        with catalog.open_store(f"sqlite:///{tmp}/catalog.db") as store:
            started = time.perf_counter()
            store.save_run_graph(graph)
            result["store_save_ms"] = round((time.perf_counter() - started) * 1000, 1)
            hashes = server.parse_hashes([server.hash_token(TOKEN)])
            app = server.make_app(store, auth=server.Auth(token_hashes=hashes))
            with server.RunningServer(app) as running:
                body = json.dumps(graph_json(graph)).encode()
                started = time.perf_counter()
                posted = httpx.post(
                    f"{running.url}/meshatlas/api/v1/run-graphs",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {TOKEN}",
                        "Content-Type": "application/json",
                    },
                    trust_env=False,
                    timeout=120,
                )
                posted.raise_for_status()
                result["publish_bytes"] = len(body)
                result["publish_ms"] = round((time.perf_counter() - started) * 1000, 1)
                result["server"] = _server_figures(running.url, args.repeat)
                result["browser"] = None if args.no_browser else _browser_figures(running.url)
    print(
        f"store save {result['store_save_ms']} ms; publish {result['publish_bytes']:,} B"
        f" in {result['publish_ms']} ms"
    )
    print(
        f"{'view':26} {'page B':>9} {'svg B':>9} {'nodes':>6} {'edges':>6}"
        f" {'first ms':>9} {'cached ms':>10}"
    )
    for name, row in result["server"].items():
        print(
            f"{name:26} {row['page_bytes']:>9,} {row['svg_bytes']:>9,} {row['nodes']:>6}"
            f" {row['edges']:>6} {row['first_ms']:>9} {row['cached_ms']:>10}"
        )
    if result["browser"]:
        print(
            f"{'Chromium':26} {'loaded ms':>10} {'node in window ms':>18} {'nodes in window':>16}"
        )
        for name, row in result["browser"].items():
            print(
                f"{name:26} {row['loaded_ms']:>10} {row['node_visible_ms']:>18}"
                f" {row['nodes_in_window']:>16}"
            )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
