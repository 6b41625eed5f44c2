"""What the catalogue remembers of the last crawl, turned into probe hints.

A warm run goes straight to the location that worked last time: the
description's path for APIs that have one, and the kind for those that do
not. Only a catalogue opened directly (SQLite, PostgreSQL) is asked; a
``--dry-run`` never touches it, and a remote server has no such endpoint yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import catalog
from discovery.model import ApiKind, Hint, HintKey

_KINDS: Final[dict[str, ApiKind]] = {
    "rest-api": "rest",
    "soap-api": "soap",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
}
#: Provenance methods whose detail is the URL a description came from.
_LOCATED: Final = frozenset({"probe", "annotation", "configured"})


def hints(sightings: Iterable[catalog.Sighting]) -> dict[HintKey, Hint]:
    """One hint per known instance port."""
    out: dict[HintKey, Hint] = {}
    for s in sightings:
        kind = _KINDS.get(s.asset_type)
        if kind is None:
            continue
        path: str | None = None
        if s.method in _LOCATED and s.detail.startswith(("http://", "https://")):
            parts = urlsplit(s.detail)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        out[(s.cluster, s.namespace, s.service, s.port)] = Hint(path=path, kind=kind)
    return out


def load(url: str) -> dict[HintKey, Hint]:
    """Hints from a directly opened catalogue; none for remote ones or on failure."""
    if not url.startswith(("sqlite", "postgresql", "postgres")):
        return {}
    try:
        store = catalog.open_store(url)
    except catalog.CatalogError:
        return {}  # the publish step will report the catalogue's trouble
    try:
        return hints(store.sightings())
    except catalog.CatalogError:
        return {}
    finally:
        store.close()
