"""The static portal with the pages a served portal reads from kept runs.

:func:`catalog.portal.write` copies the asset pages. A catalogue that keeps
run graphs also holds each cluster's service graph and the findings of its
newest runs; a static site has no query string to pick a cluster or filter
findings with, so :func:`write` fixes the choice:

* ``graph.html``: the newest kept run graph of the first cluster (by name),
  as the served page shows it without a query, and ``graph-<cluster>.html``
  for every cluster, linked from each other;
* ``findings.html``: every cluster's current findings, unfiltered, most
  severe first, with those resolved since the run before.

Without kept run graphs ``graph.html`` stays the assets' dependency graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from catalog import findings, portal
from catalog.graphmodel import RunGraph, RunGraphHeader
from catalog.model import Asset
from catalog.portal import graphsvg, pages
from catalog.portal.pages import Page

__all__ = ["cluster_page", "extra_pages", "write"]


def write(
    assets: Sequence[Asset],
    out: Path,
    *,
    headers: Sequence[RunGraphHeader] = (),
    load: Callable[[int], RunGraph] | None = None,
) -> list[Path]:
    """Write the static portal under ``out``; returns the files written.

    Args:
        assets: Every asset of the catalogue.
        out: The folder (created when missing).
        headers: Every kept run graph, newest first.
        load: Reads one kept graph by id (needed when ``headers`` is not empty).
    """
    written = portal.write(assets, out)
    for page in extra_pages(headers, load):
        path = out / page.path
        path.write_bytes(page.content)
        if path not in written:
            written.append(path)
    return written


def extra_pages(
    headers: Sequence[RunGraphHeader], load: Callable[[int], RunGraph] | None
) -> list[Page]:
    """The run graph pages and the findings page (the findings page is always there)."""
    if not headers or load is None:
        return [_findings_page([])]
    clusters = sorted({h.cluster for h in headers})
    links = [(c, cluster_page(c)) for c in clusters]
    made = []
    for cluster in clusters:
        context = graphsvg.run_graph_context(headers, {"cluster": cluster}, load=load)
        context["static_clusters"] = links
        made.append(
            pages.render(cluster_page(cluster), context, static=True, template="graph.html")
        )
        if cluster == clusters[0]:
            made.append(pages.render("graph.html", context, static=True))
    reader = findings.FindingsReader(headers=lambda: list(headers), load=load)
    made.append(_findings_page(reader.clusters()))
    return made


def cluster_page(cluster: str) -> str:
    """The static page of one cluster's newest kept run graph."""
    return "graph-" + re.sub(r"[^A-Za-z0-9_.-]", "-", cluster) + ".html"


def _findings_page(clusters: Sequence[findings.ClusterFindings]) -> Page:
    current, resolved = findings.select(clusters)
    context: dict[str, object] = {
        "root": "",
        "title": "Findings",
        "chosen": {},
        "severities": findings.SEVERITIES,
        "sources": findings.SOURCES,
        "kinds": sorted({s.finding.kind for s in current}),
        "namespaces": [],
        "clusters": [c.cluster for c in clusters],
        "runs": clusters,
        "rows": current,
        "total": len(current),
        "counts": {
            sev: sum(1 for s in current if s.finding.severity == sev) for sev in findings.SEVERITIES
        },
        "resolved": resolved,
        "resolved_total": len(resolved),
        "paging": {
            "first": 1 if current else 0,
            "last": len(current),
            "previous": None,
            "next": None,
        },
        "api_href": _asset_href,
    }
    return pages.render("findings.html", context, static=True)


def _asset_href(asset: str | None) -> str | None:
    if not asset or ":" not in asset:
        return None
    group_id, asset_id = asset.split(":", 1)
    return f"apis/{group_id}/{asset_id}.html"
