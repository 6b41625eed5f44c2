"""The server's own OpenAPI 3.0 document, served at ``/openapi.json``.

Built from small pieces so each route's entry sits in one place; a test
validates the result with openapi-spec-validator and checks that every route
of :func:`catalog.server.app.make_app` is described.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Final

__all__ = ["document"]

Json = dict[str, Any]

_E: Final = "/exchange/api/v2"
_M: Final = "/meshatlas/api/v1"
_ASSET: Final = f"{_E}/assets/{{groupId}}/{{assetId}}"


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Json]:
    words = {
        400: "The request is malformed or refers to something invalid; nothing changed.",
        401: "A bearer token is required.",
        404: "No such asset, version or file.",
        409: "The version already exists, or its content is already published.",
        413: "The body is larger than the server accepts.",
        415: "The body is not application/json.",
        503: "The catalogue database is unavailable.",
    }
    return {str(code): _json(_ref("Problem"), words[code]) for code in codes}


def _operation(summary: str, op_id: str, responses: dict[str, Json], **extra: Any) -> Json:
    return {"summary": summary, "operationId": op_id, "responses": responses, **extra}


def _body(schema: str) -> Json:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _param(name: str) -> Json:
    return {"$ref": f"#/components/parameters/{name}"}


def _path(name: str, schema: Json) -> Json:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _enum(*values: str) -> Json:
    return {"type": "string", "enum": list(values)}


_SECURED: Final[list[Json]] = [{"bearer": []}]
_IDS: Final = [_param("groupId"), _param("assetId")]
_VERSION: Final = _param("version")
_ID_SCHEMA: Final = {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{0,127}$"}
_SERVICE: Final[Json] = {
    "cluster": {"type": "string"},
    "namespace": {"type": "string"},
    "service": {"type": "string"},
}
_PORT: Final[Json] = {**_SERVICE, "port": {"type": "integer"}}
_PLACE: Final[Json] = {"cluster": {"type": "string"}, "namespace": {"type": "string"}}
_STALE: Final[Json] = {"assetId": {"type": "string"}, **_PORT}
_CHECKS: Final[Json] = {
    "type": "object",
    "description": "Validation outcomes (error messages; none when valid) by check key.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
_PROVENANCE: Final = {
    "type": "object",
    "required": ["method", "detail"],
    "additionalProperties": False,
    "properties": {"method": {"type": "string"}, "detail": {"type": "string"}},
}


def _paths() -> Json:
    search = _operation(
        "Search assets",
        "searchAssets",
        {
            "200": _json(
                {"type": "array", "items": _ref("Asset")},
                "One page of assets; the total is in the X-Total-Count header.",
            ),
            **_errors(400, 401, 503),
        },
        parameters=[
            _query("search", "Text in the name, asset id, description, a tag or an operation."),
            _query("types", "Only this asset type.", _ref("AssetType")),
            _query("lifecycle", "Only this lifecycle status.", _ref("Lifecycle")),
            _query("namespace", "Only assets with an instance in this namespace."),
            _query("cluster", "Only assets with an instance in this cluster."),
            _query("groupId", "Only assets of this group."),
            _query("offset", "Assets to skip.", {"type": "integer", "minimum": 0, "default": 0}),
            _query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 200}),
        ],
    )
    aliased = {**search, "operationId": "listAssets", "summary": "List assets (as search)"}
    return {
        "/healthz": {"get": _operation("Liveness", "healthz", {"200": _json(_ref("Status"), "")})},
        "/readyz": {
            "get": _operation(
                "Readiness: the database answers",
                "readyz",
                {"200": _json(_ref("Status"), "Ready."), **_errors(503)},
            )
        },
        "/openapi.json": {
            "get": _operation(
                "This document", "openapi", {"200": _json({"type": "object"}, "OpenAPI 3.0.")}
            )
        },
        f"{_E}/assets": {"get": aliased},
        f"{_E}/assets/search": {"get": search},
        _ASSET: {
            "parameters": _IDS,
            "get": _operation(
                "Get an asset: its latest version and the list of versions",
                "getAsset",
                {"200": _json(_ref("Asset"), "The asset."), **_errors(400, 401, 404, 503)},
            ),
            "patch": _operation(
                "Change an asset's lifecycle status",
                "patchAsset",
                {
                    "200": _json(_ref("Asset"), "The asset after the change."),
                    **_errors(400, 401, 404, 413, 415, 503),
                },
                security=_SECURED,
                requestBody=_body("LifecycleChange"),
            ),
        },
        f"{_ASSET}/versions": {
            "parameters": _IDS,
            "get": _operation(
                "List an asset's versions, newest first",
                "listVersions",
                {
                    "200": _json({"type": "array", "items": _ref("AssetVersion")}, "Versions."),
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
        f"{_ASSET}/instances": {
            "parameters": _IDS,
            "get": _operation(
                "List where any version of an asset runs",
                "listAssetInstances",
                {
                    "200": _json({"type": "array", "items": _ref("Instance")}, "Instances."),
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
        f"{_ASSET}/{{version}}": {
            "parameters": [*_IDS, _VERSION],
            "get": _operation(
                "Get one version",
                "getAssetVersion",
                {"200": _json(_ref("AssetVersion"), "The version."), **_errors(400, 401, 404, 503)},
            ),
            "post": _operation(
                "Publish this exact version (GAV); versions are immutable",
                "publishAssetVersion",
                {
                    "201": _json(_ref("PublishResult"), "Published."),
                    **_errors(400, 401, 409, 413, 415, 503),
                },
                security=_SECURED,
                requestBody=_body("Publication"),
            ),
        },
        f"{_ASSET}/{{version}}/instances": {
            "parameters": [*_IDS, _VERSION],
            "get": _operation(
                "List where a version runs",
                "listVersionInstances",
                {
                    "200": _json({"type": "array", "items": _ref("Instance")}, "Instances."),
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
        f"{_ASSET}/{{version}}/files/{{classifier}}/{{packaging}}": {
            "parameters": [
                *_IDS,
                _VERSION,
                _path("classifier", _ref("Classifier")),
                _path("packaging", _ref("Packaging")),
            ],
            "get": _operation(
                "Download a file of a version, byte for byte as published",
                "downloadFile",
                {
                    "200": {
                        "description": "The file.",
                        "content": {
                            "application/json": {"schema": {"type": "string", "format": "binary"}},
                            "application/yaml": {"schema": {"type": "string", "format": "binary"}},
                            "application/wsdl+xml": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "application/xml": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
        f"{_M}/publications": {
            "post": _operation(
                "Publish what discovery found; the catalogue numbers the version",
                "publish",
                {
                    "200": _json(_ref("PublishResult"), "Same content as a published version."),
                    "201": _json(_ref("PublishResult"), "A new asset or version."),
                    **_errors(400, 401, 409, 413, 415, 503),
                },
                security=_SECURED,
                requestBody=_body("Publication"),
            )
        },
        f"{_M}/publication-batches": {
            "post": _operation(
                "Publish many drafts in one request; each is answered in its own slot",
                "publishBatch",
                {
                    "200": _json(
                        _ref("BatchResults"),
                        "One entry per publication, in order: its result, or why it was"
                        " refused (with the status it would have got alone).",
                    ),
                    **_errors(400, 401, 413, 415, 503),
                },
                security=_SECURED,
                requestBody=_body("PublicationBatch"),
            )
        },
        f"{_M}/probe-memory": {
            "get": _operation(
                "What earlier crawls learnt about probing, for the next crawl to start warm",
                "probeMemory",
                {"200": _json(_ref("ProbeMemory"), "The memory."), **_errors(400, 401, 503)},
                security=_SECURED,
                parameters=[
                    {
                        **_query("cluster", "Only these clusters (repeatable)."),
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "style": "form",
                        "explode": True,
                    }
                ],
            ),
            "post": _operation(
                "Keep one crawl's probing lessons",
                "recordProbes",
                {"204": {"description": "Kept."}, **_errors(400, 401, 413, 415, 503)},
                security=_SECURED,
                requestBody=_body("ProbeLessons"),
            ),
        },
        f"{_M}/runs": {
            "post": _operation(
                "Record the end of a discovery run; long-missing assets become deprecated",
                "recordRun",
                {"201": _json(_ref("RunSummary"), "Recorded."), **_errors(400, 401, 413, 415, 503)},
                security=_SECURED,
                requestBody=_body("Run"),
            )
        },
        **_portal_paths(),
        **_finding_paths(),
        **_analytics_paths(),
        f"{_M}/graph": {
            "get": _operation(
                "The assets' dependency graph (networkx node-link JSON)",
                "graph",
                {"200": _json(_ref("Graph"), "The graph."), **_errors(400, 401, 503)},
                parameters=[_query("groupId", "Only assets of this group.")],
            )
        },
        f"{_M}/run-graphs": {
            "post": _operation(
                "Keep one run's service graph of one cluster; the cluster keeps its newest few",
                "saveRunGraph",
                {
                    "201": _json(_ref("RunGraphHeader"), "Kept."),
                    **_errors(400, 401, 413, 415, 503),
                },
                security=_SECURED,
                requestBody=_body("RunGraphPublication"),
            ),
            "get": _operation(
                "Kept run graphs: every header, or one cluster's graph (newest, or run=)",
                "runGraphs",
                {
                    "200": _json(
                        {"oneOf": [_ref("RunGraphList"), _ref("RunGraph")]},
                        "Without cluster, the headers of every kept graph; with it, the"
                        " graph in full and the headers of its cluster's kept runs.",
                    ),
                    **_errors(400, 401, 404, 503),
                },
                parameters=[
                    _query("cluster", "The cluster whose graph to answer."),
                    _query("run", "A kept graph's id (needs cluster).", {"type": "integer"}),
                ],
            ),
        },
    }


def _portal_paths() -> Json:
    def _text(media: str, description: str) -> Json:
        return {"description": description, "content": {media: {"schema": {"type": "string"}}}}

    return {
        f"{_M}/backstage/catalog-info.yaml": {
            "get": _operation(
                "Backstage entities (API, Component, System) as a catalog location",
                "backstageEntities",
                {
                    "200": _text("application/yaml", "Multi-document catalog-info.yaml."),
                    **_errors(401, 503),
                },
            )
        },
        "/portal": {
            "get": _operation(
                "The portal (redirects to /portal/)",
                "portalRoot",
                {"302": {"description": "To /portal/."}},
            )
        },
        "/portal/{path}": {
            "get": _operation(
                "A portal page for people: the API list, an API, the dependency graph",
                "portalPage",
                {
                    "200": _text("text/html", "The page, or its stylesheet, script or a spec."),
                    "404": _text("text/plain", "No such page."),
                    **_errors(401, 503),
                },
                parameters=[
                    _path(
                        "path",
                        {"type": "string", "description": "index.html, graph.html, apis/..."},
                    )
                ],
            )
        },
    }


def _strings() -> Json:
    return {"type": "array", "items": {"type": "string"}}


def _object(required: list[str], properties: Json, *, closed: bool = True) -> Json:
    out: Json = {"type": "object", "required": required, "properties": properties}
    if closed:
        out["additionalProperties"] = False
    return out


def _schemas() -> Json:
    nullable = {"type": "string", "nullable": True}
    instance = _object(
        ["cluster", "namespace", "service", "port", "endpointUri"],
        {
            "cluster": {"type": "string"},
            "namespace": {"type": "string"},
            "service": {"type": "string"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "endpointUri": {"type": "string"},
            "environment": nullable,
            "exposure": {
                "type": "array",
                "items": _ref("Exposure"),
                "description": "Where the instance is reachable from outside the mesh: the"
                " ingress gateways whose routes send to it. Empty: mesh-internal. Always in a"
                " read; a publication may leave it out (mesh-internal).",
            },
            "subsets": {
                "type": "array",
                "items": _object(
                    ["name"],
                    {
                        "name": {"type": "string"},
                        "version": {**nullable, "description": "The subset's version label."},
                        "rule": {**nullable, "description": "DestinationRule ns/name."},
                    },
                ),
                "description": "Versions of the instance's Service that DestinationRule subsets"
                " name. Always in a read; a publication may leave it out (none).",
            },
        },
    )
    exposure = _object(
        ["gateway", "source", "host"],
        {
            "gateway": {"type": "string", "description": "The gateway, namespace/name."},
            "source": {
                "type": "string",
                "enum": ["gateway-api", "istio"],
                "description": "A Gateway API Gateway, or an Istio networking Gateway.",
            },
            "host": {"type": "string", "description": "Hostname clients use; * for any."},
            "port": {
                "type": "integer",
                "minimum": 1,
                "maximum": 65535,
                "nullable": True,
                "description": "The listener's port.",
            },
            "path": {**nullable, "description": "What the route matches on the path."},
            "pathMatch": {
                "type": "string",
                # OpenAPI 3.0: a nullable enum lists null among its values.
                "enum": ["prefix", "exact", "regex", None],
                "nullable": True,
            },
            "protocol": {**nullable, "description": "The listener's protocol (HTTP, HTTPS...)."},
            "route": {**nullable, "description": "The route, e.g. HTTPRoute shop/web."},
        },
    )
    listed_instance = _object(
        instance["required"],
        {
            **instance["properties"],
            "version": {"type": "string", "description": "Listed across versions only."},
            "lastSeen": {
                "type": "string",
                "format": "date-time",
                "description": "When a publish last saw it.",
            },
            "stale": {
                "type": "boolean",
                "description": "Not seen by the last complete sightings of its Service"
                " (runs that read it in full): kept, not deleted; fresh when seen again.",
            },
        },
    )
    version_props: Json = {
        "groupId": {"type": "string"},
        "assetId": {"type": "string"},
        "version": {"type": "string"},
        "name": {"type": "string"},
        "description": nullable,
        "type": _ref("AssetType"),
        "lifecycle": _ref("Lifecycle"),
        "owner": nullable,
        "tags": _strings(),
        "createdAt": {"type": "string", "format": "date-time"},
        "reason": {"type": "string", "description": "Why this version number."},
        "provenance": _PROVENANCE,
        "operations": _strings(),
        "files": {"type": "array", "items": _ref("File")},
        "instances": {"type": "array", "items": _ref("Instance")},
        "dependencies": {"type": "array", "items": _ref("Dependency")},
    }
    asset_props = {
        **version_props,
        "firstSeen": {"type": "string", "format": "date-time"},
        "lastSeen": {"type": "string", "format": "date-time"},
        "versions": {
            "type": "array",
            "items": _object(
                ["version", "createdAt", "reason"],
                {
                    "version": {"type": "string"},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string"},
                },
            ),
        },
    }
    return {
        "AssetType": _enum(
            "rest-api", "soap-api", "http-api", "grpc-api", "graphql-api", "async-api"
        ),
        "Lifecycle": _enum("development", "stable", "deprecated"),
        "Classifier": _enum("oas", "wsdl", "http", "grpc", "graphql", "asyncapi"),
        "Packaging": _enum("json", "yaml", "wsdl", "xml", "graphql", "protobuf", "proto"),
        "Status": _object(["status"], {"status": {"type": "string"}}),
        "Problem": _object(
            ["status", "error", "message"],
            {
                "status": {"type": "integer"},
                "error": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "The input that was refused."},
            },
        ),
        "Instance": listed_instance,
        "Exposure": exposure,
        "File": _object(
            ["classifier", "packaging", "sha256", "size", "downloadURL", "mainFile"],
            {
                "classifier": _ref("Classifier"),
                "packaging": _ref("Packaging"),
                "sha256": {"type": "string"},
                "size": {"type": "integer"},
                "downloadURL": {"type": "string"},
                "mainFile": {"type": "boolean"},
            },
        ),
        "Dependency": _object(
            ["groupId", "assetId", "version"],
            {"groupId": {"type": "string"}, "assetId": {"type": "string"}, "version": nullable},
        ),
        "AssetVersion": _object(list(version_props), version_props),
        "Asset": _object(list(asset_props), asset_props),
        "LifecycleChange": _object(["lifecycle"], {"lifecycle": _ref("Lifecycle")}),
        "Publication": _object(
            ["name", "type", "instance", "provenance"],
            {
                "groupId": {"type": "string", "description": "Defaults to the path's."},
                "assetId": {"type": "string", "description": "Defaults to the path's."},
                "name": {"type": "string"},
                "type": _ref("AssetType"),
                "description": nullable,
                "specVersion": {**nullable, "description": "The spec's own version."},
                "files": {
                    "type": "array",
                    "items": _object(
                        ["classifier", "packaging", "content"],
                        {
                            "classifier": _ref("Classifier"),
                            "packaging": _ref("Packaging"),
                            "content": {"type": "string", "format": "byte"},
                        },
                    ),
                },
                "operations": _strings(),
                "tags": _strings(),
                "owner": nullable,
                "lifecycle": {**_ref("Lifecycle"), "nullable": True},
                "instance": instance,
                "dependencies": {**_strings(), "description": "group:asset of called assets."},
                "provenance": _PROVENANCE,
                "seenAt": {"type": "string", "format": "date-time"},
            },
        ),
        "PublishResult": _object(
            ["groupId", "assetId", "version", "outcome", "reason"],
            {
                "groupId": {"type": "string"},
                "assetId": {"type": "string"},
                "version": {"type": "string"},
                "outcome": {"type": "string", "enum": ["created", "new-version", "unchanged"]},
                "reason": {"type": "string"},
            },
        ),
        "PublicationBatch": _object(
            ["seenAt", "publications"],
            {
                "seenAt": {"type": "string", "format": "date-time"},
                "publications": {
                    "type": "array",
                    "maxItems": 500,
                    "description": "Each names its groupId and assetId; seenAt is the batch's.",
                    "items": _ref("Publication"),
                },
            },
        ),
        "BatchResults": _object(
            ["results"],
            {
                "results": {
                    "type": "array",
                    "items": _object(
                        ["status"],
                        {
                            "status": {"type": "integer"},
                            "result": _ref("PublishResult"),
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                        },
                    ),
                }
            },
        ),
        "ProbeMemory": _object(
            ["sightings", "quietPorts", "specChecks"],
            {
                "sightings": {
                    "type": "array",
                    "items": _object(
                        list(_PORT) + ["assetType", "method", "detail"],
                        {
                            **_PORT,
                            "assetType": _ref("AssetType"),
                            "method": {"type": "string"},
                            "detail": {"type": "string"},
                        },
                    ),
                },
                "quietPorts": {
                    "type": "array",
                    "items": _object(
                        list(_PORT) + ["since", "shortChecks"],
                        {
                            **_PORT,
                            "since": {"type": "string", "format": "date-time"},
                            "shortChecks": {"type": "integer", "minimum": 0},
                        },
                    ),
                },
                "specChecks": _CHECKS,
            },
        ),
        "ProbeLessons": _object(
            ["at", "probed", "silent", "short", "checks"],
            {
                "at": {"type": "string", "format": "date-time"},
                "probed": {
                    "type": "array",
                    "items": _object(["cluster", "namespace", "service"], _SERVICE),
                },
                "silent": {"type": "array", "items": _object(list(_PORT), _PORT)},
                "short": {"type": "array", "items": _object(list(_PORT), _PORT)},
                "checks": _CHECKS,
            },
        ),
        "Run": _object(
            ["groupId", "seen", "startedAt", "finishedAt"],
            {
                "groupId": {"type": "string"},
                "seen": _strings(),
                "startedAt": {"type": "string", "format": "date-time"},
                "finishedAt": {"type": "string", "format": "date-time"},
                "complete": {"type": "boolean", "default": True},
                "deprecateAfter": {"type": "integer", "minimum": 1, "default": 3},
                "clusters": {**_strings(), "nullable": True},
                "namespaces": {**_strings(), "nullable": True},
                "coverage": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "answered": {
                            "type": "array",
                            "items": _object(list(_SERVICE), _SERVICE),
                            "description": "Services read in full that answered every"
                            " probe: an instance of theirs not seen is missing.",
                        },
                        "unsure": {
                            "type": "array",
                            "items": _object(list(_SERVICE), _SERVICE),
                            "description": "Services listed with problems: counted neither way.",
                        },
                        "listed": {
                            "type": "boolean",
                            "default": True,
                            "description": "Whether a Service the run did not list is"
                            " gone (false with a label selector).",
                        },
                        "unlisted": {
                            "type": "array",
                            "items": _object(["cluster", "namespace"], _PLACE),
                            "description": "Namespaces whose Services could not be listed.",
                        },
                        "excluded": {
                            **_strings(),
                            "description": "Namespaces the run did not list.",
                        },
                    },
                    "nullable": True,
                    "description": "What the run could judge, Service by Service; without"
                    " it the run is judged as a whole by complete.",
                },
                "staleAfter": {"type": "integer", "minimum": 1, "default": 3},
            },
        ),
        "RunSummary": _object(
            ["runId", "groupId", "counted", "seen", "missed", "deprecated", "restored"],
            {
                "runId": {"type": "integer"},
                "groupId": {"type": "string"},
                "counted": {"type": "boolean"},
                "seen": _strings(),
                "missed": _strings(),
                "deprecated": _strings(),
                "restored": _strings(),
                "held": {
                    **_strings(),
                    "description": "Not seen, not judged: their Service had problems.",
                },
                "stale": {
                    "type": "array",
                    "items": _object(list(_STALE), _STALE),
                    "description": "Instances this run found stale.",
                },
            },
        ),
        **_run_graph_schemas(),
        **_finding_schemas(),
        **_analytics_schemas(),
        "Graph": _object(
            ["directed", "nodes", "edges"],
            {
                "directed": {"type": "boolean"},
                "multigraph": {"type": "boolean"},
                "graph": {"type": "object"},
                "nodes": {"type": "array", "items": {"type": "object"}},
                "edges": {"type": "array", "items": {"type": "object"}},
            },
            closed=False,
        ),
    }


def _run_graph_schemas() -> Json:
    number = {"type": "number", "minimum": 0, "nullable": True}
    rate = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
    text = {"type": "string", "nullable": True}
    kinds = _enum("service", "tcp", "external", "unknown", "ingress")
    node = _object(
        ["id", "kind", "name"],
        {
            "id": {"type": "string", "description": "cluster/namespace/name, a host, unknown"},
            "kind": kinds,
            "name": {"type": "string"},
            "namespace": text,
            "cluster": text,
            "asset": {**text, "description": "group:asset of the API it serves."},
            "health": {**rate, "description": "Error rate of its inbound calls."},
            "analytics": {
                "type": "object",
                "nullable": True,
                "description": "Its inbound traffic (rps, errorRate, clientErrorRate, p50Ms,"
                " p95Ms, p99Ms, consumers), where telemetry measured it.",
            },
        },
    )
    edge = _object(
        ["source", "target", "protocol", "origin"],
        {
            "source": {"type": "string"},
            "target": {"type": "string"},
            "protocol": {"type": "string"},
            "origin": _enum("telemetry", "config", "both"),
            "rps": number,
            "errorRate": rate,
            "p95Ms": number,
        },
    )
    graph = {
        "cluster": {"type": "string"},
        "takenAt": {"type": "string", "format": "date-time"},
        "window": {**text, "description": "The telemetry window; null without telemetry."},
        "runId": {"type": "integer", "nullable": True},
        "nodes": {"type": "array", "items": node},
        "edges": {"type": "array", "items": edge},
        "findings": {
            "type": "object",
            "nullable": True,
            "description": "The run's posture and drift findings in this cluster: items"
            " (source, severity, kind, subject, objects, reason, node, asset, operation,"
            " calls), postureJudged and driftJudged (node ids). Absent for runs without.",
        },
    }
    header = _object(
        ["id", "cluster", "takenAt", "nodes", "edges", "digest"],
        {
            "id": {"type": "integer"},
            "cluster": {"type": "string"},
            "takenAt": {"type": "string", "format": "date-time"},
            "window": text,
            "runId": {"type": "integer", "nullable": True},
            "nodes": {"type": "integer"},
            "edges": {"type": "integer"},
            "digest": {"type": "string"},
        },
    )
    headers = {"type": "array", "items": _ref("RunGraphHeader")}
    return {
        "RunGraphHeader": header,
        "RunGraphPublication": _object(
            ["cluster", "takenAt", "nodes", "edges"],
            {**graph, "keep": {"type": "integer", "minimum": 1, "maximum": 500, "default": 10}},
        ),
        "RunGraph": _object(
            ["cluster", "takenAt", "nodes", "edges", "id", "digest", "runs"],
            {**graph, "id": {"type": "integer"}, "digest": {"type": "string"}, "runs": headers},
        ),
        "RunGraphList": _object(["clusters", "runs"], {"clusters": _strings(), "runs": headers}),
    }


def _finding_paths() -> Json:
    severities = _enum("high", "medium", "low", "info")
    return {
        f"{_M}/findings": {
            "get": _operation(
                "Posture and drift findings of each cluster's newest kept run, with history",
                "findings",
                {
                    "200": _json(
                        _ref("FindingList"),
                        "Most urgent first; firstSeen and lastSeen over the cluster's kept"
                        " runs; what the run before the newest held and the newest no"
                        " longer does is listed apart as resolved.",
                    ),
                    **_errors(400, 401, 503),
                },
                parameters=[
                    _query("cluster", "Only this cluster's findings."),
                    _query("namespace", "Only findings about this namespace."),
                    _query("severity", "Only this severity.", severities),
                    _query("kind", "Only this kind (plaintext-accepted, ...)."),
                    _query("source", "Only posture or drift.", _enum("posture", "drift")),
                    _query("asset", "Only findings about this API (group:asset)."),
                    _query("offset", "Findings to skip.", {"type": "integer", "minimum": 0}),
                    _query(
                        "limit",
                        "Findings per answer.",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    ),
                ],
            )
        },
        f"{_M}/assets/{{groupId}}/{{assetId}}/findings": {
            "parameters": _IDS,
            "get": _operation(
                "One API's posture badge and its findings over every cluster it runs in",
                "assetFindings",
                {
                    "200": _json(_ref("AssetFindings"), "Its findings."),
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
    }


def _finding_schemas() -> Json:
    text = {"type": "string", "nullable": True}
    finding = _object(
        ["source", "kind", "severity", "subject", "objects", "reason", "firstSeen", "lastSeen"],
        {
            "source": _enum("posture", "drift"),
            "kind": {"type": "string"},
            "severity": _enum("high", "medium", "low", "info"),
            "subject": {"type": "string", "description": "cluster/ns/service[:port] or a -> b"},
            "objects": _strings(),
            "reason": {"type": "string"},
            "cluster": {"type": "string"},
            "namespace": text,
            "node": text,
            "asset": {**text, "description": "group:asset, where the subject maps to one."},
            "operation": {**text, "description": "The operation a drift finding is about."},
            "calls": {"type": "integer", "nullable": True},
            "firstSeen": {"type": "string", "format": "date-time"},
            "lastSeen": {"type": "string", "format": "date-time"},
            "resolved": {"type": "boolean"},
        },
    )
    items = {"type": "array", "items": _ref("Finding")}
    run = _object(
        ["cluster", "graphId", "takenAt"],
        {
            "cluster": {"type": "string"},
            "graphId": {"type": "integer"},
            "runId": {"type": "integer", "nullable": True},
            "takenAt": {"type": "string", "format": "date-time"},
            "carriesFindings": {"type": "boolean"},
        },
    )
    return {
        "Finding": finding,
        "FindingList": _object(
            ["total", "findings", "resolved", "runs"],
            {
                "total": {"type": "integer"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
                "findings": items,
                "resolvedTotal": {"type": "integer"},
                "resolved": items,
                "runs": {"type": "array", "items": run},
            },
        ),
        "AssetFindings": _object(
            ["asset", "posture", "findings", "resolved"],
            {
                "asset": {"type": "string"},
                "posture": _enum("high", "medium", "low", "info", "ok", "not-judged"),
                "findings": items,
                "resolved": items,
            },
        ),
    }


def _analytics_paths() -> Json:
    return {
        f"{_M}/assets/{{groupId}}/{{assetId}}/analytics": {
            "parameters": _IDS,
            "get": _operation(
                "One API's inbound traffic over the kept runs of every cluster it runs in",
                "assetAnalytics",
                {
                    "200": _json(
                        _ref("AssetAnalytics"),
                        "One point per kept run and Service node telemetry measured, oldest"
                        " first; a run without a measurement has no point.",
                    ),
                    **_errors(400, 401, 404, 503),
                },
            ),
        },
    }


def _analytics_schemas() -> Json:
    number = {"type": "number", "minimum": 0, "nullable": True}
    rate = {"type": "number", "minimum": 0, "maximum": 1}
    consumer = _object(
        ["source", "rps", "share", "errorRate"],
        {
            "source": {"type": "string", "description": "The caller's node id."},
            "rps": {"type": "number", "minimum": 0},
            "share": {**rate, "description": "Its part of the API's requests."},
            "errorRate": rate,
        },
    )
    point = _object(
        ["takenAt", "cluster", "node", "rps", "errorRate", "clientErrorRate", "consumers"],
        {
            "takenAt": {"type": "string", "format": "date-time"},
            "cluster": {"type": "string"},
            "node": {"type": "string", "description": "cluster/namespace/service"},
            "runId": {"type": "integer", "nullable": True},
            "window": {"type": "string", "nullable": True},
            "rps": {"type": "number", "minimum": 0},
            "errorRate": {**rate, "description": "5xx and gRPC status other than 0."},
            "clientErrorRate": {**rate, "description": "4xx, counted apart."},
            "p50Ms": number,
            "p95Ms": number,
            "p99Ms": number,
            "consumers": {"type": "array", "items": consumer},
        },
    )
    return {
        "AssetAnalytics": _object(
            ["groupId", "assetId", "clusters", "points"],
            {
                "groupId": {"type": "string"},
                "assetId": {"type": "string"},
                "clusters": _strings(),
                "points": {"type": "array", "items": point},
            },
        ),
    }


def _version() -> str:
    try:
        return metadata.version("meshatlas")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def document() -> Json:
    """The OpenAPI document (a fresh dict on every call)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "meshatlas catalogue",
            "version": _version(),
            "description": "Assets discovered in Kubernetes + Istio clusters, following"
            " Anypoint Exchange's v2 API where it has a route.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": {
                "groupId": _path("groupId", _ID_SCHEMA),
                "assetId": _path("assetId", _ID_SCHEMA),
                "version": _path("version", {"type": "string", "description": "Semver."}),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
