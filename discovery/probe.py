"""Probe a Service's ports for API descriptions and classify what answers.

Per HTTP-capable port: paths named by annotation first; then one look at
``/`` (not following its redirect, whose target is itself a hint) to guess
the framework; then only the locations that guess makes likely, stopping at
the first valid description. A port without one is classified by how it
answers: GraphQL, a SOAP Fault, JSON, or plain HTTP. gRPC ports are asked
through server reflection. Requests go only to the Service's own address and
each one is counted.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from discovery import candidates, classify, grpcprobe, specs
from discovery.errors import NotASpecError, ProbeError, ProbeTimeout, SpecError
from discovery.fetch import Fetcher, Response
from discovery.model import (
    Api,
    ApiKind,
    Evidence,
    Hint,
    HintKey,
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
#: How sure each way of knowing is.
CONFIDENCE: Final = {
    "spec": 1.0,
    "invalid-spec": 0.8,
    "grpc-reflection": 1.0,
    "grpc-status": 0.9,
    "graphql": 0.95,
    "soap-fault": 0.9,
    "json": 0.6,
    "http": 0.7,
    "port-protocol": 0.5,
}


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """What to try, and how much each port may cost.

    ``exhaustive`` tries every OpenAPI path on every port instead of only the
    ones the fingerprint makes likely: thorough, and several times the requests.
    ``quiet_deadline`` bounds the first request to a port that gave no answer
    in time last run: a silent port costs that, not the full deadline, again;
    once it answers, it is probed as any other.
    """

    openapi_paths: tuple[str, ...] = candidates.OPENAPI_PATHS
    extra_paths: tuple[str, ...] = ()
    exhaustive: bool = False
    max_requests_per_port: int = 24
    per_service: int = 2
    graphql_path: str = "/graphql"
    quiet_deadline: float = 1.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What probing one port came to."""

    api: Api | None
    requests: int
    problem: Problem | None = None
    silent: bool = False  # no answer in time


@dataclass
class _Port:
    """Mutable state while probing one port."""

    base: str
    deadline: float | None = None  # shorter than the limits' while a quiet port is silent
    requests: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    json_seen: bool = False
    fallback: SpecDocument | None = None
    tried_graphql: bool = False
    tried_soap: bool = False


class Prober:
    """Probes Services through one shared :class:`Fetcher`."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        settings: ProbeSettings = ProbeSettings(),
        hints: Mapping[HintKey, Hint] | None = None,
        quiet: Collection[HintKey] = (),
        checks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.hints: Mapping[HintKey, Hint] = hints or {}
        self.quiet = frozenset(quiet)
        #: Validation outcomes from earlier runs, by check key (see ``specs.parse_spec``).
        self.checks: Mapping[str, Sequence[str]] = checks or {}

    def remembers(self, service: Service) -> bool:
        """Whether every port of ``service`` has an answer from last time."""
        key = service.key
        return bool(service.ports) and all(
            (key.cluster, key.namespace, key.name, port.port) in self.hints
            for port in service.ports
        )

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
            elif port.mesh_protocol == "grpc" or port.http_capable:
                ports.append(port)
            else:
                reason = _NOT_PROBED.get(port.mesh_protocol, f"{port.mesh_protocol}: not probed")
                skipped.append(ProbeSkip(service.key, port, reason))
        gate = asyncio.Semaphore(self.settings.per_service)

        async def one(port: ServicePort) -> _Outcome:
            async with gate:
                if port.mesh_protocol == "grpc":
                    return await self._probe_grpc(service, port, address)
                return await self._probe_http(service, port, address)

        if len(ports) == 1:  # most Services: no task to make and schedule
            results = [await one(ports[0])]
        else:
            results = list(await asyncio.gather(*(one(p) for p in ports)))
        for port, outcome in zip(ports, results, strict=True):
            if outcome.api is None and outcome.problem is None:
                skipped.append(ProbeSkip(service.key, port, "no HTTP answer"))
        return ServiceFindings(
            service=service,
            apis=tuple(o.api for o in results if o.api is not None),
            skipped=tuple(skipped),
            requests=sum(o.requests for o in results),
            problems=tuple(o.problem for o in results if o.problem is not None),
            silent=tuple(p.port for p, o in zip(ports, results, strict=True) if o.silent),
        )

    async def _probe_grpc(self, service: Service, port: ServicePort, address: str) -> _Outcome:
        target = _target_port(service, port)
        limits = self.fetcher.limits
        answer = await grpcprobe.list_services(
            address=address, port=target, deadline=limits.deadline, max_bytes=limits.max_body_bytes
        )
        url = f"grpc://{address}:{target}"
        if answer is None:
            check, confidence = "port-protocol", CONFIDENCE["port-protocol"]
            evidence = Evidence(check, "port named grpc (Istio port naming); no gRPC answer", url)
        elif answer.status == "OK":
            check, confidence = "grpc-reflection", CONFIDENCE["grpc-reflection"]
            names = ", ".join(answer.services) or "no services"
            evidence = Evidence(check, f"server reflection lists {names}", url)
        else:
            check, confidence = "grpc-status", CONFIDENCE["grpc-status"]
            evidence = Evidence(check, f"answered with grpc-status {answer.status}", url)
        api = Api(
            service=service.key,
            port=port,
            kind="grpc",
            base_url=_endpoint(service, port),
            spec=None,
            evidence=(evidence,),
            requests=1,
            confidence=confidence,
            grpc_services=answer.services if answer else (),
        )
        return _Outcome(api, 1)

    async def _probe_http(self, service: Service, port: ServicePort, address: str) -> _Outcome:
        host = f"[{address}]" if ":" in address else address
        state = _Port(base=f"http://{host}:{_target_port(service, port)}")
        key = service.key
        where = (key.cluster, key.namespace, key.name, port.port)
        hint = self.hints.get(where)
        quiet = where in self.quiet
        if quiet:
            state.deadline = self.settings.quiet_deadline
        try:
            remembered = await self._remembered(state, hint) if hint else None
            if remembered is not None:
                return _Outcome(self._api(service, port, state, *remembered), state.requests)
            spec = await self._find_spec(service, state)
            kind, confidence = (
                (classify.kind_of_spec(spec), CONFIDENCE["spec" if spec.valid else "invalid-spec"])
                if spec is not None
                else await self._classify_without_spec(state)
            )
        except ProbeError as exc:
            silent = isinstance(exc, ProbeTimeout)
            if state.requests <= 1 and port.mesh_protocol == "unknown" and not quiet:
                # Istio would sniff this port; it does not speak HTTP. (A quiet
                # port had only the short deadline: that proves nothing, so it
                # stays a problem and the run does not count its APIs as gone.)
                return _Outcome(None, state.requests, silent=silent)
            why = f"{exc.message} ({exc.url})"
            if silent and quiet:
                why += "; silent last run too, so re-checked with a short deadline (--cold: full)"
            problem = Problem(where=f"{service.key}:{port.port}", what="probe failed", why=why)
            return _Outcome(None, state.requests, problem, silent)
        return _Outcome(self._api(service, port, state, spec, kind, confidence), state.requests)

    def _api(
        self,
        service: Service,
        port: ServicePort,
        state: _Port,
        spec: SpecDocument | None,
        kind: ApiKind,
        confidence: float,
    ) -> Api:
        return Api(
            service=service.key,
            port=port,
            kind=kind,
            base_url=_endpoint(service, port),
            spec=spec,
            evidence=tuple(state.evidence),
            requests=state.requests,
            confidence=confidence,
        )

    async def _remembered(
        self, state: _Port, hint: Hint
    ) -> tuple[SpecDocument | None, ApiKind, float] | None:
        """Go straight to what worked last time; ``None`` sends the port to full probing."""
        # What worked last time is likely the port's only request: nothing to keep open.
        if hint.path is not None:
            doc = await self._try_spec(state, hint.path, "remembered", last=True)
            if doc is None:
                return None
            return doc, classify.kind_of_spec(doc), CONFIDENCE["spec"]
        if hint.kind not in ("http", "rest"):
            return None  # GraphQL and SOAP answers are cheap to confirm afresh
        root = await self._get(state, "/", follow=False, last=True)
        if root is None:
            return None
        state.evidence.append(
            Evidence(
                "remembered",
                f"{hint.kind} last time, no description; / still answers",
                root.url,
                root.status,
                root.content_type,
            )
        )
        return None, hint.kind, CONFIDENCE["json" if hint.kind == "rest" else "http"]

    async def _get(
        self, state: _Port, path: str, *, follow: bool = True, last: bool = False
    ) -> Response | None:
        """GET ``path`` of the port; ``last`` when no other request is expected."""
        if state.requests >= self.settings.max_requests_per_port:
            return None
        try:
            response, spent = await self.fetcher.request(
                "GET",
                state.base + path,
                follow_redirects=follow,
                deadline=state.deadline,
                quiet=state.deadline is not None,
                keep_alive=not last,
            )
        except ProbeError:
            state.requests += 1
            raise
        state.requests += spent
        state.deadline = None  # it answers: the full deadline from now on
        if response.content_type.endswith("json"):
            state.json_seen = True
        return response

    async def _try_spec(
        self, state: _Port, path: str, how: str, *, last: bool = False
    ) -> SpecDocument | None:
        """Fetch ``path`` and keep it if it is a valid description."""
        try:
            response = await self._get(state, path, last=last)
        except ProbeError as exc:
            state.evidence.append(Evidence(how, f"gave up: {exc.message}", exc.url))
            return None
        if response is not None and response.refused_redirect:
            state.evidence.append(
                Evidence(
                    how,
                    f"redirect off the Service refused: {response.refused_redirect}",
                    response.url,
                    response.status,
                )
            )
            return None
        if response is None or response.status != 200 or response.truncated:
            if response is not None and response.truncated:
                state.evidence.append(
                    Evidence(
                        how, "body over the size cap, not parsed", response.url, response.status
                    )
                )
            return None
        return self._accept(state, response, how)

    def _accept(self, state: _Port, response: Response, how: str) -> SpecDocument | None:
        try:
            doc = specs.parse_spec(
                response.body,
                url=response.url,
                content_type=response.content_type,
                known=self.checks,
            )
        except SpecError as exc:
            claimed = response.content_type.endswith(("json", "yaml", "xml"))
            if not isinstance(exc, NotASpecError) or claimed:
                state.evidence.append(
                    Evidence(
                        how, f"refused: {exc}", response.url, response.status, response.content_type
                    )
                )
            return None
        what = f"{doc.format} {doc.spec_version}" + ("" if doc.valid else " (invalid)")
        state.evidence.append(
            Evidence(how, what, response.url, response.status, response.content_type)
        )
        if doc.valid:
            return doc
        state.fallback = state.fallback or doc
        return None

    async def _find_spec(self, service: Service, state: _Port) -> SpecDocument | None:
        hints = service.overrides
        for path in (hints.openapi_path, hints.wsdl_path):
            if path and (doc := await self._try_spec(state, path, "annotation")):
                return doc
        for path in self.settings.extra_paths:
            if doc := await self._try_spec(state, path, "configured"):
                return doc
        root = await self._get(state, "/", follow=False)
        fp = candidates.fingerprint(root)
        if root is not None and fp.evidence:
            state.evidence.append(
                Evidence(
                    "fingerprint", fp.framework or "", root.url, root.status, root.content_type
                )
            )
        if root is not None and root.status == 200 and not root.truncated:
            if specs.looks_like_wsdl(root.body) or root.content_type.endswith(("json", "yaml")):
                # Some servers answer their description at the root itself.
                if doc := self._accept(state, root, "probe"):
                    return doc
        if candidates.graphql_likely(fp) and await self._graphql(state):
            return None
        if candidates.soap_likely(fp):
            if doc := await self._wsdl_phase(service, state, fp):
                return doc
            if await self._soap_fault(state):
                return None
        for path in candidates.openapi_order(
            fp, paths=self.settings.openapi_paths, exhaustive=self.settings.exhaustive
        ):
            if doc := await self._try_spec(state, path, "probe"):
                return doc
            if path == "/v3/api-docs" and fp.framework == "spring":
                if doc := await self._springdoc_groups(state):
                    return doc
        if self.settings.exhaustive and not candidates.soap_likely(fp):
            if doc := await self._wsdl_phase(service, state, fp):
                return doc
        return state.fallback

    async def _springdoc_groups(self, state: _Port) -> SpecDocument | None:
        """springdoc with groups serves each group at a URL listed in swagger-config."""
        try:
            config = await self._get(state, "/v3/api-docs/swagger-config")
        except ProbeError:
            return None
        if config is None or config.status != 200:
            return None
        try:
            urls = json.loads(config.body).get("urls") or []
        except (ValueError, AttributeError):
            return None
        for entry in urls[:3]:
            url = entry.get("url") if isinstance(entry, dict) else None
            if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
                if doc := await self._try_spec(state, url, "probe"):
                    return doc
        return None

    async def _wsdl_phase(
        self, service: Service, state: _Port, fp: candidates.Fingerprint
    ) -> SpecDocument | None:
        paths: list[str] = []
        if fp.framework == "cxf":
            try:
                listing = await self._get(state, candidates.CXF_LISTING)
            except ProbeError:
                listing = None
            if listing is not None and listing.status == 200:
                paths.extend(_wsdl_links(listing.body, state.base))
        paths.extend(candidates.WSDL_PATHS)
        if self.settings.exhaustive:
            paths.extend(candidates.wsdl_guesses(service.key.name))
        for path in dict.fromkeys(paths):
            if doc := await self._try_spec(state, path, "probe"):
                return doc
        return None

    async def _graphql(self, state: _Port) -> bool:
        state.tried_graphql = True
        response = await self._post(
            state,
            self.settings.graphql_path,
            _GRAPHQL_QUERY,
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        if response is not None and classify.is_graphql(response):
            state.evidence.append(
                Evidence(
                    "graphql",
                    "answered { __typename }",
                    response.url,
                    response.status,
                    response.content_type,
                )
            )
            return True
        return False

    async def _soap_fault(self, state: _Port) -> bool:
        state.tried_soap = True
        response = await self._post(
            state,
            "/",
            _SOAP11_EMPTY,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )
        if response is not None and (version := specs.looks_like_soap_fault(response.body)):
            state.evidence.append(
                Evidence(
                    "soap-fault",
                    f"SOAP {version} Fault for an empty envelope",
                    response.url,
                    response.status,
                    response.content_type,
                )
            )
            return True
        return False

    async def _classify_without_spec(self, state: _Port) -> tuple[ApiKind, float]:
        evidence = {e.check for e in state.evidence}
        if "graphql" in evidence:
            return "graphql", CONFIDENCE["graphql"]
        if "soap-fault" in evidence:
            return "soap", CONFIDENCE["soap-fault"]
        if not state.tried_graphql and await self._graphql(state):
            return "graphql", CONFIDENCE["graphql"]
        if state.json_seen:
            state.evidence.append(Evidence("json", "JSON answers, no API description found"))
            return "rest", CONFIDENCE["json"]
        state.evidence.append(Evidence("http", "answers HTTP, no API description found"))
        return "http", CONFIDENCE["http"]

    async def _post(
        self, state: _Port, path: str, body: bytes, headers: dict[str, str]
    ) -> Response | None:
        if state.requests >= self.settings.max_requests_per_port:
            return None
        try:
            response, spent = await self.fetcher.request(
                "POST",
                state.base + path,
                headers=headers,
                content=body,
                deadline=state.deadline,
                quiet=state.deadline is not None,
            )
        except ProbeError:
            state.requests += 1
            return None
        state.requests += spent
        state.deadline = None
        return response


def _endpoint(service: Service, port: ServicePort) -> str:
    """The in-cluster URL people use for this port."""
    scheme = "grpc" if port.mesh_protocol == "grpc" else "http"
    return f"{scheme}://{service.key.name}.{service.key.namespace}.svc.cluster.local:{port.port}"


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
