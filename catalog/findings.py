"""Posture and drift findings as the catalogue keeps them per run, and their history.

A run hands its findings in with its service graph (:class:`RunFindings` on
:class:`catalog.graphmodel.RunGraph`), so they are kept exactly as long as
the graph: the newest few runs of each cluster. Nothing else is stored; the
history is read from those kept runs:

* a finding is keyed by its source, kind, subject and (for drift) operation
  (:func:`key`); its ``first_seen`` is the oldest kept run of its cluster
  holding that key, ``last_seen`` the newest;
* the findings of a cluster are those of its newest run; a finding of the
  run before it that the newest no longer holds is *resolved*, when the
  newest run judged the same node for the same source (a run that could not
  judge a node says nothing about its findings).

An API's posture (:func:`asset_posture`) is the most urgent severity among
the posture findings of its instances, ``ok`` when a run judged one of them
and found nothing, ``not-judged`` when no kept run judged any.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from catalog.errors import InvalidAsset

if TYPE_CHECKING:
    from catalog.graphmodel import RunGraph, RunGraphHeader
    from catalog.model import Asset, AssetSummary

__all__ = [
    "MAX_FINDINGS",
    "SEVERITIES",
    "SOURCES",
    "AssetPosture",
    "ClusterFindings",
    "FindingFilter",
    "FindingsReader",
    "RunFinding",
    "RunFindings",
    "SeenFinding",
    "asset_posture",
    "of_asset",
    "findings_from_json",
    "findings_json",
    "history",
    "key",
    "select",
    "where",
    "worst",
]

Source = Literal["posture", "drift"]
Severity = Literal["high", "medium", "low", "info"]
#: Where a finding comes from.
SOURCES: Final[tuple[Source, ...]] = ("posture", "drift")
#: Severities, most urgent first (the shape every output shares, DESIGN: findings).
SEVERITIES: Final[tuple[Severity, ...]] = ("high", "medium", "low", "info")
#: Most findings one run of one cluster may hand in.
MAX_FINDINGS: Final = 100_000
_MAX_OBJECTS: Final = 64
_MAX_TEXT: Final = 1024
_MAX_JUDGED: Final = 100_000
_CONTROL: Final = re.compile(r"[\x00-\x1f]")
_ASSET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}:[a-z0-9][a-z0-9.-]{0,127}")
_PORT: Final = re.compile(r":\d+$")


@dataclass(frozen=True, slots=True)
class RunFinding:
    """One finding of one run, as the catalogue keeps it.

    Attributes:
        source: ``posture`` or ``drift``.
        severity: ``high``, ``medium``, ``low`` or ``info``.
        kind: The finding's slug (``plaintext-accepted``, ``undocumented-operation``).
        subject: ``cluster/namespace/service`` (``:port`` where it concerns one
            port) or an edge ``a -> b``.
        objects: The config objects involved (``Kind namespace/name``).
        reason: One line.
        node: The run graph's node it is about (the edge's target for an edge).
        asset: ``group:asset`` of the API it concerns, where one maps.
        operation: The operation a drift finding concerns.
        calls: Calls of that operation in the run's window, where counted.
    """

    source: Source
    severity: Severity
    kind: str
    subject: str
    objects: tuple[str, ...]
    reason: str
    node: str | None = None
    asset: str | None = None
    operation: str | None = None
    calls: int | None = None


@dataclass(frozen=True, slots=True)
class RunFindings:
    """What one run judged in one cluster and what it found.

    Attributes:
        items: The findings, each key once.
        posture_judged: Nodes whose security posture the run judged.
        drift_judged: Nodes whose traffic the run matched to contracts.
    """

    items: tuple[RunFinding, ...] = ()
    posture_judged: tuple[str, ...] = ()
    drift_judged: tuple[str, ...] = ()

    def judged(self, source: str) -> frozenset[str]:
        """The nodes judged for ``source``."""
        return frozenset(self.posture_judged if source == "posture" else self.drift_judged)


FindingKey = tuple[str, str, str, str]


def key(finding: RunFinding) -> FindingKey:
    """What makes two runs' findings the same one."""
    return (finding.source, finding.kind, finding.subject, finding.operation or "")


def where(finding: RunFinding) -> tuple[str | None, str | None]:
    """The cluster and namespace a finding's subject names (an edge's target's)."""
    target = finding.node or finding.subject.rsplit(" -> ", 1)[-1]
    parts = _PORT.sub("", target).split("/")
    if len(parts) != 3:
        return None, None
    return parts[0], parts[1]


def worst(severities: Iterable[str]) -> Severity | None:
    """The most urgent of ``severities`` (None for none)."""
    found = [s for s in SEVERITIES if s in set(severities)]
    return found[0] if found else None


# -- JSON (inside the run graph's body) ---------------------------------------------


def findings_json(found: RunFindings) -> dict[str, Any]:
    """The findings as the run graph's JSON carries them."""
    return {
        "items": [
            {
                "source": f.source,
                "severity": f.severity,
                "kind": f.kind,
                "subject": f.subject,
                "objects": list(f.objects),
                "reason": f.reason,
                "node": f.node,
                "asset": f.asset,
                "operation": f.operation,
                "calls": f.calls,
            }
            for f in found.items
        ],
        "postureJudged": list(found.posture_judged),
        "driftJudged": list(found.drift_judged),
    }


_FIELDS: Final = {"items", "postureJudged", "driftJudged"}
_ITEM_FIELDS: Final = {
    "source",
    "severity",
    "kind",
    "subject",
    "objects",
    "reason",
    "node",
    "asset",
    "operation",
    "calls",
}


def findings_from_json(value: Any) -> RunFindings:
    """Read and check the ``findings`` of a run graph's JSON.

    Raises:
        InvalidAsset: A field is missing, unknown, of the wrong type or too large,
            or a key repeats.
    """
    body = _object("findings", value, _FIELDS)
    items = _list("findings.items", body.get("items", []), MAX_FINDINGS)
    read = tuple(_item(f"findings.items[{i}]", item) for i, item in enumerate(items))
    seen: set[FindingKey] = set()
    for index, finding in enumerate(read):
        if key(finding) in seen:
            raise InvalidAsset(f"findings.items[{index}]", "repeats an earlier finding")
        seen.add(key(finding))
    return RunFindings(
        items=read,
        posture_judged=_texts("findings.postureJudged", body.get("postureJudged", [])),
        drift_judged=_texts("findings.driftJudged", body.get("driftJudged", [])),
    )


def _item(where_: str, value: Any) -> RunFinding:
    body = _object(where_, value, _ITEM_FIELDS)
    for name in ("source", "severity", "kind", "subject", "reason"):
        if name not in body:
            raise InvalidAsset(f"{where_}.{name}", "is required")
    source, severity = body["source"], body["severity"]
    if source not in SOURCES:
        raise InvalidAsset(f"{where_}.source", f"must be one of {', '.join(SOURCES)}")
    if severity not in SEVERITIES:
        raise InvalidAsset(f"{where_}.severity", f"must be one of {', '.join(SEVERITIES)}")
    asset = body.get("asset")
    if asset is not None and (not isinstance(asset, str) or not _ASSET.fullmatch(asset)):
        raise InvalidAsset(f"{where_}.asset", "must be group:asset, each [a-z0-9.-]")
    calls = body.get("calls")
    if calls is not None and (
        isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls < 2**53
    ):
        raise InvalidAsset(f"{where_}.calls", "must be a whole number, zero or more, or null")
    objects = _list(f"{where_}.objects", body.get("objects", []), _MAX_OBJECTS)
    return RunFinding(
        source=source,
        severity=severity,
        kind=_text(f"{where_}.kind", body["kind"]),
        subject=_text(f"{where_}.subject", body["subject"]),
        objects=tuple(_text(f"{where_}.objects[{i}]", o) for i, o in enumerate(objects)),
        reason=_text(f"{where_}.reason", body["reason"]),
        node=_optional(f"{where_}.node", body.get("node")),
        asset=asset,
        operation=_optional(f"{where_}.operation", body.get("operation")),
        calls=calls,
    )


def _object(where_: str, value: Any, fields: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidAsset(where_, "must be a JSON object")
    unknown = sorted(set(value) - fields)
    if unknown:
        raise InvalidAsset(f"{where_}.{unknown[0]}", "is not a known field")
    return value


def _list(where_: str, value: Any, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidAsset(where_, "must be a JSON array")
    if len(value) > most:
        raise InvalidAsset(where_, f"holds {len(value)} entries; at most {most} are kept")
    return value


def _text(where_: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAsset(where_, "must be a non-empty string")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise InvalidAsset(where_, f"must be at most {_MAX_TEXT} printable characters")
    return value


def _optional(where_: str, value: Any) -> str | None:
    return None if value is None else _text(where_, value)


def _texts(where_: str, value: Any) -> tuple[str, ...]:
    items = _list(where_, value, _MAX_JUDGED)
    return tuple(_text(f"{where_}[{i}]", v) for i, v in enumerate(items))


# -- history over the kept runs -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenFinding:
    """A finding with its history over the kept runs of its cluster."""

    finding: RunFinding
    cluster: str
    first_seen: datetime
    last_seen: datetime
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class ClusterFindings:
    """A cluster's findings as its newest kept run says, with their history.

    Attributes:
        cluster: The cluster.
        graph_id: The newest kept run graph's id.
        run_id: Its catalogue run, where recorded.
        taken_at: When it holds.
        current: The newest run's findings, most urgent first.
        resolved: Findings of the run before it the newest no longer holds.
        posture_judged / drift_judged: Nodes any kept run judged, per source.
        carried: Whether the newest run handed in findings at all (runs made
            before the catalogue kept them did not).
    """

    cluster: str
    graph_id: int
    run_id: int | None
    taken_at: datetime
    current: tuple[SeenFinding, ...]
    resolved: tuple[SeenFinding, ...]
    posture_judged: frozenset[str]
    drift_judged: frozenset[str]
    carried: bool


def history(
    cluster: str, runs: Sequence[tuple[RunGraphHeader, RunFindings | None]]
) -> ClusterFindings | None:
    """The findings of ``cluster`` from its kept runs, newest first (None: no run kept)."""
    if not runs:
        return None
    first: dict[FindingKey, datetime] = {}
    last: dict[FindingKey, datetime] = {}
    for header, found in runs:
        for finding in found.items if found else ():
            k = key(finding)
            first[k] = min(first.get(k, header.taken_at), header.taken_at)
            last[k] = max(last.get(k, header.taken_at), header.taken_at)
    newest_header, newest = runs[0]
    newest = newest or RunFindings()
    held = {key(f) for f in newest.items}
    current = [SeenFinding(f, cluster, first[key(f)], last[key(f)]) for f in newest.items]
    resolved: list[SeenFinding] = []
    if len(runs) > 1 and runs[1][1] is not None and runs[0][1] is not None:
        for f in runs[1][1].items:
            k = key(f)
            if k in held or f.node is None or f.node not in newest.judged(f.source):
                continue
            resolved.append(SeenFinding(f, cluster, first[k], last[k], resolved=True))
    posture: set[str] = set()
    drift: set[str] = set()
    for _, found in runs:
        if found is not None:
            posture.update(found.posture_judged)
            drift.update(found.drift_judged)
    return ClusterFindings(
        cluster=cluster,
        graph_id=newest_header.id,
        run_id=newest_header.run_id,
        taken_at=newest_header.taken_at,
        current=_ordered(current),
        resolved=_ordered(resolved),
        posture_judged=frozenset(posture),
        drift_judged=frozenset(drift),
        carried=runs[0][1] is not None,
    )


def _ordered(found: Iterable[SeenFinding]) -> tuple[SeenFinding, ...]:
    return tuple(
        sorted(
            found,
            key=lambda s: (
                SEVERITIES.index(s.finding.severity),
                s.finding.subject,
                s.finding.kind,
                s.finding.operation or "",
            ),
        )
    )


class FindingsReader:
    """Every cluster's findings from a store's kept run graphs.

    Args:
        headers: The kept graphs' headers, newest first (``CatalogStore.run_graphs``).
        load: One kept graph in full (``CatalogStore.run_graph``).

    A kept graph never changes (it is only ever dropped), so the findings of
    each are remembered by id and digest across readers, a bounded number of
    them: a page does not inflate ten graphs of thousands of nodes each time.
    """

    _memory: dict[tuple[int, str], RunFindings | None] = {}
    _lock = threading.Lock()
    #: Graphs whose findings are remembered at once.
    REMEMBERED: Final = 256

    def __init__(
        self,
        *,
        headers: Callable[[], Sequence[RunGraphHeader]],
        load: Callable[[int], RunGraph],
    ) -> None:
        self._headers = headers
        self._load = load

    def clusters(self) -> list[ClusterFindings]:
        """Each cluster with a kept graph, by name."""
        by_cluster: dict[str, list[RunGraphHeader]] = {}
        for header in self._headers():
            by_cluster.setdefault(header.cluster, []).append(header)
        out = []
        for cluster in sorted(by_cluster):
            runs = [(h, self._findings(h)) for h in by_cluster[cluster]]
            found = history(cluster, runs)
            if found is not None:
                out.append(found)
        return out

    def _findings(self, header: RunGraphHeader) -> RunFindings | None:
        memo = (header.id, header.digest)
        with self._lock:
            if memo in self._memory:
                return self._memory[memo]
        found = self._load(header.id).findings
        with self._lock:
            if len(self._memory) >= self.REMEMBERED:
                self._memory.pop(next(iter(self._memory)))
            self._memory[memo] = found
        return found


# -- what the REST API and the portal filter ----------------------------------------


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """What a findings list is narrowed to; None (or empty) means any."""

    cluster: str | None = None
    namespace: str | None = None
    severity: str | None = None
    kind: str | None = None
    source: str | None = None
    asset: str | None = None

    def admits(self, seen: SeenFinding) -> bool:
        """Whether ``seen`` passes every filter."""
        f = seen.finding
        cluster, namespace = where(f)
        return (
            (not self.cluster or seen.cluster == self.cluster or cluster == self.cluster)
            and (not self.namespace or namespace == self.namespace)
            and (not self.severity or f.severity == self.severity)
            and (not self.kind or f.kind == self.kind)
            and (not self.source or f.source == self.source)
            and (not self.asset or f.asset == self.asset)
        )


def select(
    clusters: Sequence[ClusterFindings], chosen: FindingFilter = FindingFilter()
) -> tuple[list[SeenFinding], list[SeenFinding]]:
    """The current and the resolved findings ``chosen`` admits, over every cluster."""
    current = [s for c in clusters for s in c.current if chosen.admits(s)]
    resolved = [s for c in clusters for s in c.resolved if chosen.admits(s)]
    return list(_ordered(current)), list(_ordered(resolved))


@dataclass(frozen=True, slots=True)
class AssetPosture:
    """One API's findings and the posture badge they make.

    Attributes:
        status: The most urgent posture severity, ``ok`` or ``not-judged``.
        findings: Its current findings, posture and drift.
        resolved: Its findings the newest runs no longer hold.
    """

    status: str
    findings: tuple[SeenFinding, ...]
    resolved: tuple[SeenFinding, ...]

    @property
    def posture(self) -> tuple[SeenFinding, ...]:
        """The posture findings."""
        return tuple(s for s in self.findings if s.finding.source == "posture")

    @property
    def drift(self) -> tuple[SeenFinding, ...]:
        """The drift findings."""
        return tuple(s for s in self.findings if s.finding.source == "drift")


def asset_posture(
    clusters: Sequence[ClusterFindings],
    *,
    asset: str,
    nodes: Collection[str],
    ports: Mapping[str, Collection[int]] | None = None,
) -> AssetPosture:
    """The findings of ``asset`` (``group:asset``) served by ``nodes`` (``cluster/ns/service``).

    A finding belongs to the API when it names the asset, or names none and
    is about one of its nodes (for a port subject: one of ``ports[node]``,
    when given).
    """
    wanted = set(nodes)

    def mine(f: RunFinding) -> bool:
        if f.asset is not None:
            return f.asset == asset
        if f.node not in wanted:
            return False
        port = _PORT.search(f.subject.rsplit(" -> ", 1)[-1])
        allowed = (ports or {}).get(f.node or "")
        return port is None or not allowed or int(port[0][1:]) in allowed

    current = tuple(s for c in clusters for s in c.current if mine(s.finding))
    resolved = tuple(s for c in clusters for s in c.resolved if mine(s.finding))
    judged = any(wanted & c.posture_judged for c in clusters)
    severity = worst(s.finding.severity for s in current if s.finding.source == "posture")
    status = severity or ("ok" if judged else "not-judged")
    return AssetPosture(status, _ordered(current), _ordered(resolved))


def of_asset(asset: Asset | AssetSummary, clusters: Sequence[ClusterFindings]) -> AssetPosture:
    """The posture of a catalogued API over its instances (every version's, where known)."""
    versions = getattr(asset, "versions", ())
    instances = [i for v in versions if hasattr(v, "instances") for i in v.instances] or list(
        asset.latest.instances
    )
    nodes: set[str] = set()
    ports: dict[str, set[int]] = {}
    for i in instances:
        node = f"{i.cluster}/{i.namespace}/{i.service}"
        nodes.add(node)
        ports.setdefault(node, set()).add(i.port)
    return asset_posture(
        clusters, asset=f"{asset.group_id}:{asset.asset_id}", nodes=nodes, ports=ports
    )
