"""Where a crawl publishes: a catalogue database, or a catalogue server.

``discover --catalog URL`` takes ``sqlite:///…`` and ``postgresql://…`` (the
store itself, :class:`~catalog.CatalogStore`) or ``http(s)://…`` (a
``meshatlas serve``, through :class:`HttpTarget`). Both satisfy
:class:`PublishTarget`, so the pipeline does not know which it has.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from catalog.errors import CatalogError, InvalidAsset, RemoteError
from catalog.model import (
    DEFAULT_DEPRECATE_AFTER,
    DEFAULT_STALE_AFTER,
    AssetDraft,
    PublishResult,
    QuietPort,
    RunCoverage,
    RunSummary,
    Sighting,
)
from catalog.remote import crawlwire, wire
from catalog.storage.probes import PortKey, ServiceRef
from catalog.storage.store import open_store

__all__ = ["HttpTarget", "PublishTarget", "open_target"]

_PUBLICATIONS: Final = "/meshatlas/api/v1/publications"
_RUNS: Final = "/meshatlas/api/v1/runs"
_BATCHES: Final = "/meshatlas/api/v1/publication-batches"
_MEMORY: Final = "/meshatlas/api/v1/probe-memory"
#: Failures every later request would share: publishing stops at the first.
_FATAL: Final = frozenset({None, 401, 403, 404})
#: Instance fields servers before exposure refuse as unknown ("instance.exposure:
#: is not a known field", a 400 naming the field; alone or in a batch's slot). The
#: field itself, never one inside it (instance.exposure[0].host is a bad value).
_EXTRAS: Final = re.compile(r"(?<![\w-])instance\.(?:exposure|subsets)(?![\w.\[])")


class PublishTarget(Protocol):
    """What a crawl needs from a catalogue."""

    def publish(self, draft: AssetDraft, *, seen_at: datetime) -> PublishResult:
        """Publish one draft (see :meth:`catalog.CatalogStore.publish`)."""
        ...

    def record_run(
        self,
        *,
        group_id: str,
        seen: Collection[str],
        started_at: datetime,
        finished_at: datetime,
        complete: bool = True,
        deprecate_after: int = DEFAULT_DEPRECATE_AFTER,
        clusters: Collection[str] | None = None,
        namespaces: Collection[str] | None = None,
        coverage: RunCoverage | None = None,
        stale_after: int = DEFAULT_STALE_AFTER,
    ) -> RunSummary:
        """Record the end of a run (see :meth:`catalog.CatalogStore.record_run`)."""
        ...

    def publish_many(
        self, drafts: Sequence[AssetDraft], *, seen_at: datetime
    ) -> list[PublishResult | CatalogError]:
        """Publish drafts in order; each entry a result or the error that refused it."""
        ...

    def sightings(self, *, clusters: Collection[str] | None = None) -> Sequence[Sighting]:
        """Where each known instance's API was found last time (may be empty)."""
        ...

    def quiet_ports(self, *, clusters: Collection[str] | None = None) -> Sequence[QuietPort]:
        """Ports silent when last probed (may be empty; see :mod:`catalog.storage.probes`)."""
        ...

    def spec_checks(self) -> Mapping[str, tuple[str, ...]]:
        """Validation outcomes by check key (may be empty; see :mod:`catalog.storage.probes`)."""
        ...

    def record_probes(
        self,
        *,
        probed: Collection[ServiceRef],
        silent: Collection[PortKey],
        short: Collection[PortKey],
        checks: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> None:
        """Keep one crawl's probing lessons (see :func:`catalog.storage.probes.record`)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_target(url: str, *, token: str | None = None) -> PublishTarget:
    """Open the publish target a ``--catalog`` URL names.

    Args:
        url: ``sqlite:///…``, ``postgresql://…`` or ``http(s)://host[:port]``.
        token: Bearer token for an ``http(s)`` target.

    Raises:
        StoreError: A database URL is unsupported or cannot be opened.
    """
    if urlsplit(url).scheme in ("http", "https"):
        return HttpTarget(url, token=token)
    return open_store(url)


class HttpTarget:
    """Publishes through a catalogue server's REST API.

    Drafts go in batches (``publication-batches``), and the probe memory is
    read and kept through ``probe-memory``, so a crawl through a server is as
    warm as one writing to the database. A server without those routes (an
    older meshatlas) gets one request per draft, and crawls through it start
    cold. A server that takes smaller bodies than a batch (413) gets halves.
    A server from before instance exposure and subsets refuses them as
    unknown fields: the refused drafts are sent again once without them, the
    rest of the run sends none, and :attr:`notes` says so.

    Args:
        base_url: The server, e.g. ``https://catalog.example:8443``.
        token: Bearer token (from ``MESHATLAS_TOKEN``); None sends none.
        client: An injected client; by default one is made (and closed by
            :meth:`close`) with ``timeout``, no proxies from the environment.
        timeout: Seconds per request for the default client.
        batch_size: Most drafts per batch request.
        batch_bytes: A batch body stays under about this size (a larger
            draft goes alone); the server takes 16 MiB by default.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        batch_size: int = 250,
        batch_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, trust_env=False)
        self._batch_size = max(1, min(batch_size, crawlwire.MAX_BATCH))
        self._batch_bytes = batch_bytes
        # Until the server shows it predates the crawler routes (404/405).
        self._batches = True
        self._remembers = True
        # Until the server refuses instance.exposure/subsets as unknown fields.
        self._extras = True
        self._extras_refused: str | None = None
        self._bare_sent: set[tuple[str, str, str, int]] = set()
        self._memory: tuple[tuple[str, ...] | None, crawlwire.ProbeMemory] | None = None

    def publish(self, draft: AssetDraft, *, seen_at: datetime) -> PublishResult:
        """Publish one draft; the server numbers the version.

        Raises:
            InvalidAsset: The server refused the draft (400).
            RemoteError: Any other failure, including no answer.
        """
        sent = self._bare(draft)
        try:
            answer = self._post(_PUBLICATIONS, wire.publication_json(sent, seen_at=seen_at))
        except (InvalidAsset, RemoteError) as exc:
            if sent is not draft or not self._refuses_extras(exc):
                raise
            sent = self._bare(draft)  # once, without what this server does not know
            answer = self._post(_PUBLICATIONS, wire.publication_json(sent, seen_at=seen_at))
        return wire.result_from_json(answer)

    @property
    def notes(self) -> tuple[str, ...]:
        """What publishing through this server left out, said once (empty when nothing)."""
        if self._extras_refused is None:
            return ()
        return (
            f"{len(self._bare_sent)} instance(s) published without where they are exposed and"
            " their DestinationRule subsets: the catalogue server predates them (it said"
            f" {self._extras_refused!r}); upgrade it to keep them",
        )

    def record_run(
        self,
        *,
        group_id: str,
        seen: Collection[str],
        started_at: datetime,
        finished_at: datetime,
        complete: bool = True,
        deprecate_after: int = DEFAULT_DEPRECATE_AFTER,
        clusters: Collection[str] | None = None,
        namespaces: Collection[str] | None = None,
        coverage: RunCoverage | None = None,
        stale_after: int = DEFAULT_STALE_AFTER,
    ) -> RunSummary:
        """Record the end of a run on the server.

        Raises:
            InvalidAsset: The server refused the run (400); an older server
                refuses a ``coverage`` as an unknown field.
            RemoteError: Any other failure, including no answer.
        """
        body = wire.run_json(
            group_id=group_id,
            seen=sorted(seen),
            started_at=started_at,
            finished_at=finished_at,
            complete=complete,
            deprecate_after=deprecate_after,
            clusters=None if clusters is None else sorted(clusters),
            namespaces=None if namespaces is None else sorted(namespaces),
            coverage=coverage,
            stale_after=stale_after,
        )
        return wire.summary_from_json(self._post(_RUNS, body))

    def publish_many(
        self, drafts: Sequence[AssetDraft], *, seen_at: datetime
    ) -> list[PublishResult | CatalogError]:
        """Publish in batches, results in draft order; a refused draft does not stop the others.

        A failure every later request would share (no answer, 401, 403, 404)
        stops publishing: the results then end early.
        """
        results: list[PublishResult | CatalogError] = []
        stamp = orjson.dumps(seen_at.isoformat())
        for whole in self._chunks(drafts):  # serialised as sent: memory stays one batch
            stack = [whole]
            while stack:
                chunk = stack.pop()
                if not self._batches:
                    if not self._publish_each(chunk.drafts, seen_at=seen_at, into=results):
                        return results
                    continue
                body = b'{"seenAt":%b,"publications":[%b]}' % (stamp, b",".join(chunk.bodies))
                try:
                    answer = self._send("POST", _BATCHES, content=body)
                except InvalidAsset as exc:  # the batch as a whole: say so for each draft
                    results.extend([exc] * len(chunk.drafts))
                except RemoteError as exc:
                    if exc.status == 413 and len(chunk.drafts) > 1:
                        # The server takes less than we send: halves, from now on.
                        self._batch_bytes = max(1, chunk.size // 2)
                        first, second = chunk.halves()
                        stack += [second, first]
                    elif exc.status in (404, 405):
                        self._batches = False  # an older server: one draft per request
                        stack.append(chunk)
                    else:
                        results.extend([exc] * len(chunk.drafts))
                        if exc.status in _FATAL:
                            return results
                else:
                    url, expected = self._base + _BATCHES, len(chunk.drafts)
                    got = crawlwire.batch_results_from_json(answer, expected=expected, url=url)
                    results += self._retry_bare(chunk.drafts, got, seen_at=seen_at)
        return results

    def sightings(self, *, clusters: Collection[str] | None = None) -> Sequence[Sighting]:
        """Where each instance's API was found last time (none from an older server).

        Raises:
            RemoteError: The server failed or gave an unreadable answer.
        """
        return self._recall(clusters).sightings

    def quiet_ports(self, *, clusters: Collection[str] | None = None) -> Sequence[QuietPort]:
        """Ports silent when last probed (none from an older server).

        Raises:
            RemoteError: As for :meth:`sightings`.
        """
        return self._recall(clusters).quiet_ports

    def spec_checks(self) -> Mapping[str, tuple[str, ...]]:
        """Validation outcomes by check key (none from an older server).

        Raises:
            RemoteError: As for :meth:`sightings`.
        """
        if self._memory is not None:
            return self._memory[1].spec_checks  # not scoped: any recall holds them all
        return self._recall(None).spec_checks

    def record_probes(
        self,
        *,
        probed: Collection[ServiceRef],
        silent: Collection[PortKey],
        short: Collection[PortKey],
        checks: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> None:
        """Keep one crawl's probing lessons on the server (an older one keeps none).

        Raises:
            InvalidAsset: The server refused them (400).
            RemoteError: Any other failure, including no answer.
        """
        if not self._remembers:
            return
        body = crawlwire.lessons_json(
            probed=probed, silent=silent, short=short, checks=checks, at=at
        )
        try:
            self._post(_MEMORY, body)
        except RemoteError as exc:
            if exc.status not in (404, 405):
                raise
            self._remembers = False

    def close(self) -> None:
        """Close the client if this target made it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpTarget:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _recall(self, clusters: Collection[str] | None) -> crawlwire.ProbeMemory:
        """The server's probe memory of ``clusters``: one request, kept for the run."""
        scope = None if clusters is None else tuple(sorted(set(clusters)))
        if self._memory is not None and self._memory[0] == scope:
            return self._memory[1]
        memory = crawlwire.ProbeMemory()
        if self._remembers:
            try:
                answer = self._send("GET", _MEMORY, params=[("cluster", c) for c in scope or ()])
            except RemoteError as exc:
                if exc.status not in (404, 405):
                    raise
                self._remembers = False  # an older server: crawls through it start cold
            else:
                try:
                    memory = crawlwire.memory_from_json(answer)
                except InvalidAsset as exc:
                    url = self._base + _MEMORY
                    raise RemoteError(
                        f"catalogue server {url} gave an unreadable probe memory: {exc}",
                        url=url,
                        status=None,
                    ) from exc
        self._memory = (scope, memory)
        return memory

    def _refuses_extras(self, exc: CatalogError) -> bool:
        """Whether ``exc`` refuses instance.exposure/subsets as unknown (400 or 422).

        The first such refusal turns them off for the rest of the run.
        """
        status = 400 if isinstance(exc, InvalidAsset) else getattr(exc, "status", None)
        named = f"{exc.field} {exc}" if isinstance(exc, InvalidAsset) else str(exc)
        if status not in (400, 422) or _EXTRAS.search(named) is None:
            return False
        if self._extras:
            self._extras = False
            self._extras_refused = str(exc)
        return True

    def _bare(self, draft: AssetDraft) -> AssetDraft:
        """``draft`` as this server takes it: without exposure and subsets once refused."""
        place = draft.instance
        if self._extras or not (place.exposure or place.subsets):
            return draft
        self._bare_sent.add((place.cluster, place.namespace, place.service, place.port))
        bare = dataclasses.replace(place, exposure=(), subsets=())
        return dataclasses.replace(draft, instance=bare)

    def _retry_bare(
        self,
        drafts: Sequence[AssetDraft],
        results: list[PublishResult | CatalogError],
        *,
        seen_at: datetime,
    ) -> list[PublishResult | CatalogError]:
        """Publish again, in one batch and once, the drafts refused for exposure or subsets."""
        out = list(results)
        again: list[int] = []
        chunk = _Chunk()
        for index, (draft, result) in enumerate(zip(drafts, results, strict=True)):
            if not isinstance(result, CatalogError) or not self._refuses_extras(result):
                continue
            bare = self._bare(draft)
            if bare is not draft:  # one that carried neither: the refusal stands
                again.append(index)
                chunk.add(bare, orjson.dumps(wire.draft_json(bare)))
        if not again:
            return out
        stamp = orjson.dumps(seen_at.isoformat())
        body = b'{"seenAt":%b,"publications":[%b]}' % (stamp, b",".join(chunk.bodies))
        try:
            answer = self._send("POST", _BATCHES, content=body)
            url = self._base + _BATCHES
            retried = crawlwire.batch_results_from_json(answer, expected=len(again), url=url)
        except CatalogError as exc:
            retried = [exc] * len(again)
        for index, result in zip(again, retried, strict=True):
            out[index] = result
        return out

    def _chunks(self, drafts: Sequence[AssetDraft]) -> Iterator[_Chunk]:
        chunk = _Chunk()
        for draft in drafts:
            body = orjson.dumps(wire.draft_json(self._bare(draft)))
            full = len(chunk.drafts) >= self._batch_size
            if chunk.drafts and (full or chunk.size + len(body) > self._batch_bytes):
                yield chunk
                chunk = _Chunk()
            chunk.add(draft, body)
        if chunk.drafts:
            yield chunk

    def _publish_each(
        self,
        drafts: Sequence[AssetDraft],
        *,
        seen_at: datetime,
        into: list[PublishResult | CatalogError],
    ) -> bool:
        """One request per draft; False once a failure every later one would share stops it."""
        for draft in drafts:
            try:
                into.append(self.publish(draft, seen_at=seen_at))
            except CatalogError as exc:
                into.append(exc)
                if isinstance(exc, RemoteError) and exc.status in _FATAL:
                    return False
        return True

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, content=orjson.dumps(body))

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Sequence[tuple[str, str]] = (),
    ) -> Any:
        """One request; the parsed JSON answer (None for 204).

        Raises:
            InvalidAsset: A 400 naming a field.
            RemoteError: Any other failure, including no answer.
        """
        url = self._base + path
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(
                method, url, content=content, params=list(params), headers=headers
            )
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"catalogue server {url} did not answer: {exc}", url=url, status=None
            ) from exc
        if response.status_code == 204:
            return None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.is_success and answer is not None:
            return answer
        message = answer.get("message") if isinstance(answer, dict) else None
        message = message or response.text[:200] or response.reason_phrase
        if response.status_code == 400 and isinstance(answer, dict):
            raise InvalidAsset(str(answer.get("field") or "body"), str(message))
        raise RemoteError(
            f"catalogue server answered {response.status_code} to {method} {url}: {message}",
            url=url,
            status=response.status_code,
        )


@dataclass
class _Chunk:
    """Drafts for one batch request, each already serialised."""

    drafts: list[AssetDraft] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, draft: AssetDraft, body: bytes) -> None:
        self.drafts.append(draft)
        self.bodies.append(body)
        self.size += len(body) + 1

    def halves(self) -> tuple[_Chunk, _Chunk]:
        """The first half and the second (of a chunk of two or more)."""
        middle = len(self.drafts) // 2
        first, second = _Chunk(), _Chunk()
        for index, (draft, body) in enumerate(zip(self.drafts, self.bodies, strict=True)):
            (first if index < middle else second).add(draft, body)
        return first, second
