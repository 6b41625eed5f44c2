"""Connect to clusters and list raw objects through the ``kubernetes`` client.

Lists are read page by page (``limit``/``continue``) as raw JSON, which is
typed at this edge and converted once by :mod:`discovery.inventory`; skipping
the client's model deserialisation keeps memory and time linear in the number
of objects. The GETs go through the ``ApiClient``'s own request methods, as
its typed API classes (``CoreV1Api``...) would send them, without importing
those classes and their hundreds of models. Transient failures (429, 5xx,
dropped connections) are retried a few times; an expired ``continue`` token
restarts the list.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

import kubernetes
import orjson
import urllib3

from discovery.errors import KubeError

RawObject = dict[str, Any]


class RawMeta(TypedDict, total=False):
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    resourceVersion: str


class RawList(TypedDict, total=False):
    metadata: dict[str, Any]
    items: list[RawObject]


#: The media type asking the API server for object metadata only (Kubernetes
#: "Receiving resources as metadata only"); plain JSON if it cannot.
METADATA_ONLY: Final = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)

#: The name of the cluster a Pod runs in, unless ``--cluster-name`` gives another.
IN_CLUSTER: Final = "in-cluster"


@dataclass(frozen=True, slots=True)
class ClusterConnection:
    """One cluster to read: its name (the context, or ``in-cluster``) and client."""

    name: str
    api: kubernetes.client.ApiClient


def connect(
    *,
    kubeconfig: str | None = None,
    contexts: Sequence[str] = (),
    in_cluster: bool = False,
) -> list[ClusterConnection]:
    """Build one API client per cluster to read.

    With ``in_cluster``, the Pod's ServiceAccount is used. Otherwise the
    kubeconfig (``--kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``) is
    read, once per requested context or for its current context. With
    neither, in-cluster config is chosen when running inside a Pod.
    """
    if not in_cluster and kubeconfig is None and not contexts:
        in_cluster = _inside_pod() and not _kubeconfig_present()
    try:
        if in_cluster:
            config = _configuration()
            kubernetes.config.load_incluster_config(client_configuration=config)
            return [ClusterConnection(IN_CLUSTER, kubernetes.client.ApiClient(config))]
        names = list(contexts)
        if not names:
            _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            names = [active["name"]]
        out = []
        for name in names:
            config = _configuration()
            kubernetes.config.load_kube_config(
                config_file=kubeconfig, context=name, client_configuration=config
            )
            out.append(ClusterConnection(name, kubernetes.client.ApiClient(config)))
        return out
    except kubernetes.config.ConfigException as exc:
        raise KubeError(f"cannot load Kubernetes configuration: {exc}") from exc
    except OSError as exc:
        raise KubeError(f"cannot read kubeconfig: {exc}") from exc


def _configuration() -> kubernetes.client.Configuration:
    """Client settings: retries are meshatlas's own (bounded, Retry-After capped).

    urllib3 would otherwise retry on its own and obey any ``Retry-After``, an
    hour included.
    """
    config = kubernetes.client.Configuration()
    config.retries = False
    return config


def _inside_pod() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )


def _kubeconfig_present() -> bool:
    return bool(os.environ.get("KUBECONFIG")) or os.path.exists(
        os.path.expanduser("~/.kube/config")
    )


@dataclass(frozen=True, slots=True)
class ListTarget:
    """A list endpoint: core/group resource, optionally in one namespace."""

    resource: str
    group: str = ""
    version: str = "v1"
    namespace: str | None = None
    #: Ask for metadata only (``PartialObjectMetadataList``): names, labels and
    #: annotations, never a spec. The only way meshatlas reads Pods.
    metadata_only: bool = False

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespace:
            return f"{base}/namespaces/{self.namespace}/{self.resource}"
        return f"{base}/{self.resource}"

    def call(
        self, api: kubernetes.client.ApiClient, *, query: Sequence[tuple[str, Any]], timeout: float
    ) -> bytes:
        """GET one page of this list through ``api``; the raw JSON body.

        The request is the one the client's typed API classes build (host, TLS,
        bearer token, ``Accept``, path quoting, query names), without importing
        them: they pull in hundreds of pydantic models, ~0.4 s a run.

        Raises:
            kubernetes.client.ApiException: The API answered outside 2xx, raised
                as the typed API classes raise it.
        """
        if self.group == "" and self.resource not in ("namespaces", "services"):
            if not (self.resource == "pods" and self.metadata_only):
                raise KubeError(f"meshatlas does not read {self.path}", resource=self.path)
        base = "/apis/{group}/{version}" if self.group else "/api/{version}"
        params = {"group": self.group, "version": self.version, "resource": self.resource}
        if self.namespace:
            base += "/namespaces/{namespace}"
            params["namespace"] = self.namespace
        request = api.param_serialize(
            method="GET",
            resource_path=base + "/{resource}",
            path_params=params,
            query_params=list(query),
            header_params={"Accept": METADATA_ONLY if self.metadata_only else "application/json"},
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request, _request_timeout=timeout)
        data: bytes = response.read()
        if not 200 <= response.status <= 299:
            raise kubernetes.client.ApiException.from_response(
                http_resp=response, body=None, data=None
            )
        return data


class Lister:
    """Reads paged lists from one cluster with retries."""

    def __init__(
        self,
        connection: ClusterConnection,
        *,
        page_size: int = 500,
        timeout: float = 30.0,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        self.page_size = page_size
        self.timeout = timeout
        self.attempts = attempts
        self._sleep = sleep
        self.requests = 0

    def list(self, target: ListTarget, *, label_selector: str | None = None) -> Iterator[RawObject]:
        """Yield every item of a list, following ``continue`` tokens."""
        token: str | None = None
        restarts = 0
        seen: set[tuple[str, str]] = set()
        while True:
            try:
                page = self._page(target, token=token, label_selector=label_selector)
            except KubeError as exc:
                # An expired token means the list moved on: start again (a couple of
                # times), skipping what was already handed out.
                if exc.status == 410 and token is not None and restarts < 2:
                    restarts += 1
                    token = None
                    continue
                raise
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                key = (meta.get("namespace", ""), meta.get("name", ""))
                if key in seen:
                    continue
                seen.add(key)
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    def _page(
        self, target: ListTarget, *, token: str | None, label_selector: str | None
    ) -> RawList:
        # In the order the typed API classes send them.
        query: list[tuple[str, Any]] = []
        if token:
            query.append(("continue", token))
        if label_selector:
            query.append(("labelSelector", label_selector))
        query.append(("limit", self.page_size))
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            self.requests += 1
            try:
                body = orjson.loads(
                    target.call(self.connection.api, query=query, timeout=self.timeout)
                )
                if not isinstance(body, dict):
                    raise ValueError("list body is not a JSON object")
                return body  # type: ignore[return-value]
            except kubernetes.client.ApiException as exc:
                status = int(exc.status or 0)
                if (status == 429 or status >= 500) and attempt < self.attempts:
                    self._sleep(_retry_after(exc) or delay)
                    delay *= 2
                    continue
                raise KubeError(
                    _status_message(exc),
                    cluster=self.connection.name,
                    resource=target.path,
                    status=status,
                ) from exc
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if attempt < self.attempts:
                    self._sleep(delay)
                    delay *= 2
                    continue
                raise KubeError(
                    f"{type(exc).__name__}: {exc}",
                    cluster=self.connection.name,
                    resource=target.path,
                    status=None,
                ) from exc
        raise KubeError("no attempt made", cluster=self.connection.name, resource=target.path)


#: The longest a Retry-After is obeyed; a server asking for more gets this.
MAX_RETRY_AFTER = 30.0


def _retry_after(exc: kubernetes.client.ApiException) -> float | None:
    """Seconds a 429/503 asks the client to wait, bounded."""
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None


def _status_message(exc: kubernetes.client.ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, or the HTTP reason."""
    try:
        body = orjson.loads(exc.body or b"{}")
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return str(message or f"HTTP {exc.status} {exc.reason}")
