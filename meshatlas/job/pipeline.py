"""The discover pipeline: discovery → graph → catalogue → report and files."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import networkx as nx
import orjson

import catalog
import graph
from catalog import DEFAULT_DEPRECATE_AFTER
from catalog import findings as catalog_findings
from catalog.model import DEFAULT_STALE_AFTER
from catalog.publishing.validation import check_id
from discovery import crawl, kube, specpool
from discovery.errors import KubeError
from discovery.inventory import DEFAULT_EXCLUDED, Scope
from discovery.model import Discovery, HintKey, Problem
from discovery.probing import fetch
from discovery.probing.probe import (
    DEFAULT_BUDGET,
    DEFAULT_MAX_PORTS,
    DEFAULT_PER_SERVICE,
    DEFAULT_SERVICE_BYTES,
    ProbeSettings,
)
from meshatlas.errors import SourceError, UsageError
from meshatlas.interface import console
from meshatlas.job import (
    assets,
    catalogues,
    graphpublish,
    memory,
    outcome,
    preflight,
    publishing,
    report,
    telemetry,
)
from meshatlas.job import drift as drift_job
from meshatlas.job import posture as posture_job
from meshatlas.status import ExitCode
from meshatlas.version import VERSION

#: Bytes in a MiB (``--probe-service-mib``).
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DiscoverOptions:
    """Everything ``meshatlas discover`` can be asked."""

    kubeconfig: str | None = None
    contexts: tuple[str, ...] = ()
    in_cluster: bool = False
    #: The name the (one) cluster is catalogued under, instead of its context or ``in-cluster``.
    cluster_name: str | None = None
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = DEFAULT_EXCLUDED
    selector: str | None = None
    catalog: str = "sqlite:///meshatlas.db"
    group_id: str = "meshatlas"
    out: Path | None = None
    report: str | None = None
    concurrency: int = 64
    timeout: float = 8.0
    probe_paths: tuple[str, ...] = ()
    exhaustive: bool = False
    probe_budget: int = DEFAULT_BUDGET
    probe_max_ports: int = DEFAULT_MAX_PORTS
    #: Seconds of probing one Service may cost across its ports (None: 8 × ``timeout``).
    probe_service_seconds: float | None = None
    #: MiB one Service may send across its ports and requests.
    probe_service_mib: float = DEFAULT_SERVICE_BYTES / MIB
    #: Ports of one Service probed at the same time.
    probe_ports_at_once: int = DEFAULT_PER_SERVICE
    validation_cpu: int = specpool.PoolLimits().cpu_seconds
    #: Ignore what the catalogue remembers of the last crawl; probe every port afresh.
    cold: bool = False
    dry_run: bool = False
    # Runs in a row that must miss an API before it is deprecated (see catalog.storage.runs).
    deprecate_after: int = DEFAULT_DEPRECATE_AFTER
    #: Complete sightings of its Service in a row that must miss an instance before it is stale.
    stale_after: int = DEFAULT_STALE_AFTER
    #: The least that makes the exit code non-zero (see :mod:`meshatlas.job.outcome`).
    fail_on: outcome.FailOn = outcome.DEFAULT_FAIL_ON
    graph_formats: tuple[str, ...] = ("json", "graphml", "dot", "mermaid")
    # Telemetry sources (see meshatlas.job.telemetry); none means config edges only.
    prometheus: str | None = None
    otel_prometheus: str | None = None
    jaeger: str | None = None
    zipkin: str | None = None
    telemetry_window: str = "10m"
    telemetry_timeout: float = 10.0
    telemetry_at: datetime | None = None
    #: Server spans read per traced service and window (see meshatlas.job.drift).
    span_cap: int = drift_job.DEFAULT_SPAN_CAP
    #: Draw the hops to and from ambient waypoints (``--show-waypoints``).
    show_waypoints: bool = False
    #: Run graphs each cluster keeps in the catalogue (see catalog.storage.graphs).
    graph_runs_kept: int = graphpublish.DEFAULT_KEPT


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced, for the CLI to show."""

    discovery: Discovery
    graph: nx.DiGraph
    report: dict[str, Any]
    exit_code: ExitCode
    outputs: tuple[Path, ...] = ()
    published: tuple[catalog.PublishResult, ...] = field(default=())
    #: What the catalogue concluded of the run (None for a dry run, or when not recorded).
    run: catalog.RunSummary | None = None


def redact(url: str) -> str:
    """A catalogue URL without its password, fit for reports and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class _Clock:
    """Seconds per step of a run, reported in ``stats.phases_s``."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps = laps
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def check(options: DiscoverOptions) -> catalogues.CatalogueUrl:
    """Refuse options that cannot work before anything is contacted or created.

    Returns:
        The catalogue ``--catalog`` names (``postgres://`` spelt ``postgresql://``).

    Raises:
        UsageError: An option, or a combination, cannot work; the message says why.
    """
    catalogue = catalogues.parse(options.catalog)
    if not options.dry_run:
        catalogues.check_creatable(catalogue)
    try:
        check_id("--group-id", options.group_id)
    except catalog.InvalidAsset as exc:
        raise UsageError(str(exc)) from exc
    if options.in_cluster and (options.kubeconfig is not None or options.contexts):
        given = "--kubeconfig" if options.kubeconfig is not None else "--context"
        raise UsageError(
            f"--in-cluster reads the Pod's ServiceAccount, {given} a kubeconfig: give one of them"
        )
    if options.cluster_name is not None:
        name = options.cluster_name
        if not name.strip() or len(name) > 253 or any(ord(c) < 32 for c in name):
            raise UsageError(f"--cluster-name must be 1 to 253 printable characters, not {name!r}")
        if len(options.contexts) > 1:
            raise UsageError(
                "--cluster-name names one cluster; with several --context, each cluster is"
                " catalogued under its context's name"
            )
    for flag, count in (
        ("--deprecate-after", options.deprecate_after),
        ("--stale-after", options.stale_after),
        ("--concurrency", options.concurrency),
        ("--probe-budget", options.probe_budget),
        ("--probe-max-ports", options.probe_max_ports),
        ("--probe-ports-at-once", options.probe_ports_at_once),
    ):
        if count < 1:
            raise UsageError(f"{flag} must be at least 1")
    if options.timeout <= 0:
        raise UsageError("--timeout must be positive")
    seconds = options.probe_service_seconds
    if seconds is not None and not 0 < seconds < math.inf:
        raise UsageError("--probe-service-seconds must be a positive number")
    if not 0 < options.probe_service_mib < math.inf or service_bytes(options) < 1:
        raise UsageError("--probe-service-mib must be a positive number")
    if options.fail_on not in outcome.FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(outcome.FAIL_ON)}")
    preflight.check_outputs(out=options.out, report=options.report)
    telemetry.check(options)
    drift_job.check(options)
    return catalogue


def service_bytes(options: DiscoverOptions) -> int:
    """Bytes one Service may send, from ``--probe-service-mib``."""
    return round(options.probe_service_mib * MIB)


def _connect(options: DiscoverOptions) -> list[kube.ClusterConnection]:
    """One client per cluster, the kubeconfig checked first so that no error is a traceback."""
    if not options.in_cluster:
        preflight.check_kubeconfig(kubeconfig=options.kubeconfig, contexts=options.contexts)
    try:
        connections = kube.connect(
            kubeconfig=options.kubeconfig, contexts=options.contexts, in_cluster=options.in_cluster
        )
    except KubeError as exc:
        if options.kubeconfig is None and not any(
            f.exists() for f in preflight.kubeconfig_files(None)
        ):
            raise UsageError(preflight.no_kubeconfig()) from exc
        raise UsageError(str(exc)) from exc
    if options.cluster_name is not None:
        connections = [dataclasses.replace(c, name=options.cluster_name) for c in connections]
    return connections


def _reachable(
    connections: list[kube.ClusterConnection],
) -> tuple[list[kube.ClusterConnection], list[Problem]]:
    """The clusters whose API server accepts a connection, and a problem for each other.

    Raises:
        SourceError: No API server accepts: there is nothing to do.
    """
    servers = {}
    for c in connections:
        configuration = c.api.configuration
        servers[c.name] = configuration.proxy or configuration.host
        console.debug(f"cluster {c.name}: API server {configuration.host}")
    down = preflight.unreachable(servers)
    if not down:
        return connections, []
    if len(down) == len(connections):
        raise SourceError("; ".join(f"cluster {name!r}: {said}" for name, said in down.items()))
    problems = [
        Problem(f"{name}: {servers[name]}", "cluster not read; its API server did not answer", said)
        for name, said in down.items()
    ]
    return [c for c in connections if c.name not in down], problems


def connect(options: DiscoverOptions) -> tuple[list[kube.ClusterConnection], list[Problem]]:
    """The clusters whose API server answers, and a problem for each other one.

    For commands that read the clusters without a discovery run (``posture``).

    Raises:
        UsageError: The kubeconfig cannot work.
        SourceError: No API server answers.
    """
    return _reachable(_connect(options))


def _open(catalogue: catalogues.CatalogueUrl) -> catalog.PublishTarget:
    """The publish target, opened before anything is probed.

    Raises:
        UsageError: A SQLite file that is no catalogue (the user's to fix).
        SourceError: A database or catalogue server that did not answer or refused.
    """
    try:
        return publishing.open_catalogue(catalogue.url)
    except catalog.CatalogError as exc:
        # The driver's first line says it; SQLAlchemy's background link does not.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        said = f"--catalog {catalogue.shown}: the catalogue cannot be opened: {reason}"
        if catalogue.kind == "sqlite":
            raise UsageError(said) from exc
        raise SourceError(said) from exc


def _check_scope(options: DiscoverOptions, connections: Sequence[kube.ClusterConnection]) -> None:
    """Give the scope's silent empties a word (issue 21).

    A ``--namespace`` no cluster has is a warning; when none of them exists
    the run would crawl nothing, which is a usage error (exit 2). Exclusions
    that replace the defaults say which system namespaces are now crawled.

    Raises:
        UsageError: No namespace ``--namespace`` names exists in any cluster.
    """
    from discovery import inventory

    if options.namespaces:
        absent = inventory.absent_namespaces(connections, options.namespaces)
        clusters = ", ".join(c.name for c in connections)
        if absent and len(absent) == len(set(options.namespaces)):
            raise UsageError(
                f"--namespace {', '.join(absent)}: no such namespace in {clusters};"
                " kubectl get namespaces lists those there are"
            )
        for name in absent:
            console.warning(f"--namespace {name}: no such namespace in {clusters}; skipped")
        return
    crawled = [n for n in DEFAULT_EXCLUDED if n not in options.exclude_namespaces]
    if tuple(options.exclude_namespaces) != DEFAULT_EXCLUDED and crawled:
        console.warning(
            f"--exclude-namespace replaces the default exclusions: {', '.join(crawled)}"
            " are crawled now; list them too to keep them out"
        )


def run_discover(
    options: DiscoverOptions,
    *,
    progress: crawl.Progress | None = None,
    watch: crawl.Watch | None = None,
) -> RunResult:
    """Run discovery end to end; errors of sources become problems, not exceptions.

    Everything that can be checked is checked first (options, kubeconfig, API
    servers, catalogue): a refusal raises before a Service is probed.

    Raises:
        UsageError: The options, the kubeconfig or the catalogue cannot work.
        SourceError: No API server, or the catalogue's server, answers.
    """
    catalogue = check(options)
    options = dataclasses.replace(options, catalog=catalogue.url)
    started = datetime.now(UTC)
    connections, unreached = _reachable(_connect(options))
    if catalogue.kind == "http" and not options.dry_run:
        # Reachable, and the token taken, before a Service is probed.
        token = os.environ.get(preflight.TOKEN_ENV) or None
        preflight.check_catalogue_server(catalogue.url, shown=catalogue.shown, token=token)
    _check_scope(options, connections)  # before the catalogue is opened or a Service probed
    scope = Scope(
        namespaces=options.namespaces,
        exclude_namespaces=options.exclude_namespaces,
        selector=options.selector,
    )
    limits = fetch.Limits(deadline=options.timeout, read_timeout=min(5.0, options.timeout))
    # Opened once: what it remembers steers the probes, then it takes the results.
    target = None if options.dry_run else _open(catalogue)
    extra: list[Problem] = []
    try:
        recalled = memory.Memory()
        if target is not None and not options.cold:
            recalled = memory.recall(target, clusters=[c.name for c in connections])
        found = asyncio.run(
            _discover(connections, scope, limits, options, progress, recalled, watch)
        )
        if unreached:
            # Problems of discovery itself: the run is not complete, nothing is missed.
            found = dataclasses.replace(found, problems=(*unreached, *found.problems))
        if options.cluster_name is None and urlsplit(options.catalog).scheme in ("http", "https"):
            found = _note_unnamed(found)
        drifted = drift_job.observe(options, found)  # spans matched to the APIs just found
        peers = posture_job.observe(options, found.inventory)  # callers' identities
        return _finish(
            options,
            started,
            found,
            target,
            extra,
            False,
            recalled.quiet,
            drifted=drifted,
            peers=peers,
        )
    finally:
        if target is not None:
            target.close()


def report_unpublished(
    options: DiscoverOptions, *, started: datetime, found: Discovery
) -> RunResult:
    """The report of ``found`` (an interrupted run's so far), written where asked; nothing else.

    Nothing is published and no graph file is written: only ``--report`` and
    ``--out``'s ``report.json``.
    """
    kept = dataclasses.replace(options, graph_formats=())
    return _finish(kept, started, found, None, [], False)


def _note_unnamed(found: Discovery) -> Discovery:
    """Say so when a Pod's crawl publishes to a server without naming its cluster."""
    if kube.IN_CLUSTER not in found.inventory.clusters:
        return found
    note = (
        f"this cluster is catalogued as {kube.IN_CLUSTER!r}: if crawlers in other clusters"
        " publish to the same catalogue, give each its own --cluster-name (cluster-name: in"
        " meshatlas.yaml), or their Services' instances and runs are taken for this one's"
    )
    inventory = dataclasses.replace(found.inventory, notes=(*found.inventory.notes, note))
    return dataclasses.replace(found, inventory=inventory)


def _finish(
    options: DiscoverOptions,
    started: datetime,
    found: Discovery,
    target: catalog.PublishTarget | None,
    extra: list[Problem],
    catalog_failed: bool,
    quiet: frozenset[HintKey] = frozenset(),
    *,
    drifted: drift_job.DriftRun | None = None,
    peers: posture_job.Peers | None = None,
) -> RunResult:
    """Graph, publish, exports and report for what discovery found."""
    clock = _Clock(dict(found.timings))
    dependency_graph = graph.build_graph(
        services=found.inventory.services,
        external_hosts=found.inventory.external_hosts,
        edges=found.edges,
        apis=found.apis,
        infrastructure=telemetry.infrastructure(found),
        routes=found.inventory.routes,
        exposures=found.inventory.mesh.exposures,
        subsets=found.inventory.mesh.subsets,
        traffic=found.traffic,
    )
    planned = assets.plan(found, group_id=options.group_id, graph=dependency_graph)
    clock.lap("plan")
    asset_fields: dict[report.ApiRef, dict[str, Any]] = {
        (p.api.service, p.api.port.port): {
            "group_id": p.draft.group_id,
            "asset_id": p.draft.asset_id,
            "version": None,
            "type": p.draft.type,
            "outcome": "not-published",
        }
        for p in planned
    }
    published: list[catalog.PublishResult] = []
    run: catalog.RunSummary | None = None
    if target is not None:
        # A database or a catalogue server, whichever --catalog names.
        publication = publishing.publish_all(
            target=target,
            shown_url=redact(options.catalog),
            group_id=options.group_id,
            planned=planned,
            found=found,
            started=started,
            namespaces=options.namespaces,
            exclude_namespaces=options.exclude_namespaces,
            selector=options.selector,
            deprecate_after=options.deprecate_after,
            quiet=quiet,
            stale_after=options.stale_after,
            max_ports=options.probe_max_ports,
        )
        catalog_failed = catalog_failed or publication.failed
        extra.extend(publication.problems)
        if isinstance(target, catalog.HttpTarget):
            # An older catalogue server took the drafts without exposure and subsets.
            shown = redact(options.catalog)
            extra.extend(Problem(shown, "published in part", note) for note in target.notes)
        run = publication.run
        for p in planned:
            result = publication.results.get((p.api.service, p.api.port.port))
            if result is None:
                continue
            published.append(result)
            fields = asset_fields[(p.api.service, p.api.port.port)]
            fields["version"] = result.version
            fields["outcome"] = result.outcome
    # Judged once: the report's posture section and the catalogue's findings share it.
    posture_run = posture_job.of_discovery(found, peers or posture_job.Peers())
    if target is not None and not catalog_failed:
        # The run's service graph per cluster: the portal's graph page draws it.
        sources = (options.prometheus, options.otel_prometheus, options.jaeger, options.zipkin)
        extra.extend(
            graphpublish.publish(
                target=target,
                url=options.catalog,
                shown_url=redact(options.catalog),
                graph=dependency_graph,
                found=found,
                planned=planned,
                taken_at=options.telemetry_at or started,
                window=options.telemetry_window if any(sources) else None,
                run_id=None if run is None else run.run_id,
                keep=options.graph_runs_kept,
                findings=_run_findings(posture_run, drifted, found, planned),
            )
        )
    clock.lap("publish")
    outputs: list[Path] = []
    if options.out is not None:
        options.out.mkdir(parents=True, exist_ok=True)
        try:
            outputs.extend(
                graph.write_exports(dependency_graph, options.out, formats=options.graph_formats)
            )
        except graph.GraphError as exc:
            extra.append(Problem(str(options.out), "graph not written", str(exc)))
    clock.lap("exports")
    if drifted is not None:
        extra.extend(drifted.problems)
    problems = list(found.problems) + extra
    judged = outcome.judge(
        found=found, problems=problems, catalog_failed=catalog_failed, fail_on=options.fail_on
    )
    code = judged.exit_code
    doc = report.build(
        discovery=found,
        assets=asset_fields,
        extra_problems=extra,
        outcome=judged.name,
        catalog=None if options.dry_run else redact(options.catalog),
        version=VERSION,
        started_at=started,
        finished_at=datetime.now(UTC),
        kube_requests=found.inventory.requests,
        timings=clock.laps,
        run=run,
        drift=None if drifted is None else drift_job.section(drifted),
        posture=posture_job.section(posture_run),
    )
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()
    if options.report and options.report != "-":
        Path(options.report).parent.mkdir(parents=True, exist_ok=True)
        Path(options.report).write_text(text)
        outputs.append(Path(options.report))
    if options.out is not None:
        (options.out / "report.json").write_text(text)
        outputs.append(options.out / "report.json")
    return RunResult(found, dependency_graph, doc, code, tuple(outputs), tuple(published), run)


def _run_findings(
    posture_run: posture_job.PostureRun,
    drifted: drift_job.DriftRun | None,
    found: Discovery,
    planned: Sequence[assets.PlannedAsset],
) -> catalog_findings.RunFindings:
    """The run's posture and drift findings as its run graphs keep them."""
    calls: dict[tuple[str, str | None], int] = {}
    traffic = () if drifted is None else drifted.drift.apis
    for api in traffic:
        calls[(api.subject, None)] = api.calls
        calls.update({(api.subject, op.operation): op.calls for op in api.operations})
    return graphpublish.run_findings(
        posture=posture_run.findings,
        posture_judged=[i.posture.workload.node for i in posture_run.instances],
        drift=() if drifted is None else drifted.drift.findings,
        drift_judged=[a.subject.rsplit(":", 1)[0] for a in traffic],
        calls=calls,
        services=found.inventory.services,
        planned=planned,
    )


async def _discover(
    connections: Sequence[kube.ClusterConnection],
    scope: Scope,
    limits: fetch.Limits,
    options: DiscoverOptions,
    progress: crawl.Progress | None,
    recalled: memory.Memory,
    watch: crawl.Watch | None = None,
) -> Discovery:
    async with (
        fetch.make_client(limits=limits, max_connections=options.concurrency) as client,
        specpool.SpecPool(limits=specpool.PoolLimits(cpu_seconds=options.validation_cpu)) as pool,
    ):
        found = await crawl.discover(
            pool=pool,
            connections=connections,
            client=client,
            scope=scope,
            limits=limits,
            concurrency=options.concurrency,
            settings=ProbeSettings(
                extra_paths=options.probe_paths,
                exhaustive=options.exhaustive,
                budget=options.probe_budget,
                max_ports=options.probe_max_ports,
                quiet_deadline=min(1.0, options.timeout),
                per_service=options.probe_ports_at_once,
                service_seconds=options.probe_service_seconds,
                service_bytes=service_bytes(options),
            ),
            progress=progress,
            hints={} if options.exhaustive else recalled.hints,
            quiet=recalled.quiet,
            checks=recalled.checks,
            watch=watch,
        )
    return await telemetry.observe(options, found)
