"""Publishing one run's drafts to a catalogue, and telling it the run ended.

The target is whatever ``--catalog`` names (:func:`catalog.open_target`): a
SQLite or PostgreSQL catalogue, or a ``meshatlas serve`` reached over HTTP
with the token in ``MESHATLAS_TOKEN``.

The run's end carries what it could tell Service by Service
(:func:`coverage`), so that one Service that never answers does not stop the
catalogue from noticing that another API has gone (see :mod:`catalog.storage.runs`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import catalog
from catalog.model import DEFAULT_STALE_AFTER, InstanceExposure, InstanceSubset, RunCoverage
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.mesh.model import Exposure, MeshConfig
from discovery.model import Discovery, HintKey, Problem, ServiceFindings, ServiceKey
from discovery.probing.probe import DEFAULT_MAX_PORTS
from meshatlas.job.assets import PlannedAsset

__all__ = [
    "TOKEN_ENV",
    "Publication",
    "coverage",
    "exposed",
    "instance_exposure",
    "open_catalogue",
    "publish_all",
]

#: Environment variable holding the bearer token for an ``http(s)://`` catalogue.
TOKEN_ENV: Final = "MESHATLAS_TOKEN"
# Answers after which no further publish can succeed: stop instead of failing each.
_FATAL_STATUSES: Final = frozenset({None, 401, 403, 404})
# Inventory problems that leave every Service's listing whole: endpoints (a
# Service without them is not probed, so it is unsure anyway) and Istio config.
_LISTING_INTACT: Final = ("endpointslices", "Istio ")
# A namespace whose Services could not be listed (discovery.inventory's words).
_NAMESPACE_UNLISTED: Final = re.compile(r"services in namespace (\S+) not readable")
# What an older catalogue server says of a run field it does not know.
_NEW_RUN_FIELDS: Final = frozenset({"coverage", "staleAfter"})


@dataclass(slots=True)
class Publication:
    """What publishing a run did."""

    #: Each published API's result, by (Service, port): one asset found in
    #: several clusters has a result per instance, and they may differ.
    results: dict[tuple[ServiceKey, int], catalog.PublishResult] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    failed: bool = False
    run: catalog.RunSummary | None = None


def instance_exposure(exposure: Exposure) -> InstanceExposure:
    """Discovery's ingress exposure as the catalogue keeps it on an instance."""
    return InstanceExposure(
        gateway=exposure.gateway,
        source=exposure.flavour,
        host=exposure.host,
        port=exposure.port,
        path=exposure.path,
        path_match=exposure.path_match,
        protocol=exposure.protocol,
        route=exposure.route,
    )


def exposed(draft: catalog.AssetDraft, mesh: MeshConfig) -> catalog.AssetDraft:
    """``draft`` with its instance's exposure and its Service's subsets.

    Exposure is every ingress route to the Service and port: a route that
    names no port reaches every port; no route leaves the instance
    mesh-internal (an empty exposure, which a republish writes too, so a
    removed route is forgotten). Subsets are the Service's DestinationRule
    subsets, the same way.
    """
    place = draft.instance
    key = ServiceKey(place.cluster, place.namespace, place.service)
    found = tuple(dict.fromkeys(instance_exposure(e) for e in mesh.exposed(key, place.port)))
    subsets = tuple(
        dict.fromkeys(InstanceSubset(s.name, s.version, s.rule) for s in mesh.versions(key))
    )
    return replace(draft, instance=replace(place, exposure=found, subsets=subsets))


def open_catalogue(url: str) -> catalog.PublishTarget:
    """The publish target ``--catalog`` names, with the token from the environment.

    Raises:
        CatalogError: It cannot be opened.
    """
    return catalog.open_target(url, token=os.environ.get(TOKEN_ENV) or None)


def publish_all(
    *,
    target: catalog.PublishTarget,
    shown_url: str,
    group_id: str,
    planned: Sequence[PlannedAsset],
    found: Discovery,
    started: datetime,
    namespaces: Sequence[str],
    exclude_namespaces: Sequence[str],
    selector: str | None,
    deprecate_after: int,
    quiet: Collection[HintKey] = (),
    stale_after: int = DEFAULT_STALE_AFTER,
    max_ports: int = DEFAULT_MAX_PORTS,
) -> Publication:
    """Publish every planned draft, then record the run.

    The run is judged Service by Service (:func:`coverage`): a Service that
    did not answer, or one the run could not list, counts neither for nor
    against its assets, and an API is missing only where its Service answered
    without it or is gone from a namespace listed in full. A catalogue server
    that predates this gets the run judged as a whole: complete only when it
    saw everything it would normally see (no problem, no label selector, the
    default namespace exclusions).

    Args:
        target: The opened catalogue (see :func:`open_catalogue`); the caller closes it.
        shown_url: The same URL with any password hidden, for problems.
        group_id: The group the run publishes into (``--group-id``).
        planned: Drafts, one per API.
        found: What discovery found (clusters and problems).
        started: When the run started.
        namespaces: ``--namespace`` values (empty for all).
        exclude_namespaces: ``--exclude-namespace`` values.
        selector: ``--selector``, or None.
        deprecate_after: Missed runs in a row before an API is deprecated.
        quiet: Ports the crawl gave only the short deadline (silent last time).
        stale_after: Missed sightings in a row before an instance is stale.
        max_ports: ``--probe-max-ports``: a Service with more ports to probe
            was not read in full.
    """
    out = Publication()
    drafts = [exposed(p.draft, found.inventory.mesh) for p in planned]
    results = target.publish_many(drafts, seen_at=started)
    unpublished: set[tuple[str, str, str]] = set()
    for p, result in zip(planned, results, strict=False):
        name = f"{p.draft.group_id}:{p.draft.asset_id}"
        if isinstance(result, catalog.CatalogError):
            out.problems.append(Problem(name, "not published", str(result)))
            place = p.draft.instance
            unpublished.add((place.cluster, place.namespace, place.service))
            if isinstance(result, catalog.RemoteError) and result.status in _FATAL_STATUSES:
                out.failed = True
                return out
        else:
            out.results[(p.api.service, p.api.port.port)] = result
    complete = (
        not found.problems
        and selector is None
        and tuple(exclude_namespaces) == tuple(DEFAULT_EXCLUDED)
    )
    clusters, covered = coverage(
        found,
        namespaces=namespaces,
        exclude_namespaces=exclude_namespaces,
        selector=selector,
        unpublished=unpublished,
        max_ports=max_ports,
    )
    arguments: dict[str, Any] = {
        "group_id": group_id,
        "seen": [p.draft.asset_id for p in planned if p.draft.group_id == group_id],
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "complete": complete,
        "deprecate_after": deprecate_after,
        "namespaces": tuple(namespaces) or None,
    }
    try:
        try:
            out.run = target.record_run(
                **arguments, clusters=clusters, coverage=covered, stale_after=stale_after
            )
        except catalog.InvalidAsset as exc:
            if exc.field not in _NEW_RUN_FIELDS:
                raise
            # A server from before per-Service judgement: the run as a whole.
            out.run = target.record_run(**arguments, clusters=found.inventory.clusters)
    except catalog.CatalogError as exc:
        out.problems.append(Problem(shown_url, "run not recorded", str(exc)))
    try:
        target.record_probes(**probe_lessons(found, quiet), at=datetime.now(UTC))
    except catalog.CatalogError as exc:
        out.problems.append(Problem(shown_url, "probe lessons not recorded", str(exc)))
    return out


def coverage(
    found: Discovery,
    *,
    namespaces: Sequence[str],
    exclude_namespaces: Sequence[str],
    selector: str | None,
    unpublished: Collection[tuple[str, str, str]] = (),
    max_ports: int = DEFAULT_MAX_PORTS,
) -> tuple[tuple[str, ...], RunCoverage]:
    """The clusters whose Services the run listed, and what it can tell of each Service.

    A Service *answered* when every port worth probing was probed and none
    had a problem; it is *unsure* when a port did not answer, was cut off by
    its Service's budget or not started, when it had no ready endpoint to
    probe, more ports than ``--probe-max-ports``, or a draft that could not
    be published. A cluster whose Services or namespaces could not be listed
    is left out (its namespace annotations decide asset ids and what is
    ignored); a namespace whose Services could not be listed is *unlisted*.
    A Service annotated ``meshatlas.io/ignore`` is not listed, so its assets
    go the way of a Service that is gone.

    Args:
        found: What discovery found.
        namespaces: ``--namespace`` values (empty for all).
        exclude_namespaces: The namespaces left out when none is named.
        selector: ``--selector``: with one, an absent Service may exist.
        unpublished: Services with a draft the catalogue refused.
        max_ports: ``--probe-max-ports``.
    """
    clusters = found.inventory.clusters
    lost: set[str] = set()
    unlisted: set[tuple[str, str]] = set()
    longest_first = sorted(clusters, key=len, reverse=True)  # a name may hold a colon
    for problem in found.inventory.problems:
        if problem.what.startswith(_LISTING_INTACT):
            continue
        cluster = next((c for c in longest_first if problem.where.startswith(f"{c}:")), None)
        if cluster is None:  # not said where: nothing can be judged
            lost.update(clusters)
            continue
        match = _NAMESPACE_UNLISTED.fullmatch(problem.what)
        if match is not None:
            unlisted.add((cluster, match[1]))
        else:
            lost.add(cluster)
    answered: set[tuple[str, str, str]] = set()
    unsure: set[tuple[str, str, str]] = set()
    for findings in found.findings:
        key = findings.service.key
        if key.cluster in lost:
            continue
        ref = (key.cluster, key.namespace, key.name)
        if ref in unpublished or not _read_in_full(findings, max_ports):
            unsure.add(ref)
        else:
            answered.add(ref)
    covered = RunCoverage(
        answered=frozenset(answered),
        unsure=frozenset(unsure),
        listed=selector is None,
        unlisted=frozenset(unlisted),
        excluded=frozenset(() if namespaces else exclude_namespaces),
    )
    return tuple(c for c in clusters if c not in lost), covered


def _read_in_full(findings: ServiceFindings, max_ports: int) -> bool:
    """Whether probing said all there is to say of this Service's ports."""
    service = findings.service
    if findings.problems:
        return False
    if service.external:
        return True  # an ExternalName Service serves nothing here
    if not service.ready_addresses:
        return False  # nothing ready to answer (scaled to zero, not yet up)
    wanted = service.overrides.port
    worth = [
        port
        for port in service.ports
        if (not wanted or wanted in (port.name, str(port.port)))
        and (port.mesh_protocol == "grpc" or port.http_capable)
    ]
    return len(worth) <= max_ports


def probe_lessons(found: Discovery, quiet: Collection[HintKey]) -> dict[str, Any]:
    """Which Services were probed, which ports stayed silent, what validated how.

    ``quiet`` are the ports the crawl gave only the short deadline.
    """
    probed: list[tuple[str, str, str]] = []
    silent: list[tuple[str, str, str, int]] = []
    checks: dict[str, tuple[str, ...]] = {}
    for findings in found.findings:
        key = findings.service.key
        probed.append((key.cluster, key.namespace, key.name))
        silent.extend((key.cluster, key.namespace, key.name, port) for port in findings.silent)
        for api in findings.apis:
            if api.spec is not None and api.spec.check_key is not None:
                checks[api.spec.check_key] = api.spec.errors
    short = [port for port in silent if port in quiet]
    return {"probed": probed, "silent": silent, "short": short, "checks": checks}
