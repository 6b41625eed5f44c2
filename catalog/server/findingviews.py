"""The findings routes' bodies: posture and drift findings with their history over kept runs.

``GET /meshatlas/api/v1/findings`` answers the findings of each cluster's
newest kept run (:mod:`catalog.findings`), narrowed by ``cluster``,
``namespace``, ``severity``, ``kind``, ``source`` and ``asset``
(``group:asset``), a page at a time (``offset``, ``limit``), with the
findings the newest runs no longer hold listed apart as ``resolved``.
``GET /meshatlas/api/v1/assets/{groupId}/{assetId}/findings`` answers one
API's: its posture badge, its findings and its resolved ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from catalog import findings
from catalog.errors import InvalidAsset
from catalog.exports.backstage import PostureMark
from catalog.findings import (
    SEVERITIES,
    SOURCES,
    ClusterFindings,
    FindingFilter,
    SeenFinding,
)
from catalog.model import Asset
from catalog.storage.store import CatalogStore

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "QUERY",
    "answer",
    "asset_answer",
    "filter_from",
    "postures",
    "reader",
    "seen_json",
]

#: Query parameters ``GET findings`` knows.
QUERY: Final = frozenset(
    {"cluster", "namespace", "severity", "kind", "source", "asset", "offset", "limit"}
)
#: Findings per answer unless ``limit`` says, and the most it may say.
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_MAX_FILTER: Final = 512


def reader(store: CatalogStore) -> findings.FindingsReader:
    """The findings of ``store``'s kept run graphs."""
    return findings.FindingsReader(headers=store.run_graphs, load=store.run_graph)


def filter_from(query: Mapping[str, str]) -> FindingFilter:
    """The filters of ``query`` (empty values mean any).

    Raises:
        InvalidAsset: A severity or source that does not exist, or a value too long.
    """
    chosen = {name: (query.get(name) or "").strip() for name in sorted(QUERY - {"offset", "limit"})}
    for name, value in chosen.items():
        if len(value) > _MAX_FILTER:
            raise InvalidAsset(name, f"must be at most {_MAX_FILTER} characters")
    if chosen["severity"] and chosen["severity"] not in SEVERITIES:
        raise InvalidAsset("severity", f"must be one of {', '.join(SEVERITIES)}")
    if chosen["source"] and chosen["source"] not in SOURCES:
        raise InvalidAsset("source", f"must be one of {', '.join(SOURCES)}")
    return FindingFilter(**{name: value or None for name, value in chosen.items()})


def seen_json(seen: SeenFinding) -> dict[str, Any]:
    """One finding in the shape every output shares, with where and when it was seen."""
    f = seen.finding
    _, namespace = findings.where(f)
    return {
        "source": f.source,
        "kind": f.kind,
        "severity": f.severity,
        "subject": f.subject,
        "objects": list(f.objects),
        "reason": f.reason,
        "cluster": seen.cluster,
        "namespace": namespace,
        "node": f.node,
        "asset": f.asset,
        "operation": f.operation,
        "calls": f.calls,
        "firstSeen": seen.first_seen.isoformat(),
        "lastSeen": seen.last_seen.isoformat(),
        "resolved": seen.resolved,
    }


def _runs_json(clusters: Sequence[ClusterFindings]) -> list[dict[str, Any]]:
    return [
        {
            "cluster": c.cluster,
            "graphId": c.graph_id,
            "runId": c.run_id,
            "takenAt": c.taken_at.isoformat(),
            "carriesFindings": c.carried,
        }
        for c in clusters
    ]


def answer(store: CatalogStore, query: Mapping[str, str]) -> dict[str, Any]:
    """What ``GET findings`` answers for ``query`` (blocking: run it in a thread).

    Raises:
        InvalidAsset: An unknown parameter or a value out of range.
        StoreError: The database failed.
    """
    unknown = sorted(set(query) - QUERY)
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    chosen = filter_from(query)
    offset = _count(query, "offset", 0, 10**9)
    limit = _count(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    clusters = reader(store).clusters()
    current, resolved = findings.select(clusters, chosen)
    return {
        "total": len(current),
        "offset": offset,
        "limit": limit,
        "findings": [seen_json(s) for s in current[offset : offset + limit]],
        "resolvedTotal": len(resolved),
        "resolved": [seen_json(s) for s in resolved[:limit]],
        "runs": _runs_json(clusters),
    }


def asset_answer(store: CatalogStore, group_id: str, asset_id: str) -> dict[str, Any]:
    """What ``GET assets/{groupId}/{assetId}/findings`` answers (blocking).

    Raises:
        NotFound: No such asset.
        StoreError: The database failed.
    """
    asset = store.get(group_id, asset_id)
    found = findings.of_asset(asset, reader(store).clusters())
    return {
        "asset": f"{group_id}:{asset_id}",
        "posture": found.status,
        "findings": [seen_json(s) for s in found.findings],
        "resolved": [seen_json(s) for s in found.resolved],
    }


def postures(store: CatalogStore, assets: Sequence[Asset]) -> dict[str, PostureMark]:
    """Each judged asset's posture and count of findings, by ``group:asset`` (blocking)."""
    clusters = reader(store).clusters()
    marks: dict[str, PostureMark] = {}
    for asset in assets:
        found = findings.of_asset(asset, clusters)
        if found.status != "not-judged":
            marks[f"{asset.group_id}:{asset.asset_id}"] = PostureMark(
                found.status, len(found.findings)
            )
    return marks


def _count(query: Mapping[str, str], name: str, default: int, most: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or len(text) > 10:
        raise InvalidAsset(name, "must be a whole number")
    number = int(text)
    if name == "limit" and not 1 <= number <= most:
        raise InvalidAsset(name, f"must be from 1 to {most}")
    return min(number, most)
