"""``meshatlas probe``: probe one port and show every step, for an API that was missed.

``meshatlas probe http://ADDR:PORT`` probes that port as a cold crawl would,
with the same safety rules (only that address, no redirect off it, no
credentials, no proxy, bounded bytes and time), and prints each request it
made: its status, content type, why it was tried and what came of it, then
the verdict. With ``--service NS/NAME`` and a kubeconfig the Service is read
from the cluster first, so its annotations, its cluster DNS names and its
Istio route prefixes count as they do in a crawl; without a URL, its own
address and first HTTP port are probed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from discovery import inventory, kube, protocols, specpool
from discovery.errors import KubeError
from discovery.model import Service, ServiceKey, ServicePort
from discovery.probing import fetch
from discovery.probing.probe import (
    DEFAULT_BUDGET,
    DEFAULT_SERVICE_BYTES,
    SERVICE_DEADLINES,
    Prober,
    ProbeSettings,
)
from meshatlas.errors import SourceError, UsageError
from meshatlas.interface import console
from meshatlas.job import preflight
from meshatlas.status import ExitCode

__all__ = ["MIB", "add_parser", "add_service_budget", "mebibytes", "positive_number", "run"]

#: Bytes in a MiB (``--probe-service-mib``).
MIB = 1024 * 1024


def positive_number(text: str) -> float:
    """A finite number above 0 (a budget: never unbounded)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def mebibytes(text: str) -> float:
    """A positive number of MiB, at least one byte."""
    value = positive_number(text)
    if round(value * MIB) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} MiB is less than one byte")
    return value


def add_service_budget(group: argparse._ActionsContainer) -> None:
    """``--probe-service-seconds`` and ``--probe-service-mib``: what one Service may cost.

    Shared by ``discover`` and ``probe``, so both take and refuse the same values.
    """
    group.add_argument(
        "--probe-service-seconds",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="seconds of probing one Service may cost across all its ports; its ports"
        " not finished by then are problems, probed in full next run"
        f" (default: {SERVICE_DEADLINES} x --timeout)",
    )
    group.add_argument(
        "--probe-service-mib",
        type=mebibytes,
        default=DEFAULT_SERVICE_BYTES / MIB,
        metavar="MIB",
        help="MiB one Service may send across all its ports and requests; past it its"
        " probing stops the same way (default: %(default)g)",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``probe`` subcommand."""
    probe = sub.add_parser(
        "probe",
        help="probe one port and print every request tried (why an API was missed)",
        description="Probe one port as a cold crawl would and print the whole trail.",
    )
    probe.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="http://ADDRESS:PORT (an IP address) or grpc://ADDRESS:PORT",
    )
    probe.add_argument("--service", metavar="NS/NAME", help="read this Service from the cluster")
    probe.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig for --service")
    probe.add_argument("--context", metavar="NAME", help="kubeconfig context for --service")
    probe.add_argument(
        "--port", type=int, metavar="PORT", help="which port of --service (default: its first)"
    )
    probe.add_argument(
        "--timeout", type=float, default=8.0, metavar="SECONDS", help="deadline per request"
    )
    probe.add_argument(
        "--probe-budget",
        type=int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help="most requests for the port (default: %(default)s)",
    )
    probe.add_argument("--probe-path", action="append", default=[], metavar="PATH")
    probe.add_argument("--exhaustive", action="store_true", help="try every known location")
    add_service_budget(probe)


def run(args: argparse.Namespace) -> ExitCode:
    """Probe, print the trail and the verdict; 0 when an API was found."""
    service, port = _target(args)
    settings = ProbeSettings(
        extra_paths=tuple(args.probe_path),
        exhaustive=args.exhaustive,
        budget=args.probe_budget,
        per_service=1,
        service_seconds=args.probe_service_seconds,
        service_bytes=round(args.probe_service_mib * MIB),
    )
    limits = fetch.Limits(deadline=args.timeout)
    findings, trail = asyncio.run(_probe(service, port, settings, limits))
    console.out(f"probing {service.key.short} port {port.port} at {_where(service, port)}")
    for step in trail:
        console.out(f"  {step}")
    for api in findings.apis:
        console.out("")
        console.out(f"verdict: {api.kind} (confidence {api.confidence:g}), {api.requests} requests")
        if api.spec is not None:
            spec = api.spec
            state = "valid" if spec.valid else "invalid: " + "; ".join(spec.errors[:3])
            console.out(
                f"  {spec.format} {spec.spec_version} at {spec.url}:"
                f" {spec.operation_count} operations, {state}"
            )
        for evidence in api.evidence:
            console.out(f"  - {evidence}")
    for skip in findings.skipped:
        console.out(f"verdict: nothing found ({skip.reason})")
    for problem in findings.problems:
        console.out(f"verdict: probe failed: {problem.why}")
    return ExitCode.COMPLETE if findings.apis else ExitCode.PARTIAL


async def _probe(
    service: Service, port: ServicePort, settings: ProbeSettings, limits: fetch.Limits
) -> tuple[Any, list[Any]]:
    async with (
        fetch.make_client(limits=limits, max_connections=4) as client,
        specpool.SpecPool(limits=specpool.PoolLimits(workers=1)) as pool,
    ):
        prober = Prober(
            fetcher=fetch.Fetcher(client=client, limits=limits, lanes=fetch.Lanes(4)),
            settings=settings,
            record_trails=True,
            pool=pool,
        )
        one = replace(service, ports=(port,))
        findings = await prober.probe(one)
    key = service.key
    trail = (prober.trails or {}).get((key.cluster, key.namespace, key.name, port.port), [])
    return findings, trail


def _target(args: argparse.Namespace) -> tuple[Service, ServicePort]:
    url = urlsplit(args.url) if args.url else None
    if url is not None:
        if url.scheme not in ("http", "grpc"):
            raise UsageError(f"probe: {args.url}: give http://ADDRESS:PORT or grpc://ADDRESS:PORT")
        try:
            address = str(ipaddress.ip_address(url.hostname or ""))
            port_number = url.port or 80
        except ValueError as exc:
            raise UsageError(
                f"probe: {args.url}: the host must be an IP address (probes go to an address, "
                "never to a name); use --service NS/NAME to probe a Service by name"
            ) from exc
    if args.service:
        service = _read_service(args)
        if url is not None:
            # The operator's address wins; the Service still lends its names.
            service = replace(service, cluster_ips=(address,), ready_addresses=(address,))
            port = _port_of(service, port_number, url.scheme)
        else:
            port = _port_of(service, args.port, None)
        return service, port
    if url is None:
        raise UsageError("probe: give a URL (http://ADDRESS:PORT) or --service NS/NAME")
    port = _port_of(None, port_number, url.scheme)
    service = Service(
        key=ServiceKey("probe", "-", address),
        type="ClusterIP",
        headless=False,
        cluster_ips=(address,),
        external_name=None,
        ports=(port,),
        ready_addresses=(address,),
    )
    return service, port


def _port_of(service: Service | None, number: int | None, scheme: str | None) -> ServicePort:
    if service is not None:
        for port in service.ports:
            if number is None or number in (port.port, port.target_port):
                if scheme is None or number is None:
                    return port
                return replace(port, port=number, target_port=number)
        if number is None:
            raise UsageError(f"probe: {service.key.short} has no ports")
    assert number is not None
    app_protocol = "grpc" if scheme == "grpc" else "http"
    return ServicePort(
        name=app_protocol,
        port=number,
        target_port=number,
        protocol="TCP",
        app_protocol=app_protocol,
        mesh_protocol=protocols.mesh_protocol(
            name=app_protocol, port=number, protocol="TCP", app_protocol=app_protocol
        ),
    )


def _read_service(args: argparse.Namespace) -> Service:
    namespace, _, name = str(args.service).partition("/")
    if not namespace or not name:
        raise UsageError(f"probe: --service {args.service}: give NAMESPACE/NAME")
    contexts = (args.context,) if args.context else ()
    # The same checks as discover's: a bad kubeconfig is one line, never a traceback.
    preflight.check_kubeconfig(kubeconfig=args.kubeconfig, contexts=contexts)
    try:
        connections = kube.connect(kubeconfig=args.kubeconfig, contexts=contexts)
    except KubeError as exc:
        raise UsageError(f"probe: {exc}") from exc
    servers = {c.name: c.api.configuration.proxy or c.api.configuration.host for c in connections}
    down = preflight.unreachable(servers)
    if down:
        raise SourceError("; ".join(f"cluster {n!r}: {said}" for n, said in down.items()))
    found = inventory.read_inventory(
        connections[:1], scope=inventory.Scope(namespaces=(namespace,), exclude_namespaces=())
    )
    for service in found.services:
        if service.key.name == name:
            return service
    why = "; ".join(p.why for p in found.problems) or "not in the cluster's Service list"
    raise UsageError(f"probe: no Service {namespace}/{name}: {why}")


def _where(service: Service, port: ServicePort) -> str:
    address = (service.cluster_ips or service.ready_addresses or ("?",))[0]
    scheme = "grpc" if port.mesh_protocol == "grpc" else "http"
    return f"{scheme}://{address}:{port.port}"
