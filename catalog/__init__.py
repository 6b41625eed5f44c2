"""The meshatlas API catalogue: assets, immutable semver versions, instances.

Publishers hand in :class:`AssetDraft` values; :class:`CatalogStore` turns them
into versions idempotently and serves them back as :class:`Asset` and
:class:`AssetVersion`. The catalogue imports nothing from ``discovery`` or
``graph``: the composition root maps their results into drafts.

Typical use::

    with catalog.open_store("sqlite:///meshatlas.db") as store:
        result = store.publish(draft, seen_at=datetime.now(UTC))

``catalog.open_target(url)`` gives the same ``publish`` for a database URL or a
catalogue server (``http(s)://``); ``catalog.server`` is that server.
"""

from __future__ import annotations

from catalog.errors import (
    CatalogError,
    InvalidAsset,
    NotFound,
    RemoteError,
    StoreError,
    VersionConflict,
    VersionExists,
)
from catalog.model import (
    DEFAULT_DEPRECATE_AFTER,
    Asset,
    AssetDraft,
    AssetFile,
    AssetPage,
    AssetSummary,
    AssetType,
    AssetVersion,
    Classifier,
    FileSummary,
    Instance,
    Lifecycle,
    Packaging,
    Provenance,
    PublishOutcome,
    PublishResult,
    QuietPort,
    RunSummary,
    Sighting,
    VersionHeader,
    VersionSummary,
)
from catalog.remote.targets import HttpTarget, PublishTarget, open_target
from catalog.storage.engine import create_catalog_engine
from catalog.storage.probes import FULL_CHECK_EVERY
from catalog.storage.store import CatalogStore, open_store

__all__ = [
    "FULL_CHECK_EVERY",
    "DEFAULT_DEPRECATE_AFTER",
    "Asset",
    "AssetDraft",
    "AssetFile",
    "AssetPage",
    "AssetSummary",
    "AssetType",
    "AssetVersion",
    "CatalogError",
    "CatalogStore",
    "HttpTarget",
    "Classifier",
    "FileSummary",
    "Instance",
    "InvalidAsset",
    "Lifecycle",
    "NotFound",
    "RemoteError",
    "Packaging",
    "Provenance",
    "PublishOutcome",
    "PublishResult",
    "QuietPort",
    "Sighting",
    "PublishTarget",
    "RunSummary",
    "StoreError",
    "VersionConflict",
    "VersionExists",
    "VersionHeader",
    "VersionSummary",
    "create_catalog_engine",
    "open_store",
    "open_target",
]
