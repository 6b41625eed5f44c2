"""Backstage catalog entities for the catalogue: APIs, Components, Systems.

* one ``API`` per asset, its latest version's spec as ``spec.definition``;
* one ``Component`` per Service that serves an asset, with ``providesApis``,
  ``consumesApis`` (the assets its APIs call, from the dependency graph) and
  ``dependsOn`` (the Components serving those);
* one ``System`` per namespace, unless ``systems=False``.

Names are made legal for Backstage (:func:`catalog.exports.names.backstage_name`).
The Kubernetes plugin finds a Component's workloads by the
``backstage.io/kubernetes-id`` label; meshatlas sets it to the Service's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from catalog.exports.names import backstage_name, backstage_tag
from catalog.model import Asset, AssetFile

__all__ = ["API_VERSION", "BackstageOptions", "entities", "to_yaml", "write"]

API_VERSION: Final = "backstage.io/v1alpha1"
#: Catalogue lifecycle → Backstage's customary lifecycle words.
LIFECYCLES: Final = {
    "development": "experimental",
    "stable": "production",
    "deprecated": "deprecated",
}
_SPEC_TYPES: Final = {"oas": "openapi", "wsdl": "wsdl"}
_KIND_TYPES: Final = {"grpc-api": "grpc", "graphql-api": "graphql"}
_MAIN_CLASSIFIER: Final = {"rest-api": "oas", "soap-api": "wsdl"}

Entity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BackstageOptions:
    """How entities are shaped.

    Attributes:
        default_owner: Owner reference for assets without a ``meshatlas.io/owner``.
        systems: One ``System`` per namespace, and ``spec.system`` pointing at it.
        portal_url: Base URL of a meshatlas portal; adds a link to each API page.
    """

    default_owner: str = "unknown"
    systems: bool = True
    portal_url: str | None = None


def entities(
    assets: Sequence[Asset], *, options: BackstageOptions = BackstageOptions()
) -> list[Entity]:
    """Every entity for ``assets``: Systems, then APIs, then Components, each sorted by name."""
    api_names = _api_names(assets)
    services = _services(assets)
    owners = {key: _owner(asset.owner, options) for key, asset in _keyed(assets)}
    apis = [_api(asset, name=api_names[key], options=options) for key, asset in _keyed(assets)]
    providers: dict[str, set[str]] = {}  # asset key -> component names
    for component, keys in services.items():
        for key in keys:
            providers.setdefault(key, set()).add(component)
    components: list[Entity] = []
    for component, keys in sorted(services.items()):
        namespace = component.split("/", 1)[0]
        provided = sorted(keys)
        consumed = sorted(
            {
                dependency
                for key in provided
                for dependency in _dependency_keys(_by_key(assets)[key])
                if dependency in api_names and dependency not in keys
            }
        )
        depends = sorted(
            {
                provider
                for key in consumed
                for provider in providers.get(key, ())
                if provider != component
            }
        )
        lifecycles = [_by_key(assets)[key].lifecycle for key in provided]
        components.append(
            _component(
                component,
                owner=owners[provided[0]],
                lifecycle=_most_mature(lifecycles),
                provides=[f"api:{api_names[key]}" for key in provided],
                consumes=[f"api:{api_names[key]}" for key in consumed],
                depends=[f"component:{_component_name(name)}" for name in depends],
                system=backstage_name(namespace) if options.systems else None,
            )
        )
    systems = []
    if options.systems:
        namespaces = sorted({c.split("/", 1)[0] for c in services})
        systems = [_system(ns, owner=_owner(None, options)) for ns in namespaces]
    return [*systems, *sorted(apis, key=_name), *components]


def to_yaml(found: Iterable[Entity]) -> str:
    """Entities as one multi-document YAML, the form of a ``catalog-info.yaml``."""
    return yaml.dump_all(
        list(found), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )


def write(found: Sequence[Entity], out: Path) -> Path:
    """Write ``found`` (from :func:`entities`) to ``out/catalog-info.yaml``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "catalog-info.yaml"
    path.write_text(to_yaml(found), encoding="utf-8")
    return path


# -- entities -------------------------------------------------------------------


def _api(asset: Asset, *, name: str, options: BackstageOptions) -> Entity:
    latest = asset.latest
    main = _main_file(asset)
    spec_type = _SPEC_TYPES[main.classifier] if main else _KIND_TYPES.get(asset.type, "http")
    definition = _definition(asset, main)
    instance = latest.instances[0] if latest.instances else None
    annotations = {
        "meshatlas.io/asset": f"{asset.group_id}:{asset.asset_id}:{latest.version}",
        "meshatlas.io/discovered-by": latest.provenance.method,
        "meshatlas.io/discovered-from": latest.provenance.detail,
    }
    if instance is not None:
        annotations["backstage.io/kubernetes-id"] = instance.service
        annotations["backstage.io/kubernetes-namespace"] = instance.namespace
        annotations["meshatlas.io/endpoint"] = instance.endpoint_uri
    metadata: Entity = {
        "name": name,
        "title": asset.name,
        "annotations": annotations,
    }
    tags = sorted({t for t in map(backstage_tag, asset.tags) if t})
    if tags:
        metadata["tags"] = tags
    if asset.description:
        metadata["description"] = asset.description
    if options.portal_url:
        base = options.portal_url.rstrip("/")
        metadata["links"] = [
            {
                "url": f"{base}/portal/apis/{asset.group_id}/{asset.asset_id}.html",
                "title": "meshatlas portal",
            }
        ]
    spec: Entity = {
        "type": spec_type,
        "lifecycle": LIFECYCLES[asset.lifecycle],
        "owner": _owner(asset.owner, options),
        "definition": definition,
    }
    if options.systems and instance is not None:
        spec["system"] = backstage_name(instance.namespace)
    return {"apiVersion": API_VERSION, "kind": "API", "metadata": metadata, "spec": spec}


def _component(
    key: str,
    *,
    owner: str,
    lifecycle: str,
    provides: list[str],
    consumes: list[str],
    depends: list[str],
    system: str | None,
) -> Entity:
    namespace, service = key.split("/", 1)
    spec: Entity = {"type": "service", "lifecycle": LIFECYCLES[lifecycle], "owner": owner}
    if system:
        spec["system"] = system
    spec["providesApis"] = provides
    if consumes:
        spec["consumesApis"] = consumes
    if depends:
        spec["dependsOn"] = depends
    return {
        "apiVersion": API_VERSION,
        "kind": "Component",
        "metadata": {
            "name": _component_name(key),
            "title": f"{namespace}/{service}",
            "annotations": {
                "backstage.io/kubernetes-id": service,
                "backstage.io/kubernetes-namespace": namespace,
            },
        },
        "spec": spec,
    }


def _system(namespace: str, *, owner: str) -> Entity:
    return {
        "apiVersion": API_VERSION,
        "kind": "System",
        "metadata": {
            "name": backstage_name(namespace),
            "title": namespace,
            "description": f"Services of the Kubernetes namespace {namespace}.",
            "annotations": {"backstage.io/kubernetes-namespace": namespace},
        },
        "spec": {"owner": owner},
    }


# -- helpers ----------------------------------------------------------------------


def _keyed(assets: Sequence[Asset]) -> list[tuple[str, Asset]]:
    return [(f"{a.group_id}:{a.asset_id}", a) for a in assets]


def _by_key(assets: Sequence[Asset]) -> dict[str, Asset]:
    return dict(_keyed(assets))


def _api_names(assets: Sequence[Asset]) -> dict[str, str]:
    # One group: the asset id alone reads best; several: keep them apart.
    several = len({a.group_id for a in assets}) > 1
    return {
        key: backstage_name(f"{a.group_id}-{a.asset_id}" if several else a.asset_id)
        for key, a in _keyed(assets)
    }


def _services(assets: Sequence[Asset]) -> dict[str, set[str]]:
    """``namespace/service`` → keys of the assets its instances serve (any cluster)."""
    found: dict[str, set[str]] = {}
    for key, asset in _keyed(assets):
        for version in asset.versions:
            for instance in version.instances:
                found.setdefault(f"{instance.namespace}/{instance.service}", set()).add(key)
    return found


def _dependency_keys(asset: Asset) -> set[str]:
    return {":".join(d.split(":")[:2]) for d in asset.latest.dependencies}


def _component_name(key: str) -> str:
    return backstage_name(key.replace("/", "-"))


def _owner(owner: str | None, options: BackstageOptions) -> str:
    if not owner:
        return options.default_owner
    kind, _, name = owner.rpartition(":")
    legal = backstage_name(name)
    return f"{kind}:{legal}" if kind in ("group", "user") else legal


def _most_mature(lifecycles: Sequence[str]) -> str:
    for status in ("stable", "development", "deprecated"):
        if status in lifecycles:
            return status
    return "development"


def _main_file(asset: Asset) -> AssetFile | None:
    wanted = _MAIN_CLASSIFIER.get(asset.type)
    return next((f for f in asset.latest.files if f.classifier == wanted), None)


def _definition(asset: Asset, main: AssetFile | None) -> str:
    if main is not None:
        try:
            return main.content.decode("utf-8")
        except UnicodeDecodeError:
            return main.content.decode("latin-1")
    comment = "//" if asset.type == "grpc-api" else "#"
    lines = [
        f"{comment} {asset.name}: no machine-readable description was found.",
        f"{comment} Discovered by meshatlas ({asset.latest.provenance.method}):"
        f" {asset.latest.provenance.detail}",
    ]
    lines += [f"{comment} operation: {op}" for op in asset.latest.operations]
    lines += [f"{comment} endpoint: {i.endpoint_uri}" for i in asset.latest.instances]
    return "\n".join(lines) + "\n"


def _name(entity: Entity) -> str:
    return str(entity["metadata"]["name"])


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (spec definitions) as literal blocks where YAML allows."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
