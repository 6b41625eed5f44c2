"""What the catalogue remembers of the last crawl, turned into probe hints.

A warm run goes straight to the location that worked last time: the
description's path for APIs that have one, and the kind for those that do
not. A ``--dry-run`` never opens the catalogue, and a remote server has no
such endpoint yet (its target answers no sightings).
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


def remembered(target: catalog.PublishTarget) -> dict[HintKey, Hint]:
    """Hints from the opened catalogue; none when it cannot tell (remote, or failing)."""
    try:
        return hints(target.sightings())
    except catalog.CatalogError:
        return {}  # the publish step will report the catalogue's trouble
