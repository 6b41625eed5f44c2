"""Where a crawl publishes: a catalogue database, or a catalogue server.

``discover --catalog URL`` takes ``sqlite:///…`` and ``postgresql://…`` (the
store itself, :class:`~catalog.CatalogStore`) or ``http(s)://…`` (a
``meshatlas serve``, through :class:`HttpTarget`). Both satisfy
:class:`PublishTarget`, so the pipeline does not know which it has.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx

from catalog import wire
from catalog.errors import CatalogError, InvalidAsset, RemoteError
from catalog.model import (
    DEFAULT_DEPRECATE_AFTER,
    AssetDraft,
    PublishResult,
    QuietPort,
    RunSummary,
    Sighting,
)
from catalog.probes import PortKey, ServiceRef
from catalog.store import open_store

__all__ = ["HttpTarget", "PublishTarget", "open_target"]

_PUBLICATIONS: Final = "/meshatlas/api/v1/publications"
_RUNS: Final = "/meshatlas/api/v1/runs"


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
    ) -> RunSummary:
        """Record the end of a run (see :meth:`catalog.CatalogStore.record_run`)."""
        ...

    def publish_many(
        self, drafts: Sequence[AssetDraft], *, seen_at: datetime
    ) -> list[PublishResult | CatalogError]:
        """Publish drafts in order; each entry a result or the error that refused it."""
        ...

    def sightings(self) -> Sequence[Sighting]:
        """Where each known instance's API was found last time (may be empty)."""
        ...

    def quiet_ports(self) -> Sequence[QuietPort]:
        """Ports silent when last probed (may be empty; see :mod:`catalog.probes`)."""
        ...

    def spec_checks(self) -> Mapping[str, tuple[str, ...]]:
        """Validation outcomes by check key (may be empty; see :mod:`catalog.probes`)."""
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
        """Keep one crawl's probing lessons (see :func:`catalog.probes.record`)."""
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

    Args:
        base_url: The server, e.g. ``https://catalog.example:8443``.
        token: Bearer token (from ``MESHATLAS_TOKEN``); None sends none.
        client: An injected client; by default one is made (and closed by
            :meth:`close`) with ``timeout``, no proxies from the environment.
        timeout: Seconds per request for the default client.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, trust_env=False)

    def publish(self, draft: AssetDraft, *, seen_at: datetime) -> PublishResult:
        """Publish one draft; the server numbers the version.

        Raises:
            InvalidAsset: The server refused the draft (400).
            RemoteError: Any other failure, including no answer.
        """
        answer = self._post(_PUBLICATIONS, wire.publication_json(draft, seen_at=seen_at))
        return wire.result_from_json(answer)

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
    ) -> RunSummary:
        """Record the end of a run on the server.

        Raises:
            InvalidAsset: The server refused the run (400).
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
        )
        return wire.summary_from_json(self._post(_RUNS, body))

    def publish_many(
        self, drafts: Sequence[AssetDraft], *, seen_at: datetime
    ) -> list[PublishResult | CatalogError]:
        """One request per draft; a refused draft does not stop the others."""
        results: list[PublishResult | CatalogError] = []
        for draft in drafts:
            try:
                results.append(self.publish(draft, seen_at=seen_at))
            except CatalogError as exc:
                results.append(exc)
                if isinstance(exc, RemoteError) and exc.status in (None, 401, 403, 404):
                    break  # every later draft would be refused the same way
        return results

    def sightings(self) -> Sequence[Sighting]:
        """None yet: the server has no endpoint for them, so remote crawls start cold."""
        return ()

    def quiet_ports(self) -> Sequence[QuietPort]:
        """None yet, as for sightings."""
        return ()

    def spec_checks(self) -> Mapping[str, tuple[str, ...]]:
        """None yet, as for sightings."""
        return {}

    def record_probes(
        self,
        *,
        probed: Collection[ServiceRef],
        silent: Collection[PortKey],
        short: Collection[PortKey],
        checks: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> None:
        """Nothing to keep them in: the server has no endpoint for them yet."""

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

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        url = self._base + path
        try:
            response = self._client.post(url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"catalogue server {url} did not answer: {exc}", url=url, status=None
            ) from exc
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
            f"catalogue server answered {response.status_code} to POST {url}: {message}",
            url=url,
            status=response.status_code,
        )
