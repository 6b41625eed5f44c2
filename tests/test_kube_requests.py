"""List requests go out exactly as the kubernetes client's typed API classes send them.

:meth:`discovery.kube.ListTarget.call` issues its GET through the injected
``ApiClient``'s own ``param_serialize``/``call_api`` rather than through
``CoreV1Api`` and friends. A loopback recorder shows the two produce the same
request (path, query, Accept, bearer token, User-Agent) and the same
exceptions; the fixture API server shows paging, selectors and errors end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

import fixtures
from discovery import kube
from discovery.errors import KubeError
from fixtures.mesh import Mesh
from tests.conftest import mesh_octet

TOKEN = "recorder-token"


@dataclass
class Recorder:
    """A loopback HTTP server that records each request and answers ``status``/``body``."""

    url: str = ""
    status: int = 200
    body: dict[str, Any] = field(
        default_factory=lambda: {"kind": "List", "metadata": {}, "items": []}
    )
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rec.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            payload = json.dumps(rec.body).encode()
            self.send_response(rec.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str, *, token: str | None = TOKEN) -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    config.host = url
    config.retries = False
    if token is not None:
        config.api_key = {"authorization": f"Bearer {token}"}
    return kubernetes.client.ApiClient(config)


def _typed(target: kube.ListTarget) -> Callable[..., Any]:
    """The typed API method that lists ``target``, as meshatlas once called it."""
    ns = target.namespace
    if target.group == "":
        core = kubernetes.client.CoreV1Api
        if target.resource == "namespaces":
            return lambda api, **kw: core(api).list_namespace(**kw)
        if ns:
            return lambda api, **kw: core(api).list_namespaced_service(ns, **kw)
        return lambda api, **kw: core(api).list_service_for_all_namespaces(**kw)
    if target.group == "discovery.k8s.io":
        disc = kubernetes.client.DiscoveryV1Api
        if ns:
            return lambda api, **kw: disc(api).list_namespaced_endpoint_slice(ns, **kw)
        return lambda api, **kw: disc(api).list_endpoint_slice_for_all_namespaces(**kw)
    custom = kubernetes.client.CustomObjectsApi
    g, v, r = target.group, target.version, target.resource
    if ns:
        return lambda api, **kw: custom(api).list_namespaced_custom_object(g, v, ns, r, **kw)
    return lambda api, **kw: custom(api).list_cluster_custom_object(g, v, r, **kw)


TARGETS = [
    kube.ListTarget("namespaces"),
    kube.ListTarget("services"),
    kube.ListTarget("services", namespace="shop"),
    kube.ListTarget("endpointslices", "discovery.k8s.io"),
    kube.ListTarget("endpointslices", "discovery.k8s.io", namespace="billing"),
    kube.ListTarget("virtualservices", "networking.istio.io", "v1"),
    kube.ListTarget("serviceentries", "networking.istio.io", "v1beta1", "shop"),
    # Path parameters are quoted as the typed classes quote them.
    kube.ListTarget("services", namespace="odd name/x"),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.path)
@pytest.mark.parametrize(
    ("query", "typed_kwargs"),
    [
        ([("limit", 500)], {"limit": 500}),
        (
            [("continue", "tok/en=="), ("labelSelector", "app in (a,b),!tier"), ("limit", 7)],
            {"_continue": "tok/en==", "label_selector": "app in (a,b),!tier", "limit": 7},
        ),
    ],
    ids=["first-page", "continued-selected"],
)
def test_the_request_is_the_typed_api_request(
    recorder: Recorder,
    target: kube.ListTarget,
    query: list[tuple[str, Any]],
    typed_kwargs: dict[str, Any],
) -> None:
    api = _client(recorder.url)
    body = target.call(api, query=query, timeout=5.0)
    _typed(target)(api, _preload_content=False, _request_timeout=5.0, **typed_kwargs)
    (ours, theirs) = recorder.seen
    assert json.loads(body) == recorder.body
    assert ours[0] == theirs[0]
    for header in ("accept", "authorization", "user-agent"):
        assert ours[1].get(header) == theirs[1].get(header), header
    assert ours[1]["authorization"] == f"Bearer {TOKEN}"
    assert ours[1]["accept"] == "application/json"


def test_query_parameters_are_kubernetes_names(recorder: Recorder) -> None:
    lister = kube.Lister(kube.ClusterConnection("rec", _client(recorder.url)), page_size=3)
    list(lister.list(kube.ListTarget("services"), label_selector="app=x"))
    ((path, _),) = recorder.seen
    assert path == "/api/v1/services?labelSelector=app%3Dx&limit=3"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 429, 500, 503, 418])
def test_error_statuses_raise_what_the_typed_api_raises(recorder: Recorder, status: int) -> None:
    recorder.status = status
    recorder.body = {"kind": "Status", "code": status, "message": f"said {status}"}
    api = _client(recorder.url)
    target = kube.ListTarget("services", namespace="shop")
    with pytest.raises(kubernetes.client.ApiException) as ours:
        target.call(api, query=[("limit", 1)], timeout=5.0)
    with pytest.raises(kubernetes.client.ApiException) as theirs:
        _typed(target)(api, limit=1, _preload_content=False, _request_timeout=5.0)
    assert type(ours.value) is type(theirs.value)
    assert ours.value.status == theirs.value.status == status
    assert ours.value.reason == theirs.value.reason
    assert json.loads(ours.value.body) == json.loads(theirs.value.body) == recorder.body
    assert ours.value.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "attempts"), [(404, 1), (403, 1), (401, 1), (410, 1), (500, 3), (429, 3)]
)
def test_lister_maps_errors_to_kube_errors(recorder: Recorder, status: int, attempts: int) -> None:
    recorder.status = status
    recorder.body = {"kind": "Status", "code": status, "message": "the message"}
    waits: list[float] = []
    conn = kube.ClusterConnection("rec", _client(recorder.url))
    lister = kube.Lister(conn, attempts=3, sleep=waits.append)
    with pytest.raises(KubeError) as info:
        list(lister.list(kube.ListTarget("services")))
    err = info.value
    assert (err.status, err.message, err.cluster, err.resource) == (
        status,
        "the message",
        "rec",
        "/api/v1/services",
    )
    assert isinstance(err.__cause__, kubernetes.client.ApiException)
    assert len(recorder.seen) == attempts == lister.requests
    assert waits == [0.2, 0.4][: attempts - 1]


def test_a_status_without_a_message_names_the_http_reason(recorder: Recorder) -> None:
    recorder.status = 502
    recorder.body = {"kind": "Status"}
    conn = kube.ClusterConnection("rec", _client(recorder.url))
    with pytest.raises(KubeError) as info:
        list(kube.Lister(conn, attempts=1).list(kube.ListTarget("namespaces")))
    assert info.value.message == "HTTP 502 Bad Gateway"


def test_a_body_that_is_not_an_object_is_retried_then_refused(recorder: Recorder) -> None:
    recorder.body = ["not", "a", "list"]  # type: ignore[assignment]
    conn = kube.ClusterConnection("rec", _client(recorder.url))
    with pytest.raises(KubeError) as info:
        list(kube.Lister(conn, attempts=2, sleep=lambda _: None).list(kube.ListTarget("services")))
    assert info.value.status is None
    assert info.value.message == "ValueError: list body is not a JSON object"
    assert len(recorder.seen) == 2


def test_core_resources_meshatlas_does_not_read_are_refused(recorder: Recorder) -> None:
    with pytest.raises(KubeError, match="does not read /api/v1/namespaces/x/secrets"):
        kube.ListTarget("secrets", namespace="x").call(_client(recorder.url), query=[], timeout=1.0)
    assert recorder.seen == []


@pytest.fixture(scope="module")
def api_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir: Path = tmp_path_factory.mktemp("kube-requests")
    with Mesh(["demo"], octet=mesh_octet(5), workdir=workdir, with_backends=False) as mesh:
        yield mesh


def _manifest_services() -> list[dict[str, Any]]:
    """The demo cluster's Services as its manifest declares them (the truth)."""
    path = Path(fixtures.__file__).parent / "clusters" / "demo" / "services.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Service"]


def test_pages_follow_continue_tokens_on_the_fixture_api(api_mesh: Mesh) -> None:
    state = api_mesh.state("demo")
    state.log.clear()
    (conn,) = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
    lister = kube.Lister(conn, page_size=6)
    items = list(lister.list(kube.ListTarget("services")))
    assert len(items) == len({(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items})
    assert len(items) == len(_manifest_services())
    assert state.log[0] == "GET /api/v1/services?limit=6"
    assert all(line.startswith("GET /api/v1/services?continue=") for line in state.log[1:])
    assert all(line.endswith("&limit=6") for line in state.log[1:])
    assert len(state.log) == lister.requests == -(-len(items) // 6)


def test_selectors_and_namespaces_on_the_fixture_api(api_mesh: Mesh) -> None:
    (conn,) = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
    lister = kube.Lister(conn)
    picked = lister.list(kube.ListTarget("services"), label_selector="app in (catalog,orders)")
    assert sorted(s["metadata"]["name"] for s in picked) == ["catalog", "orders"]
    shop = list(lister.list(kube.ListTarget("services", namespace="shop")))
    in_shop = [m for m in _manifest_services() if m["metadata"]["namespace"] == "shop"]
    assert len(shop) == len(in_shop) and {s["metadata"]["namespace"] for s in shop} == {"shop"}
    vs = lister.list(kube.ListTarget("virtualservices", "networking.istio.io", "v1beta1"))
    assert [v["metadata"]["name"] for v in vs] == ["catalog", "checkout", "orders"]
    with pytest.raises(KubeError) as info:
        list(lister.list(kube.ListTarget("services"), label_selector="app in (a"))
    assert info.value.status == 400
    assert info.value.message.startswith("unable to parse requirement")


def test_the_kubeconfig_token_is_sent_and_required(api_mesh: Mesh) -> None:
    (conn,) = kube.connect(kubeconfig=str(api_mesh.kubeconfig))
    assert len(list(kube.Lister(conn).list(kube.ListTarget("namespaces")))) == 5
    anonymous = kube.ClusterConnection("demo", _client(api_mesh.clusters[0].server, token=None))
    with pytest.raises(KubeError) as info:
        list(kube.Lister(anonymous).list(kube.ListTarget("namespaces")))
    assert (info.value.status, info.value.message) == (401, "Unauthorized")
