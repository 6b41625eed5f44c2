"""What the catalogue remembers of the last crawls, turned into probe guidance.

A warm run goes straight to the location that worked last time: the
description's path for APIs that have one, and the kind for those that do
not. Ports that stayed silent last time get a short re-check instead of the
full deadline, and descriptions whose bytes were validated before are not
validated again. A ``--dry-run`` never opens the catalogue; a catalogue
server keeps the same memory behind its ``probe-memory`` route (an older
server has none, and crawls through it start cold).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import catalog
from discovery.model import ApiKind, Hint, HintKey
from meshatlas.job import assets

_KINDS: Final[dict[str, ApiKind]] = {
    "rest-api": "rest",
    "soap-api": "soap",
    "http-api": "http",
    "grpc-api": "grpc",
    "graphql-api": "graphql",
    "async-api": "asyncapi",
}
_SEARCHED: Final = re.compile(re.escape(assets.SEARCHED_WITH) + r"([0-9a-f]+)")
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
        knowledge = None
        if path is None and (found := _SEARCHED.search(s.detail)):
            knowledge = found.group(1)
        out[(s.cluster, s.namespace, s.service, s.port)] = Hint(
            path=path, kind=kind, knowledge=knowledge
        )
    return out


@dataclass(frozen=True, slots=True)
class Memory:
    """Everything a crawl takes from the catalogue before it probes."""

    hints: dict[HintKey, Hint] = field(default_factory=dict)
    #: Ports silent last time and not yet due for a check with the full deadline.
    quiet: frozenset[HintKey] = frozenset()
    checks: dict[str, tuple[str, ...]] = field(default_factory=dict)


def recall(target: catalog.PublishTarget, *, clusters: Collection[str] | None = None) -> Memory:
    """What the opened catalogue remembers of ``clusters``; nothing when it cannot tell."""
    try:
        return Memory(
            hints=hints(target.sightings(clusters=clusters)),
            quiet=frozenset(
                (q.cluster, q.namespace, q.service, q.port)
                for q in target.quiet_ports(clusters=clusters)
                if q.short_checks < catalog.FULL_CHECK_EVERY
            ),
            checks=dict(target.spec_checks()),
        )
    except catalog.CatalogError:
        return Memory()  # the publish step will report the catalogue's trouble
