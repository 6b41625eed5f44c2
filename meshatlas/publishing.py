"""Publishing one run's drafts to a catalogue, and telling it the run ended.

The target is whatever ``--catalog`` names (:func:`catalog.open_target`): a
SQLite or PostgreSQL catalogue, or a ``meshatlas serve`` reached over HTTP
with the token in ``MESHATLAS_TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import catalog
from discovery.inventory import DEFAULT_EXCLUDED
from discovery.model import Discovery, HintKey, Problem
from meshatlas.assets import PlannedAsset

__all__ = ["TOKEN_ENV", "Publication", "open_catalogue", "publish_all"]

#: Environment variable holding the bearer token for an ``http(s)://`` catalogue.
TOKEN_ENV: Final = "MESHATLAS_TOKEN"
# Answers after which no further publish can succeed: stop instead of failing each.
_FATAL_STATUSES: Final = frozenset({None, 401, 403, 404})


@dataclass(slots=True)
class Publication:
    """What publishing a run did."""

    results: dict[str, catalog.PublishResult] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    failed: bool = False
    run: catalog.RunSummary | None = None


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
) -> Publication:
    """Publish every planned draft, then record the run.

    The run counts missing APIs only when it saw everything it would normally
    see: no source failed, no label selector, the default namespace
    exclusions. Otherwise an API it merely did not look at would count as gone.

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
        deprecate_after: Complete runs in a row that must miss an API.
        quiet: Ports the crawl gave only the short deadline (silent last time).
    """
    out = Publication()
    results = target.publish_many([p.draft for p in planned], seen_at=started)
    for p, result in zip(planned, results, strict=False):
        name = f"{p.draft.group_id}:{p.draft.asset_id}"
        if isinstance(result, catalog.CatalogError):
            out.problems.append(Problem(name, "not published", str(result)))
            if isinstance(result, catalog.RemoteError) and result.status in _FATAL_STATUSES:
                out.failed = True
                return out
        else:
            out.results[name] = result
    complete = (
        not found.problems
        and selector is None
        and tuple(exclude_namespaces) == tuple(DEFAULT_EXCLUDED)
    )
    try:
        out.run = target.record_run(
            group_id=group_id,
            seen=[p.draft.asset_id for p in planned if p.draft.group_id == group_id],
            started_at=started,
            finished_at=datetime.now(UTC),
            complete=complete,
            deprecate_after=deprecate_after,
            clusters=found.inventory.clusters,
            namespaces=tuple(namespaces) or None,
        )
    except catalog.CatalogError as exc:
        out.problems.append(Problem(shown_url, "run not recorded", str(exc)))
    try:
        target.record_probes(**probe_lessons(found, quiet), at=datetime.now(UTC))
    except catalog.CatalogError as exc:
        out.problems.append(Problem(shown_url, "probe lessons not recorded", str(exc)))
    return out


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
