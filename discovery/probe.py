"""Probe a Service's ports for API descriptions and classify what answers.

Per HTTP-capable port: paths named by annotation first, then a look at ``/``
to guess the framework, then OpenAPI and WSDL locations in the order that
guess suggests, stopping at the first valid description. A port without one
is classified by how it answers (GraphQL, a SOAP Fault, JSON, or plain HTTP).
Requests go only to the Service's own address and are counted.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Final

from discovery import candidates, classify, specs
from discovery.errors import ProbeError, SpecError
from discovery.fetch import Fetcher, Response
from discovery.model import (
    Api,
    ProbeSkip,
    Problem,
    Service,
    ServiceFindings,
    ServicePort,
    SpecDocument,
)

_SOAP11_EMPTY: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body/></soap:Envelope>"
)
_GRAPHQL_QUERY: Final = b'{"query":"{ __typename }"}'
_WSDL_LINK: Final = re.compile(rb"""href\s*=\s*["']([^"'<>]+\?wsdl)["']""", re.I)
_NOT_PROBED: Final = {
    "https": "TLS port: the mesh cannot see inside, not probed",
    "tls": "TLS port: not probed",
    "tcp": "TCP port: no HTTP API",
    "mongo": "MongoDB port: no HTTP API",
    "redis": "Redis port: no HTTP API",
    "mysql": "MySQL port: no HTTP API",
    "udp": "UDP port: no HTTP API",
}


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """What to try, and how much each port may cost."""

    openapi_paths: tuple[str, ...] = candidates.OPENAPI_PATHS
    max_requests_per_port: int = 24
    per_service: int = 2
    graphql_path: str = "/graphql"


@dataclass
class _Port:
    """Mutable state while probing one port."""

    base: str
    requests: int = 0
    evidence: list[str] = field(default_factory=list)
    json_seen: bool = False
    fallback: SpecDocument | None = None


class Prober:
    """Probes Services through one shared :class:`Fetcher`."""

    def __init__(self, *, fetcher: Fetcher, settings: ProbeSettings = ProbeSettings()) -> None:
        self.fetcher = fetcher
        self.settings = settings

    async def probe(self, service: Service) -> ServiceFindings:
        """Probe every port worth probing; never raises for network trouble."""
        skipped: list[ProbeSkip] = []
        if service.external:
            skipped.append(
                ProbeSkip(service.key, None, "ExternalName Service: external, not probed")
            )
            return ServiceFindings(service, (), tuple(skipped), 0)
        address = _address(service)
        if address is None:
            skipped.append(ProbeSkip(service.key, None, "no ready endpoints: not probed"))
            return ServiceFindings(service, (), tuple(skipped), 0)
        ports: list[ServicePort] = []
        for port in service.ports:
            wanted = service.overrides.port
            if wanted and wanted not in (port.name, str(port.port)):
                skipped.append(ProbeSkip(service.key, port, f"meshatlas.io/port names {wanted}"))
            elif port.mesh_protocol in ("grpc",):
                ports.append(port)
            elif not port.http_capable:
                reason = _NOT_PROBED.get(port.mesh_protocol, f"{port.mesh_protocol}: not probed")
                skipped.append(ProbeSkip(service.key, port, reason))
            else:
                ports.append(port)
        gate = asyncio.Semaphore(self.settings.per_service)

        async def one(port: ServicePort) -> tuple[Api | None, int, Problem | None]:
            async with gate:
                return await self._probe_port(service, port, address)

        results = await asyncio.gather(*(one(p) for p in ports))
        apis = tuple(api for api, _, _ in results if api is not None)
        problems = tuple(p for _, _, p in results if p is not None)
        for port, (api, _, problem) in zip(ports, results, strict=True):
            if api is None and problem is None:
                skipped.append(ProbeSkip(service.key, port, "no HTTP answer"))
        return ServiceFindings(
            service=service,
            apis=apis,
            skipped=tuple(skipped),
            requests=sum(n for _, n, _ in results),
            problems=problems,
        )

    async def _probe_port(
        self, service: Service, port: ServicePort, address: str
    ) -> tuple[Api | None, int, Problem | None]:
        target = _target_port(service, port)
        host = f"[{address}]" if ":" in address else address
        state = _Port(base=f"http://{host}:{target}")
        endpoint = (
            f"http://{service.key.name}.{service.key.namespace}.svc.cluster.local:{port.port}"
        )
        if port.mesh_protocol == "grpc":
            evidence = ("port protocol grpc (Istio port naming)",)
            return Api(service.key, port, "grpc", endpoint, None, evidence, 0), 0, None
        try:
            spec = await self._find_spec(service, port, state)
            if spec is None:
                kind = await self._classify_without_spec(state)
            else:
                kind = classify.kind_of_spec(spec)
        except ProbeError as exc:
            if state.requests <= 1 and port.mesh_protocol == "unknown":
                return None, state.requests, None
            problem = Problem(
                where=f"{service.key}:{port.port}",
                what="probe failed",
                why=f"{exc.message} ({exc.url})",
            )
            return None, state.requests, problem
        if kind is None:
            return None, state.requests, None
        api = Api(
            service=service.key,
            port=port,
            kind=kind,
            base_url=endpoint,
            spec=spec,
            evidence=tuple(state.evidence),
            requests=state.requests,
        )
        return api, state.requests, None

    async def _get(self, state: _Port, path: str) -> Response | None:
        if state.requests >= self.settings.max_requests_per_port:
            return None
        response, spent = await self.fetcher.request("GET", state.base + path)
        state.requests += spent
        if response.content_type.endswith("json"):
            state.json_seen = True
        return response

    async def _try_spec(self, state: _Port, path: str, how: str) -> SpecDocument | None:
        try:
            response = await self._get(state, path)
        except ProbeError:
            return None
        if response is None or response.status != 200 or response.truncated:
            return None
        try:
            doc = specs.parse_spec(
                response.body, url=response.url, content_type=response.content_type
            )
        except SpecError:
            return None
        if doc.valid:
            state.evidence.append(f"{how}: {doc.format} {doc.spec_version} at {path}")
            return doc
        if state.fallback is None:
            state.fallback = doc
            state.evidence.append(f"{how}: invalid {doc.format} at {path}")
        return None

    async def _find_spec(
        self, service: Service, port: ServicePort, state: _Port
    ) -> SpecDocument | None:
        hints = service.overrides
        if hints.openapi_path and (
            doc := await self._try_spec(state, hints.openapi_path, "annotation")
        ):
            return doc
        if hints.wsdl_path and (doc := await self._try_spec(state, hints.wsdl_path, "annotation")):
            return doc
        root = await self._get(state, "/")
        fp = candidates.fingerprint(root)
        if fp.evidence:
            state.evidence.append(fp.evidence)
        if (
            root is not None
            and root.status == 200
            and (specs.looks_like_wsdl(root.body) or root.content_type.endswith("json"))
        ):
            # Some servers answer their description at the root itself.
            if doc := await self._parse_found(state, root, "/"):
                return doc
        phases = (self._wsdl_phase, self._openapi_phase)
        if not candidates.wsdl_first(fp):
            phases = (self._openapi_phase, self._wsdl_phase)
        for phase in phases:
            if doc := await phase(service, state, fp):
                return doc
        return state.fallback

    async def _parse_found(
        self, state: _Port, response: Response, path: str
    ) -> SpecDocument | None:
        try:
            doc = specs.parse_spec(
                response.body, url=response.url, content_type=response.content_type
            )
        except SpecError:
            return None
        if doc.valid:
            state.evidence.append(f"probe: {doc.format} {doc.spec_version} at {path}")
            return doc
        return None

    async def _openapi_phase(
        self, service: Service, state: _Port, fp: candidates.Fingerprint
    ) -> SpecDocument | None:
        for path in candidates.openapi_order(fp, self.settings.openapi_paths):
            if doc := await self._try_spec(state, path, "probe"):
                return doc
        return None

    async def _wsdl_phase(
        self, service: Service, state: _Port, fp: candidates.Fingerprint
    ) -> SpecDocument | None:
        paths: list[str] = list(candidates.WSDL_PATHS)
        if fp.framework == "cxf" or candidates.wsdl_first(fp):
            listing = await self._get(state, candidates.CXF_LISTING)
            if listing is not None and listing.status == 200:
                paths = _wsdl_links(listing.body, state.base) + paths
            paths += candidates.wsdl_guesses(service.key.name)
        for path in dict.fromkeys(paths):
            if doc := await self._try_spec(state, path, "probe"):
                return doc
        return None

    async def _classify_without_spec(self, state: _Port) -> classify.ApiKind | None:
        graphql = await self._post(
            state,
            self.settings.graphql_path,
            _GRAPHQL_QUERY,
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        if graphql is not None and classify.is_graphql(graphql):
            state.evidence.append(
                f"graphql: typename query answered at {self.settings.graphql_path}"
            )
            return "graphql"
        soap = await self._post(
            state,
            "/",
            _SOAP11_EMPTY,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )
        if soap is not None and (version := specs.looks_like_soap_fault(soap.body)):
            state.evidence.append(f"soap: SOAP {version} Fault for an empty envelope at /")
            return "soap"
        if state.json_seen:
            state.evidence.append("rest: JSON responses, no API description found")
            return "rest"
        state.evidence.append("http: answers HTTP, no API description found")
        return "http"

    async def _post(
        self, state: _Port, path: str, body: bytes, headers: dict[str, str]
    ) -> Response | None:
        if state.requests >= self.settings.max_requests_per_port:
            return None
        try:
            response, spent = await self.fetcher.request(
                "POST", state.base + path, headers=headers, content=body
            )
        except ProbeError:
            state.requests += 1
            return None
        state.requests += spent
        return response


def _address(service: Service) -> str | None:
    """Where to send probes: the cluster IP, or a ready endpoint if headless."""
    if not service.ready_addresses:
        return None
    if service.headless or not service.cluster_ips:
        return service.ready_addresses[0]
    return service.cluster_ips[0]


def _target_port(service: Service, port: ServicePort) -> int:
    """A headless Service is reached on the endpoint's target port."""
    if (service.headless or not service.cluster_ips) and isinstance(port.target_port, int):
        return port.target_port
    return port.port


def _wsdl_links(body: bytes, base: str) -> list[str]:
    """Same-origin ``?wsdl`` links of a CXF service listing, as paths."""
    out: list[str] = []
    for match in _WSDL_LINK.finditer(body[:262_144]):
        link = match.group(1).decode("ascii", "replace")
        if link.startswith(base):
            link = link[len(base) :]
        if link.startswith("/") and not link.startswith("//"):
            out.append(link)
    return out
