"""Runs: how the catalogue learns that an API, or one place it ran, has gone.

A crawl publishes what it saw, one draft at a time; only at the end does it
know what it did *not* see. :func:`record` takes that, and in one transaction
judges every instance of the group's assets, then every asset.

**Instances.** An instance counts as seen when it was published at or after
the run's start (a crawl publishes with ``seen_at`` = its start). One that was
not seen is judged only where the run could tell, Service by Service
(:class:`~catalog.model.RunCoverage`):

- its Service was read completely and answered every probe, but no longer
  serves this asset on this port;
- or its Service is gone from a namespace the run listed completely (in the
  run's clusters and namespaces, not excluded, no label selector, the list
  not refused).

A Service with problems (a port that did not answer, one cut off by its
budget, no ready endpoint, a draft that could not be published) counts
neither way, and neither does a place outside the run's reach. Each judged
run adds a *missed sighting*; after ``stale_after`` in a row the instance is
**stale**: kept, shown as stale, and fresh again as soon as it is seen.

**Assets.** An asset the run saw has its miss count reset, and a lifecycle a
run had deprecated for being missing restored. One it did not see is *missed*
when the run judged at least one of its instances missing and every other one
is missing or stale; ``deprecate_after`` missed runs in a row (with no run
seeing it in between) move it to ``deprecated``. An asset with an instance the
run could not judge (its Service silent, another cluster's) keeps its count as
it was; it is *held* when that instance is where the run looked.

A run recorded without a coverage (an older crawler) is judged as a whole:
when ``complete``, every instance in its clusters and namespaces is judged;
otherwise nothing is. Nothing is ever deleted; deprecation is reversible
(``deprecated`` → ``stable`` by a person, or automatically when it reappears).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from catalog.model import InstanceRef, RunCoverage, RunSummary
from catalog.storage.schema import AssetRow, InstanceRow, RunRow

__all__ = ["is_stale", "record"]


def is_stale(last_seen: datetime | None, stale_since: datetime | None) -> bool:
    """Whether an instance is stale: a run found it so, and it was not published since."""
    return stale_since is not None and (last_seen is None or last_seen < stale_since)


@dataclass(slots=True)
class _Instance:
    """One instance row of the group, as the run judges it."""

    pk: int
    asset_pk: int
    ref: InstanceRef
    last_seen: datetime
    missed: int
    stale_since: datetime | None
    judged: bool = False


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where the run could judge an instance it did not see."""

    complete: bool
    clusters: frozenset[str] | None
    namespaces: frozenset[str] | None
    coverage: RunCoverage | None

    def reaches(self, ref: InstanceRef) -> bool:
        """Whether the instance is where the run meant to look (its clusters and namespaces)."""
        if self.clusters is not None and ref.cluster not in self.clusters:
            return False
        if self.namespaces is not None and ref.namespace not in self.namespaces:
            return False
        excluded = self.coverage.excluded if self.coverage is not None else ()
        return self.namespaces is not None or ref.namespace not in excluded

    def judges(self, ref: InstanceRef) -> bool:
        """Whether the run can tell that the instance, which it did not see, is missing."""
        if not self.reaches(ref):
            return False
        coverage = self.coverage
        if coverage is None:
            return self.complete
        service = (ref.cluster, ref.namespace, ref.service)
        if service in coverage.answered:
            return True
        if service in coverage.unsure:
            return False
        # Not listed by the run: gone, if its namespace was listed in full.
        return coverage.listed and (ref.cluster, ref.namespace) not in coverage.unlisted


def record(
    session: Session,
    *,
    group_id: str,
    seen: Collection[str],
    started_at: datetime,
    finished_at: datetime,
    complete: bool,
    deprecate_after: int,
    clusters: Collection[str] | None,
    namespaces: Collection[str] | None,
    coverage: RunCoverage | None = None,
    stale_after: int,
) -> RunSummary:
    """Apply one run's observations in the session's transaction (see the module docstring).

    Set-based: the group's assets are locked and read as plain rows, then only
    the instances that were not seen by this run or carry a miss; only rows
    whose counts, lifecycle or staleness change are written. A run that saw
    everything it saw last time costs three queries whatever the catalogue's size.
    """
    seen_ids = set(seen)
    scope = _Scope(
        complete=complete,
        clusters=None if clusters is None else frozenset(clusters),
        namespaces=None if namespaces is None else frozenset(namespaces),
        coverage=coverage,
    )
    assets = session.execute(
        select(
            AssetRow.id,
            AssetRow.asset_id,
            AssetRow.missed_runs,
            AssetRow.lifecycle,
            AssetRow.lifecycle_before_missing,
            AssetRow.last_seen,
        )
        .where(AssetRow.group_id == group_id)
        .order_by(AssetRow.asset_id)
        .with_for_update()
    ).all()
    instances = _instances(session, group_id, started_at)
    by_asset: dict[int, list[_Instance]] = {}
    instance_changes: list[dict[str, Any]] = []
    stale: list[InstanceRef] = []
    for item in instances:
        by_asset.setdefault(item.asset_pk, []).append(item)
        if item.last_seen >= started_at:  # seen by this run: fresh again
            if item.missed or item.stale_since is not None:
                instance_changes.append(_instance_change(item.pk, 0, None))
            continue
        if not scope.judges(item.ref):
            continue
        item.judged = True
        item.missed += 1
        if item.missed >= stale_after and item.stale_since is None:
            item.stale_since = started_at
            stale.append(item.ref)
        instance_changes.append(_instance_change(item.pk, item.missed, item.stale_since))

    missed: list[str] = []
    deprecated: list[str] = []
    restored: list[str] = []
    held: list[str] = []
    changes: list[dict[str, Any]] = []
    for pk, asset_id, missed_runs, lifecycle, before, last_seen in assets:
        if asset_id in seen_ids:
            if missed_runs == 0 and before is None:
                continue
            if before is not None and lifecycle == "deprecated":
                lifecycle = before
                restored.append(asset_id)
            changes.append(_change(pk, 0, lifecycle, None))
            continue
        if last_seen >= started_at:
            continue  # published while this run went on, by someone else: not missing
        places = by_asset.get(pk, [])
        judged = any(i.judged for i in places)
        if not judged or not all(i.judged or is_stale(i.last_seen, i.stale_since) for i in places):
            if any(scope.reaches(i.ref) for i in places):
                held.append(asset_id)  # where it looked, it could not tell
            continue
        missed.append(asset_id)
        missed_runs += 1
        if missed_runs >= deprecate_after and lifecycle != "deprecated":
            before, lifecycle = lifecycle, "deprecated"
            deprecated.append(asset_id)
        changes.append(_change(pk, missed_runs, lifecycle, before))
    connection = session.connection()
    if changes:
        table = AssetRow.__table__
        assert isinstance(table, Table)
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("pk"))
            .values(
                missed_runs=bindparam("missed"),
                lifecycle=bindparam("lifecycle"),
                lifecycle_before_missing=bindparam("before"),
            ),
            changes,
        )
    if instance_changes:
        table = InstanceRow.__table__
        assert isinstance(table, Table)
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("pk"))
            .values(missed_sightings=bindparam("missed"), stale_since=bindparam("since")),
            instance_changes,
        )
    counted = complete if coverage is None else bool(coverage.answered) or coverage.listed
    run = RunRow(
        group_id=group_id,
        started_at=started_at,
        finished_at=finished_at,
        counted=counted,
        seen=len(seen_ids),
        missed=len(missed),
        deprecated=len(deprecated),
        stale=len(stale),
    )
    session.add(run)
    session.flush()
    return RunSummary(
        run_id=run.id,
        group_id=group_id,
        counted=counted,
        seen=tuple(sorted(seen_ids)),
        missed=tuple(missed),
        deprecated=tuple(deprecated),
        restored=tuple(restored),
        held=tuple(held),
        stale=tuple(sorted(stale)),
    )


def _change(pk: int, missed: int, lifecycle: str, before: str | None) -> dict[str, Any]:
    return {"pk": pk, "missed": missed, "lifecycle": lifecycle, "before": before}


def _instance_change(pk: int, missed: int, since: datetime | None) -> dict[str, Any]:
    return {"pk": pk, "missed": missed, "since": since}


def _instances(session: Session, group_id: str, started_at: datetime) -> list[_Instance]:
    """The group's instances this run did not see, or that carry a miss or staleness.

    An unchanged run saw every instance it knows, clean: none is read.
    """
    rows = session.execute(
        select(
            InstanceRow.id,
            InstanceRow.asset_pk,
            AssetRow.asset_id,
            InstanceRow.cluster,
            InstanceRow.namespace,
            InstanceRow.service,
            InstanceRow.port,
            InstanceRow.last_seen,
            InstanceRow.missed_sightings,
            InstanceRow.stale_since,
        )
        .join(AssetRow, AssetRow.id == InstanceRow.asset_pk)
        .where(
            AssetRow.group_id == group_id,
            or_(
                InstanceRow.last_seen < started_at,
                InstanceRow.missed_sightings > 0,
                InstanceRow.stale_since.is_not(None),
            ),
        )
        .order_by(InstanceRow.id)
    )
    return [
        _Instance(
            pk=pk,
            asset_pk=asset_pk,
            ref=InstanceRef(asset_id, cluster, namespace, service, port),
            last_seen=last_seen,
            missed=missed,
            stale_since=stale_since,
        )
        for (
            pk,
            asset_pk,
            asset_id,
            cluster,
            namespace,
            service,
            port,
            last_seen,
            missed,
            stale_since,
        ) in rows
    ]
