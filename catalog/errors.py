"""Exceptions raised by the catalogue.

Every error the catalogue raises derives from one root, so callers (the CLI,
the REST server) can map the whole family in one place::

    CatalogError
    ├── StoreError        the database failed or could not be reached
    ├── VersionConflict   a publish kept losing a race with concurrent writers
    ├── VersionExists     a publish named a version (GAV) that is already taken
    ├── NotFound          no such asset or version
    ├── RemoteError       a remote catalogue server refused or could not be reached
    └── InvalidAsset      a draft or a request names something the catalogue refuses

SQLAlchemy and driver errors never escape: they are wrapped with
``raise StoreError(...) from exc`` so the original stays on ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "InvalidAsset",
    "NotFound",
    "RemoteError",
    "StoreError",
    "VersionConflict",
    "VersionExists",
]


class CatalogError(Exception):
    """Root of every error raised by :mod:`catalog`."""


class StoreError(CatalogError):
    """The backing database failed (connection, locking, unexpected constraint)."""


class VersionConflict(CatalogError):
    """A publish could not be applied because concurrent writers kept winning.

    Attributes:
        group_id: Group of the asset being published.
        asset_id: Asset being published.
        attempts: How many transactions were tried before giving up.
    """

    def __init__(self, message: str, *, group_id: str, asset_id: str, attempts: int) -> None:
        super().__init__(message)
        self.group_id = group_id
        self.asset_id = asset_id
        self.attempts = attempts


class VersionExists(CatalogError):
    """A publish asked for a version that exists, or for content published as another.

    Versions are immutable (as Exchange's GAVs are), so neither is overwritten.

    Attributes:
        group_id: Group of the asset.
        asset_id: The asset.
        version: The version that was asked for.
        existing: The version that already holds the content, when that is the clash.
    """

    def __init__(
        self, *, group_id: str, asset_id: str, version: str, existing: str | None = None
    ) -> None:
        gav = f"{group_id}:{asset_id}:{version}"
        if existing is None:
            message = f"{gav} is already published; versions are immutable"
        else:
            message = f"cannot publish {gav}: the same content is already published as {existing}"
        super().__init__(message)
        self.group_id = group_id
        self.asset_id = asset_id
        self.version = version
        self.existing = existing


class NotFound(CatalogError):
    """The asset, or the version of it, is not in the catalogue.

    Attributes:
        group_id: Group that was looked up.
        asset_id: Asset that was looked up.
        version: Version that was looked up, or None when the asset itself is missing.
    """

    def __init__(self, *, group_id: str, asset_id: str, version: str | None = None) -> None:
        what = f"{group_id}:{asset_id}" + (f":{version}" if version is not None else "")
        kind = "asset version" if version is not None else "asset"
        super().__init__(f"{kind} {what} is not in the catalogue")
        self.group_id = group_id
        self.asset_id = asset_id
        self.version = version


class InvalidAsset(CatalogError):
    """A draft or request was refused; ``field`` names the offending input.

    Attributes:
        field: Dotted name of the input that was refused (``asset_id``,
            ``files[1].classifier``, ``lifecycle``...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RemoteError(CatalogError):
    """A catalogue server (``meshatlas serve``) answered with an error, or not at all.

    Attributes:
        url: The request's URL.
        status: The HTTP status, or None when no answer came.
    """

    def __init__(self, message: str, *, url: str, status: int | None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
