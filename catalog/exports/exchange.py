"""Asset folders shaped for Anypoint Exchange.

Each version becomes ``<group>/<asset>/<version>/`` holding:

* the main file, named ``<asset>.<packaging>`` (an OAS JSON/YAML or a WSDL);
* ``exchange.json``, the asset descriptor Exchange keeps next to an API's
  files (``main``, ``name``, ``groupId``, ``assetId``, ``version``,
  ``classifier``, ``tags``, ``dependencies``, ``apiVersion``...);
* ``publish.json``, the multipart form fields of Exchange's v2 publish call
  (``POST /exchange/api/v2/organizations/{org}/assets/{group}/{asset}/{version}``):
  ``name``, ``description``, ``type``, ``properties.mainFile``,
  ``properties.apiVersion``, ``files.<classifier>.<packaging>``, ``tags``,
  ``dependencies``, ``categories.<key>``, ``status``.

Exchange takes a ``rest-api`` or ``soap-api`` only with its description, so
an API catalogued without one is laid out as an ``http-api`` (Exchange's
asset for an endpoint without a spec); ``meshatlasType`` keeps the original.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from catalog.exports.names import file_stem
from catalog.model import Asset, AssetFile, AssetVersion

__all__ = ["descriptor", "publish_form", "write"]

_MAIN_CLASSIFIER: Final = {"rest-api": "oas", "soap-api": "wsdl"}
#: Exchange's publish ``status`` for each lifecycle. Exchange deprecates a published
#: version with a separate call, so ``lifecycle`` in ``exchange.json`` says so.
_STATUS: Final = {"development": "development", "stable": "published", "deprecated": "published"}

Json = dict[str, Any]


def write(assets: Sequence[Asset], out: Path) -> list[Path]:
    """Write one folder per asset version; returns the folders."""
    folders: list[Path] = []
    for asset in assets:
        for version in asset.versions:
            folder = out / file_stem(asset.group_id) / file_stem(asset.asset_id)
            folder = folder / file_stem(version.version)
            folder.mkdir(parents=True, exist_ok=True)
            main = _main_file(asset, version)
            if main is not None:
                (folder / _main_name(asset, main)).write_bytes(main.content)
            _dump(folder / "exchange.json", descriptor(asset, version))
            _dump(folder / "publish.json", publish_form(asset, version))
            folders.append(folder)
    return folders


def descriptor(asset: Asset, version: AssetVersion) -> Json:
    """The ``exchange.json`` of one version."""
    main = _main_file(asset, version)
    return {
        "main": _main_name(asset, main) if main else "",
        "name": asset.name,
        "description": asset.description or "",
        "groupId": asset.group_id,
        "assetId": asset.asset_id,
        "version": version.version,
        "type": _exchange_type(asset, main),
        "meshatlasType": asset.type,
        "classifier": main.classifier if main else "http",
        "packaging": main.packaging if main else None,
        "apiVersion": _api_version(version.version),
        "tags": list(asset.tags),
        "categories": _categories(version),
        "dependencies": [_gav(d) for d in version.dependencies],
        "status": _STATUS[asset.lifecycle],
        "lifecycle": asset.lifecycle,
        "instances": [
            {
                "cluster": i.cluster,
                "namespace": i.namespace,
                "service": i.service,
                "port": i.port,
                "endpointUri": i.endpoint_uri,
            }
            for i in version.instances
        ],
        "descriptorVersion": "1.0.0",
    }


def publish_form(asset: Asset, version: AssetVersion) -> Json:
    """The v2 publish call for one version: its URL path, form fields and files."""
    main = _main_file(asset, version)
    fields: dict[str, str] = {
        "name": asset.name,
        "description": asset.description or "",
        "type": _exchange_type(asset, main),
        "properties.apiVersion": _api_version(version.version),
        "status": _STATUS[asset.lifecycle],
    }
    files: dict[str, str] = {}
    if main is not None:
        fields["properties.mainFile"] = _main_name(asset, main)
        files[f"files.{main.classifier}.{main.packaging}"] = _main_name(asset, main)
    if asset.tags:
        fields["tags"] = ",".join(asset.tags)
    if version.dependencies:
        fields["dependencies"] = ",".join(d for d in version.dependencies if d.count(":") == 2)
    for key, values in _categories(version).items():
        fields[f"categories.{key}"] = ",".join(values)
    return {
        "method": "POST",
        "path": (
            f"/exchange/api/v2/organizations/{{organizationId}}/assets/"
            f"{asset.group_id}/{asset.asset_id}/{version.version}"
        ),
        "headers": {"x-sync-publication": "true"},
        "fields": fields,
        "files": files,
    }


def _main_file(asset: Asset, version: AssetVersion) -> AssetFile | None:
    wanted = _MAIN_CLASSIFIER.get(asset.type)
    return next((f for f in version.files if f.classifier == wanted), None)


def _main_name(asset: Asset, main: AssetFile) -> str:
    return f"{file_stem(asset.asset_id)}.{main.packaging}"


def _exchange_type(asset: Asset, main: AssetFile | None) -> str:
    if asset.type in _MAIN_CLASSIFIER and main is None:
        return "http-api"
    return asset.type


def _api_version(version: str) -> str:
    return f"v{version.split('.', 1)[0]}"


def _categories(version: AssetVersion) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, values in (
        ("namespace", sorted({i.namespace for i in version.instances})),
        ("cluster", sorted({i.cluster for i in version.instances})),
        ("discoveredBy", [version.provenance.method]),
    ):
        if values:
            found[key] = values
    return found


def _gav(text: str) -> Json:
    parts = text.split(":")
    return {
        "groupId": parts[0],
        "assetId": parts[1],
        "version": parts[2] if len(parts) > 2 else None,
    }


def _dump(path: Path, value: Json) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
