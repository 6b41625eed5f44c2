"""The portal's pages, rendered from catalogue assets with autoescaping Jinja2.

Every page is addressed by a path relative to the portal's root
(``index.html``, ``apis/<group>/<asset>.html`` (its latest version),
``apis/<group>/<asset>/versions/<version>.html`` (any version),
``apis/<group>/<asset>/diff/<from>_<to>.html`` (two versions compared),
``graph.html``, ``static/…``, ``specs/<group>/<asset>/<version>.<packaging>``)
and links to the others
relatively, so the same files work under ``meshatlas serve`` (at ``/portal/``)
and from any static web server.

Everything from the catalogue (titles, descriptions, tags, operations) is
untrusted: it reaches HTML only through Jinja2's escaping, and pages carry a
Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

import jinja2

from catalog.model import Asset, AssetSummary, AssetVersion
from catalog.portal import graphsvg
from catalog.portal.contract import ContractView, View, contract_view
from catalog.portal.operations import changes, operations
from catalog.publishing import changes as contract_changes

__all__ = [
    "API_PAGE",
    "CONTENT_TYPES",
    "CSP",
    "DIFF_PAGE",
    "META_CSP",
    "SPEC_PAGE",
    "VERSION_PAGE",
    "Page",
    "Site",
    "api_context",
    "api_path",
    "diff_context",
    "graph_context",
    "render",
    "static_file",
]

#: The portal's Content-Security-Policy: own files only, no inline script or style.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The same as a ``<meta>`` tag allows it (no ``frame-ancestors``) for static copies.
META_CSP: Final = CSP.rsplit(";", 1)[0]
STATIC_FILES: Final = ("portal.css", "portal.js")
CONTENT_TYPES: Final = {
    "html": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "json": "application/json",
    "yaml": "application/yaml",
    "wsdl": "application/wsdl+xml",
    "xml": "application/xml",
    "graphql": "text/plain; charset=utf-8",
    "proto": "text/plain; charset=utf-8",
    "protobuf": "application/octet-stream",
}
API_PAGE: Final = re.compile(r"^apis/([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*)\.html$")
_ID: Final = r"([a-z0-9][a-z0-9.-]*)"
_VERSION: Final = r"([0-9A-Za-z.+-]+)"
VERSION_PAGE: Final = re.compile(rf"^apis/{_ID}/{_ID}/versions/{_VERSION}\.html$")
DIFF_PAGE: Final = re.compile(rf"^apis/{_ID}/{_ID}/diff/{_VERSION}_{_VERSION}\.html$")
SPEC_PAGE: Final = re.compile(
    r"^specs/([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*)/([0-9A-Za-z.+-]+)\.(json|yaml|wsdl|xml|graphql|proto|protobuf)$"
)


@dataclass(frozen=True, slots=True)
class Page:
    """One file of the portal."""

    path: str
    content: bytes
    content_type: str


class Site:
    """The portal over one snapshot of the catalogue.

    Args:
        assets: Every asset, as :meth:`catalog.CatalogStore.list_assets` returns them.
        static: Pages for a static copy (a ``<meta>`` CSP, ``index.html`` links).
    """

    def __init__(self, assets: Sequence[Asset], *, static: bool = False) -> None:
        self._assets = list(assets)
        self._by_key = {f"{a.group_id}:{a.asset_id}": a for a in self._assets}
        self._static = static

    def page(self, path: str) -> Page | None:
        """The page at ``path`` (relative to the portal root), or None."""
        if path in ("", "index.html"):
            return self._html("index.html", self._index())
        if path == "graph.html":
            return self._html("graph.html", self._graph())
        if path.startswith("static/"):
            return static_file(path)
        if match := API_PAGE.match(path):
            asset = self._by_key.get(f"{match[1]}:{match[2]}")
            return self._html(path, self._api(asset)) if asset else None
        if match := VERSION_PAGE.match(path):
            asset = self._by_key.get(f"{match[1]}:{match[2]}")
            version = _version(asset, match[3]) if asset else None
            if asset is None or version is None:
                return None
            return render(path, self._api(asset, version), static=self._static, template="api.html")
        if match := DIFF_PAGE.match(path):
            asset = self._by_key.get(f"{match[1]}:{match[2]}")
            context = diff_context(asset, match[3], match[4]) if asset else None
            if context is None:
                return None
            return render(path, context, static=self._static, template="diff.html")
        if match := SPEC_PAGE.match(path):
            return self._spec(path, match[1], match[2], match[3], match[4])
        return None

    def pages(self) -> Iterator[Page]:
        """Every page of the portal (for a static copy)."""
        names = ["index.html", "graph.html", *(f"static/{name}" for name in STATIC_FILES)]
        for asset in self._assets:
            names.append(_api_path(asset))
            previous = None
            for version in asset.versions:
                names.append(version_path(asset, version.version))
                if previous is not None:
                    names.append(diff_path(asset, previous, version.version))
                previous = version.version
                for file in version.files[:1]:
                    names.append(_spec_path(asset, version.version, file.packaging))
        for name in names:
            page = self.page(name)
            if page is not None:
                yield page

    # -- pages ----------------------------------------------------------------------

    def _index(self) -> dict[str, object]:
        rows = []
        for asset in self._assets:
            latest = asset.latest
            namespaces = sorted({i.namespace for v in asset.versions for i in v.instances})
            words = [asset.name, asset.asset_id, asset.description or "", *asset.tags]
            rows.append(
                {
                    "asset": asset,
                    "href": _api_path(asset),
                    "namespaces": namespaces,
                    "operations": len(latest.operations),
                    "search": " ".join([*words, *latest.operations]).lower(),
                }
            )
        return {
            "root": "",
            "title": "APIs",
            "rows": rows,
            "total": len(rows),
            "paging": None,
            "types": sorted({a.type for a in self._assets}),
            "lifecycles": sorted({a.lifecycle for a in self._assets}),
            "namespaces": sorted(
                {i.namespace for a in self._assets for v in a.versions for i in v.instances}
            ),
        }

    def _api(self, asset: Asset, version: AssetVersion | None = None) -> dict[str, object]:
        key = f"{asset.group_id}:{asset.asset_id}"
        providers = [self._by_key.get(_called(d)) for d in asset.latest.dependencies]
        consumers = [
            other
            for other in self._assets
            if any(_called(d) == key for d in other.latest.dependencies)
        ]
        return api_context(asset, providers, consumers, version=version)

    def _graph(self) -> dict[str, object]:
        return graph_context(self._assets)

    def _html(self, path: str, context: dict[str, object]) -> Page:
        return render(path, context, static=self._static)

    def _spec(self, path: str, group_id: str, asset_id: str, version: str, ext: str) -> Page | None:
        asset = self._by_key.get(f"{group_id}:{asset_id}")
        found = next((v for v in asset.versions if v.version == version), None) if asset else None
        if found is None or not found.files or found.files[0].packaging != ext:
            return None
        return Page(path, found.files[0].content, CONTENT_TYPES[ext])


Named = Asset | AssetSummary


def api_context(
    asset: Asset,
    providers: Sequence[Named | None],
    consumers: Sequence[Named],
    *,
    version: AssetVersion | None = None,
) -> dict[str, object]:
    """What an API page shows.

    Args:
        asset: The asset in full.
        providers: For each dependency of its latest version, the called asset
            (None where it is not catalogued).
        consumers: Assets whose latest version calls it.
        version: The version to show (its own page); None shows the latest.
    """
    shown = version or asset.latest
    root = "../../../../" if version is not None else "../../"
    versions = []
    ordered = list(asset.versions)
    for index in range(len(ordered) - 1, -1, -1):
        one = ordered[index]
        versions.append(
            {
                "version": one,
                "href": version_path(asset, one.version),
                "diff": diff_path(asset, ordered[index - 1].version, one.version)
                if index > 0
                else None,
                "spec": (
                    _spec_path(asset, one.version, one.files[0].packaging) if one.files else None
                ),
            }
        )
    contract = contract_view(shown)
    return {
        "root": root,
        "title": asset.name if version is None else f"{asset.name} {shown.version}",
        "asset": asset,
        "latest": shown,
        "is_latest": shown.version == asset.latest.version,
        "contract": contract,
        "operations": operations(shown),
        "versions": versions,
        "changes": changes(asset),
        "providers": [
            {"key": key, "asset": found}
            for key, found in zip(asset.latest.dependencies, providers, strict=True)
        ],
        "consumers": consumers,
        "api_path": _api_path,
    }


def diff_context(asset: Asset, old: str, new: str) -> dict[str, object] | None:
    """What the page comparing versions ``old`` and ``new`` of ``asset`` shows, or None."""
    before, after = _version(asset, old), _version(asset, new)
    if before is None or after is None or before == after:
        return None
    ordered = [v.version for v in asset.versions]
    low, high = sorted((ordered.index(old), ordered.index(new)))
    change = contract_changes.compare(_contract(asset, before), _contract(asset, after))
    old_ops, new_ops = _by_signature(contract_view(before)), _by_signature(contract_view(after))
    old_sigs = set(old_ops) | set(before.operations)
    new_sigs = set(new_ops) | set(after.operations)
    changed = []
    for signature in sorted(set(old_ops) & set(new_ops)):
        said = _operation_changes(old_ops[signature], new_ops[signature])
        if said:
            changed.append({"signature": signature, "changes": said})
    return {
        "root": "../../../../",
        "title": f"{asset.name}: {old} → {new}",
        "asset": asset,
        "old": before,
        "new": after,
        "bump": change.bump,
        "reason": change.reason,
        "added": sorted(new_sigs - old_sigs),
        "removed": sorted(old_sigs - new_sigs),
        "changed": changed,
        "between": [v for v in asset.versions[low + 1 : high + 1]],
        "api_href": _api_path(asset),
        "version_path": version_path,
    }


def graph_context(assets: Sequence[Named]) -> dict[str, object]:
    """What the dependency graph page shows."""
    dot = graphsvg.to_dot(assets, href=_api_path)
    edges = [(asset, _called(d)) for asset in assets for d in asset.latest.dependencies]
    return {
        "root": "",
        "title": "Dependency graph",
        "mode": "assets",
        "svg": graphsvg.to_svg(dot),
        "edges": edges,
        "by_key": {f"{a.group_id}:{a.asset_id}": a for a in assets},
        "api_path": _api_path,
    }


def render(
    path: str, context: dict[str, object], *, static: bool, template: str | None = None
) -> Page:
    """The HTML page at ``path`` from ``template`` (default: ``api.html`` for API pages)."""
    name = template or (path if "/" not in path else "api.html")
    found = _environment().get_template(name)
    index = "index.html" if static else ""
    html = found.render(**context, static=static, meta_csp=META_CSP, index=index)
    return Page(path, html.encode("utf-8"), CONTENT_TYPES["html"])


def static_file(path: str) -> Page | None:
    """One of the portal's own files (``static/portal.css``...), or None."""
    if path.startswith("static/") and path[7:] in STATIC_FILES:
        content = resources.files("catalog.portal").joinpath("static", path[7:]).read_bytes()
        return Page(path, content, CONTENT_TYPES[path.rsplit(".", 1)[1]])
    return None


def _called(dependency: str) -> str:
    """``group:asset`` of a dependency (``group:asset[:version]``)."""
    return ":".join(dependency.split(":")[:2])


@functools.cache
def _environment() -> jinja2.Environment:
    # One environment per process: it caches compiled templates and is thread-safe.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("catalog.portal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["exposure_sources"] = EXPOSURE_SOURCE_NAMES
    return environment


#: How the API page names the kind of gateway an instance is exposed at.
EXPOSURE_SOURCE_NAMES: Final[Mapping[str, str]] = {
    "gateway-api": "Gateway API",
    "istio": "Istio Gateway",
}


def _api_path(asset: Named) -> str:
    return f"apis/{asset.group_id}/{asset.asset_id}.html"


def version_path(asset: Named, version: str) -> str:
    """The page of one version of ``asset``."""
    return f"apis/{asset.group_id}/{asset.asset_id}/versions/{version}.html"


def diff_path(asset: Named, old: str, new: str) -> str:
    """The page comparing two versions of ``asset``."""
    return f"apis/{asset.group_id}/{asset.asset_id}/diff/{old}_{new}.html"


def _version(asset: Asset, version: str) -> AssetVersion | None:
    return next((v for v in asset.versions if v.version == version), None)


def _contract(asset: Asset, version: AssetVersion) -> contract_changes.Contract:
    return contract_changes.contract(
        asset_type=asset.type,
        operations=version.operations,
        files=[(f.classifier, f.packaging, f.content) for f in version.files],
    )


def _by_signature(view: ContractView) -> dict[str, View]:
    return {f"{op.method} {op.name}": op for op in view.operations}


def _operation_changes(old: View, new: View) -> list[str]:
    """What changed in one operation, in words: parameters, bodies, responses."""
    said = []
    old_params = {(p.where, p.name): p for p in old.parameters}
    new_params = {(p.where, p.name): p for p in new.parameters}
    for key in sorted(new_params.keys() - old_params.keys()):
        required = " (required)" if new_params[key].required else ""
        said.append(f"parameter {key[1]} in {key[0]} added{required}")
    for key in sorted(old_params.keys() - new_params.keys()):
        said.append(f"parameter {key[1]} in {key[0]} removed")
    for key in sorted(old_params.keys() & new_params.keys()):
        was, now = old_params[key], new_params[key]
        if was.required != now.required:
            said.append(
                f"parameter {key[1]} in {key[0]} now {'required' if now.required else 'optional'}"
            )
        if was.type != now.type:
            said.append(f"parameter {key[1]} in {key[0]}: {was.type or '?'} → {now.type or '?'}")
    old_codes = {b.label for b in old.responses}
    new_codes = {b.label for b in new.responses}
    said += [f"response {code} added" for code in sorted(new_codes - old_codes)]
    said += [f"response {code} removed" for code in sorted(old_codes - new_codes)]
    if [(b.media_type, b.schema) for b in old.request] != [
        (b.media_type, b.schema) for b in new.request
    ]:
        said.append("request body changed")
    if {(b.label, b.schema) for b in old.responses} != {
        (b.label, b.schema) for b in new.responses
    } and old_codes == new_codes:
        said.append("response schema changed")
    if old.deprecated != new.deprecated:
        said.append("deprecated" if new.deprecated else "no longer deprecated")
    if old.action != new.action:
        said.append(f"SOAP action {old.action!r} → {new.action!r}")
    if old.result != new.result:
        said.append(f"result {old.result} → {new.result}")
    return said


def _spec_path(asset: Named, version: str, packaging: str) -> str:
    return f"specs/{asset.group_id}/{asset.asset_id}/{version}.{packaging}"


api_path = _api_path
