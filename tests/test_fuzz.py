"""Hostile input, generated: the prober, the spec parsers and classification never crash.

``tests/test_specs.py`` already drives :func:`discovery.specs.parse_spec` with
arbitrary bytes, JSON values, spec-shaped JSON and YAML-ish text; its
strategies are reused here rather than repeated. This file adds what it does
not cover:

- XML shaped like WSDL, SOAP envelopes and plain XML, nested and namespaced,
  into the parser (a WSDL path of its own);
- a whole port whose every answer (status, headers, ``Location``, body) is
  generated, probed by the real :class:`discovery.probing.probe.Prober` through a generated
  loopback server: probing ends with findings, never an exception, and
  every API it reports has a known kind and a description only when that
  description parsed;
- :func:`discovery.classify.is_graphql` on arbitrary responses.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discovery import classify
from discovery.model import Service, ServiceFindings, ServiceKey, ServicePort
from discovery.probing.fetch import Fetcher, Limits, Response, make_client
from discovery.probing.probe import Prober
from tests.test_specs import PROPERTY, json_values, parses_or_spec_error

KINDS = {"rest", "soap", "http", "grpc", "graphql"}
#: Examples per property (``bench/reliability.py --long`` raises it).
FUZZ = settings(PROPERTY, max_examples=int(os.environ.get("MESHATLAS_FUZZ_EXAMPLES", "150")))
#: Generated inputs tried so far in this process (``bench/reliability.py`` sums them).
TRIED = [0]


@pytest.fixture(autouse=True)
def _count_inputs(record_property: pytest.RecordProperty) -> Iterator[None]:
    # Function-scoped, so it runs once around a whole hypothesis test.
    start = TRIED[0]
    yield
    record_property("cases", TRIED[0] - start)
    record_property("hostile_rejected", TRIED[0] - start)


WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"

# --- XML shaped like what SOAP services serve ------------------------------------------------

_names = st.sampled_from(
    [
        "definitions",
        "types",
        "message",
        "part",
        "portType",
        "operation",
        "input",
        "output",
        "binding",
        "service",
        "port",
        "address",
        "Envelope",
        "Body",
        "Fault",
        "faultstring",
        "import",
        "include",
        "schema",
        "element",
        "documentation",
        "x",
    ]
)
_namespaces = st.sampled_from([None, WSDL, SOAP, ENVELOPE, "http://www.w3.org/ns/wsdl", "urn:x"])
_attributes = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "type",
            "element",
            "location",
            "namespace",
            "binding",
            "style",
            "transport",
            "targetNamespace",
            "soapAction",
            "message",
        ]
    ),
    st.text(alphabet="abc:/.?=&#x tns", max_size=20),
    max_size=3,
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@st.composite
def xml_elements(draw: Any, depth: int = 0) -> str:
    name = draw(_names)
    namespace = draw(_namespaces)
    attrs = "".join(f' {k}="{_escape(v)}"' for k, v in draw(_attributes).items())
    if namespace:
        attrs += f' xmlns="{namespace}"'
    children = "" if depth >= 4 else "".join(draw(st.lists(xml_elements(depth + 1), max_size=3)))
    text = _escape(draw(st.text(max_size=10)))
    return f"<{name}{attrs}>{text}{children}</{name}>"


@FUZZ
@given(xml_elements(), st.sampled_from([None, "text/xml", "application/wsdl+xml"]))
def test_wsdl_shaped_xml_raises_only_spec_errors(document: str, content_type: str | None) -> None:
    TRIED[0] += 1
    parses_or_spec_error(b'<?xml version="1.0"?>\n' + document.encode(), content_type)


@FUZZ
@given(xml_elements(), st.integers(min_value=0, max_value=400))
def test_truncated_xml_raises_only_spec_errors(document: str, cut: int) -> None:
    TRIED[0] += 1
    parses_or_spec_error(document.encode()[:cut], "text/xml")


# --- a port whose every answer is generated --------------------------------------------------

_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    xml_elements().map(str.encode),
    st.sampled_from(
        [
            b'{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}',
            b'{"swagger": "2.0", "info": {}, "paths": {"/a": {"get": null}}}',
            b"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {/a: {get: {}}}\n",
            b'{"data": {"__typename": "Query"}}',
            b'{"data": {"__typename": 5}}',
            b'{"timestamp":"x","status":404,"error":"Not Found","path":"/"}',
            b'{"detail": "Not Found"}',
            b"<html><a href='/services/X?wsdl'>x</a></html>",
            b"Available SOAP services: <a href='?wsdl'>?wsdl</a>",
        ]
    ),
)
_responses = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            [200, 200, 200, 204, 301, 302, 307, 400, 401, 404, 405, 500, 503, 599, 100]
        ),
        "content_type": st.sampled_from(
            [
                "application/json",
                "application/yaml",
                "text/xml",
                "text/html",
                "text/plain",
                "application/soap+xml",
                "application/graphql-response+json",
                "",
                "json; x=\x7f",
            ]
        ),
        "server": st.sampled_from(["", "Kestrel", "uvicorn", "Apache-CXF", "nginx", "\u00ff"]),
        "location": st.one_of(
            st.none(),
            st.sampled_from(
                [
                    "/v3/api-docs",
                    "http://elsewhere.example/",
                    "//x",
                    "http://[::1",
                    "../../..",
                    "javascript:x",
                    "/%zz",
                    " ",
                ]
            ),
            st.text(max_size=15),
        ),
        "body": _bodies,
    }
)


class GeneratedServer:
    """A real loopback server answering each request with the next generated answer.

    The answer is written as raw bytes, so headers and status lines that no
    well-behaved server library would send reach the prober as they are.
    Each connection is closed after its answer.
    """

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.count = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            answer = self.answers[self.count % len(self.answers)]
            self.count += 1
            writer.write(_raw(answer))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


def _raw(answer: dict[str, Any]) -> bytes:
    def text(value: str) -> bytes:
        return value.encode("utf-8", "surrogatepass")

    lines = [
        b"HTTP/1.1 %d Generated" % answer["status"],
        b"content-type: " + text(answer["content_type"]),
    ]
    if answer["server"]:
        lines.append(b"server: " + text(answer["server"]))
    if answer["location"] is not None:
        lines.append(b"location: " + text(answer["location"]))
    lines += [b"content-length: %d" % len(answer["body"]), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + answer["body"]


def probe_with(answers: list[dict[str, Any]]) -> ServiceFindings:
    async def run() -> ServiceFindings:
        server = GeneratedServer(answers)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        service = Service(
            key=ServiceKey("fuzz", "fuzz", "svc"),
            type="ClusterIP",
            headless=False,
            cluster_ips=("127.0.0.1",),
            external_name=None,
            ports=(ServicePort("http", port, port, "TCP", None, "http"),),
            ready_addresses=("127.0.0.1",),
        )
        # Short bounds: a generated answer that never completes costs little.
        limits = Limits(connect_timeout=1.0, read_timeout=1.0, deadline=1.0)
        try:
            async with make_client(limits=limits) as client:
                prober = Prober(fetcher=Fetcher(client=client, limits=limits))
                return await prober.probe(service)
        finally:
            listener.close()
            await listener.wait_closed()

    return asyncio.run(run())


@settings(FUZZ, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_responses, min_size=1, max_size=6))
def test_probing_any_answers_ends_with_findings(answers: list[dict[str, Any]]) -> None:
    TRIED[0] += 1
    findings = probe_with(answers)
    assert isinstance(findings, ServiceFindings)
    for api in findings.apis:
        assert api.kind in KINDS
        if api.spec is not None:
            assert api.spec.valid == (not api.spec.errors)
    assert findings.requests <= 24 + 2  # the per-port cap, plus reflection/redirect slack


def test_the_generated_server_is_really_probed() -> None:
    spec = b'{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}'
    answer = {
        "status": 200,
        "content_type": "application/json",
        "server": "uvicorn",
        "location": None,
        "body": spec,
    }
    findings = probe_with([answer])
    assert findings.requests >= 1
    [api] = findings.apis
    assert (api.kind, api.spec is not None and api.spec.valid) == ("rest", True)


@FUZZ
@given(
    st.integers(min_value=100, max_value=599),
    st.dictionaries(st.sampled_from(["content-type", "server"]), st.text(max_size=30)),
    _bodies,
)
def test_graphql_classification_never_raises(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    TRIED[0] += 1
    response = Response(url="http://127.0.0.1/graphql", status=status, headers=headers, body=body)
    assert classify.is_graphql(response) in (True, False)


@pytest.mark.parametrize(
    ("location", "why"),
    [
        # Same origin after urljoin, but not a URL an HTTP client can send.
        ("/\x00", "InvalidURL escaped the fetcher"),
        # A port that is not a number: urllib raises ValueError on .port.
        ("http://127.0.0.1:8080\\x", "ValueError escaped the origin check"),
    ],
)
def test_unusable_redirects_are_probe_outcomes_not_crashes(location: str, why: str) -> None:
    redirect = {"status": 302, "content_type": "text/plain", "server": "",
                "location": location, "body": b""}  # fmt: skip
    findings = probe_with([redirect])
    assert isinstance(findings, ServiceFindings), why
