"""The meshatlas API catalogue: assets, immutable semver versions, instances.

Publishers hand in :class:`AssetDraft` values; :class:`CatalogStore` turns them
into versions idempotently and serves them back as :class:`Asset` and
:class:`AssetVersion`. The catalogue imports nothing from ``discovery`` or
``graph``: the composition root maps their results into drafts.

Typical use::

    with catalog.open_store("sqlite:///meshatlas.db") as store:
        result = store.publish(draft, seen_at=datetime.now(UTC))
"""

from __future__ import annotations

from catalog.engine import create_catalog_engine
from catalog.errors import CatalogError, InvalidAsset, NotFound, StoreError, VersionConflict
from catalog.model import (
    Asset,
    AssetDraft,
    AssetFile,
    AssetType,
    AssetVersion,
    Classifier,
    Instance,
    Lifecycle,
    Packaging,
    Provenance,
    PublishOutcome,
    PublishResult,
)
from catalog.store import CatalogStore, open_store

__all__ = [
    "Asset",
    "AssetDraft",
    "AssetFile",
    "AssetType",
    "AssetVersion",
    "CatalogError",
    "CatalogStore",
    "Classifier",
    "Instance",
    "InvalidAsset",
    "Lifecycle",
    "NotFound",
    "Packaging",
    "Provenance",
    "PublishOutcome",
    "PublishResult",
    "StoreError",
    "VersionConflict",
    "create_catalog_engine",
    "open_store",
]
