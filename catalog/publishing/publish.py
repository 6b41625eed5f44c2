"""The body of a publish: everything that happens inside its one transaction.

:meth:`catalog.CatalogStore.publish` and :meth:`~catalog.CatalogStore.publish_many`
validate the drafts, open a write transaction, call :func:`record`, and retry
when a concurrent writer wins a unique constraint. Nothing here commits or
catches.

:func:`record` reads the rows its drafts can touch in a few queries
(:func:`catalog.publishing.batch.load`), applies the drafts to them one after the
other, in memory, and writes back what changed
(:func:`catalog.publishing.writeback.write`). A later draft sees what an earlier one
did, so publishing a batch leaves exactly what publishing its drafts one by
one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from catalog.errors import VersionExists
from catalog.model import DEFAULT_LIFECYCLE, AssetDraft, Instance, PublishOutcome, PublishResult
from catalog.publishing import batch, changes, validation, versioning, writeback
from catalog.publishing.batch import AssetState, Batch, InstanceState, NewVersion, VersionState
from catalog.storage import rows

__all__ = ["Submission", "record"]


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated draft to publish.

    Attributes:
        draft: The draft.
        key: Its content key (:func:`catalog.publishing.versioning.content_key`).
        version: A version the publisher names (an explicit GAV); None lets
            the catalogue number it.
    """

    draft: AssetDraft
    key: str
    version: str | None = None


def record(
    session: Session, submissions: Sequence[Submission], *, seen_at: datetime
) -> list[PublishResult]:
    """Apply the drafts in order in the session's transaction; say what happened to each.

    The drafts' asset rows are locked first (``FOR UPDATE``; SQLite already
    holds the write lock), so publishers of one asset queue behind each other.

    Raises:
        VersionExists: A named version is taken, or its content already has one.
    """
    wanted: dict[batch.Pair, set[str]] = {}
    for submission in submissions:
        draft = submission.draft
        wanted.setdefault((draft.group_id, draft.asset_id), set()).add(submission.key)
    connection = session.connection()
    work = batch.load(connection, wanted)
    results = [_apply(work, submission, seen_at=seen_at) for submission in submissions]
    writeback.write(connection, work)
    return results


def _apply(work: Batch, submission: Submission, *, seen_at: datetime) -> PublishResult:
    draft, key, version = submission.draft, submission.key, submission.version
    notes: list[str] = []
    asset = work.assets.get((draft.group_id, draft.asset_id))
    created_asset = asset is None
    if asset is None:
        asset = _new_asset(draft, seen_at=seen_at)
        work.assets[(draft.group_id, draft.asset_id)] = asset
        work.new_assets.append(asset)
    else:
        notes.extend(_apply_lifecycle_request(asset, draft.lifecycle))
        asset.first_seen = min(asset.first_seen, seen_at)
        # Out-of-order publishes (a slow cluster) must not move last_seen back.
        asset.last_seen = max(asset.last_seen, seen_at)
    asset.name = draft.name
    asset.type = draft.type
    asset.description = draft.description
    asset.owner = draft.owner
    asset.tags = dict.fromkeys(tag.strip() for tag in draft.tags)

    served = next((v for v in asset.versions if v.content_key == key), None)
    if version is not None:
        _check_explicit(draft, version, asset.versions, served)
    outcome: PublishOutcome
    if served is not None:
        outcome = "unchanged"
        reason = f"content unchanged, same as {served.version}"
    else:
        if version is not None:
            choice = versioning.VersionChoice(version, "version named by the publisher")
        else:
            choice = versioning.choose_version(
                hint=draft.spec_version_hint,
                published=[v.version for v in asset.versions],
                change=_change_from_latest(asset.versions, draft),
                contract=bool(draft.files),
                top_contract=not asset.versions or bool(batch.top(asset.versions).files),
            )
        served = _new_version(draft, key=key, seen_at=seen_at, choice=choice)
        asset.versions.append(served)
        work.new_versions.append((asset, served))
        outcome = "created" if created_asset else "new-version"
        reason = choice.reason

    _add_dependencies(work, served, draft.dependencies)
    moved_from = _place_instance(work, asset, served, draft.instance, seen_at=seen_at)
    if moved_from is not None:
        notes.append(f"instance moved from {moved_from}")
    return PublishResult(
        group_id=draft.group_id,
        asset_id=draft.asset_id,
        version=served.version,
        outcome=outcome,
        reason="; ".join([reason, *notes]),
    )


def _new_asset(draft: AssetDraft, *, seen_at: datetime) -> AssetState:
    return AssetState(
        group_id=draft.group_id,
        asset_id=draft.asset_id,
        name=draft.name,
        type=draft.type,
        description=draft.description,
        owner=draft.owner,
        lifecycle=draft.lifecycle or DEFAULT_LIFECYCLE,
        lifecycle_requested=draft.lifecycle,
        first_seen=seen_at,
        last_seen=seen_at,
    )


def _check_explicit(
    draft: AssetDraft, version: str, versions: Sequence[VersionState], served: VersionState | None
) -> None:
    ids = {"group_id": draft.group_id, "asset_id": draft.asset_id, "version": version}
    if any(v.version == version for v in versions):
        raise VersionExists(**ids)
    if served is not None:
        raise VersionExists(**ids, existing=served.version)


def _change_from_latest(
    versions: Sequence[VersionState], draft: AssetDraft
) -> changes.Change | None:
    """How the draft differs from the highest published version, or None for none."""
    if not versions:
        return None
    top = batch.top(versions)
    # batch.load reads the files and operations of exactly this version.
    assert top.files is not None and top.operations is not None
    old = changes.contract(
        asset_type=top.type,
        operations=top.operations,
        files=((f.classifier, f.packaging, f.content) for f in top.files),
    )
    new = changes.contract(
        asset_type=draft.type,
        operations=draft.operations,
        files=((f.classifier, f.packaging, f.content) for f in draft.files),
    )
    return changes.compare(old, new)


def _apply_lifecycle_request(asset: AssetState, requested: str | None) -> list[str]:
    # Only a changed request is applied: re-applying the same annotation on
    # every scan would undo a person's set_lifecycle (deprecated→stable is legal).
    previous = asset.lifecycle_requested
    asset.lifecycle_requested = requested
    if requested is None or requested == previous:
        return []
    if validation.lifecycle_move_allowed(asset.lifecycle, requested):
        asset.lifecycle = requested
        return []
    return [f"lifecycle stays {asset.lifecycle} ({asset.lifecycle} to {requested} is not allowed)"]


def _new_version(
    draft: AssetDraft, *, key: str, seen_at: datetime, choice: versioning.VersionChoice
) -> VersionState:
    return VersionState(
        version=choice.version,
        content_key=key,
        type=draft.type,
        new=NewVersion(created_at=seen_at, reason=choice.reason, provenance=draft.provenance),
        files=draft.files,
        operations=tuple(sorted(set(draft.operations))),
    )


def _add_dependencies(work: Batch, version: VersionState, dependencies: Sequence[str]) -> None:
    # Dependencies are observations (telemetry may miss a call in one window),
    # so a republish adds what it saw and never removes; files stay untouched.
    for index, text in enumerate(dependencies):
        pair = validation.parse_dependency(f"dependencies[{index}]", text)
        if pair not in version.dependencies:
            version.dependencies.add(pair)
            work.new_dependencies.append((version, pair))


def _place_instance(
    work: Batch,
    asset: AssetState,
    version: VersionState,
    instance: Instance,
    *,
    seen_at: datetime,
) -> str | None:
    """Attach the instance to ``version``; return the version it moved from, if any."""
    key = (instance.cluster, instance.namespace, instance.service, instance.port)
    found = asset.instances.get(key)
    if found is None:
        placed = InstanceState(
            version=version,
            endpoint_uri=instance.endpoint_uri,
            environment=instance.environment,
            first_seen=seen_at,
            last_seen=seen_at,
            exposure=rows.exposure_text(instance.exposure),
            subsets=rows.subsets_text(instance.subsets),
        )
        asset.instances[key] = placed
        work.new_instances.append((asset, key, placed))
        return None
    moved_from = None
    if found.version is not version:
        moved_from = found.version.version
        found.version = version
    found.endpoint_uri = instance.endpoint_uri
    found.environment = instance.environment
    # Where it is reachable is what this publish saw: a removed route makes it mesh-internal.
    found.exposure = rows.exposure_text(instance.exposure)
    found.subsets = rows.subsets_text(instance.subsets)
    found.last_seen = max(found.last_seen, seen_at)
    return moved_from
