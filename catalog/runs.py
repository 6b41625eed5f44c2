"""Runs: how the catalogue learns that an API has gone.

A crawl publishes what it saw, one draft at a time; only at the end does it
know what it did *not* see. :func:`record` takes that list and, in one
transaction:

- resets the miss count of every asset the run saw, and restores the
  lifecycle of one that a run had deprecated for being missing;
- if the run was complete, adds one miss to every asset of the group that is
  in the run's scope and was not seen, and deprecates those that reached the
  threshold.

An asset is in scope when every instance of it is in a cluster (and
namespace) the run covered: a run over one cluster says nothing about an API
also running in another. Nothing is ever deleted; deprecation is reversible
(``deprecated`` → ``stable`` by a person, or automatically when it reappears).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from catalog.model import RunSummary
from catalog.schema import AssetRow, InstanceRow, RunRow

__all__ = ["record"]


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
) -> RunSummary:
    """Apply one run's observations in the session's transaction (see the module docstring).

    Set-based: the group's assets are locked and read as plain rows, and only
    those whose counts or lifecycle change are written, so a run that saw
    everything it saw last time costs two queries whatever the catalogue's size.
    """
    seen_ids = set(seen)
    assets = session.execute(
        select(
            AssetRow.id,
            AssetRow.asset_id,
            AssetRow.missed_runs,
            AssetRow.lifecycle,
            AssetRow.lifecycle_before_missing,
        )
        .where(AssetRow.group_id == group_id)
        .order_by(AssetRow.asset_id)
        .with_for_update()
    ).all()
    unseen = [a for a in assets if a.asset_id not in seen_ids]
    places = _places(session, group_id) if complete and unseen else {}
    missed: list[str] = []
    deprecated: list[str] = []
    restored: list[str] = []
    changes: list[dict[str, object]] = []
    for pk, asset_id, missed_runs, lifecycle, before in assets:
        if asset_id in seen_ids:
            if missed_runs == 0 and before is None:
                continue
            if before is not None and lifecycle == "deprecated":
                lifecycle = before
                restored.append(asset_id)
            changes.append(_change(pk, 0, lifecycle, None))
            continue
        if not complete or not _in_scope(places.get(pk, []), clusters, namespaces):
            continue
        missed.append(asset_id)
        missed_runs += 1
        if missed_runs >= deprecate_after and lifecycle != "deprecated":
            before, lifecycle = lifecycle, "deprecated"
            deprecated.append(asset_id)
        changes.append(_change(pk, missed_runs, lifecycle, before))
    if changes:
        table = AssetRow.__table__
        assert isinstance(table, Table)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("pk"))
            .values(
                missed_runs=bindparam("missed"),
                lifecycle=bindparam("lifecycle"),
                lifecycle_before_missing=bindparam("before"),
            ),
            changes,
        )
    run = RunRow(
        group_id=group_id,
        started_at=started_at,
        finished_at=finished_at,
        counted=complete,
        seen=len(seen_ids),
        missed=len(missed),
        deprecated=len(deprecated),
    )
    session.add(run)
    session.flush()
    return RunSummary(
        run_id=run.id,
        group_id=group_id,
        counted=complete,
        seen=tuple(sorted(seen_ids)),
        missed=tuple(missed),
        deprecated=tuple(deprecated),
        restored=tuple(restored),
    )


def _change(pk: int, missed: int, lifecycle: str, before: str | None) -> dict[str, object]:
    return {"pk": pk, "missed": missed, "lifecycle": lifecycle, "before": before}


def _places(session: Session, group_id: str) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    rows = session.execute(
        select(InstanceRow.asset_pk, InstanceRow.cluster, InstanceRow.namespace)
        .join(AssetRow, AssetRow.id == InstanceRow.asset_pk)
        .where(AssetRow.group_id == group_id)
    )
    for asset_pk, cluster, namespace in rows:
        found.setdefault(asset_pk, []).append((cluster, namespace))
    return found


def _in_scope(
    places: list[tuple[str, str]],
    clusters: Collection[str] | None,
    namespaces: Collection[str] | None,
) -> bool:
    return all(
        (clusters is None or cluster in clusters) and (namespaces is None or ns in namespaces)
        for cluster, ns in places
    )
