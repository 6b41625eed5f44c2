"""Writing a publish batch back: only what changed, a few bulk statements per table.

:func:`write` compares the rows of a :class:`catalog.publishing.batch.Batch` with what
:func:`catalog.publishing.batch.load` read and inserts, updates and deletes the
difference. New rows go in in the order the drafts created them, except new
assets, which go in sorted like the locks (see :mod:`catalog.publishing.batch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from catalog.publishing.batch import (
    ASSET_COLUMNS,
    INSTANCE_COLUMNS,
    AssetState,
    Batch,
    VersionState,
    chunks,
)
from catalog.storage import listing
from catalog.storage.schema import (
    AssetRow,
    Base,
    DependencyRow,
    FileRow,
    InstanceRow,
    OperationRow,
    TagRow,
    VersionRow,
)

__all__ = ["write"]


def write(connection: Connection, batch: Batch) -> None:
    """Store everything the batch changed."""
    # New assets go in sorted, as existing ones are locked: two batches
    # inserting the same new assets then collide on the first one instead of
    # waiting on each other's second.
    _insert_assets(connection, sorted(batch.new_assets, key=lambda a: (a.group_id, a.asset_id)))
    _update_assets(connection, batch.assets.values())
    _write_tags(connection, batch.assets.values())
    _insert_versions(connection, batch.new_versions)
    _write_search_text(connection, batch)
    _insert_rows(
        connection,
        DependencyRow,
        [
            {"version_pk": version.pk, "group_id": pair[0], "asset_id": pair[1]}
            for version, pair in batch.new_dependencies
        ],
    )
    _insert_rows(
        connection,
        InstanceRow,
        [
            {
                "asset_pk": asset.pk,
                "version_pk": instance.version.pk,
                "cluster": key[0],
                "namespace": key[1],
                "service": key[2],
                "port": key[3],
                "endpoint_uri": instance.endpoint_uri,
                "environment": instance.environment,
                "first_seen": instance.first_seen,
                "last_seen": instance.last_seen,
                "exposure": instance.exposure,
                "subsets": instance.subsets,
            }
            for asset, key, instance in batch.new_instances
        ],
    )
    _update_instances(connection, batch.assets.values())


def _insert_rows(connection: Connection, table: type[Base], rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table), rows)


def _insert_assets(connection: Connection, assets: Sequence[AssetState]) -> None:
    if not assets:
        return
    # Every version of a new asset is new too, so its search text is known here.
    result = connection.execute(
        insert(AssetRow)
        .values(search_text=func.lower(bindparam("doc")))
        .returning(AssetRow.id, sort_by_parameter_order=True),
        [
            {
                "group_id": asset.group_id,
                "asset_id": asset.asset_id,
                **_asset_values(asset),
                "doc": _document(asset, (op for v in asset.versions for op in v.operations or ())),
            }
            for asset in assets
        ],
    )
    for asset, pk in zip(assets, result.scalars(), strict=True):
        asset.pk = pk


def _document(asset: AssetState, operations: Iterable[str]) -> str:
    return listing.document(
        name=asset.name,
        asset_id=asset.asset_id,
        description=asset.description,
        tags=asset.tags,
        operations=operations,
    )


def _asset_values(asset: AssetState) -> dict[str, object]:
    return dict(zip(ASSET_COLUMNS, asset.columns(), strict=True))


def _update_assets(connection: Connection, assets: Iterable[AssetState]) -> None:
    changes = [
        (asset.pk, _changed(ASSET_COLUMNS, asset.stored, asset.columns()))
        for asset in assets
        if asset.stored is not None and asset.columns() != asset.stored
    ]
    _update_by_pk(connection, AssetRow, changes)


def _changed(
    names: Sequence[str], old: Sequence[object], new: Sequence[object]
) -> dict[str, object]:
    return {name: value for name, was, value in zip(names, old, new, strict=True) if was != value}


def _update_by_pk(
    connection: Connection,
    table: type[Base],
    changes: Sequence[tuple[int | None, dict[str, object]]],
) -> None:
    """Set new column values on rows by primary key, in as few statements as it takes.

    Rows getting the same values (a warm crawl moves only ``last_seen``, to the
    same time everywhere) share one ``UPDATE ... WHERE id IN``; the others go
    in one executemany per set of columns.
    """
    alike: dict[tuple[tuple[str, ...], tuple[object, ...]], list[int | None]] = {}
    for pk, change in changes:
        alike.setdefault((tuple(change), tuple(change.values())), []).append(pk)
    pk_column = table.__table__.c.id
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for (names, values), pks in alike.items():
        if len(pks) > 1:
            for chunk in chunks(pks):
                connection.execute(
                    update(table)
                    .where(pk_column.in_(chunk))
                    .values(dict(zip(names, values, strict=True)))
                )
            continue
        # Bound names must differ from the names of the columns set.
        params = {f"new_{name}": value for name, value in zip(names, values, strict=True)}
        shapes.setdefault(names, []).append({"pk": pks[0], **params})
    for names, rows in shapes.items():
        connection.execute(
            update(table)
            .where(pk_column == bindparam("pk"))
            .values({name: bindparam(f"new_{name}") for name in names}),
            rows,
        )


def _write_tags(connection: Connection, assets: Iterable[AssetState]) -> None:
    removed: list[dict[str, object]] = []
    added: list[dict[str, object]] = []
    for asset in assets:
        removed += [
            {"pk": asset.pk, "old": tag} for tag in asset.stored_tags if tag not in asset.tags
        ]
        added += [
            {"asset_pk": asset.pk, "tag": tag} for tag in asset.tags if tag not in asset.stored_tags
        ]
    if removed:
        connection.execute(
            delete(TagRow).where(
                TagRow.asset_pk == bindparam("pk"), TagRow.tag == bindparam("old")
            ),
            removed,
        )
    _insert_rows(connection, TagRow, added)


def _insert_versions(
    connection: Connection, created: Sequence[tuple[AssetState, VersionState]]
) -> None:
    if not created:
        return
    rows: list[dict[str, object]] = []
    for asset, version in created:
        assert version.new is not None
        rows.append(
            {
                "asset_pk": asset.pk,
                "version": version.version,
                "content_key": version.content_key,
                "type": version.type,
                "created_at": version.new.created_at,
                "reason": version.new.reason,
                "provenance_method": version.new.provenance.method,
                "provenance_detail": version.new.provenance.detail,
            }
        )
    result = connection.execute(
        insert(VersionRow).returning(VersionRow.id, sort_by_parameter_order=True), rows
    )
    for (_, version), pk in zip(created, result.scalars(), strict=True):
        version.pk = pk
    _insert_rows(
        connection,
        FileRow,
        [
            {
                "version_pk": version.pk,
                "position": position,
                "classifier": file.classifier,
                "packaging": file.packaging,
                "sha256": file.sha256,
                "content": file.content,
            }
            for _, version in created
            for position, file in enumerate(version.files or ())
        ],
    )
    _insert_rows(
        connection,
        OperationRow,
        [
            {"version_pk": version.pk, "operation": operation}
            for _, version in created
            for operation in version.operations or ()
        ],
    )


def _write_search_text(connection: Connection, batch: Batch) -> None:
    """Rebuild ``search_text`` of stored assets whose searchable values changed."""
    grown = {asset for asset, _ in batch.new_versions}
    stale: dict[int, AssetState] = {
        asset.pk: asset
        for asset in batch.assets.values()
        if asset.pk is not None
        and asset.stored is not None
        and (asset in grown or _relabelled(asset))
    }
    if not stale:
        return
    operations: dict[int, list[str]] = {pk: [] for pk in stale}
    for chunk in chunks(list(stale)):
        for asset_pk, operation in connection.execute(
            select(VersionRow.asset_pk, OperationRow.operation)
            .join(VersionRow, VersionRow.id == OperationRow.version_pk)
            .where(VersionRow.asset_pk.in_(chunk))
        ):
            operations[asset_pk].append(operation)
    # Lowercased by the database, as a search lowercases what it looks for.
    connection.execute(
        update(AssetRow)
        .where(AssetRow.id == bindparam("pk"))
        .values(search_text=func.lower(bindparam("doc"))),
        [{"pk": pk, "doc": _document(asset, operations[pk])} for pk, asset in stale.items()],
    )


def _relabelled(asset: AssetState) -> bool:
    assert asset.stored is not None
    name, _, description = asset.stored[:3]
    return (
        asset.name != name
        or asset.description != description
        or frozenset(asset.tags) != asset.stored_tags
    )


def _update_instances(connection: Connection, assets: Iterable[AssetState]) -> None:
    changes: list[tuple[int | None, dict[str, object]]] = []
    for asset in assets:
        for instance in asset.instances.values():
            if instance.stored is None:
                continue
            now = (
                instance.version.pk,
                instance.endpoint_uri,
                instance.environment,
                instance.last_seen,
                instance.exposure,
                instance.subsets,
            )
            if now != instance.stored:
                changes.append((instance.pk, _changed(INSTANCE_COLUMNS, instance.stored, now)))
    _update_by_pk(connection, InstanceRow, changes)
