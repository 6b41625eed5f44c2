"""Where API descriptions usually live, and which to try first.

The default lists follow the conventions of common frameworks. A cheap look at
``GET /`` (Server header, the shape of the error page, the content type) says
which framework is likely, and its paths are tried first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from discovery.fetch import Response

#: OpenAPI / Swagger locations, most common first.
OPENAPI_PATHS: Final = (
    "/v3/api-docs",
    "/openapi.json",
    "/swagger/v1/swagger.json",
    "/v2/api-docs",
    "/q/openapi",
    "/openapi.yaml",
    "/swagger.json",
    "/openapi/v1.json",
    "/api-docs",
    "/api-json",
    "/openapi",
    "/api/schema/",
    "/swagger/doc.json",
    "/swagger/docs/v1",
)
#: WSDL locations tried on every HTTP port (``?wsdl`` on the root).
WSDL_PATHS: Final = ("/?wsdl",)
#: Apache CXF lists its services here, with ``?wsdl`` links.
CXF_LISTING: Final = "/services"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What ``GET /`` suggests about the server."""

    framework: str | None
    json_errors: bool
    xml: bool
    html: bool
    allows_post_only: bool

    @property
    def evidence(self) -> str | None:
        return f"fingerprint: {self.framework}" if self.framework else None


_FRAMEWORK_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "spring": ("/v3/api-docs", "/v2/api-docs"),
    "fastapi": ("/openapi.json",),
    "aspnet": ("/swagger/v1/swagger.json", "/openapi/v1.json", "/swagger/docs/v1"),
    "quarkus": ("/q/openapi",),
    "nestjs": ("/api-json", "/api-docs"),
    "django": ("/api/schema/",),
    "go-swag": ("/swagger/doc.json",),
}


def fingerprint(response: Response | None) -> Fingerprint:
    """Guess the framework from the answer to ``GET /``."""
    if response is None:
        return Fingerprint(None, False, False, False, False)
    server = response.server.lower()
    ctype = response.content_type
    body = response.body[:4096]
    json_errors = ctype.endswith("json")
    framework: str | None = _from_location(response.headers.get("location", ""))
    if framework is not None:
        pass
    elif "uvicorn" in server or "hypercorn" in server:
        framework = "fastapi"
    elif "kestrel" in server:
        framework = "aspnet"
    elif json_errors and _spring_error(body):
        framework = "spring"
    elif json_errors and body.strip() == b'{"detail":"Not Found"}':
        framework = "fastapi"
    elif b"Resource Not Found" in body and (b'"/q/' in body or b"quarkus" in body.lower()):
        framework = "quarkus"
    elif b"No service was found" in body:
        framework = "cxf"
    elif response.headers.get("x-powered-by", "").lower().startswith("express"):
        framework = "express"
    allow = response.headers.get("allow", "").upper()
    return Fingerprint(
        framework=framework,
        json_errors=json_errors,
        xml=ctype.endswith("xml"),
        html=ctype == "text/html",
        allows_post_only=response.status == 405 and "POST" in allow and "GET" not in allow,
    )


#: Where frameworks redirect ``/`` to, and what that says about them.
_LOCATIONS: Final = (
    ("swagger/index.html", "aspnet"),
    ("swagger-ui/index.html", "spring"),
    ("swagger-ui.html", "spring"),
    ("/q/swagger-ui", "quarkus"),
    ("/q/dev", "quarkus"),
    ("/docs", "fastapi"),
)


def _from_location(location: str) -> str | None:
    for needle, framework in _LOCATIONS:
        if location.endswith(needle) or location.startswith(needle):
            return framework
    return None


def _spring_error(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and {"timestamp", "status", "error", "path"} <= data.keys()


#: Tried when ``/`` says nothing about the framework (the most common paths).
QUICK_PATHS: Final = ("/openapi.json", "/v3/api-docs", "/swagger.json")


def openapi_order(
    fp: Fingerprint, *, paths: tuple[str, ...] = OPENAPI_PATHS, exhaustive: bool = False
) -> tuple[str, ...]:
    """OpenAPI paths in the order to try them.

    The likely framework's paths come first. Unless ``exhaustive``, a known
    framework is tried only at its own paths, and an unknown one at the few
    most common paths; ``paths`` is the full list, configurable.
    """
    framework = _FRAMEWORK_PATHS.get(fp.framework or "", ())
    if exhaustive:
        return tuple(dict.fromkeys(framework + paths))
    if framework:
        return framework
    return tuple(p for p in QUICK_PATHS if p in paths) or paths[:3]


def soap_likely(fp: Fingerprint) -> bool:
    """Whether ``/`` looks like a SOAP server (try WSDL, skip OpenAPI)."""
    return fp.framework == "cxf" or fp.xml or fp.allows_post_only


def graphql_likely(fp: Fingerprint) -> bool:
    """Whether ``/`` looks like a Node.js/GraphQL gateway (try GraphQL first)."""
    return fp.framework == "express"


def wsdl_guesses(service_name: str) -> tuple[str, ...]:
    """Spring-WS serves ``/ws/<name>.wsdl``; guess names from the Service's name."""
    stems = [service_name]
    for suffix in ("-ws", "-service", "-svc", "-soap"):
        if service_name.endswith(suffix):
            stems.append(service_name[: -len(suffix)])
    return tuple(dict.fromkeys(f"/ws/{stem}.wsdl" for stem in stems))
