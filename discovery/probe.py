"""Probe a Service's ports for API descriptions and classify what answers.

HTTP-capable ports are searched by :mod:`discovery.httpprobe` (annotations,
last run's location, ``/``, then what the answers and the framework table
suggest, within a per-port request budget); gRPC ports are asked through
server reflection. Requests go only to the Service's own address and each
one is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from discovery import grpcprobe, httpprobe
from discovery.fetch import Fetcher
from discovery.httpprobe import CONFIDENCE, Outcome, endpoint
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
)
from discovery.specpool import SpecPool

__all__ = [
    "CONFIDENCE",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_PORTS",
    "DEFAULT_MAX_SILENT",
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
    """

    extra_paths: tuple[str, ...] = ()
    exhaustive: bool = False
    budget: int = DEFAULT_BUDGET
    per_service: int = 2
    quiet_deadline: float = 1.0
    max_ports: int = DEFAULT_MAX_PORTS
    max_silent_ports: int = DEFAULT_MAX_SILENT

    @property
    def port_budget(self) -> int:
        return max(self.budget, EXHAUSTIVE_BUDGET) if self.exhaustive else self.budget


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
        gate = asyncio.Semaphore(self.settings.per_service)
        silent = 0

        async def one(port: ServicePort) -> Outcome:
            nonlocal silent
            async with gate:
                if silent >= self.settings.max_silent_ports:
                    why = (
                        f"not probed: {silent} other ports of this Service gave no answer "
                        "within the deadline"
                    )
                    where = f"{service.key}:{port.port}"
                    return Outcome(None, 0, Problem(where=where, what="probe skipped", why=why))
                if port.mesh_protocol == "grpc":
                    outcome = await self._probe_grpc(service, port, address)
                else:
                    outcome = await self._probe_http(service, port, address)
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

    async def _probe_grpc(self, service: Service, port: ServicePort, address: str) -> Outcome:
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
            base_url=endpoint(service, port),
            spec=None,
            evidence=(evidence,),
            requests=1,
            confidence=confidence,
            grpc_services=answer.services if answer else (),
        )
        return Outcome(api, 1)

    async def _probe_http(self, service: Service, port: ServicePort, address: str) -> Outcome:
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
