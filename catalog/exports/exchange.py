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

Exchange's groupId is the id of the organisation or business group an
asset belongs to, so :class:`ExchangeOptions` ``organization_id`` becomes
both the path's organisation and every asset's (and dependency's) groupId;
without one, the catalogue's group id is taken for the organisation id.
``environment`` fills the instances' environment where the catalogue has
none.

Exchange takes a ``rest-api`` or ``soap-api`` only with its description, so
an API catalogued without one is laid out as an ``http-api`` (Exchange's
asset for an endpoint without a spec); ``meshatlasType`` keeps the original.
Exchange has no asset type for gRPC or GraphQL APIs: their folders are
written (``publishable`` false in ``publish.json``, with the reason) and
:mod:`catalog.exports.exchange_publish` leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from catalog.exports.names import file_stem
from catalog.model import Asset, AssetFile, AssetVersion

__all__ = ["UNPUBLISHABLE", "ExchangeOptions", "descriptor", "main_name", "publish_form", "write"]

_MAIN_CLASSIFIER: Final = {"rest-api": "oas", "soap-api": "wsdl"}
#: Catalogue types Exchange has no asset type for, and why they are not published.
UNPUBLISHABLE: Final = {
    "grpc-api": "Exchange has no asset type for gRPC APIs",
    "graphql-api": "Exchange has no asset type for GraphQL APIs",
}
#: Exchange's publish ``status`` for each lifecycle. Exchange deprecates a published
#: version with a separate call, so ``lifecycle`` in ``exchange.json`` says so.
_STATUS: Final = {"development": "development", "stable": "published", "deprecated": "published"}

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExchangeOptions:
    """Where the folders are to be published.

    Attributes:
        organization_id: Anypoint organisation or business group id: the
            publish path's organisation and the assets' groupId. None takes
            each asset's catalogue group id.
        environment: Environment of instances the catalogue has none for.
    """

    organization_id: str | None = None
    environment: str | None = None

    def group_of(self, asset_group: str) -> str:
        """The Exchange groupId of an asset (or dependency) of ``asset_group``."""
        return self.organization_id or asset_group


def write(
    assets: Sequence[Asset], out: Path, *, options: ExchangeOptions = ExchangeOptions()
) -> list[Path]:
    """Write one folder per asset version; returns the folders."""
    folders: list[Path] = []
    for asset in assets:
        for version in asset.versions:
            folder = out / file_stem(asset.group_id) / file_stem(asset.asset_id)
            folder = folder / file_stem(version.version)
            folder.mkdir(parents=True, exist_ok=True)
            main = _main_file(asset, version)
            if main is not None:
                (folder / main_name(asset, main)).write_bytes(main.content)
            _dump(folder / "exchange.json", descriptor(asset, version, options=options))
            _dump(folder / "publish.json", publish_form(asset, version, options=options))
            folders.append(folder)
    return folders


def descriptor(
    asset: Asset, version: AssetVersion, *, options: ExchangeOptions = ExchangeOptions()
) -> Json:
    """The ``exchange.json`` of one version."""
    main = _main_file(asset, version)
    return {
        "main": main_name(asset, main) if main else "",
        "name": asset.name,
        "description": asset.description or "",
        "groupId": options.group_of(asset.group_id),
        "meshatlasGroupId": asset.group_id,
        "assetId": asset.asset_id,
        "version": version.version,
        "type": _exchange_type(asset, main),
        "meshatlasType": asset.type,
        "classifier": main.classifier if main else "http",
        "packaging": main.packaging if main else None,
        "apiVersion": _api_version(version.version),
        "tags": list(asset.tags),
        "categories": _categories(version),
        "dependencies": [_gav(d, options) for d in version.dependencies],
        "status": _STATUS[asset.lifecycle],
        "lifecycle": asset.lifecycle,
        "instances": [
            {
                "cluster": i.cluster,
                "namespace": i.namespace,
                "service": i.service,
                "port": i.port,
                "endpointUri": i.endpoint_uri,
                "environment": i.environment or options.environment,
            }
            for i in version.instances
        ],
        "descriptorVersion": "1.0.0",
    }


def publish_form(
    asset: Asset, version: AssetVersion, *, options: ExchangeOptions = ExchangeOptions()
) -> Json:
    """The v2 publish call for one version: its URL path, form fields and files."""
    main = _main_file(asset, version)
    group = options.group_of(asset.group_id)
    organization = options.organization_id or asset.group_id
    fields: dict[str, str] = {
        "name": asset.name,
        "description": asset.description or "",
        "type": _exchange_type(asset, main),
        "properties.apiVersion": _api_version(version.version),
        "status": _STATUS[asset.lifecycle],
    }
    files: dict[str, str] = {}
    if main is not None:
        fields["properties.mainFile"] = main_name(asset, main)
        files[f"files.{main.classifier}.{main.packaging}"] = main_name(asset, main)
    if asset.tags:
        fields["tags"] = ",".join(asset.tags)
    if version.dependencies:
        fields["dependencies"] = ",".join(
            f"{options.group_of(g)}:{a}:{v}"
            for g, a, v in (d.split(":") for d in version.dependencies if d.count(":") == 2)
        )
    for key, values in _categories(version).items():
        fields[f"categories.{key}"] = ",".join(values)
    form: Json = {
        "method": "POST",
        "path": (
            f"/exchange/api/v2/organizations/{organization}/assets/"
            f"{group}/{asset.asset_id}/{version.version}"
        ),
        "headers": {"x-sync-publication": "true"},
        "fields": fields,
        "files": files,
        "publishable": asset.type not in UNPUBLISHABLE,
    }
    if asset.type in UNPUBLISHABLE:
        form["reason"] = UNPUBLISHABLE[asset.type]
    return form


def _main_file(asset: Asset, version: AssetVersion) -> AssetFile | None:
    wanted = _MAIN_CLASSIFIER.get(asset.type)
    return next((f for f in version.files if f.classifier == wanted), None)


def main_name(asset: Asset, main: AssetFile) -> str:
    """The main file's name in a version's folder."""
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


def _gav(text: str, options: ExchangeOptions) -> Json:
    parts = text.split(":")
    return {
        "groupId": options.group_of(parts[0]),
        "assetId": parts[1],
        "version": parts[2] if len(parts) > 2 else None,
    }


def _dump(path: Path, value: Json) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
