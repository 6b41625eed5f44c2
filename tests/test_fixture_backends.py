"""The fixture mesh's backends behave like the frameworks they imitate.

Each test starts real servers on 127.77.x.y addresses (on ports found free first)
inside ``asyncio.run`` and talks to them over loopback with httpx, grpcio, zeep or
raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import grpc
import httpx
import pytest
import yaml
import zeep
import zeep.proxy
import zeep.transports
import zeep.wsdl
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

import fixtures.backends
from fixtures.backends import (
    PROFILES,
    Backend,
    BackendError,
    BindError,
    RunningBackends,
    start_backends,
)
from fixtures.ports import free_port

REPO = pathlib.Path(__file__).resolve().parent.parent
SPECS = REPO / "fixtures" / "specs"
DEMO_BACKENDS = REPO / "fixtures" / "clusters" / "demo" / "backends.yaml"

_hosts = itertools.count(1)


def _next_address() -> str:
    """A fresh loopback address per backend, so tests never share a listener."""
    n = next(_hosts)
    return f"127.77.{n // 250 % 250}.{n % 250 + 1}"


def make_backend(service: str, profile: str, spec: str | None = None) -> Backend:
    """A backend on a fresh address and a free port; ``spec`` is relative to fixtures/specs."""
    address = _next_address()
    return Backend(
        service=service,
        address=address,
        port=free_port(address),
        profile=profile,
        spec=SPECS / spec if spec else None,
    )


def url(backend: Backend, path: str = "/") -> str:
    return f"http://{backend.address}:{backend.port}{path}"


@contextlib.asynccontextmanager
async def serving(*backends: Backend) -> AsyncIterator[tuple[RunningBackends, httpx.AsyncClient]]:
    running = await start_backends(backends)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            yield running, client
    finally:
        await running.stop()


def run(test: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run one test body on a fresh event loop."""
    asyncio.run(test())


# Unique specs (bench/crawl.py --unique-specs) ------------------------------------------


def test_unique_specs_stamp_every_service_and_stay_valid() -> None:
    from discovery.specs import parse_spec

    plan = [
        ("a/one", "springdoc", "openapi/3.0/catalog-springdoc.json", "/v3/api-docs"),
        ("a/two", "springdoc", "openapi/3.0/catalog-springdoc.json", "/v3/api-docs"),
        ("b/q", "quarkus", "openapi/3.0/inventory-quarkus.yaml", "/q/openapi"),
        ("c/cxf", "cxf", "wsdl/1.1/invoice-soap11.wsdl", "/services/InvoiceService?wsdl"),
    ]
    backends = [make_backend(service, profile, spec) for service, profile, spec, _ in plan]

    async def test() -> None:
        running = await start_backends(backends, unique_specs=True)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                bodies = [
                    (await client.get(url(b, path))).content
                    for b, (_, _, _, path) in zip(backends, plan, strict=True)
                ]
        finally:
            await running.stop()
        assert len(set(bodies)) == len(bodies)
        for backend, body, (service, _, _, path) in zip(backends, bodies, plan, strict=True):
            assert service.encode() in body
            doc = parse_spec(body, url=url(backend, path), content_type=None)
            assert doc.valid, doc.errors

    run(test)


# Spring ------------------------------------------------------------------------------


def test_springdoc_serves_its_spec_and_whitelabel_errors() -> None:
    catalog = make_backend("shop/catalog", "springdoc", "openapi/3.0/catalog-springdoc.json")
    on_disk = json.loads((SPECS / "openapi/3.0/catalog-springdoc.json").read_bytes())

    async def test() -> None:
        async with serving(catalog) as (_, client):
            docs = await client.get(url(catalog, "/v3/api-docs"))
            assert docs.status_code == 200
            assert docs.headers["content-type"] == "application/json"
            assert docs.json() == on_disk
            assert "server" not in docs.headers
            assert "Origin" in docs.headers.get_list("vary")

            as_yaml = await client.get(url(catalog, "/v3/api-docs.yaml"))
            assert yaml.safe_load(as_yaml.text) == on_disk

            config = await client.get(url(catalog, "/v3/api-docs/swagger-config"))
            assert config.json() == {
                "configUrl": "/v3/api-docs/swagger-config",
                "url": "/v3/api-docs",
                "validatorUrl": "",
            }
            ui = await client.get(url(catalog, "/swagger-ui/index.html"))
            assert ui.status_code == 200 and "swagger-ui" in ui.text

            missing = await client.get(url(catalog, "/openapi.json"))
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/json"
            body = missing.json()
            assert list(body) == ["timestamp", "status", "error", "path"]
            assert body["status"] == 404 and body["error"] == "Not Found"
            assert body["path"] == "/openapi.json"
            assert "server" not in missing.headers

            wrong_method = await client.post(url(catalog, "/v3/api-docs"))
            assert wrong_method.status_code == 405
            assert wrong_method.json()["error"] == "Method Not Allowed"

            browser = await client.get(url(catalog, "/x"), headers={"Accept": "text/html"})
            assert browser.status_code == 404 and "Whitelabel Error Page" in browser.text

    run(test)


def test_springfox_serves_swagger_2_and_its_resources() -> None:
    reviews = make_backend("shop/reviews", "springfox", "swagger/2.0/reviews-springfox.json")

    async def test() -> None:
        async with serving(reviews) as (_, client):
            docs = await client.get(url(reviews, "/v2/api-docs"))
            assert docs.status_code == 200
            assert docs.json()["swagger"] == "2.0"
            resources = await client.get(url(reviews, "/swagger-resources"))
            assert resources.json() == [
                {
                    "name": "default",
                    "url": "/v2/api-docs",
                    "swaggerVersion": "2.0",
                    "location": "/v2/api-docs",
                }
            ]
            missing = await client.get(url(reviews, "/v3/api-docs"))
            assert missing.status_code == 404
            assert missing.json()["path"] == "/v3/api-docs"

    run(test)


# FastAPI, Kestrel, Quarkus, plain JSON ----------------------------------------------------


def test_fastapi_serves_openapi_json_from_uvicorn() -> None:
    orders = make_backend("shop/orders", "fastapi", "openapi/3.1/orders-fastapi.json")

    async def test() -> None:
        async with serving(orders) as (_, client):
            spec = await client.get(url(orders, "/openapi.json"))
            assert spec.status_code == 200
            assert spec.headers["server"] == "uvicorn"
            assert spec.json()["openapi"] == "3.1.0"
            assert spec.json()["info"]["version"] == "2.3.1"
            docs = await client.get(url(orders, "/docs"))
            assert "/openapi.json" in docs.text
            missing = await client.get(url(orders, "/v3/api-docs"))
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/json"
            assert missing.json() == {"detail": "Not Found"}

    run(test)


def test_swashbuckle_answers_as_kestrel() -> None:
    payments = make_backend("shop/payments", "swashbuckle", "openapi/3.0/payments-swashbuckle.json")

    async def test() -> None:
        async with serving(payments) as (_, client):
            spec = await client.get(url(payments, "/swagger/v1/swagger.json"))
            assert spec.status_code == 200
            assert spec.headers["server"] == "Kestrel"
            assert spec.json()["info"]["version"] == "v1"
            index = await client.get(url(payments, "/swagger/index.html"))
            assert "v1/swagger.json" in index.text
            missing = await client.get(url(payments, "/openapi.json"))
            assert missing.status_code == 404
            assert missing.content == b""
            assert missing.headers["server"] == "Kestrel"

    run(test)


def test_quarkus_serves_yaml_and_json_and_health() -> None:
    inventory = make_backend("shop/inventory", "quarkus", "openapi/3.0/inventory-quarkus.yaml")
    on_disk = yaml.safe_load((SPECS / "openapi/3.0/inventory-quarkus.yaml").read_bytes())

    async def test() -> None:
        async with serving(inventory) as (_, client):
            as_yaml = await client.get(url(inventory, "/q/openapi"))
            assert as_yaml.status_code == 200
            assert as_yaml.headers["content-type"] == "application/yaml;charset=UTF-8"
            assert yaml.safe_load(as_yaml.text) == on_disk
            as_json = await client.get(url(inventory, "/q/openapi?format=json"))
            assert as_json.headers["content-type"].startswith("application/json")
            assert as_json.json() == on_disk
            health = await client.get(url(inventory, "/q/health"))
            assert health.json() == {"status": "UP", "checks": []}
            missing = await client.get(url(inventory, "/openapi.json"))
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("text/html")
            assert "Resource not found" in missing.text

    run(test)


def test_json_rest_without_spec_answers_json_everywhere() -> None:
    ledger = make_backend("billing/ledger", "json-rest")

    async def test() -> None:
        async with serving(ledger) as (_, client):
            root = await client.get(url(ledger, "/"))
            assert root.status_code == 404
            assert root.headers["content-type"] == "application/json"
            assert root.headers["server"] == "gunicorn"
            assert root.json()["error"] == "not_found"
            entries = await client.get(url(ledger, "/api/v1/entries"))
            assert entries.status_code == 200 and isinstance(entries.json(), list)
            assert (await client.get(url(ledger, "/healthz"))).json() == {"status": "ok"}
            for path in ("/openapi.json", "/v3/api-docs", "/swagger.json", "/services"):
                missing = await client.get(url(ledger, path))
                assert missing.status_code == 404
                assert missing.headers["content-type"] == "application/json"

    run(test)


def test_html_site_has_pages_and_nginx_404s() -> None:
    frontend = make_backend("shop/frontend", "html-site")

    async def test() -> None:
        async with serving(frontend) as (_, client):
            page = await client.get(url(frontend, "/"))
            assert page.status_code == 200
            assert page.headers["server"] == "nginx/1.25.3"
            assert page.headers["content-type"].startswith("text/html")
            assert 'href="/' in page.text and "/static/app.js" in page.text
            script = await client.get(url(frontend, "/static/app.js"))
            assert script.status_code == 200
            for path in ("/openapi.json", "/v3/api-docs", "/swagger/v1/swagger.json", "/graphql"):
                missing = await client.get(url(frontend, path))
                assert missing.status_code == 404
                assert "<center>nginx/1.25.3</center>" in missing.text

    run(test)


# SOAP ---------------------------------------------------------------------------------


def _zeep_service(
    wsdl: pathlib.Path, binding: str, address: str, http: httpx.AsyncClient
) -> zeep.proxy.AsyncServiceProxy:
    """An async zeep proxy for a local WSDL, pointed at the backend instead of the WSDL's host."""
    transport = zeep.transports.AsyncTransport(client=http, wsdl_client=httpx.Client())
    client = zeep.AsyncClient(str(wsdl), transport=transport)
    return zeep.proxy.AsyncServiceProxy(client, client.wsdl.bindings[binding], address=address)


def test_cxf_lists_services_serves_wsdl_and_answers_soap_11() -> None:
    wsdl = SPECS / "wsdl/1.1/invoice-soap11.wsdl"
    invoice = make_backend("billing/invoice-ws", "cxf", "wsdl/1.1/invoice-soap11.wsdl")

    async def test() -> None:
        async with serving(invoice) as (_, client):
            listing = await client.get(url(invoice, "/services"))
            assert listing.status_code == 200
            assert "Available SOAP services:" in listing.text
            link = url(invoice, "/services/InvoiceService?wsdl")
            assert f'href="{link}"' in listing.text
            for query in ("wsdl", "WSDL"):
                document = await client.get(url(invoice, f"/services/InvoiceService?{query}"))
                assert document.status_code == 200
                assert document.headers["content-type"].startswith("text/xml")
                assert document.content == wsdl.read_bytes()

            empty = await client.post(
                url(invoice, "/services/InvoiceService"),
                content=b"",
                headers={"Content-Type": "text/xml", "SOAPAction": '"urn:getInvoice"'},
            )
            assert empty.status_code == 500
            assert empty.headers["content-type"].startswith("text/xml")
            assert "<soap:Fault>" in empty.text

            service = _zeep_service(
                wsdl,
                "{http://invoice.billing.example.com/}InvoiceServiceSoapBinding",
                url(invoice, "/services/InvoiceService"),
                client,
            )
            found = await service.getInvoice(invoiceId="INV-7")
            assert found.id == "INV-7" and found.status == "ISSUED"
            assert await service.cancelInvoice(invoiceId="INV-7", reason="duplicate") is True

            missing = await client.get(url(invoice, "/v3/api-docs"))
            assert missing.status_code == 404
            assert "No service was found." in missing.text

    run(test)


def test_spring_ws_serves_wsdl_and_soap_12_faults() -> None:
    wsdl = SPECS / "wsdl/1.1/tax-soap12.wsdl"
    tax = make_backend("billing/tax-calc", "spring-ws", "wsdl/1.1/tax-soap12.wsdl")

    async def test() -> None:
        async with serving(tax) as (_, client):
            document = await client.get(url(tax, "/ws/tax.wsdl"))
            assert document.status_code == 200
            assert document.headers["content-type"].startswith("text/xml")
            assert document.content == wsdl.read_bytes()

            empty = await client.post(
                url(tax, "/ws"), content=b"", headers={"Content-Type": "application/soap+xml"}
            )
            assert empty.status_code == 500
            assert empty.headers["content-type"].startswith("application/soap+xml")
            assert "http://www.w3.org/2003/05/soap-envelope" in empty.text
            assert "<env:Fault>" in empty.text

            service = _zeep_service(
                wsdl, "{http://billing.example.com/tax}TaxPortSoap12", url(tax, "/ws"), client
            )
            result = await service.CalculateTax(
                country="DE",
                currency="EUR",
                item=[{"sku": "SKU-1", "category": "standard", "amount": "100.00"}],
            )
            assert str(result.tax) == "19.00"

            assert (await client.get(url(tax, "/ws"))).status_code == 405
            missing = await client.get(url(tax, "/v3/api-docs"))
            assert missing.status_code == 404 and missing.json()["path"] == "/v3/api-docs"

    run(test)


def test_soap_without_wsdl_faults_on_every_post() -> None:
    legacy = make_backend("billing/legacy-soap", "soap-no-wsdl")
    empty_envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body/></soap:Envelope>"
    )

    async def test() -> None:
        async with serving(legacy) as (_, client):
            assert (await client.get(url(legacy, "/?wsdl"))).status_code == 404
            assert (await client.get(url(legacy, "/soap?wsdl"))).status_code == 404
            for path, body in (("/", empty_envelope), ("/soap", empty_envelope), ("/", b"")):
                fault = await client.post(
                    url(legacy, path), content=body, headers={"Content-Type": "text/xml"}
                )
                assert fault.status_code == 500
                assert fault.headers["content-type"].startswith("text/xml")
                assert "<soap:Fault>" in fault.text
            get = await client.get(url(legacy, "/"))
            assert get.status_code == 405
            assert get.headers["allow"] == "POST"
            assert get.headers["content-type"].startswith("text/plain")

    run(test)


# GraphQL, gRPC, Redis, TLS ---------------------------------------------------------------


def test_graphql_executes_queries_and_introspection() -> None:
    gateway = make_backend("platform/graphql-gw", "graphql")

    async def test() -> None:
        async with serving(gateway) as (_, client):
            endpoint = url(gateway, "/graphql")
            result = await client.post(
                endpoint, json={"query": '{ product(id: "1") { name price } health }'}
            )
            assert result.status_code == 200
            assert result.headers["x-powered-by"] == "Express"
            assert result.json() == {
                "data": {"product": {"name": "Espresso grinder", "price": 129.9}, "health": "ok"}
            }
            schema = await client.post(
                endpoint, json={"query": "{ __schema { queryType { name } } }"}
            )
            assert schema.json()["data"]["__schema"]["queryType"]["name"] == "Query"
            no_query = await client.get(endpoint)
            assert no_query.status_code == 400
            assert no_query.json() == {"errors": [{"message": "Must provide query string."}]}
            missing = await client.get(url(gateway, "/openapi.json"))
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("application/json")

    run(test)


def test_grpc_reflection_lists_the_health_service() -> None:
    search = make_backend("platform/search", "grpc-reflection")

    async def test() -> None:
        running = await start_backends([search])
        try:
            async with grpc.aio.insecure_channel(f"{search.address}:{search.port}") as channel:
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)
                request = reflection_pb2.ServerReflectionRequest(list_services="")
                names: list[str] = []
                async for response in stub.ServerReflectionInfo(iter([request])):
                    names.extend(s.name for s in response.list_services_response.service)
                assert "grpc.health.v1.Health" in names
                assert "platform.search.v1.SearchService" in names
                health = health_pb2_grpc.HealthStub(channel)
                checked = await health.Check(health_pb2.HealthCheckRequest())
                assert checked.status == health_pb2.HealthCheckResponse.SERVING
            assert running.requests["platform/search"] == 2
        finally:
            await running.stop()

    run(test)


def test_redis_speaks_resp_not_http() -> None:
    redis = make_backend("shop/cart-redis", "redis")

    async def test() -> None:
        async with serving(redis) as (running, client):
            reader, writer = await asyncio.open_connection(redis.address, redis.port)
            writer.write(b"PING\r\n*1\r\n$4\r\nPING\r\nHGETALL cart:1\r\n")
            await writer.drain()
            replies = [await reader.readline() for _ in range(3)]
            writer.close()
            await writer.wait_closed()
            assert replies[:2] == [b"+PONG\r\n", b"+PONG\r\n"]
            assert replies[2].startswith(b"-ERR unknown command 'HGETALL'")
            with pytest.raises(httpx.HTTPError):
                await client.get(url(redis, "/"))
            assert running.requests["shop/cart-redis"] >= 3

    run(test)


def test_tls_backend_completes_a_handshake() -> None:
    auth = make_backend("platform/auth", "tls")

    async def test() -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        running = await start_backends([auth])
        try:
            async with httpx.AsyncClient(verify=context) as client:
                answer = await client.get(f"https://{auth.address}:{auth.port}/")
            assert answer.status_code == 200 and answer.text == "ok"
            reader, writer = await asyncio.open_connection(auth.address, auth.port, ssl=context)
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True)
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()
            names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
            assert "auth.platform.svc.cluster.local" in names.value.get_values_for_type(
                x509.DNSName
            )
        finally:
            await running.stop()

    run(test)


# Starting, counting, stopping ------------------------------------------------------------


def test_shared_app_counts_requests_per_service(capfd: pytest.CaptureFixture[str]) -> None:
    notes = make_backend("platform/notes", "fastapi", "openapi/3.1/notes-fastapi.json")
    debug = make_backend("shop/debug-tools", "fastapi", "openapi/3.1/debug-tools.json")
    other_notes = make_backend("platform/notes-b", "fastapi", "openapi/3.1/notes-fastapi.json")

    async def test() -> None:
        async with serving(notes, debug, other_notes) as (running, client):
            assert dict(running.requests) == {
                "platform/notes": 0,
                "shop/debug-tools": 0,
                "platform/notes-b": 0,
            }
            for _ in range(3):
                await client.get(url(notes, "/openapi.json"))
            await client.get(url(other_notes, "/nothing"))
            title = (await client.get(url(debug, "/openapi.json"))).json()["info"]["title"]
            assert title == "debug-tools"
            assert dict(running.requests) == {
                "platform/notes": 3,
                "shop/debug-tools": 1,
                "platform/notes-b": 1,
            }

    run(test)
    assert capfd.readouterr().out == ""


def test_stop_releases_every_port() -> None:
    backends = [
        make_backend("shop/catalog", "springdoc", "openapi/3.0/catalog-springdoc.json"),
        make_backend("shop/cart-redis", "redis"),
        make_backend("platform/search", "grpc-reflection"),
        make_backend("platform/auth", "tls"),
    ]

    async def test() -> None:
        async with await start_backends(backends):
            pass
        again = await start_backends(backends)
        await again.stop()
        await again.stop()  # a second stop is harmless

    run(test)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"profile": "tomcat"}, "unknown profile"),
        ({"spec": None}, "needs a spec"),
        ({"address": "10.0.0.1"}, "not a loopback address"),
        ({"port": 0}, "out of range"),
    ],
)
def test_bad_backends_are_refused(change: dict[str, Any], message: str) -> None:
    good = make_backend("shop/catalog", "springdoc", "openapi/3.0/catalog-springdoc.json")
    bad = Backend(**{**_fields(good), **change})
    with pytest.raises(BackendError, match=message):
        run(lambda: start_backends([bad]))


def _fields(backend: Backend) -> dict[str, Any]:
    return {name: getattr(backend, name) for name in Backend.__dataclass_fields__}


@pytest.mark.parametrize("profile", ["json-rest", "redis", "grpc-reflection"])
def test_a_taken_port_stops_what_was_started(profile: str) -> None:
    first = make_backend("shop/frontend", "html-site")
    taken = make_backend("billing/ledger", profile)

    async def test() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.bind((taken.address, taken.port))
            holder.listen()
            with pytest.raises(BindError) as caught:
                await start_backends([first, taken])
        assert caught.value.errno == errno.EADDRINUSE
        assert isinstance(caught.value, OSError)
        assert str(caught.value).count("cannot listen") == 1
        assert f"{taken.address}:{taken.port} for billing/ledger" in str(caught.value)
        # The site started before the failure was closed again.
        running = await start_backends([first])
        await running.stop()

    run(test)


_BIND_LOW_PORT = """
import asyncio, sys
from fixtures.backends import Backend, BindError, start_backends
frontend = Backend("shop/frontend", sys.argv[1], 80, "html-site")
try:
    asyncio.run(start_backends([frontend]))
except BindError as exc:
    print(exc.errno)
    print(exc)
"""


def test_privileged_port_without_root_says_so() -> None:
    command = [sys.executable, "-c", _BIND_LOW_PORT]
    if os.geteuid() == 0:
        # Root binds anything; without CAP_NET_BIND_SERVICE the kernel refuses as it
        # would for any other user.
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv (util-linux) is needed to drop CAP_NET_BIND_SERVICE")
        command = [
            "setpriv", "--bounding-set", "-net_bind_service",
            "--inh-caps", "-net_bind_service", *command,
        ]  # fmt: skip
    elif int(pathlib.Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 80:
        pytest.skip("this host lets anyone bind port 80")
    address = _next_address()
    done = subprocess.run(
        [*command, address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
    )
    code, _, message = done.stdout.partition("\n")
    assert code.strip() == str(errno.EACCES), done.stderr
    assert "EACCES" in message and "below 1024" in message
    assert f"{address}:80" in message


# The demo's specs and profiles ---------------------------------------------------------------


def _demo_specs(*suffixes: str, family: str | None = None) -> list[pathlib.Path]:
    """The spec files the demo's backends serve (other tests keep their own under specs/).

    ``family`` ``asyncapi`` picks the AsyncAPI documents; otherwise they are left out.
    """
    entries = yaml.safe_load(DEMO_BACKENDS.read_text())["backends"]
    named = {SPECS / entry["spec"] for entry in entries if "spec" in entry}
    return sorted(
        path
        for path in named
        if path.suffix in suffixes and (path.parts[-3] == "asyncapi") == (family == "asyncapi")
    )


@pytest.mark.parametrize(
    "path", _demo_specs(".json", ".yaml"), ids=lambda p: str(p.relative_to(SPECS))
)
def test_openapi_and_swagger_specs_validate(path: pathlib.Path) -> None:
    document, _ = read_from_filename(str(path))
    validate(document)
    operations = [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    ]
    assert 4 <= len(operations) <= 10
    assert all(operation.get("tags") for operation in operations)
    assert document.get("components", {}).get("schemas") or document.get("definitions")


@pytest.mark.parametrize("path", _demo_specs(".wsdl"), ids=lambda p: str(p.relative_to(SPECS)))
def test_wsdl_specs_load_with_zeep(path: pathlib.Path) -> None:
    document = zeep.wsdl.Document(str(path), zeep.Transport())
    operations = [
        name
        for service in document.services.values()
        for port in service.ports.values()
        for name in port.binding._operations
    ]
    assert len(operations) >= 2


@pytest.mark.parametrize(
    "path",
    _demo_specs(".json", ".yaml", family="asyncapi"),
    ids=lambda p: str(p.relative_to(SPECS)),
)
def test_asyncapi_specs_validate_against_the_initiatives_schema(path: pathlib.Path) -> None:
    import jsonschema
    from referencing import Registry

    document = yaml.safe_load(path.read_bytes())
    schemas = pathlib.Path(__file__).parent.parent / "discovery" / "contracts" / "schemas"
    schema = json.loads((schemas / "asyncapi" / f"{document['asyncapi']}.json").read_bytes())
    jsonschema.Draft7Validator(schema, registry=Registry()).validate(document)
    assert document["servers"] and document["channels"] and document["operations"]


def test_demo_specs_are_all_checked() -> None:
    assert len(_demo_specs(".json", ".yaml")) == 7
    assert len(_demo_specs(".json", ".yaml", family="asyncapi")) == 1
    assert len(_demo_specs(".wsdl")) == 2


def test_demo_backends_name_known_profiles_and_existing_specs() -> None:
    entries = yaml.safe_load(DEMO_BACKENDS.read_text())["backends"]
    for entry in entries:
        assert entry["profile"] in PROFILES, entry
        if "spec" in entry:
            assert (SPECS / entry["spec"]).is_file(), entry


def test_public_surface() -> None:
    assert set(fixtures.backends.__all__) == {
        "PROFILES",
        "Backend",
        "BackendError",
        "BindError",
        "RunningBackends",
        "start_backends",
    }
