"""Turn discovered APIs into catalogue drafts.

This is the one place that knows both discovery's model and the catalogue's:
asset ids, types, files, instances and dependencies are decided here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import networkx as nx

import catalog
from discovery import frameworks
from discovery.model import Api, ApiKind, Discovery, Service, ServiceKey

ASSET_TYPES: Final[dict[ApiKind, catalog.AssetType]] = {
    "rest": "rest-api",
    "soap": "soap-api",
    "http": "http-api",
    "grpc": "grpc-api",
    "graphql": "graphql-api",
    "asyncapi": "async-api",
}
_CLASSIFIERS: Final[dict[str, catalog.Classifier]] = {
    "openapi": "oas",
    "swagger": "oas",
    "wsdl": "wsdl",
    "graphql": "graphql",
    "protobuf": "grpc",
    "asyncapi": "asyncapi",
}
_ID_UNSAFE = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class PlannedAsset:
    """An API and the catalogue draft made from it."""

    api: Api
    draft: catalog.AssetDraft


def asset_id(service: Service, api: Api, *, several: bool) -> str:
    """``<namespace>-<service>``, ``-<port name>`` when a Service has several APIs."""
    if service.overrides.asset_id:
        base = service.overrides.asset_id
        return _safe_id(f"{base}-{api.port.name or api.port.port}" if several else base)
    base = f"{service.key.namespace}-{service.key.name}"
    if several:
        base += f"-{api.port.name or api.port.port}"
    return _safe_id(base)


def _safe_id(value: str) -> str:
    return _ID_UNSAFE.sub("-", value.lower()).strip("-.")[:128] or "api"


def plan(
    discovery: Discovery, *, group_id: str, graph: nx.DiGraph | None = None
) -> list[PlannedAsset]:
    """One draft per discovered API, dependencies taken from the graph."""
    ids: dict[tuple[ServiceKey, int], str] = {}
    by_service: dict[ServiceKey, list[str]] = {}
    for findings in discovery.findings:
        several = len(findings.apis) > 1
        for api in findings.apis:
            aid = asset_id(findings.service, api, several=several)
            ids[(api.service, api.port.port)] = aid
            by_service.setdefault(api.service, []).append(aid)
    names = {str(k): k for k in by_service}
    out: list[PlannedAsset] = []
    for findings in discovery.findings:
        for api in findings.apis:
            deps = _dependencies(api.service, graph, by_service, names, group_id)
            draft = _draft(
                findings.service,
                api,
                group_id=group_id,
                asset=ids[(api.service, api.port.port)],
                dependencies=deps,
            )
            out.append(PlannedAsset(api, draft))
    return out


def _dependencies(
    key: ServiceKey,
    graph: nx.DiGraph | None,
    by_service: Mapping[ServiceKey, Sequence[str]],
    names: Mapping[str, ServiceKey],
    group_id: str,
) -> tuple[str, ...]:
    if graph is None or str(key) not in graph:
        return ()
    deps: list[str] = []
    for target in sorted(graph.successors(str(key))):
        for aid in by_service.get(names.get(target, ServiceKey("", "", "")), ()):
            deps.append(f"{group_id}:{aid}")
    return tuple(dict.fromkeys(deps))


def _detail(api: Api) -> str:
    """Where the API was found: its description's URL, its GraphQL endpoint, or the evidence."""
    if api.spec is not None:
        return api.spec.url
    if api.kind == "graphql" and api.contract is not None:
        return api.contract.url  # the endpoint or schema file it was read from
    for evidence in api.evidence:
        if evidence.check == "graphql" and evidence.url:
            return evidence.url  # a warm run asks there again, and only there
    said = "; ".join(str(e) for e in api.evidence)
    if api.kind in ("rest", "http"):
        # "No description" holds for what the search knew; see memory.hints.
        said += f"; {SEARCHED_WITH}{frameworks.KNOWLEDGE}"
    return said


#: How an API without a description records the framework table it was searched with.
SEARCHED_WITH: Final = "searched with framework table "


def _draft(
    service: Service,
    api: Api,
    *,
    group_id: str,
    asset: str,
    dependencies: tuple[str, ...],
) -> catalog.AssetDraft:
    # A description (OpenAPI, WSDL) or the contract the API itself gives
    # (a GraphQL schema, gRPC file descriptors).
    spec = api.spec or api.contract
    files: tuple[catalog.AssetFile, ...] = ()
    operations: tuple[str, ...] = ()
    if spec is not None:
        files = (
            catalog.AssetFile(
                classifier=_CLASSIFIERS[spec.format],
                packaging=spec.packaging,
                content=spec.content,
            ),
        )
        if spec.readable is not None:  # the .proto text beside the descriptor set
            files += (
                catalog.AssetFile(
                    classifier=_CLASSIFIERS[spec.format], packaging="proto", content=spec.readable
                ),
            )
        operations = tuple(
            f"{op.method} {op.path}" if op.method and op.path else op.name for op in spec.operations
        )
    hints = service.overrides
    checks = {e.check for e in api.evidence}
    method = "annotation" if "annotation" in checks else "probe"
    if checks == {"port-protocol"}:
        method = "port-protocol"
    return catalog.AssetDraft(
        group_id=group_id,
        asset_id=asset,
        name=(
            spec.title if spec and spec.title else f"{service.key.name} ({service.key.namespace})"
        ),
        type=ASSET_TYPES[api.kind],
        description=hints.description or (spec.description if spec else None),
        spec_version_hint=spec.api_version if spec else None,
        files=files,
        operations=operations,
        # An AsyncAPI document's servers: the brokers the API talks to.
        tags=tuple(
            dict.fromkeys(
                hints.tags
                + (spec.tags if spec else ())
                + tuple(
                    f"broker:{server.split('://', 1)[-1]}"
                    for server in (spec.servers if spec else ())
                )
            )
        ),
        owner=hints.owner,
        lifecycle=hints.lifecycle,
        instance=catalog.Instance(
            cluster=service.key.cluster,
            namespace=service.key.namespace,
            service=service.key.name,
            port=api.port.port,
            endpoint_uri=api.base_url,
        ),
        dependencies=dependencies,
        provenance=catalog.Provenance(method=method, detail=_detail(api)),
    )
