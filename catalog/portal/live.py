"""The portal as ``meshatlas serve`` serves it: each page reads only what it shows.

A static copy (:class:`~catalog.portal.pages.Site`) holds every asset in
memory and lists them all on one page, filtered in the browser. Served from
a catalogue of ten thousand APIs, that cost every page a full export. Here
the home page is one page of search results (the filters and every-word
search run in the database, with links to the next and previous pages), an
API page (of its latest or of any version, or two versions compared) reads
its asset, what it calls and what calls it, and a description page reads
one file. The graph page draws one bounded view of a kept run graph
(:func:`catalog.portal.graphsvg.run_graph_context`), or the whole
catalogue's dependencies, from light summaries, while no run graph is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

from catalog import findings
from catalog.errors import InvalidAsset, NotFound
from catalog.graphmodel import RunGraphHeader
from catalog.model import AssetSummary
from catalog.portal import charts, graphsvg, pages
from catalog.portal.pages import Page
from catalog.storage.store import MAX_PAGE, CatalogStore

__all__ = ["PAGE_SIZE", "LiveSite"]

#: APIs on one page of the served home page.
PAGE_SIZE: Final = 100
_FILTERS: Final = ("q", "type", "lifecycle", "namespace")


class LiveSite:
    """The portal over a store, read page by page.

    Args:
        store: The catalogue; thread-safe, as every call opens its own transaction.
        page_size: APIs per home page, 1 to :data:`catalog.storage.store.MAX_PAGE`.
    """

    def __init__(self, store: CatalogStore, *, page_size: int = PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE}")
        self._store = store
        self._page_size = page_size

    def page(self, path: str, query: Mapping[str, str]) -> Page | None:
        """The page at ``path`` with the home page's filters in ``query``, or None.

        Raises:
            StoreError: The database failed.
        """
        if path in ("", "index.html"):
            return pages.render("index.html", self._index(query), static=False)
        if path == "graph.html":
            return self._graph(query)
        if path == "findings.html":
            return self._findings(query)
        if path.startswith("static/"):
            return pages.static_file(path)
        if match := pages.API_PAGE.match(path):
            return self._api(path, match[1], match[2])
        if match := pages.VERSION_PAGE.match(path):
            return self._api(path, match[1], match[2], version=match[3])
        if match := pages.DIFF_PAGE.match(path):
            return self._diff(path, match[1], match[2], match[3], match[4])
        if match := pages.SPEC_PAGE.match(path):
            return self._spec(path, match[1], match[2], match[3], match[4])
        return None

    def _graph(self, query: Mapping[str, str]) -> Page:
        """The kept run graphs as the query picks, or the assets' graph when none is kept."""
        headers = self._store.run_graphs()
        if not headers:
            context = pages.graph_context(self._store.summaries())
        else:
            context = graphsvg.run_graph_context(headers, query, load=self._store.run_graph)
        return pages.render("graph.html", context, static=False)

    def _index(self, query: Mapping[str, str]) -> dict[str, object]:
        chosen = {name: query.get(name, "").strip() for name in _FILTERS}
        number = _page_number(query.get("page"))
        types, lifecycles, namespaces = self._store.facets()
        try:
            found = self._store.search(
                words=chosen["q"].split(),
                type=chosen["type"] or None,
                lifecycle=chosen["lifecycle"] or None,
                namespace=chosen["namespace"] or None,
                offset=(number - 1) * self._page_size,
                limit=self._page_size,
            )
            assets, total = found.assets, found.total
        except InvalidAsset:  # an unknown type or lifecycle in the URL matches nothing
            assets, total = (), 0
        first = (number - 1) * self._page_size

        def link(to: int) -> str:
            kept = {k: v for k, v in chosen.items() if v}
            return "?" + urlencode({**kept, "page": to}) if to > 1 or kept else "./"

        return {
            "root": "",
            "title": "APIs",
            "rows": self._with_posture([_row(asset) for asset in assets]),
            "types": types,
            "lifecycles": lifecycles,
            "namespaces": namespaces,
            "total": total,
            "paging": {
                "first": first + 1 if assets else 0,
                "last": first + len(assets),
                "previous": link(number - 1) if number > 1 else None,
                "next": link(number + 1) if first + len(assets) < total else None,
            },
        }

    def _api(
        self, path: str, group_id: str, asset_id: str, *, version: str | None = None
    ) -> Page | None:
        try:
            asset = self._store.get(group_id, asset_id)
        except NotFound:
            return None
        shown = None
        if version is not None:
            shown = next((v for v in asset.versions if v.version == version), None)
            if shown is None:
                return None
        providers: list[AssetSummary | None] = []
        for dependency in asset.latest.dependencies:
            called_group, called_asset = dependency.split(":")[:2]
            try:
                providers.append(self._store.describe(called_group, called_asset).asset)
            except NotFound:
                providers.append(None)
        consumers = self._store.callers(group_id, asset_id)
        context = pages.api_context(asset, providers, consumers, version=shown)
        context["posture"] = findings.of_asset(asset, self._finding_clusters())
        # Inbound traffic over the kept runs, charted (catalog.portal.charts).
        context["analytics"] = charts.panel(
            charts.history(asset, headers=self._run_graphs_of, load=self._store.run_graph)
        )
        return pages.render(path, context, static=False, template="api.html")

    def _run_graphs_of(self, cluster: str) -> list[RunGraphHeader]:
        return self._store.run_graphs(cluster=cluster)

    def _diff(self, path: str, group_id: str, asset_id: str, old: str, new: str) -> Page | None:
        try:
            asset = self._store.get(group_id, asset_id)
        except NotFound:
            return None
        context = pages.diff_context(asset, old, new)
        if context is None:
            return None
        return pages.render(path, context, static=False, template="diff.html")

    def _spec(self, path: str, group_id: str, asset_id: str, version: str, ext: str) -> Page | None:
        try:
            found = self._store.file(group_id, asset_id, version=version)
        except NotFound:
            return None
        if found is None or found.packaging != ext:
            return None
        return Page(path, found.content, pages.CONTENT_TYPES[ext])

    # -- posture and drift findings (catalog.findings) ------------------------------

    def _finding_clusters(self) -> list[findings.ClusterFindings]:
        reader = findings.FindingsReader(headers=self._store.run_graphs, load=self._store.run_graph)
        return reader.clusters()

    def _with_posture(self, rows: list[dict[str, object]]) -> list[dict[str, object]]:
        """Each home page row with its API's posture badge."""
        clusters = self._finding_clusters()
        for row in rows:
            asset = row["asset"]
            assert isinstance(asset, AssetSummary)
            row["posture"] = findings.of_asset(asset, clusters).status
        return rows

    def _findings(self, query: Mapping[str, str]) -> Page:
        """Every cluster's current findings, filtered and paged in the server."""
        clusters = self._finding_clusters()
        everything, _ = findings.select(clusters)
        wanted = {name: query.get(name, "").strip()[:200] for name in _FINDING_FILTERS}
        chosen = findings.FindingFilter(**{k: v or None for k, v in wanted.items()})
        current, resolved = findings.select(clusters, chosen)
        number = _page_number(query.get("page"))
        first = (number - 1) * FINDINGS_PAGE

        def link(to: int) -> str:
            kept = {k: v for k, v in wanted.items() if v}
            return "?" + urlencode({**kept, "page": to})

        shown = current[first : first + FINDINGS_PAGE]
        namespaces = {findings.where(s.finding)[1] for s in everything}
        context: dict[str, object] = {
            "root": "",
            "title": "Findings",
            "chosen": wanted,
            "severities": findings.SEVERITIES,
            "sources": findings.SOURCES,
            "kinds": sorted({s.finding.kind for s in everything}),
            "namespaces": sorted(n for n in namespaces if n),
            "clusters": [c.cluster for c in clusters],
            "runs": clusters,
            "rows": shown,
            "total": len(current),
            "counts": {
                sev: sum(1 for s in current if s.finding.severity == sev)
                for sev in findings.SEVERITIES
            },
            "resolved": resolved[:FINDINGS_PAGE],
            "resolved_total": len(resolved),
            "paging": {
                "first": first + 1 if shown else 0,
                "last": first + len(shown),
                "previous": link(number - 1) if number > 1 else None,
                "next": link(number + 1) if first + len(shown) < len(current) else None,
            },
            "api_href": _asset_href,
        }
        return pages.render("findings.html", context, static=False)


#: Findings on one page of the findings page.
FINDINGS_PAGE: Final = 100
_FINDING_FILTERS: Final = ("severity", "kind", "source", "namespace", "cluster")


def _asset_href(asset: str | None) -> str | None:
    """The API page of ``group:asset``, relative to the portal root."""
    if not asset or ":" not in asset:
        return None
    group_id, asset_id = asset.split(":", 1)
    return f"apis/{group_id}/{asset_id}.html"


def _row(asset: AssetSummary) -> dict[str, object]:
    latest = asset.latest
    words = [asset.name, asset.asset_id, asset.description or "", *asset.tags]
    return {
        "asset": asset,
        "href": pages.api_path(asset),
        "namespaces": sorted({i.namespace for i in latest.instances}),
        "operations": len(latest.operations),
        "search": " ".join([*words, *latest.operations]).lower(),
    }


def _page_number(text: str | None) -> int:
    try:
        number = int(text or "1")
    except ValueError:
        return 1
    return max(1, min(number, 10**9))
