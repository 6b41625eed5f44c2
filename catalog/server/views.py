"""JSON views of assets and versions, as the REST server answers them.

Field names follow Anypoint Exchange's asset JSON (``groupId``, ``assetId``,
``version``, ``files[].classifier``/``packaging``/``downloadURL``/``mainFile``,
``instances``, ``dependencies``) where it has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from catalog.model import Asset, AssetPage, AssetSummary, FileSummary, VersionSummary
from catalog.remote.wire import instance_json

__all__ = ["asset_json", "file_json", "graph_json", "page_json", "version_json"]

JsonObject = dict[str, Any]


def file_json(file: FileSummary, *, download_url: str, main: bool) -> JsonObject:
    """A file's metadata, Exchange style; the content is at ``downloadURL``."""
    return {
        "classifier": file.classifier,
        "packaging": file.packaging,
        "sha256": file.sha256,
        "size": file.size,
        "downloadURL": download_url,
        "mainFile": main,
    }


def version_json(asset: AssetSummary, version: VersionSummary, *, base: str) -> JsonObject:
    """One version of an asset, with the asset's fields (Exchange's asset-version view).

    Args:
        asset: The asset (:meth:`Asset.summary() <catalog.Asset.summary>` of a full one).
        version: One of its versions, summarised.
        base: URL prefix of the asset's routes, for ``downloadURL``.
    """
    main = _main_index(asset.type, version.files)
    return {
        "groupId": asset.group_id,
        "assetId": asset.asset_id,
        "version": version.version,
        "name": asset.name,
        "description": asset.description,
        "type": asset.type,
        "lifecycle": asset.lifecycle,
        "owner": asset.owner,
        "tags": list(asset.tags),
        "createdAt": version.created_at.isoformat(),
        "reason": version.reason,
        "provenance": {"method": version.provenance.method, "detail": version.provenance.detail},
        "operations": list(version.operations),
        "files": [
            file_json(
                f,
                download_url=f"{base}/{version.version}/files/{f.classifier}/{f.packaging}",
                main=i == main,
            )
            for i, f in enumerate(version.files)
        ],
        "instances": [instance_json(i) for i in version.instances],
        "dependencies": [_dependency(d) for d in version.dependencies],
    }


def asset_json(asset: AssetSummary, *, base: str) -> JsonObject:
    """An asset: its latest version's view plus every version, newest first.

    Args:
        asset: A search result, or :meth:`Asset.summary() <catalog.Asset.summary>`.
        base: URL prefix of the asset's routes, for ``downloadURL``.
    """
    out = version_json(asset, asset.latest, base=base)
    out["firstSeen"] = asset.first_seen.isoformat()
    out["lastSeen"] = asset.last_seen.isoformat()
    out["versions"] = [
        {"version": v.version, "createdAt": v.created_at.isoformat(), "reason": v.reason}
        for v in reversed(asset.versions)
    ]
    return out


def page_json(page: AssetPage, *, base: str) -> list[JsonObject]:
    """A search page's assets (the total goes in a header, as Exchange lists are arrays)."""
    return [asset_json(a, base=f"{base}/{a.group_id}/{a.asset_id}") for a in page.assets]


def graph_json(assets: Iterable[Asset]) -> JsonObject:
    """The dependency graph of ``assets`` in networkx's node-link form.

    Nodes are assets (``group:asset``) with their latest version; an edge
    ``source → target`` means the source's latest version calls the target.
    A called asset that is not catalogued is a node with ``"catalogued": false``.
    """
    nodes: dict[str, JsonObject] = {}
    edges: list[JsonObject] = []
    for asset in assets:
        key = f"{asset.group_id}:{asset.asset_id}"
        nodes[key] = {
            "id": key,
            "groupId": asset.group_id,
            "assetId": asset.asset_id,
            "name": asset.name,
            "type": asset.type,
            "lifecycle": asset.lifecycle,
            "version": asset.latest.version,
            "catalogued": True,
        }
        for dependency in asset.latest.dependencies:
            called = _dependency(dependency)
            target = f"{called['groupId']}:{called['assetId']}"
            edges.append({"source": key, "target": target, "version": called["version"]})
    for edge in edges:
        if edge["target"] not in nodes:
            group_id, asset_id = edge["target"].split(":")
            nodes[edge["target"]] = {
                "id": edge["target"],
                "groupId": group_id,
                "assetId": asset_id,
                "catalogued": False,
            }
    return {
        "directed": True,
        "multigraph": False,
        "graph": {},
        "nodes": sorted(nodes.values(), key=lambda n: str(n["id"])),
        "edges": edges,
    }


_SPEC_CLASSIFIER: Final = {
    "rest-api": "oas",
    "soap-api": "wsdl",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
    "async-api": "asyncapi",
}


def _main_index(asset_type: str, files: tuple[FileSummary, ...]) -> int:
    wanted = _SPEC_CLASSIFIER.get(asset_type)
    return next((i for i, f in enumerate(files) if f.classifier == wanted), 0)


def _dependency(text: str) -> JsonObject:
    parts = text.split(":")
    return {
        "groupId": parts[0],
        "assetId": parts[1],
        "version": parts[2] if len(parts) > 2 else None,
    }
