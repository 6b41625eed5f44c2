"""Tests for discovery.specs and discovery.contracts.wsdl: recognising, parsing, validating specs.

Fixtures live under ``fixtures/specs/`` by source and version; the ones these
tests own are named ``unit-*``. Hostile documents are under ``hostile/``,
documents that are specs but fail validation under ``invalid/``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV30SpecValidator
from openapi_spec_validator.validation.validators import SpecValidator

from discovery import specs
from discovery.errors import DiscoveryError, NotASpecError, SpecError, SpecRefusedError
from discovery.model import Operation, SpecDocument
from discovery.specs import SpecLimits, looks_like_soap_fault, looks_like_wsdl, parse_spec

SPECS = Path(__file__).resolve().parent.parent / "fixtures" / "specs"
URL = "http://svc.ns:8080/spec"


def read(relative: str) -> bytes:
    return (SPECS / relative).read_bytes()


def parse(relative: str, content_type: str | None = None) -> SpecDocument:
    return parse_spec(read(relative), url=URL, content_type=content_type)


def ops(document: SpecDocument) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(op.name, op.method, op.path, op.summary) for op in document.operations]


# --- watching for file reads and connections -----------------------------------------

_seen: list[tuple[str, str]] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _seen is not None and event in ("open", "socket.connect", "urllib.Request"):
        _seen.append((event, repr(args[:2])))


# Audit hooks cannot be removed: this one records only inside watch_io().
sys.addaudithook(_audit)


@contextmanager
def watch_io() -> Iterator[list[tuple[str, str]]]:
    """Record every file open and outbound connection made in this process."""
    global _seen
    _seen = []
    try:
        yield _seen
    finally:
        _seen = None


@pytest.fixture
def trap_server() -> Iterator[tuple[int, list[str]]]:
    """A real HTTP server on loopback that records every request it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- valid documents ------------------------------------------------------------------


def test_openapi30_yaml_is_parsed_and_valid() -> None:
    document = parse("openapi/3.0/unit-petstore.yaml")

    assert (document.format, document.spec_version, document.packaging) == (
        "openapi",
        "3.0.3",
        "yaml",
    )
    assert document.valid, document.errors
    assert document.errors == ()
    assert document.title == "Pet Store"
    assert document.api_version == "1.0.7"
    assert document.description == "Pets, their owners and their visits."
    assert document.base_path == "/petstore/v1"
    assert ops(document) == [
        ("listPets", "GET", "/pets", "List pets"),
        ("POST /pets", "POST", "/pets", "Add a pet"),
        ("showPetById", "GET", "/pets/{petId}", None),
        ("deletePet", "DELETE", "/pets/{petId}", None),
    ]
    # Declared tags first, then those only operations use; no duplicates.
    assert document.tags == ("pets", "owners", "admin")
    assert document.url == URL
    assert document.content == read("openapi/3.0/unit-petstore.yaml")


def test_openapi31_json_is_parsed_and_valid() -> None:
    document = parse("openapi/3.1/unit-library.json", content_type="application/json")

    assert (document.format, document.spec_version, document.packaging) == (
        "openapi",
        "3.1.0",
        "json",
    )
    assert document.valid, document.errors
    assert document.api_version == "2024.1"
    assert document.description is None
    assert document.base_path == "https://library.example/api"
    # Webhooks are calls the API makes, not operations it serves.
    assert ops(document) == [
        ("listBooks", "GET", "/books", "List books"),
        ("addBook", "POST", "/books", None),
        ("PATCH /loans/{id}", "PATCH", "/loans/{id}", "Extend a loan"),
    ]
    assert document.tags == ("books", "admin", "loans")
    assert document.operation_count == 3


def test_swagger20_yaml_is_parsed_and_valid() -> None:
    document = parse("swagger/2.0/unit-legacy.yaml", content_type="application/x-yaml")

    assert (document.format, document.spec_version, document.packaging) == (
        "swagger",
        "2.0",
        "yaml",
    )
    assert document.valid, document.errors
    assert document.title == "Legacy Accounts"
    assert document.api_version == "3"
    assert document.base_path == "/accounts/v3"
    assert ops(document) == [
        ("findAccounts", "GET", "/accounts", "Find accounts"),
        ("POST /accounts/{id}/close", "POST", "/accounts/{id}/close", None),
    ]
    assert document.tags == ("accounts", "danger")


def test_wsdl11_with_soap11_and_soap12_bindings() -> None:
    document = parse("wsdl/1.1/unit-stockquote.wsdl", content_type="text/xml")

    assert (document.format, document.spec_version, document.packaging) == ("wsdl", "1.1", "wsdl")
    assert document.valid, document.errors
    assert document.title == "StockQuoteService"
    assert document.api_version is None
    assert document.description == "Quotes for listed stocks."
    assert document.soap_versions == ("1.1", "1.2")
    assert document.base_path == "/ws/stockquote"
    # One entry per operation although two bindings carry it; an empty
    # soapAction means none.
    assert document.operations == (
        Operation(
            name="GetQuote",
            soap_action="http://example.com/stockquote/GetQuote",
            summary="Last traded price of a symbol.",
        ),
        Operation(name="ListSymbols"),
    )


def test_content_decides_json_or_yaml_over_content_type() -> None:
    content = read("openapi/3.1/unit-library.json")

    document = parse_spec(content, url=URL, content_type="application/yaml")

    assert document.packaging == "json"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks_are_honoured(encoding: str) -> None:
    content = read("openapi/3.1/unit-library.json").decode().encode(encoding)

    document = parse_spec(content, url=URL, content_type=None)

    assert document.valid and document.title == "Library"


DEMO_SPECS = sorted(
    p
    for p in SPECS.glob("*/*/*")
    if p.is_file()
    and p.parent.parent.name in {"openapi", "swagger", "wsdl"}
    and not p.name.startswith("unit-")
)


@pytest.mark.parametrize("path", DEMO_SPECS, ids=[p.name for p in DEMO_SPECS])
def test_demo_mesh_specs_are_valid(path: Path) -> None:
    document = parse_spec(path.read_bytes(), url=URL, content_type=None)

    assert document.valid, document.errors
    assert document.format == path.parent.parent.name
    assert document.spec_version.startswith(path.parent.name)
    assert document.operations


# --- documents that are specs but fail validation -------------------------------------


def test_invalid_openapi_reports_every_error_not_just_the_first() -> None:
    document = parse("invalid/unit-openapi30-broken.json")

    assert document.valid is False
    assert document.errors == (
        "info: 'title' is a required property",
        'paths["/orders/{id}"].get.responses: {} should be non-empty',
        "Operation ID 'orders' for 'post' in '/orders' is not unique",
        "Path parameter 'id' for 'get' operation in '/orders/{id}' was not resolved",
    )
    # What can be read is still read.
    assert [op.name for op in document.operations] == ["orders", "orders", "getOrder"]
    assert document.api_version == "0.9"
    assert document.title is None


def test_errors_are_capped_and_short() -> None:
    paths = {f"/p{i}/" + "x" * 300: {"get": {"responses": {}}} for i in range(40)}
    content = json.dumps(
        {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    ).encode()

    document = parse_spec(content, url=URL, content_type=None)
    few = parse_spec(content, url=URL, content_type=None, limits=SpecLimits(max_errors=5))

    assert len(document.errors) == 20
    assert len(few.errors) == 5
    assert all(len(error) <= 200 for error in document.errors)
    assert document.errors[0].endswith("…")
    assert len(document.operations) == 40


def test_unquoted_yaml_swagger_version_is_recognised_but_invalid() -> None:
    document = parse("invalid/unit-swagger-unquoted-version.yaml")

    assert (document.format, document.spec_version) == ("swagger", "2.0")
    assert not document.valid
    assert "swagger: 2.0 is not one of ['2.0']" in document.errors
    assert document.api_version == "1.0"


def test_dangling_local_ref_is_reported() -> None:
    document = parse("invalid/unit-dangling-ref.json")

    assert not document.valid
    assert document.errors == ("$ref '#/components/schemas/Missing' cannot be resolved",)


@pytest.mark.parametrize(
    ("relative", "spec_format", "version", "error"),
    [
        (
            "invalid/unit-openapi-unsupported.json",
            "openapi",
            "4.0.0",
            "unsupported OpenAPI version '4.0.0'",
        ),
        ("invalid/unit-swagger-1.2.json", "swagger", "1.2", "unsupported Swagger version '1.2'"),
    ],
)
def test_unsupported_versions_are_specs_but_invalid(
    relative: str, spec_format: str, version: str, error: str
) -> None:
    document = parse(relative)

    assert (document.format, document.spec_version) == (spec_format, version)
    assert document.errors == (error,)
    assert not document.valid


def test_wsdl_that_zeep_cannot_load_is_invalid_but_still_read() -> None:
    document = parse("invalid/unit-wsdl-missing-porttype.wsdl")

    assert (document.format, document.spec_version) == ("wsdl", "1.1")
    assert not document.valid
    assert len(document.errors) == 1
    assert "NoSuchPortType" in document.errors[0]
    assert document.title == "BrokenService"
    assert document.operations == (Operation(name="Ping", soap_action="urn:broken:Ping"),)
    assert document.soap_versions == ("1.1",)
    assert document.base_path == "/soap/broken"


def test_wsdl20_is_recognised_but_not_supported() -> None:
    document = parse("invalid/unit-wsdl20.wsdl")

    assert (document.format, document.spec_version) == ("wsdl", "2.0")
    assert not document.valid
    assert document.title == "ReservationService"
    assert [op.name for op in document.operations] == ["checkAvailability", "makeReservation"]


def test_wsdl_placeholder_address_gives_no_base_path(tmp_path: Path) -> None:
    content = read("invalid/unit-wsdl-local-import.wsdl").replace(b"SECRET", b"x.xsd")

    document = parse_spec(content, url=URL, content_type=None)

    assert document.base_path is None
    assert document.soap_versions == ("1.2",)


# --- bytes that are not API descriptions ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "reason"),
    [
        (read("hostile/unit-html-page.html"), "text/html", "HTML page"),
        (b"<html><body>hi</body></html>", None, "HTML page"),
        (read("hostile/unit-json-error.json"), "application/json", "keys: error, path, status"),
        (read("hostile/unit-graphql-answer.json"), "application/json", "keys: data"),
        (read("hostile/unit-soap-fault11.xml"), "text/xml", "SOAP envelope"),
        (b"<note><to>you</to></note>", "application/xml", "root <note>"),
        (b"<unclosed>", None, "not well-formed XML"),
        (b"[1, 2, 3]", "application/json", "JSON document is an array"),
        (b"42", None, "YAML document is a scalar"),
        (b"Not Found", "text/plain", "YAML document is a scalar"),
        (b"", None, "empty body"),
        (b"  \n\t ", None, "empty body"),
        (b"openapi: 3.0.0\ninfo: \xc3\x28", None, "not utf-8 text"),
        (b"\x00\x01\x02\x03binary", None, "not JSON or YAML"),
        (b'{"openapi": "3.0.0", "info": ', "application/json", "invalid JSON"),
        (b'{"openapi": {"nested": true}}', None, "not a version"),
        (read("hostile/unit-yaml-python-tag.yaml"), "application/yaml", "python/object"),
    ],
)
def test_not_a_spec(content: bytes, content_type: str | None, reason: str) -> None:
    with pytest.raises(NotASpecError) as caught:
        parse_spec(content, url=URL, content_type=content_type)

    assert reason in str(caught.value)
    assert caught.value.url == URL


def test_yaml_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = Path("/tmp/meshatlas-pwned")
    marker.unlink(missing_ok=True)

    with pytest.raises(NotASpecError):
        parse("hostile/unit-yaml-python-tag.yaml")

    assert not marker.exists()


def test_error_tree() -> None:
    assert issubclass(NotASpecError, SpecError)
    assert issubclass(SpecRefusedError, SpecError)
    assert issubclass(SpecError, DiscoveryError)
    assert not issubclass(SpecRefusedError, NotASpecError)


# --- hostile documents: bounded work ----------------------------------------------------


def refused(content: bytes, limits: SpecLimits = specs.DEFAULT_LIMITS) -> tuple[str, float]:
    started = time.perf_counter()
    with pytest.raises(SpecRefusedError) as caught:
        parse_spec(content, url=URL, content_type=None, limits=limits)
    return str(caught.value), time.perf_counter() - started


def test_xml_billion_laughs_is_refused_quickly() -> None:
    message, seconds = refused(read("hostile/unit-billion-laughs.wsdl"))

    assert "entities" in message
    assert seconds < 1


def test_xml_external_entities_are_refused_without_reading(
    trap_server: tuple[int, list[str]],
) -> None:
    port, hits = trap_server
    content = read("hostile/unit-xxe.wsdl").replace(b"PORT", str(port).encode())

    with watch_io() as seen:
        message, _ = refused(content)
        assert looks_like_wsdl(content) is False

    assert "entities" in message
    assert hits == []
    assert not [event for event in seen if "passwd" in event[1] or event[0] != "open"]


def test_wsdl_with_a_doctype_is_refused() -> None:
    content = read("wsdl/1.1/unit-stockquote.wsdl").replace(
        b"<wsdl:definitions", b"<!DOCTYPE wsdl:definitions>\n<wsdl:definitions", 1
    )

    message, _ = refused(content)

    assert "DTD" in message


def test_yaml_alias_bomb_is_refused_quickly() -> None:
    message, seconds = refused(read("hostile/unit-yaml-alias-bomb.yaml"))

    assert "expands to more than" in message
    assert seconds < 1


def test_yaml_with_too_many_aliases_is_refused() -> None:
    content = "openapi: 3.0.0\nx: &x 1\nys:\n" + "".join("  - *x\n" for _ in range(150))

    message, _ = refused(content.encode())

    assert "more than 100 aliases" in message


def test_yaml_with_a_few_aliases_is_fine() -> None:
    content = read("openapi/3.0/unit-petstore.yaml")

    assert content.count(b"*problem") == 2
    assert parse_spec(content, url=URL, content_type=None).valid


def test_cyclic_yaml_is_refused() -> None:
    message, _ = refused(read("hostile/unit-yaml-cycle.yaml"))

    assert "nests deeper" in message


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000,  # deeper than the JSON parser's own recursion limit
        b'{"openapi": "3.0.0", "x": ' + b'{"a": ' * 150 + b"1" + b"}" * 151,
        b"openapi: 3.0.0\n"
        + b"".join(b"  " * i + b"k:\n" for i in range(300))
        + b"  " * 300
        + b"v",
        b"<wsdl:definitions xmlns:wsdl='http://schemas.xmlsoap.org/wsdl/'>"
        + b"<a>" * 150
        + b"</a>" * 150
        + b"</wsdl:definitions>",
    ],
    ids=["json-very-deep", "json-deep", "yaml-deep", "xml-deep"],
)
def test_deep_nesting_is_refused(content: bytes) -> None:
    message, seconds = refused(content)

    assert "nest" in message
    assert seconds < 2


def test_content_over_the_size_limit_is_refused_before_reading() -> None:
    content = read("openapi/3.1/unit-library.json")

    message, _ = refused(content, SpecLimits(max_bytes=len(content) - 1))
    big_message, seconds = refused(b" " * (specs.DEFAULT_LIMITS.max_bytes + 1))

    assert f"over the {len(content) - 1} limit" in message
    assert "over the 10485760 limit" in big_message
    assert seconds < 0.5
    assert parse_spec(
        content, url=URL, content_type=None, limits=SpecLimits(max_bytes=len(content))
    )


def test_node_budget_is_enforced() -> None:
    content = json.dumps({"openapi": "3.0.0", "x": list(range(2000))}).encode()

    message, _ = refused(content, SpecLimits(max_nodes=1000))

    assert "more than 1000 values" in message


# --- nothing is ever fetched ----------------------------------------------------------


def test_external_refs_are_never_fetched_or_read(
    trap_server: tuple[int, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = trap_server
    secret = tmp_path / "secret.json"
    secret.write_text('{"paths": {"/x": {"get": {"responses": {"200": {"description": "x"}}}}}}')
    monkeypatch.chdir(tmp_path)  # so the relative "secret.json" ref would find the file
    content = (
        read("hostile/unit-external-refs.json")
        .replace(b"PORT", str(port).encode())
        .replace(b"SECRET", str(secret).encode())
    )

    with watch_io() as seen:
        document = parse_spec(
            content, url=f"http://127.0.0.1:{port}/openapi.json", content_type=None
        )

    assert hits == []
    assert [event for event in seen if event[0] != "open"] == []
    touched = [args for _, args in seen if "passwd" in args or "secret" in args]
    assert touched == []
    assert not document.valid
    assert document.errors == (
        f"$ref 'http://127.0.0.1:{port}/x.json' points outside the document and is not followed",
        "$ref 'file:///etc/passwd' points outside the document and is not followed",
        f"$ref 'file://{secret}' points outside the document and is not followed",
        "$ref 'secret.json#/paths/~1x' points outside the document and is not followed",
    )

    # The traps work: an unguarded openapi-spec-validator does fetch the ref,
    # and reading the secret is seen.
    remote_only = json.loads(content)
    remote_only["paths"] = {"/remote": remote_only["paths"]["/remote"]}
    with watch_io() as seen:
        list(OpenAPIV30SpecValidator(remote_only).iter_errors())
        secret.read_text()
    assert hits == ["/x.json"]
    assert any(str(secret) in args for _, args in seen)


def test_resolver_refuses_refs_even_if_the_prescan_missed_them(
    trap_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = trap_server
    # Two layers keep refs local: a pre-scan that reports external "$ref"s, and
    # resolver handlers that refuse every retrieval. Switch off the first.
    monkeypatch.setattr(specs, "_external_refs", lambda tree: [])
    content = read("hostile/unit-external-refs.json").replace(b"PORT", str(port).encode())

    with watch_io() as seen:
        document = parse_spec(content, url=URL, content_type=None)

    assert hits == []
    assert not [args for _, args in seen if "passwd" in args]
    assert not document.valid
    assert document.errors == (f"$ref 'http://127.0.0.1:{port}/x.json' cannot be resolved",)


def test_wsdl_imports_are_never_fetched(trap_server: tuple[int, list[str]]) -> None:
    port, hits = trap_server
    content = read("invalid/unit-wsdl-imports.wsdl").replace(b"PORT", str(port).encode())

    with watch_io() as seen:
        document = parse_spec(content, url=f"http://127.0.0.1:{port}/echo?wsdl", content_type=None)

    assert hits == []
    assert [event for event in seen if event[0] != "open"] == []
    assert not document.valid
    assert document.errors == (
        f"imports 'http://127.0.0.1:{port}/more.wsdl', which is not fetched: "
        "imports are never loaded",
    )
    assert document.operations == (Operation(name="Echo", soap_action="urn:importer:Echo"),)

    urllib.request.urlopen(f"http://127.0.0.1:{port}/control", timeout=5).close()
    assert hits == ["/control"]  # the trap does catch requests


def test_wsdl_local_imports_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xsd"
    secret.write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:secret">'
        '<xsd:simpleType name="Anything"><xsd:restriction base="xsd:string"/></xsd:simpleType>'
        "</xsd:schema>"
    )
    content = read("invalid/unit-wsdl-local-import.wsdl").replace(b"SECRET", str(secret).encode())

    with watch_io() as seen:
        document = parse_spec(content, url=URL, content_type=None)

    assert not [args for _, args in seen if "secret" in args]
    assert not document.valid
    assert document.errors == (
        f"imports '{secret}', which is not fetched: imports are never loaded",
    )


def test_validated_documents_are_not_kept_in_memory() -> None:
    # openapi-spec-validator memoises iter_errors per validator, forever.
    SpecValidator.iter_errors.__wrapped__.cache_clear()

    parse("openapi/3.0/unit-petstore.yaml")
    gc.collect()

    assert [o for o in gc.get_objects() if isinstance(o, SpecValidator)] == []


# --- looks_like_* -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("wsdl/1.1/unit-stockquote.wsdl", True),
        ("invalid/unit-wsdl-missing-porttype.wsdl", True),
        ("invalid/unit-wsdl20.wsdl", True),
        ("openapi/3.1/unit-library.json", False),
        ("hostile/unit-soap-fault11.xml", False),
        ("hostile/unit-html-page.html", False),
        ("hostile/unit-billion-laughs.wsdl", False),
    ],
)
def test_looks_like_wsdl(relative: str, expected: bool) -> None:
    assert looks_like_wsdl(read(relative)) is expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("hostile/unit-soap-fault11.xml", "1.1"),
        ("hostile/unit-soap-fault12.xml", "1.2"),
        ("hostile/unit-soap-response.xml", None),
        ("wsdl/1.1/unit-stockquote.wsdl", None),
        ("hostile/unit-json-error.json", None),
        ("hostile/unit-html-page.html", None),
    ],
)
def test_looks_like_soap_fault(relative: str, expected: str | None) -> None:
    assert looks_like_soap_fault(read(relative)) == expected


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00", b"<", b"<a>" * 300, b"x" * 100])
def test_looks_like_never_raises(content: bytes) -> None:
    assert looks_like_wsdl(content) is False
    assert looks_like_soap_fault(content) is None


# --- property tests: bad input only ever raises SpecError --------------------------------

PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
CONTENT_TYPES = st.sampled_from([None, "application/json", "application/yaml", "text/xml"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


def parses_or_spec_error(content: bytes, content_type: str | None) -> None:
    try:
        document = parse_spec(content, url=URL, content_type=content_type)
    except SpecError:
        return
    assert isinstance(document, SpecDocument)
    assert all(isinstance(e, str) and len(e) <= 200 for e in document.errors)
    assert document.valid == (not document.errors)


@PROPERTY
@given(st.binary(max_size=600), CONTENT_TYPES)
def test_arbitrary_bytes_raise_only_spec_errors(content: bytes, content_type: str | None) -> None:
    parses_or_spec_error(content, content_type)


@PROPERTY
@given(json_values, CONTENT_TYPES)
def test_arbitrary_json_raises_only_spec_errors(value: object, content_type: str | None) -> None:
    parses_or_spec_error(json.dumps(value).encode(), content_type)


@PROPERTY
@given(
    st.sampled_from(["openapi", "swagger"]),
    st.sampled_from(["3.0.0", "3.1.0", "3.2.0", "2.0", "3.0", 3.1, "1.2"]),
    st.dictionaries(
        st.sampled_from(
            ["info", "paths", "components", "tags", "servers", "basePath", "definitions"]
        ),
        json_values
        | st.dictionaries(
            st.sampled_from(["/a", "/b/{id}", "x", "get", "schemas", "title", "$ref"]),
            st.dictionaries(
                st.sampled_from(["get", "post", "parameters", "$ref", "responses", "type"]),
                json_values,
                max_size=3,
            ),
            max_size=3,
        ),
        max_size=4,
    ),
)
def test_spec_shaped_garbage_raises_only_spec_errors(
    key: str, version: object, body: dict[str, object]
) -> None:
    parses_or_spec_error(json.dumps({key: version, **body}).encode(), "application/json")


@PROPERTY
@given(
    st.text(alphabet=list("ab: -[]{}&*!|>?'\"#\n,0123\t%@`<\\"), max_size=200),
    CONTENT_TYPES,
)
def test_yaml_ish_text_raises_only_spec_errors(text: str, content_type: str | None) -> None:
    parses_or_spec_error(("openapi: 3.0.0\n" + text).encode(), content_type)
    parses_or_spec_error(text.encode(), content_type)


@PROPERTY
@given(st.text(alphabet=list("<>/!?=\"' abwsdl:xmns[]&;#\n-"), max_size=200))
def test_xml_ish_text_raises_only_spec_errors(text: str) -> None:
    content = ("<wsdl:definitions xmlns:wsdl='http://schemas.xmlsoap.org/wsdl/'>" + text).encode()
    parses_or_spec_error(content, "text/xml")
    parses_or_spec_error(("<" + text).encode(), None)
    assert looks_like_wsdl(content) in (True, False)
    assert looks_like_soap_fault(content) in (None, "1.1", "1.2")


def test_a_validation_outcome_known_from_an_earlier_run_is_not_recomputed() -> None:
    template = (
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},'
        ' "paths": {"/a": {"get": {"responses": "not an object"}}}, "x-run": "%s"}'
    )
    first_bytes = (template % uuid.uuid4()).encode()
    first = parse_spec(first_bytes, url="http://127.0.0.1/a", content_type=None)
    assert not first.valid and first.check_key is not None
    assert first.check_key.startswith(hashlib.sha256(first_bytes).hexdigest() + "/")
    # Other bytes, whose outcome an earlier run recorded: trusted as recorded.
    later_bytes = (template % uuid.uuid4()).encode()
    later_key = hashlib.sha256(later_bytes).hexdigest() + first.check_key[64:]
    remembered = parse_spec(
        later_bytes,
        url="http://127.0.0.1/a",
        content_type=None,
        known={later_key: ("recorded by an earlier run",)},
    )
    assert remembered.check_key == later_key
    assert remembered.errors == ("recorded by an earlier run",)
    # Unknown keys change nothing: the document is validated.
    fresh = parse_spec(
        (template % uuid.uuid4()).encode(),
        url="http://127.0.0.1/a",
        content_type=None,
        known={later_key: ()},
    )
    assert fresh.errors == first.errors


def test_remembered_refusals_hold_no_body_alive() -> None:
    body = b"<html>" + uuid.uuid4().hex.encode() + b"x" * 100_000 + b"</html>"
    for _ in range(2):  # the second answer comes from what was remembered
        with pytest.raises(NotASpecError) as info:
            parse_spec(body, url="http://127.0.0.1/", content_type="text/html")
        assert info.value.url == "http://127.0.0.1/"
    [kept] = [
        outcome for key, outcome in specs._PARSED.items() if key[0] == hashlib.sha256(body).digest()
    ]
    assert isinstance(kept, NotASpecError)
    # No traceback or cause: neither could keep the 100 kB body or its frames alive.
    assert kept.__traceback__ is None and kept.__cause__ is None
