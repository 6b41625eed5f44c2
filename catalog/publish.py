"""The body of a publish: everything that happens inside its one transaction.

:meth:`catalog.CatalogStore.publish` validates the draft, opens a write
transaction, calls :func:`record`, and retries the whole transaction when a
concurrent writer wins a unique constraint. Nothing here commits or catches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import changes, rows, validation, versioning
from catalog.errors import VersionExists
from catalog.model import DEFAULT_LIFECYCLE, AssetDraft, Instance, PublishOutcome, PublishResult
from catalog.schema import (
    AssetRow,
    DependencyRow,
    FileRow,
    InstanceRow,
    OperationRow,
    TagRow,
    VersionRow,
)

__all__ = ["record"]


def record(
    session: Session,
    draft: AssetDraft,
    *,
    key: str,
    seen_at: datetime,
    version: str | None = None,
) -> PublishResult:
    """Apply ``draft`` in the session's transaction and say what happened.

    The asset row is locked first (``FOR UPDATE``; SQLite already holds the
    write lock), so publishers of one asset queue behind each other.

    Args:
        version: A version the publisher names (an explicit GAV); None lets
            the catalogue number it.

    Raises:
        VersionExists: ``version`` is taken, or the content already has one.
    """
    notes: list[str] = []
    asset = session.scalars(
        select(AssetRow).where(rows.is_asset(draft.group_id, draft.asset_id)).with_for_update()
    ).first()
    created_asset = asset is None
    if asset is None:
        asset = AssetRow(
            group_id=draft.group_id,
            asset_id=draft.asset_id,
            lifecycle=draft.lifecycle or DEFAULT_LIFECYCLE,
            lifecycle_requested=draft.lifecycle,
            first_seen=seen_at,
            last_seen=seen_at,
        )
        session.add(asset)
    else:
        notes.extend(_apply_lifecycle_request(asset, draft.lifecycle))
        asset.first_seen = min(asset.first_seen, seen_at)
        # Out-of-order publishes (a slow cluster) must not move last_seen back.
        asset.last_seen = max(asset.last_seen, seen_at)
    asset.name = draft.name
    asset.type = draft.type
    asset.description = draft.description
    asset.owner = draft.owner
    session.flush()
    _replace_tags(session, asset, draft.tags)

    versions = session.scalars(select(VersionRow).where(VersionRow.asset_pk == asset.id)).all()
    served = next((v for v in versions if v.content_key == key), None)
    if version is not None:
        _check_explicit(draft, version, versions, served)
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
                published=[v.version for v in versions],
                change=_change_from_latest(versions, draft),
            )
        served = _new_version(draft, asset_pk=asset.id, key=key, seen_at=seen_at, choice=choice)
        session.add(served)
        session.flush()
        outcome = "created" if created_asset else "new-version"
        reason = choice.reason

    _add_dependencies(served, draft.dependencies)
    moved_from = _place_instance(session, served, draft.instance, seen_at=seen_at)
    if moved_from is not None:
        notes.append(f"instance moved from {moved_from}")
    return PublishResult(
        group_id=draft.group_id,
        asset_id=draft.asset_id,
        version=served.version,
        outcome=outcome,
        reason="; ".join([reason, *notes]),
    )


def _check_explicit(
    draft: AssetDraft, version: str, versions: Sequence[VersionRow], served: VersionRow | None
) -> None:
    ids = {"group_id": draft.group_id, "asset_id": draft.asset_id, "version": version}
    if any(v.version == version for v in versions):
        raise VersionExists(**ids)
    if served is not None:
        raise VersionExists(**ids, existing=served.version)


def _change_from_latest(versions: Sequence[VersionRow], draft: AssetDraft) -> changes.Change | None:
    """How the draft differs from the highest published version, or None for none."""
    if not versions:
        return None
    top = max(versions, key=lambda v: versioning.parse(v.version).precedence())
    old = changes.contract(
        asset_type=top.type,
        operations=(op.operation for op in top.operations),
        files=((f.classifier, f.packaging, f.content) for f in top.files),
    )
    new = changes.contract(
        asset_type=draft.type,
        operations=draft.operations,
        files=((f.classifier, f.packaging, f.content) for f in draft.files),
    )
    return changes.compare(old, new)


def _apply_lifecycle_request(asset: AssetRow, requested: str | None) -> list[str]:
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


def _replace_tags(session: Session, asset: AssetRow, tags: Sequence[str]) -> None:
    wanted = dict.fromkeys(tag.strip() for tag in tags)
    current = {row.tag: row for row in asset.tags}
    for tag, row in current.items():
        if tag not in wanted:
            session.delete(row)
    for tag in wanted:
        if tag not in current:
            session.add(TagRow(asset_pk=asset.id, tag=tag))


def _new_version(
    draft: AssetDraft,
    *,
    asset_pk: int,
    key: str,
    seen_at: datetime,
    choice: versioning.VersionChoice,
) -> VersionRow:
    row = VersionRow(
        asset_pk=asset_pk,
        version=choice.version,
        content_key=key,
        type=draft.type,
        created_at=seen_at,
        reason=choice.reason,
        provenance_method=draft.provenance.method,
        provenance_detail=draft.provenance.detail,
    )
    row.files = [
        FileRow(
            position=position,
            classifier=file.classifier,
            packaging=file.packaging,
            sha256=file.sha256,
            content=file.content,
        )
        for position, file in enumerate(draft.files)
    ]
    row.operations = [OperationRow(operation=op) for op in sorted(set(draft.operations))]
    return row


def _add_dependencies(version: VersionRow, dependencies: Sequence[str]) -> None:
    # Dependencies are observations (telemetry may miss a call in one window),
    # so a republish adds what it saw and never removes; files stay untouched.
    known = {(row.group_id, row.asset_id) for row in version.dependencies}
    for index, text in enumerate(dependencies):
        pair = validation.parse_dependency(f"dependencies[{index}]", text)
        if pair not in known:
            known.add(pair)
            version.dependencies.append(DependencyRow(group_id=pair[0], asset_id=pair[1]))


def _place_instance(
    session: Session, version: VersionRow, instance: Instance, *, seen_at: datetime
) -> str | None:
    """Attach the instance to ``version``; return the version it moved from, if any."""
    row = session.scalars(
        select(InstanceRow).where(
            InstanceRow.asset_pk == version.asset_pk,
            InstanceRow.cluster == instance.cluster,
            InstanceRow.namespace == instance.namespace,
            InstanceRow.service == instance.service,
            InstanceRow.port == instance.port,
        )
    ).first()
    if row is None:
        session.add(
            InstanceRow(
                asset_pk=version.asset_pk,
                version_pk=version.id,
                cluster=instance.cluster,
                namespace=instance.namespace,
                service=instance.service,
                port=instance.port,
                endpoint_uri=instance.endpoint_uri,
                environment=instance.environment,
                first_seen=seen_at,
                last_seen=seen_at,
            )
        )
        return None
    moved_from = None
    if row.version_pk != version.id:
        moved_from = session.scalars(
            select(VersionRow.version).where(VersionRow.id == row.version_pk)
        ).one()
        row.version_pk = version.id
    row.endpoint_uri = instance.endpoint_uri
    row.environment = instance.environment
    row.last_seen = max(row.last_seen, seen_at)
    return moved_from
