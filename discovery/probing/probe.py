"""Probe a Service's ports for API descriptions and classify what answers.

HTTP-capable ports are searched by :mod:`discovery.probing.httpprobe` (annotations,
last run's location, ``/``, then what the answers and the framework table
suggest, within a per-port request budget); gRPC ports are asked through
server reflection for their services and descriptors (:mod:`discovery.probing.grpcprobe`),
read into a contract in a worker like any description. Requests go only to
the Service's own address and each one is counted.

Whatever one Service serves, it costs a bounded share of the crawl: at most
``max_ports`` of its ports, ``per_service`` of them at a time, none started
once ``max_silent_ports`` stayed silent, and a :class:`~discovery.probing.fetch.ServiceBudget`
of seconds and bytes across all its ports and requests. Services are probed
concurrently (:func:`discovery.crawl.probe_all`), so a hostile Service adds
its budget to the crawl's wall time, not the sum of its ports' deadlines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from discovery import contracts, specs
from discovery.errors import SpecError
from discovery.model import (
    Api,
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
from discovery.probing import grpcprobe, httpprobe
from discovery.probing.fetch import Fetcher, Limits, ServiceBudget
from discovery.probing.httpprobe import CONFIDENCE, Outcome, endpoint
from discovery.specpool import SpecPool

__all__ = [
    "CONFIDENCE",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_PORTS",
    "DEFAULT_MAX_SILENT",
    "DEFAULT_PER_SERVICE",
    "DEFAULT_SERVICE_BYTES",
    "SERVICE_DEADLINES",
    "ProbeSettings",
    "Prober",
]

_NOT_PROBED: Final = {
    "https": "TLS port: the mesh cannot see inside, not probed",
    "tls": "TLS port: not probed",
    "tcp": "TCP port: no HTTP API",
    "mongo": "MongoDB port: no HTTP API",
    "redis": "Redis port: no HTTP API",
    "mysql": "MySQL port: no HTTP API",
    "udp": "UDP port: no HTTP API",
}
#: Requests one HTTP port may cost on a cold run (the root included).
DEFAULT_BUDGET: Final = 20
#: Ports of one Service probed at most; the rest are noted.
DEFAULT_MAX_PORTS: Final = 16
#: Silent ports after which a Service's remaining ports are not started.
DEFAULT_MAX_SILENT: Final = 3
#: ``--exhaustive`` tries every known location; this bounds it still.
EXHAUSTIVE_BUDGET: Final = 200
#: Ports of one Service probed at the same time.
DEFAULT_PER_SERVICE: Final = 4
#: A Service's time budget, in request deadlines (``--timeout``), unless set.
SERVICE_DEADLINES: Final = 8
#: Bytes one Service may send across all its ports and requests.
DEFAULT_SERVICE_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """What to try, and how much each port may cost.

    ``budget`` is the most requests one HTTP port may cost; the search stops
    there or at the first valid description. ``exhaustive`` tries every
    location the framework table knows, within :data:`EXHAUSTIVE_BUDGET`.
    ``quiet_deadline`` bounds the first request to a port that gave no answer
    in time last run: a silent port costs that, not the full deadline, again;
    once it answers, it is probed as any other.

    One Service costs a bounded share of the crawl whatever it serves: at
    most ``max_ports`` of its ports are probed (named HTTP and gRPC ports
    first), and once ``max_silent_ports`` of them gave no answer within the
    deadline its remaining ports are not started: each is a problem of the
    run, so nothing about them is learnt as a fact.

    Each Service also has a budget across all its ports and requests:
    ``service_seconds`` of probing (by default :data:`SERVICE_DEADLINES`
    request deadlines), counted while one of its requests is in flight, and
    ``service_bytes`` of answers. Once either is spent its probing stops:
    every port it did not finish is a problem ("stopped after N s, its
    per-Service budget"), never an API without a description, and is probed
    in full next run.
    """

    extra_paths: tuple[str, ...] = ()
    exhaustive: bool = False
    budget: int = DEFAULT_BUDGET
    per_service: int = DEFAULT_PER_SERVICE
    quiet_deadline: float = 1.0
    max_ports: int = DEFAULT_MAX_PORTS
    max_silent_ports: int = DEFAULT_MAX_SILENT
    service_seconds: float | None = None
    service_bytes: int = DEFAULT_SERVICE_BYTES

    @property
    def port_budget(self) -> int:
        return max(self.budget, EXHAUSTIVE_BUDGET) if self.exhaustive else self.budget

    def service_time(self, limits: Limits) -> float:
        """Seconds of probing one Service may cost, with these request ``limits``."""
        if self.service_seconds is not None:
            return self.service_seconds
        return SERVICE_DEADLINES * limits.deadline


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
        record_trails: bool = False,
        pool: SpecPool | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.hints: Mapping[HintKey, Hint] = hints or {}
        self.quiet = frozenset(quiet)
        #: Validation outcomes from earlier runs, by check key (see ``specs.parse_spec``).
        self.checks: Mapping[str, Sequence[str]] = checks or {}
        self.known_digests = frozenset(key.split("/", 1)[0] for key in self.checks)
        #: Where descriptions are parsed and validated off the event loop (None: inline).
        self.pool = pool
        #: Every request made per port, when asked for (``meshatlas probe``).
        self.trails: dict[HintKey, list[httpprobe.Step]] | None = {} if record_trails else None

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
        cap = self.settings.max_ports
        if len(ports) > cap:
            # Ports the mesh knows to be HTTP or gRPC first; sniffed ones after.
            ports.sort(key=lambda p: p.mesh_protocol == "unknown")
            for port in ports[cap:]:
                why = f"over the cap of {cap} ports probed per Service (--probe-max-ports)"
                skipped.append(ProbeSkip(service.key, port, why))
            ports = ports[:cap]
        if not ports:
            return ServiceFindings(service, (), tuple(skipped), 0)
        budget = ServiceBudget(
            seconds=self.settings.service_time(self.fetcher.limits),
            max_bytes=self.settings.service_bytes,
        )
        gate = asyncio.Semaphore(self.settings.per_service)
        silent = 0
        loop = asyncio.get_running_loop()

        async def one(port: ServicePort) -> Outcome:
            nonlocal silent
            async with gate:
                where = f"{service.key}:{port.port}"
                if silent >= self.settings.max_silent_ports:
                    why = (
                        f"not probed: {silent} other ports of this Service gave no answer "
                        "within the deadline"
                    )
                    return Outcome(None, 0, Problem(where=where, what="probe skipped", why=why))
                if (spent := budget.exhausted(loop.time())) is not None:
                    why = f"not probed: {spent}"
                    return Outcome(None, 0, Problem(where=where, what="probe skipped", why=why))
                if port.mesh_protocol == "grpc":
                    outcome = await self._probe_grpc(service, port, address, budget)
                else:
                    outcome = await self._probe_http(service, port, address, budget)
                silent += outcome.silent
                return outcome

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

    async def _probe_grpc(
        self, service: Service, port: ServicePort, address: str, budget: ServiceBudget
    ) -> Outcome:
        target = _target_port(service, port)
        limits = self.fetcher.limits
        url = f"grpc://{address}:{target}"
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = min(limits.deadline, budget.left(started))
        max_bytes = min(limits.max_body_bytes, budget.bytes_left)
        budget.enter(started)
        try:
            answer = await grpcprobe.reflect(
                address=address, port=target, deadline=deadline, max_bytes=max_bytes
            )
        finally:
            waited = loop.time() - started
            budget.leave(started + waited)
        if answer is not None:
            budget.received += answer.received
        calls = answer.calls if answer is not None else 1
        # No answer, and the budget's deadline (shorter than the request's) ended the wait.
        cut_short = answer is None and deadline < limits.deadline and waited >= deadline
        cut_small = max_bytes < limits.max_body_bytes and (
            answer is not None and answer.status == "RESOURCE_EXHAUSTED"
        )
        if cut_short or cut_small:
            why = f"{budget.time_reason if cut_short else budget.bytes_reason} (at {url})"
            return Outcome(None, calls, Problem(f"{service.key}:{port.port}", "probe stopped", why))
        evidence: list[Evidence] = []
        contract = None
        if answer is None:
            check, confidence = "port-protocol", CONFIDENCE["port-protocol"]
            said = "port named grpc (Istio port naming); no gRPC answer"
            evidence.append(Evidence(check, said, url))
        elif answer.status == "OK":
            check, confidence = "grpc-reflection", CONFIDENCE["grpc-reflection"]
            names = ", ".join(answer.services) or "no services"
            version = "" if answer.api == grpcprobe.REFLECTION_APIS[0] else f" ({answer.api})"
            evidence.append(Evidence(check, f"server reflection{version} lists {names}", url))
            contract, described = await self._read_descriptors(answer, url)
            if described:
                evidence.append(Evidence("grpc-descriptors", described, url))
        else:
            check, confidence = "grpc-status", CONFIDENCE["grpc-status"]
            said = f"answered with grpc-status {answer.status}"
            evidence.append(Evidence(check, said, url))
        api = Api(
            service=service.key,
            port=port,
            kind="grpc",
            base_url=endpoint(service, port),
            spec=None,
            evidence=tuple(evidence),
            requests=calls,
            confidence=confidence,
            grpc_services=answer.services if answer else (),
            contract=contract,
        )
        return Outcome(api, calls)

    async def _read_descriptors(
        self, answer: grpcprobe.GrpcAnswer, url: str
    ) -> tuple[SpecDocument | None, str | None]:
        """The contract reflection's descriptors make, and what to say of them."""
        if answer.descriptors is None:
            return None, f"no descriptors: {answer.gap}" if answer.gap else None
        reading = contracts.Reading("protobuf", answer.services)
        try:
            if self.pool is None:
                doc = specs.parse_spec(
                    answer.descriptors, url=url, content_type=None, reading=reading
                )
            else:
                doc = await self.pool.parse(
                    answer.descriptors, url=url, content_type=None, reading=reading
                )
        except SpecError as exc:
            return None, f"descriptors refused: {exc.message}"
        files = f"{answer.files} file{'s' if answer.files != 1 else ''}"
        said = f"descriptors of {files}, every import included: {doc.operation_count} methods"
        if not doc.valid:
            said += "; they do not build: " + "; ".join(doc.errors[:3])
        if answer.gap:
            said += f"; {answer.gap}"
        return doc, said

    async def _probe_http(
        self, service: Service, port: ServicePort, address: str, budget: ServiceBudget
    ) -> Outcome:
        key = service.key
        where = (key.cluster, key.namespace, key.name, port.port)
        quiet = where in self.quiet
        trail: list[httpprobe.Step] | None = None
        if self.trails is not None:
            trail = self.trails.setdefault(where, [])
        search = httpprobe.PortSearch(
            fetcher=self.fetcher,
            service=service,
            port=port,
            address=address,
            target_port=_target_port(service, port),
            budget=self.settings.port_budget,
            extra_paths=self.settings.extra_paths,
            exhaustive=self.settings.exhaustive,
            hint=self.hints.get(where),
            quiet_deadline=self.settings.quiet_deadline if quiet else None,
            checks=self.checks,
            known_digests=self.known_digests,
            pool=self.pool,
            trail=trail,
            service_budget=budget,
        )
        return await search.run()


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
