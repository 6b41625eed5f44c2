"""Backstage catalog entities for the catalogue: APIs, Components, Systems, Groups.

* one ``API`` per asset, its latest version's spec as ``spec.definition``;
* one ``Component`` per Service that serves an asset, with ``providesApis``,
  ``consumesApis`` (the assets its APIs call, from the dependency graph) and
  ``dependsOn`` (the Components serving those);
* one ``System`` per namespace, unless ``systems=False``;
* one ``Group`` (or ``User``, for ``user:`` owners) per owner the others
  name, the default owner included, so no ``spec.owner`` dangles.

Names are made legal for Backstage (:func:`catalog.exports.names.backstage_name`).

Backstage's Kubernetes plugin lists an entity's resources by a label
selector: the entity's ``backstage.io/kubernetes-label-selector`` annotation
when it has one, else ``backstage.io/kubernetes-id=<value of that
annotation>``; ``backstage.io/kubernetes-namespace`` limits the namespace.
Workloads rarely carry the ``backstage.io/kubernetes-id`` label, so where
the Service's own selector is known (:attr:`BackstageOptions.selectors`)
the Component and API carry it as the label selector: it matches the
Service's Pods, which is what the plugin's tab shows. The
``backstage.io/kubernetes-id`` annotation stays, for clusters that label
their resources that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from catalog.exports.names import backstage_name, backstage_tag, file_stem
from catalog.model import Asset, AssetFile

__all__ = [
    "API_VERSION",
    "DEFAULT_OWNER",
    "BackstageOptions",
    "POSTURE",
    "FINDINGS",
    "PostureMark",
    "GROUPS_PART",
    "entities",
    "label_selector",
    "location",
    "owner_ref",
    "partition",
    "references",
    "to_yaml",
    "write",
]

API_VERSION: Final = "backstage.io/v1alpha1"
#: Catalogue lifecycle → Backstage's customary lifecycle words.
LIFECYCLES: Final = {
    "development": "experimental",
    "stable": "production",
    "deprecated": "deprecated",
}
_SPEC_TYPES: Final = {"oas": "openapi", "wsdl": "wsdl"}
_KIND_TYPES: Final = {"grpc-api": "grpc", "graphql-api": "graphql", "async-api": "asyncapi"}
_MAIN_CLASSIFIER: Final = {"rest-api": "oas", "soap-api": "wsdl"}

Entity = dict[str, Any]
#: Owner of assets whose Service names none; the export defines this Group.
DEFAULT_OWNER: Final = "group:unowned"
_NAMESPACE: Final = "backstage.io/kubernetes-namespace"


@dataclass(frozen=True, slots=True)
class PostureMark:
    """What an API entity says of its findings (:mod:`catalog.findings`).

    Attributes:
        status: The most urgent posture severity (``high``...), or ``ok``.
        findings: Its current findings, posture and drift.
    """

    status: str
    findings: int


@dataclass(frozen=True, slots=True)
class BackstageOptions:
    """How entities are shaped.

    Attributes:
        default_owner: Owner reference for assets without a ``meshatlas.io/owner``;
            the export emits it as a Group (or User).
        systems: One ``System`` per namespace, and ``spec.system`` pointing at it.
        portal_url: Base URL of a meshatlas portal; adds a link to each API page.
        selectors: The Services' label selectors (``spec.selector``), by
            ``cluster/namespace/service`` or ``namespace/service``; each one
            known becomes a ``backstage.io/kubernetes-label-selector``.
        postures: Each judged API's posture by ``group:asset``; each becomes the
            ``meshatlas.io/posture`` and ``meshatlas.io/findings`` annotations
            and a ``posture-<status>`` tag. An API absent was never judged.
    """

    default_owner: str = DEFAULT_OWNER
    systems: bool = True
    portal_url: str | None = None
    selectors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    postures: Mapping[str, PostureMark] = field(default_factory=dict)

    def selector_of(self, cluster: str | None, namespace: str, service: str) -> str | None:
        """The label selector of a Service as the plugin's annotation takes it, or None."""
        found = self.selectors.get(f"{cluster}/{namespace}/{service}") if cluster else None
        found = found or self.selectors.get(f"{namespace}/{service}")
        return label_selector(found) if found else None


def entities(
    assets: Sequence[Asset], *, options: BackstageOptions = BackstageOptions()
) -> list[Entity]:
    """Every entity for ``assets``: Systems, then APIs, then Components, each sorted by name."""
    api_names = _api_names(assets)
    by_key = _by_key(assets)
    services = _services(assets)
    owners = {key: owner_ref(asset.owner, options) for key, asset in _keyed(assets)}
    apis = [_api(asset, name=api_names[key], options=options) for key, asset in _keyed(assets)]
    clusters = _clusters(assets)
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
                for dependency in _dependency_keys(by_key[key])
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
        lifecycles = [by_key[key].lifecycle for key in provided]
        components.append(
            _component(
                component,
                owner=owners[provided[0]],
                lifecycle=_most_mature(lifecycles),
                provides=[f"api:{api_names[key]}" for key in provided],
                consumes=[f"api:{api_names[key]}" for key in consumed],
                depends=[f"component:{_component_name(name)}" for name in depends],
                system=backstage_name(namespace) if options.systems else None,
                selector=_one_selector(component, clusters.get(component, ()), options),
            )
        )
    systems = []
    if options.systems:
        namespaces = sorted({c.split("/", 1)[0] for c in services})
        systems = [_system(ns, owner=owner_ref(None, options)) for ns in namespaces]
    found = [*systems, *sorted(apis, key=_name), *components]
    owners_named = sorted({e["spec"]["owner"] for e in found} | {owner_ref(None, options)})
    return [*(_owner_entity(ref) for ref in owners_named), *found]


def label_selector(labels: Mapping[str, str]) -> str:
    """A Service's ``spec.selector`` as a Kubernetes label selector (``a=b,c=d``, sorted)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def references(entity: Entity) -> list[tuple[str, str]]:
    """``(kind, name)`` of every entity ``entity`` refers to by its spec.

    Backstage's own defaults for a reference without a kind: ``owner`` is a
    Group, ``system`` a System, ``providesApis``/``consumesApis`` APIs,
    ``dependsOn`` must say its kind.
    """
    spec = entity.get("spec", {})
    found: list[tuple[str, str]] = []

    def add(ref: str, default: str) -> None:
        kind, _, name = ref.rpartition(":")
        found.append(((kind or default).lower(), name.rpartition("/")[2]))

    if isinstance(spec.get("owner"), str):
        add(spec["owner"], "group")
    if isinstance(spec.get("system"), str):
        add(spec["system"], "system")
    for key, default in (("providesApis", "api"), ("consumesApis", "api"), ("dependsOn", "")):
        for ref in spec.get(key, ()):
            add(ref, default)
    for ref in spec.get("memberOf", ()):
        add(ref, "group")
    return found


def to_yaml(found: Iterable[Entity]) -> str:
    """Entities as one multi-document YAML, the form of a ``catalog-info.yaml``."""
    return yaml.dump_all(
        list(found), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )


def write(found: Sequence[Entity], out: Path, *, split: bool = True) -> Path:
    """Write ``found`` (from :func:`entities`) under ``out``; returns ``catalog-info.yaml``.

    With ``split``, ``catalog-info.yaml`` is a ``Location`` entity whose
    targets are ``groups.yaml`` (the owners) and one ``namespaces/<ns>.yaml``
    per namespace (its System, APIs and Components), so no one document grows
    with the whole catalogue. Without, every entity is in ``catalog-info.yaml``.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "catalog-info.yaml"
    if not split:
        path.write_text(to_yaml(found), encoding="utf-8")
        return path
    parts = partition(found)
    targets = []
    for part, members in parts.items():
        name = "groups.yaml" if part == GROUPS_PART else f"namespaces/{file_stem(part)}.yaml"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(to_yaml(members), encoding="utf-8")
        targets.append(f"./{name}")
    path.write_text(to_yaml([location("meshatlas", targets)]), encoding="utf-8")
    return path


#: The part of :func:`partition` that holds Groups and Users.
GROUPS_PART: Final = ""


def partition(found: Iterable[Entity]) -> dict[str, list[Entity]]:
    """Entities by namespace (Groups and Users under :data:`GROUPS_PART`), in order.

    An entity's namespace is its ``backstage.io/kubernetes-namespace``
    annotation; an API without an instance goes with the owners.
    """
    parts: dict[str, list[Entity]] = {GROUPS_PART: []}
    for entity in found:
        namespace = entity["metadata"].get("annotations", {}).get(_NAMESPACE, GROUPS_PART)
        if entity["kind"] in ("Group", "User"):
            namespace = GROUPS_PART
        parts.setdefault(namespace, []).append(entity)
    return parts


def location(name: str, targets: Sequence[str], *, type: str | None = None) -> Entity:
    """A ``Location`` entity listing ``targets`` (relative to itself, or absolute URLs).

    Without ``type`` the targets are read the way the Location itself was
    (a file beside a file, a URL beside a URL), as Backstage does.
    """
    spec: Entity = {"targets": list(targets)}
    if type is not None:
        spec["type"] = type
    return {
        "apiVersion": API_VERSION,
        "kind": "Location",
        "metadata": {
            "name": backstage_name(name),
            "description": "Every entity meshatlas found, one file per namespace.",
        },
        "spec": spec,
    }


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
        selector = options.selector_of(instance.cluster, instance.namespace, instance.service)
        if selector:
            annotations["backstage.io/kubernetes-label-selector"] = selector
        annotations["meshatlas.io/endpoint"] = instance.endpoint_uri
    exposed_at = _exposed_at(asset)
    if exposed_at:
        annotations[EXPOSED_AT] = exposed_at
    mark = options.postures.get(f"{asset.group_id}:{asset.asset_id}")
    if mark is not None:
        annotations[POSTURE] = mark.status
        annotations[FINDINGS] = str(mark.findings)
    metadata: Entity = {
        "name": name,
        "title": asset.name,
        "annotations": annotations,
    }
    tags = sorted(
        {t for t in map(backstage_tag, asset.tags) if t}
        | _exposed_tag(exposed_at)
        | _posture_tag(mark)
    )
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
        "owner": owner_ref(asset.owner, options),
        "definition": definition,
    }
    if options.systems and instance is not None:
        spec["system"] = backstage_name(instance.namespace)
    return {"apiVersion": API_VERSION, "kind": "API", "metadata": metadata, "spec": spec}


#: Annotation listing where the API's latest version is reachable from outside the mesh.
EXPOSED_AT: Final = "meshatlas.io/exposed-at"
#: Tag of an API reachable from outside the mesh (Backstage's tag alphabet: ``[a-z0-9:+#-]``).
EXPOSED_TAG: Final = "exposed"


def _exposed_at(asset: Asset) -> str:
    """Every place an instance of the latest version is exposed at, comma-separated.

    Each is ``host[:port][path] (gateway)``; an annotation value is any string
    (Backstage's entity schema), so one annotation holds them all, sorted.
    """
    places = {
        f"{e.host}{f':{e.port}' if e.port is not None else ''}{e.path or ''} ({e.gateway})"
        for i in asset.latest.instances
        for e in i.exposure
    }
    return ", ".join(sorted(places))


def _exposed_tag(exposed_at: str) -> set[str]:
    return {EXPOSED_TAG} if exposed_at else set()


#: Annotation with an API's posture: its most urgent posture finding's severity, or ``ok``.
POSTURE: Final = "meshatlas.io/posture"
#: Annotation with how many findings (posture and drift) an API has now, as a string
#: (Backstage's annotation values are strings).
FINDINGS: Final = "meshatlas.io/findings"


def _posture_tag(mark: PostureMark | None) -> set[str]:
    # posture-high, posture-ok...: within Backstage's tag rule (backstage_tag keeps it so).
    tag = backstage_tag(f"posture-{mark.status}") if mark is not None else None
    return {tag} if tag else set()


def _component(
    key: str,
    *,
    owner: str,
    lifecycle: str,
    provides: list[str],
    consumes: list[str],
    depends: list[str],
    system: str | None,
    selector: str | None = None,
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
    annotations = {
        "backstage.io/kubernetes-id": service,
        "backstage.io/kubernetes-namespace": namespace,
    }
    if selector:
        annotations["backstage.io/kubernetes-label-selector"] = selector
    return {
        "apiVersion": API_VERSION,
        "kind": "Component",
        "metadata": {
            "name": _component_name(key),
            "title": f"{namespace}/{service}",
            "annotations": annotations,
        },
        "spec": spec,
    }


def _owner_entity(ref: str) -> Entity:
    kind, _, name = ref.rpartition(":")
    if kind == "user":
        return {
            "apiVersion": API_VERSION,
            "kind": "User",
            "metadata": {"name": name, "description": "Owner of APIs found by meshatlas."},
            "spec": {"memberOf": []},
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "Group",
        "metadata": {
            "name": name,
            "description": (
                "APIs whose Service names no owner (meshatlas.io/owner)."
                if ref == DEFAULT_OWNER
                else "Owner of APIs found by meshatlas (meshatlas.io/owner)."
            ),
        },
        "spec": {"type": "team", "children": []},
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


def _clusters(assets: Sequence[Asset]) -> dict[str, tuple[str, ...]]:
    """``namespace/service`` → clusters its instances run in."""
    found: dict[str, set[str]] = {}
    for asset in assets:
        for version in asset.versions:
            for instance in version.instances:
                key = f"{instance.namespace}/{instance.service}"
                found.setdefault(key, set()).add(instance.cluster)
    return {key: tuple(sorted(value)) for key, value in found.items()}


def _one_selector(component: str, clusters: Sequence[str], options: BackstageOptions) -> str | None:
    # One Component stands for the Service in every cluster; a selector that
    # differs between clusters would match only some, so none is given then.
    namespace, service = component.split("/", 1)
    found = {options.selector_of(c, namespace, service) for c in clusters or (None,)}
    return found.pop() if len(found) == 1 else None


def _dependency_keys(asset: Asset) -> set[str]:
    return {":".join(d.split(":")[:2]) for d in asset.latest.dependencies}


def _component_name(key: str) -> str:
    return backstage_name(key.replace("/", "-"))


def owner_ref(owner: str | None, options: BackstageOptions) -> str:
    """A full owner reference (``group:name`` or ``user:name``): Backstage reads a
    bare name as a Group, and the export names every Group it defines in full."""
    kind, _, name = (owner or options.default_owner).rpartition(":")
    kind = kind.lower() if kind.lower() in ("group", "user") else "group"
    return f"{kind}:{backstage_name(name)}"


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
