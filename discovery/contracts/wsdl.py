"""Read WSDL 1.1 documents and recognise SOAP envelopes, without leaving the process.

A WSDL found on a probed port is hostile until shown otherwise: it may carry an
entity bomb, an external entity pointing at a local file, or ``xsd:import`` /
``wsdl:import`` locations aimed at internal hosts. So:

* the XML is first read by lxml with entity resolution, DTD loading and network
  access switched off, and a document carrying a DTD is refused outright;
* zeep then loads it as a WSDL to validate it, through a transport that refuses
  every load and with zeep's own ``forbid_*`` settings on, so an import is
  reported as an error instead of being fetched.

The facts (service name, operations, SOAP versions, address) are read from the
lxml tree rather than from zeep's objects, so a WSDL zeep rejects still shows
what it declares, and the same bytes always yield the same facts.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed
from typing import Any, NoReturn
from urllib.parse import urlsplit

from lxml import etree

from discovery.errors import NotASpecError, SpecError, SpecRefusedError
from discovery.model import Operation, SpecDocument

__all__ = [
    "MAX_XML_BYTES",
    "MAX_XML_DEPTH",
    "check_key",
    "import_validator",
    "looks_like_soap_fault",
    "looks_like_wsdl",
    "parse_wsdl",
]

WSDL11_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL20_NS = "http://www.w3.org/ns/wsdl"
_SOAP_BINDING_VERSIONS = {
    "http://schemas.xmlsoap.org/wsdl/soap/": "1.1",
    "http://schemas.xmlsoap.org/wsdl/soap12/": "1.2",
}
_SOAP_ENVELOPE_VERSIONS = {
    "http://schemas.xmlsoap.org/soap/envelope/": "1.1",
    "http://www.w3.org/2003/05/soap-envelope": "1.2",
}

#: Bytes the ``looks_like_*`` checks are willing to parse.
MAX_XML_BYTES = 10 * 1024 * 1024
#: Element nesting accepted; real WSDLs with inline XSD stay well under 60.
MAX_XML_DEPTH = 100
_MAX_MESSAGE = 200

# lxml's element type carries no annotations; name it for readability.
_Element = Any


@dataclass(frozen=True, slots=True)
class _XmlDocument:
    root: _Element
    has_doctype: bool


def looks_like_wsdl(content: bytes) -> bool:
    """Tell whether ``content`` is a WSDL document (1.1 ``definitions`` or 2.0 ``description``).

    Never raises: anything unreadable is simply not a WSDL.
    """
    document = _try_read_xml(content)
    return document is not None and _qname(document.root) in (
        (WSDL11_NS, "definitions"),
        (WSDL20_NS, "description"),
    )


def looks_like_soap_fault(content: bytes) -> str | None:
    """Return the SOAP version (``"1.1"`` or ``"1.2"``) of a SOAP Fault envelope.

    Returns ``None`` for anything else, including envelopes without a Fault and
    unreadable bytes.
    """
    document = _try_read_xml(content)
    if document is None:
        return None
    namespace, local = _qname(document.root)
    version = _SOAP_ENVELOPE_VERSIONS.get(namespace)
    if version is None or local != "Envelope":
        return None
    body = document.root.find(f"{{{namespace}}}Body")
    if body is None or body.find(f"{{{namespace}}}Fault") is None:
        return None
    return version


def import_validator() -> None:
    """Import zeep, which only validation uses, ahead of the first WSDL."""
    _refusing_transport()
    import zeep.exceptions  # noqa: F401
    import zeep.wsdl  # noqa: F401


def check_key(digest: str, *, max_errors: int = 20) -> str:
    """The key a WSDL 1.1 document's validation outcome is kept under, between runs.

    ``digest`` is the SHA-256 of its bytes (hex); the rest names what judged
    it, so another zeep or lxml release validates again.
    """
    return "/".join((digest, "zeep", _judges(), str(max_errors)))


@cache
def _judges() -> str:
    found = []
    for name in ("zeep", "lxml"):
        try:
            found.append(f"{name} {_installed(name)}")
        except PackageNotFoundError:  # a frozen build without metadata
            found.append(f"{name} ?")
    return ", ".join(found)


def parse_wsdl(
    content: bytes,
    *,
    url: str,
    max_depth: int = MAX_XML_DEPTH,
    max_errors: int = 20,
    digest: str | None = None,
    known: Mapping[str, Sequence[str]] | None = None,
) -> SpecDocument:
    """Parse and validate a WSDL document.

    Args:
        content: the raw bytes, in any encoding the XML declares.
        url: where the bytes came from; kept on the result, never fetched.
        max_depth: deepest element nesting accepted.
        max_errors: how many validation messages to keep.
        digest: the SHA-256 of ``content`` (hex), when its outcome is to be
            kept: the result then carries its :func:`check_key`.
        known: validation outcomes (error messages) by check key, from an
            earlier run: a WSDL 1.1 document already judged by zeep is not
            loaded by zeep again (its facts are still read from its XML).

    Returns:
        The description; ``valid`` is False, with ``errors``, when zeep cannot
        load it (broken references, imports it would have to fetch...).

    Raises:
        NotASpecError: the bytes are not XML, or XML that is not a WSDL.
        SpecRefusedError: the document nests too deeply or carries a DTD.
    """
    if content.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html")):
        raise NotASpecError("an HTML page, not an API description")
    document = _read_xml(content, max_depth=max_depth)
    kind = _qname(document.root)
    if kind not in ((WSDL11_NS, "definitions"), (WSDL20_NS, "description")):
        if kind[0] in _SOAP_ENVELOPE_VERSIONS:
            raise NotASpecError("a SOAP envelope, not a WSDL document")
        raise NotASpecError(f"an XML document with root <{kind[1]}>, not a WSDL document")
    if document.has_doctype:
        # Entities are never expanded here, but zeep would refuse the DTD anyway
        # and a WSDL has no business declaring one: most likely a bomb or an XXE.
        raise SpecRefusedError("WSDL carries a DTD; DTDs and entities are never processed")
    if kind[0] == WSDL20_NS:
        return _wsdl20(content, document.root, url=url)

    facts = _read_facts(document.root)
    key = check_key(digest, max_errors=max_errors) if digest is not None else None
    remembered = (known or {}).get(key) if key is not None else None
    if remembered is not None:
        errors = list(remembered)
    else:
        errors = _unique(_zeep_problems(content))[:max_errors]
    return SpecDocument(
        format="wsdl",
        spec_version="1.1",
        url=url,
        packaging="wsdl",
        title=facts.title,
        api_version=None,
        description=facts.description,
        operations=facts.operations,
        valid=not errors,
        errors=tuple(errors),
        content=content,
        base_path=facts.base_path,
        soap_versions=facts.soap_versions,
        check_key=key,
    )


def _try_read_xml(content: bytes) -> _XmlDocument | None:
    if len(content) > MAX_XML_BYTES:
        return None
    try:
        return _read_xml(content, max_depth=MAX_XML_DEPTH)
    except SpecError:
        return None


def _read_xml(content: bytes, *, max_depth: int) -> _XmlDocument:
    """Parse XML with every external or expanding feature of libxml2 switched off."""
    if b"<!ENTITY" in content:
        # Entities are how XML bombs and external-entity reads work. libxml2
        # still expands those used in attribute values, within its own caps;
        # refusing before parsing is quicker and says what happened.
        raise SpecRefusedError("XML declares entities; DTDs and entities are never processed")
    events = etree.iterparse(
        io.BytesIO(content),
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = 0
    try:
        for event, _ in events:
            depth += 1 if event == "start" else -1
            if depth > max_depth:
                raise SpecRefusedError(f"XML nests deeper than {max_depth} elements")
    except (etree.LxmlError, ValueError) as exc:
        raise NotASpecError(f"not well-formed XML: {_short(str(exc))}") from exc
    root = events.root
    if root is None:
        raise NotASpecError("no XML element found")
    return _XmlDocument(root=root, has_doctype=bool(root.getroottree().docinfo.doctype))


def _qname(element: _Element) -> tuple[str, str]:
    name = etree.QName(element)
    return name.namespace or "", name.localname


@dataclass(frozen=True, slots=True)
class _WsdlFacts:
    title: str | None
    description: str | None
    operations: tuple[Operation, ...]
    soap_versions: tuple[str, ...]
    base_path: str | None


@dataclass(frozen=True, slots=True)
class _SoapBinding:
    version: str
    operations: tuple[Operation, ...]


def _read_facts(root: _Element) -> _WsdlFacts:
    summaries = _port_type_summaries(root)
    bindings: dict[str, _SoapBinding] = {}
    for binding in root.iterfind(f"{{{WSDL11_NS}}}binding"):
        soap = _soap_binding(binding, summaries)
        if soap is not None:
            bindings[binding.get("name", "")] = soap

    services = list(root.iterfind(f"{{{WSDL11_NS}}}service"))
    ports = [port for service in services for port in service.iterfind(f"{{{WSDL11_NS}}}port")]
    # Bindings a service exposes come first, in the service's order; bindings
    # nobody exposes still describe operations, so they follow.
    ordered = [_local(port.get("binding", "")) for port in ports] + list(bindings)
    operations: dict[str, Operation] = {}
    for name in ordered:
        for operation in bindings[name].operations if name in bindings else ():
            operations.setdefault(operation.name, operation)
    if not operations:
        # An abstract WSDL (portTypes only) still names its operations.
        for name, summary in summaries.items():
            operations[name] = Operation(name=name, summary=summary)

    title = services[0].get("name") if services else root.get("name")
    return _WsdlFacts(
        title=title or None,
        description=_documentation(root)
        or next((d for s in services if (d := _documentation(s))), None),
        operations=tuple(operations.values()),
        soap_versions=tuple(sorted({binding.version for binding in bindings.values()})),
        base_path=next((p for port in ports if (p := _address_path(port))), None),
    )


def _soap_binding(binding: _Element, summaries: dict[str, str | None]) -> _SoapBinding | None:
    for namespace, version in _SOAP_BINDING_VERSIONS.items():
        if binding.find(f"{{{namespace}}}binding") is None:
            continue
        operations = []
        for element in binding.iterfind(f"{{{WSDL11_NS}}}operation"):
            name = element.get("name")
            if not name:
                continue
            soap_operation = element.find(f"{{{namespace}}}operation")
            action = soap_operation.get("soapAction") if soap_operation is not None else None
            operations.append(
                Operation(name=name, soap_action=action or None, summary=summaries.get(name))
            )
        return _SoapBinding(version=version, operations=tuple(operations))
    return None  # an HTTP or MIME binding: not SOAP, nothing to report


def _port_type_summaries(root: _Element) -> dict[str, str | None]:
    summaries: dict[str, str | None] = {}
    for port_type in root.iterfind(f"{{{WSDL11_NS}}}portType"):
        for operation in port_type.iterfind(f"{{{WSDL11_NS}}}operation"):
            name = operation.get("name")
            if name:
                summaries.setdefault(name, _documentation(operation))
    return summaries


def _address_path(port: _Element) -> str | None:
    for namespace in _SOAP_BINDING_VERSIONS:
        address = port.find(f"{{{namespace}}}address")
        location = address.get("location", "") if address is not None else ""
        parts = urlsplit(location.strip())
        # CXF and others write placeholders such as REPLACE_WITH_ACTUAL_URL:
        # only a real URL or an absolute path says where the service lives.
        if parts.scheme in ("http", "https"):
            return parts.path or "/"
        if location.startswith("/"):
            return parts.path
    return None


def _documentation(element: _Element) -> str | None:
    documentation = element.find(f"{{{WSDL11_NS}}}documentation")
    if documentation is None:
        return None
    text = " ".join("".join(documentation.itertext()).split())
    return text or None


def _local(qualified_name: str) -> str:
    return qualified_name.rpartition(":")[2]


def _wsdl20(content: bytes, root: _Element, *, url: str) -> SpecDocument:
    service = root.find(f"{{{WSDL20_NS}}}service")
    names = [
        operation.get("name", "")
        for interface in root.iterfind(f"{{{WSDL20_NS}}}interface")
        for operation in interface.iterfind(f"{{{WSDL20_NS}}}operation")
    ]
    return SpecDocument(
        format="wsdl",
        spec_version="2.0",
        url=url,
        packaging="wsdl",
        title=service.get("name") if service is not None else None,
        api_version=None,
        description=None,
        operations=tuple(Operation(name=name) for name in _unique(names) if name),
        valid=False,
        errors=("WSDL 2.0 is not supported: only WSDL 1.1 is validated",),
        content=content,
    )


class _LoadRefused(Exception):
    """A document zeep wanted to load; raised instead of loading it."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@cache
def _refusing_transport() -> type[Any]:
    """A zeep transport that loads nothing, from the network or from disk.

    zeep reads every imported WSDL or XSD through ``Transport.load``, and treats
    a plain path as a local file: refusing here is what keeps imports in a
    hostile WSDL from reaching a host or the file system. (Made on first use:
    zeep is imported only when a WSDL is validated.)
    """
    import zeep

    class RefusingTransport(zeep.Transport):
        def __init__(self) -> None:
            super().__init__(timeout=1, operation_timeout=1)  # type: ignore[no-untyped-call]

        def load(self, url: object) -> NoReturn:
            raise _LoadRefused(str(url))

        def get(self, address: object, params: object, headers: object) -> NoReturn:
            raise _LoadRefused(str(address))

        def post(self, address: object, message: object, headers: object) -> NoReturn:
            raise _LoadRefused(str(address))

    return RefusingTransport


def _zeep_problems(content: bytes) -> list[str]:
    """Load the WSDL with zeep and say what stopped it, if anything did."""
    import zeep
    import zeep.wsdl

    transport = _refusing_transport()()
    settings = zeep.Settings(
        strict=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )
    problems: list[str] = []
    # zeep reports some defects (operations missing from their portType) as
    # UserWarnings and drops them; they are validation errors here. Note that
    # catch_warnings swaps process-wide state.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # zeep annotates ``transport`` as a class; it takes an instance.
            zeep.wsdl.Document(io.BytesIO(content), transport, settings=settings)
        except Exception as exc:  # zeep raises many types on a bad WSDL; each means invalid
            problems.append(_zeep_failure(exc))
        finally:
            transport.session.close()
    problems.extend(
        _short(str(warning.message))
        for warning in caught
        if issubclass(warning.category, UserWarning)
    )
    return problems


def _zeep_failure(exc: Exception) -> str:
    import zeep.exceptions

    location = getattr(exc, "location", None) or getattr(exc, "url", None)
    if isinstance(exc, (_LoadRefused, zeep.exceptions.ExternalReferenceForbidden)):
        return _short(f"imports {location!r}, which is not fetched: imports are never loaded")
    text = str(exc) or type(exc).__name__
    if isinstance(exc, zeep.exceptions.Error):
        return _short(text)
    return _short(f"{type(exc).__name__}: {text}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
