"""The frameworks meshatlas knows: how each one shows itself, and where it
serves its API description.

This module is data. Each :class:`Framework` lists its *signs* (what its
answers look like: headers, cookies, error bodies, redirect targets) and its
*locations* (paths where it serves a description, a docs page that points at
one, a GraphQL endpoint, a WSDL). A sign only moves that framework's
locations to the front of the queue; nothing here ever removes a location
from consideration. :data:`WIDE_NET` is the order for a server nobody
recognises, most common location first.

Adding a framework is one entry here and one test (``tests/test_frameworks.py``
checks every entry's shape). The defaults are the frameworks' documented
ones; each entry names the documentation it follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SignPlace = Literal["header", "cookie", "body", "json-keys", "location"]
#: ``get``: fetch and read whatever comes back (a description, a docs page,
#: a listing); ``graphql``: POST a ``{ __typename }`` query.
CandidateKind = Literal["get", "graphql"]


@dataclass(frozen=True, slots=True)
class Sign:
    """One way a framework shows itself in an answer.

    ``place`` is where to look: a response ``header`` (``name``) or a
    ``cookie`` set, the ``body`` of any answer (a regular expression over its
    first bytes), the top-level keys of a JSON error body (``json-keys``: all
    of ``pattern``'s comma-separated keys present), or a redirect's
    ``location``. ``pattern`` is a case-insensitive regular expression except
    for ``json-keys``.
    """

    place: SignPlace
    pattern: str
    name: str = ""
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Location:
    """Where a framework serves something worth asking for."""

    path: str
    kind: CandidateKind = "get"


@dataclass(frozen=True, slots=True)
class Framework:
    """A framework (or documentation library) and what is known of it."""

    name: str
    label: str
    signs: tuple[Sign, ...]
    locations: tuple[Location, ...]
    source: str


def _get(*paths: str) -> tuple[Location, ...]:
    return tuple(Location(p) for p in paths)


def _gql(*paths: str) -> tuple[Location, ...]:
    return tuple(Location(p, "graphql") for p in paths)


def _h(name: str, pattern: str, weight: float = 1.0) -> Sign:
    return Sign("header", pattern, name=name, weight=weight)


def _body(pattern: str, weight: float = 1.0) -> Sign:
    return Sign("body", pattern, weight=weight)


def _keys(keys: str, weight: float = 1.0) -> Sign:
    return Sign("json-keys", keys, weight=weight)


def _to(pattern: str, weight: float = 1.0) -> Sign:
    return Sign("location", pattern, weight=weight)


def _cookie(pattern: str, weight: float = 1.0) -> Sign:
    return Sign("cookie", pattern, weight=weight)


# Shared shapes. Express's default 404 is an HTML page "Cannot GET /path";
# Django's is "The requested resource was not found on this server."; Flask
# (Werkzeug) says "The requested URL was not found on the server."
_EXPRESS = _h("x-powered-by", r"^express", 0.3)
_EXPRESS_404 = _body(r"<pre>Cannot (GET|POST) /", 0.5)
_DJANGO = (
    _body(r"The requested resource was not found on this server", 0.7),
    _h("server", r"WSGIServer/.*CPython", 0.3),
    _h("cross-origin-opener-policy", r"same-origin", 0.2),
    _cookie(r"^(csrftoken|sessionid)=", 0.5),
)
_WERKZEUG = (
    _h("server", r"^Werkzeug/", 0.6),
    _body(r"The requested URL was not found on the server", 0.6),
)
_UVICORN = _h("server", r"^(uvicorn|hypercorn|granian)", 0.3)
# Go's net/http (and chi, gin) 404: every Go framework's locations come first.
_GO_404 = _body(r"^404 page not found", 0.5)

FRAMEWORKS: Final[tuple[Framework, ...]] = (
    # --- Java -----------------------------------------------------------------
    Framework(
        "springdoc",
        "Spring Boot + springdoc-openapi",
        (
            _keys("timestamp,status,error,path", 1.0),
            _body(r"Whitelabel Error Page", 1.0),
            _to(r"/swagger-ui/index\.html|/swagger-ui\.html", 1.0),
            _cookie(r"^JSESSIONID=", 0.3),
        ),
        _get(
            "/v3/api-docs",
            "/v3/api-docs/swagger-config",
            "/v3/api-docs.yaml",
            "/swagger-ui/index.html",
        ),
        "springdoc-openapi docs: springdoc.api-docs.path defaults to /v3/api-docs",
    ),
    Framework(
        "springfox",
        "Spring + springfox",
        (
            _keys("timestamp,status,error,path", 0.5),
            _to(r"/swagger-ui\.html", 0.5),
        ),
        _get("/v2/api-docs", "/swagger-resources", "/swagger-ui.html"),
        "springfox reference: springfox.documentation.swagger.v2.path is /v2/api-docs",
    ),
    Framework(
        "springwolf",
        "Spring Boot + Springwolf (AsyncAPI)",
        (
            _keys("timestamp,status,error,path", 0.5),
            _to(r"/springwolf/asyncapi-ui\.html", 1.0),
            _body(r"springwolf", 0.8),
        ),
        _get(
            "/springwolf/docs",
            "/springwolf/docs.yaml",
            "/actuator/springwolf",
            "/springwolf/asyncapi-ui.html",
        ),
        "springwolf-core AsyncApiController: springwolf.path.base /springwolf + path.docs /docs"
        " (JSON; .json and .yaml beside it), the actuator endpoint id springwolf; UI at"
        " /springwolf/asyncapi-ui.html",
    ),
    Framework(
        "quarkus",
        "Quarkus (SmallRye OpenAPI)",
        (
            _body(r"Resource not found", 0.3),
            _body(r'"/q/|/q/dev|quarkus', 0.8),
            _to(r"^/q/", 1.0),
        ),
        _get("/q/openapi", "/q/openapi?format=json", "/openapi", "/q/swagger-ui/"),
        "Quarkus guide 'Using OpenAPI and Swagger UI': quarkus.smallrye-openapi.path=/q/openapi",
    ),
    Framework(
        "microprofile",
        "MicroProfile OpenAPI (Open Liberty, Payara, WildFly, Helidon, TomEE)",
        (
            _h("server", r"Payara|GlassFish|Open Liberty|WebSphere|Helidon|TomEE|WildFly", 1.0),
            _h("x-powered-by", r"Servlet/|JSP/|Undertow|Payara", 0.8),
            _body(r"Error 404: java\.io\.FileNotFoundException|SRVE0190E|Undertow", 0.8),
        ),
        _get("/openapi", "/openapi?format=JSON", "/openapi/ui/"),
        "MicroProfile OpenAPI spec 3.x: the document is served at /openapi (YAML; JSON by Accept)",
    ),
    Framework(
        "micronaut",
        "Micronaut (micronaut-openapi)",
        (
            _keys("_links,_embedded,message", 1.0),
            _body(r'"_embedded":\{"errors"', 0.8),
            _h("server", r"^Micronaut", 0.8),
        ),
        _get("/swagger-ui", "/swagger-ui/index.html", "/redoc", "/rapidoc", "/swagger/"),
        "micronaut-openapi guide: the YAML goes under /swagger/<name>-<version>.yml, "
        "named by the views it generates (/swagger-ui, /redoc, /rapidoc)",
    ),
    Framework(
        "cxf",
        "Apache CXF (JAX-WS)",
        (
            _body(r"No service was found", 1.0),
            _body(r"Available SOAP services|CXF - Service list", 1.0),
        ),
        _get("/services", "/services/", "/cxf/services"),
        "Apache CXF: the servlet's /services page lists every endpoint with its ?wsdl link",
    ),
    Framework(
        "spring-ws",
        "Spring Web Services",
        (_keys("timestamp,status,error,path", 0.3),),
        _get("/ws/{service}.wsdl", "/ws?wsdl", "/ws/"),
        "Spring-WS reference: a <name>.wsdl bean is published as /ws/<name>.wsdl under the "
        "MessageDispatcherServlet's mapping (/ws/* in the getting-started guide)",
    ),
    # --- .NET -----------------------------------------------------------------
    Framework(
        "aspnet-openapi",
        "ASP.NET Core (Microsoft.AspNetCore.OpenApi)",
        (_h("server", r"^Kestrel", 1.0),),
        _get("/openapi/v1.json", "/openapi/v1.yaml", "/scalar/v1"),
        "ASP.NET Core docs 'Generate OpenAPI documents': MapOpenApi() serves /openapi/{name}.json",
    ),
    Framework(
        "swashbuckle",
        "ASP.NET Core + Swashbuckle or NSwag",
        (
            _h("server", r"^Kestrel", 1.0),
            _to(r"swagger/index\.html$", 1.0),
        ),
        _get("/swagger/v1/swagger.json", "/swagger/index.html", "/swagger/v1/swagger.yaml"),
        "Swashbuckle README: UseSwagger() serves /swagger/{documentName}/swagger.json "
        "(NSwag's UseOpenApi uses the same DocumentPath)",
    ),
    Framework(
        "aspnet-classic",
        "ASP.NET on IIS (Swashbuckle 5, ASMX, WCF)",
        (
            _h("x-powered-by", r"^ASP\.NET", 1.0),
            _h("x-aspnet-version", r".", 1.0),
            _h("server", r"Microsoft-IIS|Microsoft-HTTPAPI", 0.8),
        ),
        _get(
            "/swagger/docs/v1",
            "/swagger/ui/index",
            "/?singleWsdl",
            "/?wsdl",
            # Nothing links a .svc or .asmx; they are named after what they serve.
            "/{Resource}Service.svc?singleWsdl",
            "/{Resource}Service.asmx?WSDL",
            "/{Resource}.svc?singleWsdl",
            "/{Resource}.asmx?WSDL",
        ),
        "Swashbuckle 5 README: the document is at /swagger/docs/{apiVersion}; ASMX and WCF "
        "answer ?WSDL / ?singleWsdl on their .asmx/.svc paths",
    ),
    # --- Python ---------------------------------------------------------------
    Framework(
        "fastapi",
        "FastAPI",
        (
            _keys("detail", 0.6),
            _body(r'^\{"detail":"Not Found"\}', 1.0),
            _UVICORN,
        ),
        _get("/openapi.json", "/docs", "/redoc"),
        "FastAPI docs 'Metadata and Docs URLs': openapi_url defaults to /openapi.json",
    ),
    Framework(
        "litestar",
        "Litestar",
        (
            _keys("status_code,detail", 1.0),
            _UVICORN,
        ),
        _get("/schema/openapi.json", "/schema/openapi.yaml", "/schema"),
        "Litestar docs 'OpenAPI': OpenAPIConfig.path defaults to /schema",
    ),
    Framework(
        "django-ninja",
        "django-ninja",
        (*_DJANGO, _UVICORN),
        _get("/api/openapi.json", "/api/docs"),
        "django-ninja tutorial: NinjaAPI mounted at api/ serves api/openapi.json and api/docs",
    ),
    Framework(
        "drf-spectacular",
        "Django REST framework + drf-spectacular",
        (*_DJANGO, _h("allow", r"GET, HEAD, OPTIONS", 0.2), _h("vary", r"Accept", 0.1)),
        _get("/api/schema/", "/api/schema/swagger-ui/", "/api/schema/redoc/", "/schema/"),
        "drf-spectacular README: SpectacularAPIView at api/schema/ (YAML by default)",
    ),
    Framework(
        "drf-yasg",
        "Django REST framework + drf-yasg",
        _DJANGO,
        _get(
            "/swagger.json/",
            "/swagger.json",
            "/swagger/?format=openapi",
            "/swagger.yaml/",
            "/swagger/",
            "/redoc/",
        ),
        "drf-yasg README: get_schema_view() routes swagger<format>/, swagger/ and redoc/",
    ),
    Framework(
        "flask-restx",
        "Flask-RESTX / Flask-RESTPlus",
        (
            *_WERKZEUG,
            _keys("message", 0.4),
            _body(r"You have requested this URI", 1.0),
        ),
        _get("/swagger.json", "/"),
        "Flask-RESTX docs 'Swagger documentation': the specification is served at /swagger.json",
    ),
    Framework(
        "flask-smorest",
        "flask-smorest",
        (*_WERKZEUG, _keys("code,status", 1.0)),
        _get("/openapi.json", "/swagger-ui", "/redoc"),
        "flask-smorest docs 'OpenAPI': OPENAPI_JSON_PATH defaults to openapi.json under "
        "OPENAPI_URL_PREFIX",
    ),
    Framework(
        "apiflask",
        "APIFlask",
        (*_WERKZEUG, _keys("detail,message", 1.0)),
        _get("/openapi.json", "/docs"),
        "APIFlask docs 'OpenAPI Generating': spec_path defaults to /openapi.json, docs at /docs",
    ),
    Framework(
        "flasgger",
        "Flasgger",
        _WERKZEUG,
        _get("/apispec_1.json", "/apidocs/"),
        "Flasgger README: default config serves /apispec_1.json and the UI at /apidocs/",
    ),
    Framework(
        "connexion",
        "Connexion",
        (*_WERKZEUG, _keys("type,title,detail,status", 1.0), _UVICORN),
        _get("/openapi.json", "/swagger.json", "/ui/", "/openapi.yaml"),
        "Connexion docs 'Swagger UI': the spec is served at {base_path}/openapi.json "
        "(swagger.json for Swagger 2) and the UI at {base_path}/ui/",
    ),
    Framework(
        "sanic-ext",
        "Sanic + sanic-ext",
        (
            _h("server", r"^Sanic", 0.5),
            _body(r"Requested URL /[^ ]* not found", 1.0),
            _keys("description,status,message", 1.0),
        ),
        _get("/docs/openapi.json", "/docs", "/docs/swagger", "/docs/redoc"),
        "sanic-ext docs 'OpenAPI': the document is at /docs/openapi.json, UIs under /docs",
    ),
    Framework(
        "strawberry",
        "Strawberry / Graphene / Ariadne (Python GraphQL)",
        (*_DJANGO[:1], _UVICORN),
        _gql("/graphql", "/graphql/"),
        "Strawberry, Graphene-Django and Ariadne docs: the view is mounted at graphql/",
    ),
    # --- Node.js --------------------------------------------------------------
    Framework(
        "nestjs",
        "NestJS + @nestjs/swagger",
        (
            _EXPRESS,
            _keys("message,error,statusCode", 0.3),
            _body(r'"message":"Cannot (GET|POST) /', 0.8),
        ),
        _get("/api-json", "/api", "/api-yaml", "/docs-json", "/swagger-json"),
        "@nestjs/swagger docs: SwaggerModule.setup('api', ...) serves the UI at /api and the "
        "document at /api-json",
    ),
    Framework(
        "fastify",
        "Fastify + @fastify/swagger",
        (
            _keys("message,error,statusCode", 0.3),
            _body(r'"message":"Route (GET|POST):/[^"]* not found"', 1.0),
        ),
        (
            *_get("/documentation/json", "/documentation/yaml", "/documentation", "/docs/json"),
            *_gql("/graphql"),  # Mercurius, Fastify's GraphQL plugin
        ),
        "@fastify/swagger-ui README: routePrefix defaults to /documentation, with /json and /yaml",
    ),
    Framework(
        "hapi",
        "hapi + hapi-swagger",
        (
            _keys("statusCode,error,message", 0.3),
            _body(r'^\{"statusCode":404,"error":"Not Found","message":"Not Found"\}', 1.0),
        ),
        _get("/swagger.json", "/documentation"),
        "hapi-swagger options: jsonPath defaults to /swagger.json, documentationPath to "
        "/documentation",
    ),
    Framework(
        "loopback",
        "LoopBack 4",
        (
            _keys("error", 0.3),
            _body(r'"name":"NotFoundError"', 0.8),
            _body(r"Endpoint \\\"(GET|POST) /", 1.0),
        ),
        _get("/openapi.json", "/openapi.yaml", "/explorer/"),
        "LoopBack 4 docs 'Server': the OpenAPI spec is served at /openapi.json and /openapi.yaml",
    ),
    Framework(
        "express",
        "Express (swagger-ui-express, swagger-jsdoc conventions)",
        (_EXPRESS, _h("x-powered-by", r"^express", 0.2), _EXPRESS_404),
        (
            *_get("/api-docs", "/api-docs/"),
            *_gql("/graphql", "/api/graphql"),
            *_get("/api-docs.json", "/swagger.json", "/docs"),
        ),
        "swagger-ui-express README: app.use('/api-docs', serve, setup(document)) embeds the "
        "document in /api-docs/swagger-ui-init.js",
    ),
    Framework(
        "koa",
        "Koa (koa2-swagger-ui, koa-swagger-decorator)",
        # Plain "Not Found" is Koa's 404 but also others' (Starlette's): few
        # locations, so a wrong guess costs little.
        (_body(r"^Not Found$", 0.5),),
        (*_get("/docs", "/swagger.json"), *_gql("/graphql")),
        "koa2-swagger-ui README: koaSwagger({ routePrefix: '/docs' }) serves the UI, with the "
        "document passed inline as swaggerOptions.spec or fetched from swaggerOptions.url",
    ),
    Framework(
        "hono",
        "Hono + @hono/zod-openapi",
        (_body(r"^404 Not Found$", 0.8),),
        (*_get("/doc", "/ui", "/openapi.json"), *_gql("/graphql")),
        "@hono/zod-openapi README: app.doc('/doc', ...) serves the document; "
        "@hono/swagger-ui at /ui",
    ),
    Framework(
        "apollo",
        "Apollo Server (standalone) and other root GraphQL servers",
        (
            _body(r"GET query missing|Apollo Server|apollographql", 1.0),
            _keys("errors", 0.8),
        ),
        _gql("/", "/graphql"),
        "Apollo Server docs: startStandaloneServer answers GraphQL at /",
    ),
    Framework(
        "graphql-yoga",
        "GraphQL Yoga",
        (_body(r"graphql-yoga|Yoga GraphiQL", 1.0),),
        _gql("/graphql"),
        "GraphQL Yoga docs: graphqlEndpoint defaults to /graphql",
    ),
    # --- Go -------------------------------------------------------------------
    Framework(
        "swaggo",
        "Go + swaggo (gin-swagger, echo-swagger, http-swagger)",
        (_GO_404,),
        _get("/swagger/doc.json", "/swagger/index.html"),
        "swaggo/swag README: the handler serves doc.json beside index.html under /swagger/",
    ),
    Framework(
        "huma",
        "Go + huma",
        (
            _GO_404,
            _keys("$schema,title,status,detail", 1.0),
            _h("link", r"schemas/ErrorModel", 1.0),
        ),
        _get("/openapi.json", "/openapi.yaml", "/openapi-3.0.json", "/docs"),
        "huma docs 'OpenAPI Generation': /openapi.json, /openapi.yaml and /docs by default",
    ),
    Framework(
        "goa",
        "Go + goa v3",
        (_GO_404,),
        _get("/openapi3.json", "/openapi.json", "/openapi3.yaml", "/swagger.json"),
        'goa v3 design examples: Files("/openapi3.json", "gen/http/openapi3.json")',
    ),
    Framework(
        "gqlgen",
        "Go + gqlgen",
        (_GO_404,),
        _gql("/query"),
        "gqlgen getting-started server.go: the handler is mounted at /query, playground at /",
    ),
    Framework(
        "hasura",
        "Hasura GraphQL Engine",
        (_keys("path,error,code", 0.8), _body(r"hasura", 0.8)),
        _gql("/v1/graphql"),
        "Hasura docs: the GraphQL endpoint is /v1/graphql",
    ),
    # --- Rust, Ruby, PHP, Elixir ------------------------------------------------
    Framework(
        "utoipa",
        "Rust + utoipa",
        (),
        _get("/api-docs/openapi.json", "/swagger-ui/", "/openapi.json"),
        'utoipa-swagger-ui examples: SwaggerUi::new("/swagger-ui").url("/api-docs/openapi.json")',
    ),
    Framework(
        "rails",
        "Ruby on Rails + rswag, or grape-swagger",
        (
            _h("x-runtime", r"^[0-9.]+$", 0.8),
            _h("x-request-id", r".", 0.2),
            _body(r"The page you were looking for doesn't exist", 0.8),
        ),
        _get(
            "/api-docs/v1/swagger.yaml",
            "/api-docs/v1/swagger.json",
            "/swagger_doc",
            "/api/swagger_doc",
            "/api-docs",
        ),
        "rswag README: swagger_root 'swagger', served under /api-docs; grape-swagger mounts "
        "/swagger_doc",
    ),
    Framework(
        "laravel",
        "Laravel + L5-Swagger or Scramble",
        (_cookie(r"^(laravel_session|XSRF-TOKEN)=", 1.0),),
        _get("/docs/api-docs.json", "/api/documentation", "/docs/api.json", "/docs/api"),
        "L5-Swagger config: docs at /docs/api-docs.json, UI at /api/documentation; Scramble "
        "serves /docs/api.json and /docs/api",
    ),
    Framework(
        "phoenix",
        "Elixir Phoenix + open_api_spex",
        (_cookie(r"^_[a-z0-9_]+_key=", 0.6),),
        _get("/api/openapi", "/swaggerui"),
        "open_api_spex README: RenderSpec is routed at /api/openapi, SwaggerUI at /swaggerui",
    ),
)

#: The order for a server nobody recognises: the most common locations of
#: 2026's services first, GraphQL and WSDL among them where they rank.
WIDE_NET: Final[tuple[Location, ...]] = (
    Location("/openapi.json"),
    Location("/v3/api-docs"),
    Location("/graphql", "graphql"),
    Location("/swagger.json"),
    Location("/swagger/v1/swagger.json"),
    Location("/api-docs"),
    Location("/v2/api-docs"),
    Location("/openapi/v1.json"),
    Location("/api-json"),
    Location("/q/openapi"),
    Location("/openapi"),
    Location("/api/graphql", "graphql"),
    Location("/api/openapi.json"),
    Location("/docs"),
    Location("/.well-known/api-catalog"),
    Location("/openapi.yaml"),
    Location("/asyncapi.json"),
    Location("/query", "graphql"),
    Location("/api/schema/"),
    Location("/documentation/json"),
    Location("/schema/openapi.json"),
    Location("/swagger/doc.json"),
    Location("/springwolf/docs"),
    Location("/?wsdl"),
    Location("/doc"),
    Location("/v1/graphql", "graphql"),
    Location("/docs/openapi.json"),
    Location("/apispec_1.json"),
    Location("/api-docs/openapi.json"),
    Location("/swagger/docs/v1"),
    Location("/services"),
    Location("/", "graphql"),
    Location("/api/swagger.json"),
    Location("/api/v1/openapi.json"),
    Location("/openapi3.json"),
    Location("/docs/api-docs.json"),
    Location("/docs/api.json"),
    Location("/api/openapi"),
    Location("/swagger_doc"),
    Location("/api-docs/v1/swagger.yaml"),
    Location("/swagger-ui/index.html"),
    Location("/swagger/index.html"),
    Location("/asyncapi.yaml"),
    Location("/asyncapi"),
)

#: Query strings that ask a SOAP endpoint for its WSDL, most common first
#: (JAX-WS and CXF ``?wsdl``; ASMX ``?WSDL``; WCF ``?singleWsdl`` for one file).
WSDL_QUERIES: Final = ("?wsdl", "?WSDL", "?singleWsdl")

#: Suffixes a Service's name often carries that its Spring-WS WSDL does not.
SERVICE_SUFFIXES: Final = ("-ws", "-service", "-svc", "-soap")
#: Suffixes that name what a Service is rather than the resource it serves.
RESOURCE_SUFFIXES: Final = ("-api", "-service", "-svc", "-server", "-backend", "-app", "-v1", "-v2")

#: Documentation pages, by path ending: their answer is a page that names its
#: description, so it is read for pointers rather than parsed.
DOCS_PAGES: Final = (
    "/docs",
    "/redoc",
    "/swagger-ui",
    "/swagger",
    "/api",
    "/apidocs",
    "/documentation",
    "/explorer",
    "/schema",
    "/ui",
)
