"""``meshatlas policy suggest --jaeger``: methods and paths per caller, from traces.

The secure fixture mesh (fixtures/clusters/secure) with a real Prometheus
holding :data:`SECURE_CALLS` and a Jaeger query fixture serving the traces
of :data:`TRACED`, the truth of what each caller asked for. Each trace is a
client span in the caller's service with the server span as its child, as a
caller's sidecar and the server's write them. The written policies are
evaluated with governance's Istio evaluator: every traced (caller, method,
path) is allowed, and for that caller a method or path it did not use is
denied.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from discovery.mesh.security import SecurityConfig, read_security
from fixtures.mesh import Mesh
from fixtures.telemetry import PrometheusServer
from fixtures.telemetry_backends import jaeger_spans_app, serving, zipkin_spans_app
from fixtures.telemetry_secure import SECURE_CALLS, write_openmetrics
from governance import Request, Workload, decide
from governance.policy import crds
from tests.conftest import mesh_octet

BIN = Path(sys.executable).parent / "meshatlas"
CLUSTER_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "clusters" / "secure"
C = "secure"


@dataclass(frozen=True, slots=True)
class Traced:
    """Requests from ``caller`` (``namespace/app``, ``None``: trace began at the server)."""

    caller: tuple[str, str] | None
    server: tuple[str, str]
    method: str
    path: str
    count: int = 1


TRACED: tuple[Traced, ...] = (
    Traced(("web", "storefront"), ("bank", "teller"), "GET", "/accounts/1", 3),
    Traced(("web", "storefront"), ("bank", "teller"), "GET", "/accounts/2"),
    Traced(("web", "storefront"), ("bank", "teller"), "POST", "/transfers", 2),
    Traced(("bank", "teller"), ("bank", "accounts"), "GET", "/balances/7", 2),
    Traced(("bank", "teller"), ("bank", "ledger"), "POST", "/entries"),
    Traced(("bank", "accounts"), ("bank", "ledger"), "GET", "/entries/9", 2),
    # A caller the metrics do not show: its identity is unknown.
    Traced(("bank", "audit"), ("bank", "ledger"), "DELETE", "/entries/9"),
    # A trace that began at teller: no caller to tie it to.
    Traced(None, ("bank", "teller"), "GET", "/internal/health"),
    # quotes is ambient without a waypoint: ztunnel enforces L4 only.
    Traced(("web", "storefront"), ("pricing", "quotes"), "GET", "/quote/eur"),
)
WINDOW_US = 5 * 60 * 1_000_000


def _traces(at_us: int) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    serial = 0
    for t in TRACED:
        for _ in range(t.count):
            serial += 1
            trace_id = f"{serial:032x}"
            start = at_us - serial * 1_000_000
            server = {
                "traceID": trace_id,
                "spanID": f"{serial:014x}02",
                "operationName": f"{t.method} {t.path}",
                "references": [],
                "startTime": start + 100,
                "duration": 900,
                "tags": [
                    {"key": "span.kind", "value": "server"},
                    {"key": "http.method", "value": t.method},
                    {"key": "http.target", "value": t.path},
                    {"key": "http.status_code", "value": 200},
                ],
                "processID": "p2",
            }
            processes = {"p2": {"serviceName": f"{t.server[1]}.{t.server[0]}", "tags": []}}
            spans = [server]
            if t.caller is not None:
                client_id = f"{serial:014x}01"
                server["references"] = [
                    {"refType": "CHILD_OF", "traceID": trace_id, "spanID": client_id}
                ]
                processes["p1"] = {"serviceName": f"{t.caller[1]}.{t.caller[0]}", "tags": []}
                spans.insert(
                    0,
                    {
                        "traceID": trace_id,
                        "spanID": client_id,
                        "operationName": "call",
                        "references": [],
                        "startTime": start,
                        "duration": 1000,
                        "tags": [{"key": "span.kind", "value": "client"}],
                        "processID": "p1",
                    },
                )
            traces.append({"traceID": trace_id, "spans": spans, "processes": processes})
    assert serial * 1_000_000 < WINDOW_US
    return traces


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHATLAS_")}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path_factory.mktemp("prom-l7"), series=write_openmetrics) as p:
        yield p


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("secure-l7")
    with Mesh([C], octet=mesh_octet(offset=139), workdir=workdir, with_backends=False) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def jaeger(prometheus: PrometheusServer) -> Iterator[str]:
    with serving(jaeger_spans_app(_traces(int(prometheus.at.timestamp() * 1_000_000)))) as url:
        yield url


def _suggest(
    secure: Mesh, prometheus: PrometheusServer, jaeger: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return _run(
        "policy",
        "suggest",
        "--kubeconfig",
        str(secure.kubeconfig),
        "--prometheus",
        prometheus.url,
        "--jaeger",
        jaeger,
        "--telemetry-at",
        str(int(prometheus.at.timestamp())),
        *extra,
        cwd=secure.workdir,
    )


@pytest.fixture(scope="module")
def written(
    secure: Mesh,
    prometheus: PrometheusServer,
    jaeger: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("l7")
    proc = _suggest(secure, prometheus, jaeger, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def evidence(secure: Mesh, prometheus: PrometheusServer, jaeger: str) -> dict[str, Any]:
    proc = _suggest(secure, prometheus, jaeger, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return {s["workload"]: s for s in doc["suggestions"]}


def _workload(namespace: str, service: str) -> Workload:
    (svc,) = [
        d
        for d in yaml.safe_load_all((CLUSTER_DIR / "services.yaml").read_text())
        if d
        and d["kind"] == "Service"
        and (d["metadata"]["namespace"], d["metadata"]["name"]) == (namespace, service)
    ]
    (ns,) = [
        d
        for d in yaml.safe_load_all((CLUSTER_DIR / "namespaces.yaml").read_text())
        if d and d["metadata"]["name"] == namespace
    ]
    labels = ns["metadata"].get("labels") or {}
    return Workload(
        cluster=C,
        namespace=namespace,
        service=service,
        labels=dict(svc["spec"]["selector"]),
        ambient=labels.get("istio.io/dataplane-mode") == "ambient",
    )


def _policies(written: Path, server: tuple[str, str]) -> SecurityConfig:
    docs = [
        d for d in yaml.safe_load_all((written / server[0] / f"{server[1]}.yaml").read_text()) if d
    ]
    return read_security(
        cluster=C, authorization_policies=[d for d in docs if d["kind"] == "AuthorizationPolicy"]
    )


def _request(caller: tuple[str, str], method: str, path: str) -> Request:
    # Each caller app runs as one service account, whatever it calls.
    (principal,) = {c.client_principal for c in SECURE_CALLS if c.client == caller}
    base = Request.from_caller(namespace=caller[0], mtls=True, principal=principal)
    return dataclasses.replace(base, method=method, path=path)


def _l7(t: Traced) -> bool:
    return (
        t.caller is not None and t.server != ("pricing", "quotes") and t.caller != ("bank", "audit")
    )


def test_every_written_object_passes_istios_schema(written: Path) -> None:
    docs = [d for p in written.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    assert docs
    for doc in docs:
        crds.validate(doc)


def test_every_traced_call_is_allowed(written: Path) -> None:
    for t in filter(_l7, TRACED):
        assert t.caller is not None
        verdict = decide(
            _policies(written, t.server), _workload(*t.server), _request(t.caller, t.method, t.path)
        )
        assert verdict.verdict == "allow", t


def test_what_a_caller_did_not_ask_for_is_denied(written: Path) -> None:
    for t in filter(_l7, TRACED):
        assert t.caller is not None
        used = {(u.method, u.path) for u in TRACED if u.caller == t.caller and u.server == t.server}
        config, workload = _policies(written, t.server), _workload(*t.server)
        for method, path in ((t.method, "/admin/users"), ("PATCH", t.path)):
            assert (method, path) not in used
            verdict = decide(config, workload, _request(t.caller, method, path))
            assert verdict.verdict == "deny", (t, method, path)
    # Pairs stay paired: storefront did GET /accounts/1 and POST /transfers, not POST /accounts/1.
    config, workload = _policies(written, ("bank", "teller")), _workload("bank", "teller")
    crossed = _request(("web", "storefront"), "POST", "/accounts/1")
    assert decide(config, workload, crossed).verdict == "deny"


def test_a_caller_with_no_trace_keeps_any_method_and_path(written: Path) -> None:
    # teller -> audit is in the metrics only.
    assert not [t for t in TRACED if t.server == ("bank", "audit")]
    config, workload = _policies(written, ("bank", "audit")), _workload("bank", "audit")
    anything = _request(("bank", "teller"), "DELETE", "/whatever")
    assert decide(config, workload, anything).verdict == "allow"


def test_evidence_says_what_traces_could_not_tie_to_a_caller(evidence: dict[str, Any]) -> None:
    teller = evidence[f"{C}/bank/teller"]["notes"]
    assert any("1 traced call without a known caller" in n for n in teller), teller
    ledger = evidence[f"{C}/bank/ledger"]["notes"]
    assert any(
        n.startswith(f"{C}/bank/audit: seen in 1 traced call but not in the metrics")
        for n in ledger
    ), ledger
    # audit's DELETE is not allowed: nobody in the metrics did it.
    ops = {op for t in evidence[f"{C}/bank/ledger"]["traffic"] for op in t["operations"]}
    assert not any(op.startswith("DELETE") for op in ops), ops


def test_ztunnel_only_workloads_get_no_methods_or_paths(
    written: Path, evidence: dict[str, Any]
) -> None:
    notes = evidence[f"{C}/pricing/quotes"]["notes"]
    assert any("ztunnel enforces L4 only" in n for n in notes), notes
    text = (written / "pricing" / "quotes.yaml").read_text()
    policy = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "AuthorizationPolicy")
    assert "methods" not in json.dumps(policy["spec"]) and "/quote" not in json.dumps(
        policy["spec"]
    )


def test_the_operations_are_those_traced(evidence: dict[str, Any]) -> None:
    teller = {t["caller"]: t["operations"] for t in evidence[f"{C}/bank/teller"]["traffic"]}
    assert sorted(teller[f"{C}/web/storefront"]) == [
        "GET /accounts/1 /accounts/2 on any port",
        "POST /transfers on any port",
    ]


def _zipkin(jaeger_traces: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The same traces in Zipkin v2's shape (``parentId``, ``kind``, ``localEndpoint``)."""
    out: list[list[dict[str, Any]]] = []
    for trace in jaeger_traces:
        spans = []
        for span in trace["spans"]:
            tags = {t["key"]: t["value"] for t in span["tags"]}
            kind = str(tags.pop("span.kind")).upper()
            zipkin: dict[str, Any] = {
                "traceId": span["traceID"],
                "id": span["spanID"][-16:],
                "kind": kind,
                "name": span["operationName"],
                "timestamp": span["startTime"],
                "duration": span["duration"],
                "localEndpoint": {
                    "serviceName": trace["processes"][span["processID"]]["serviceName"]
                },
                "tags": {k: str(v) for k, v in tags.items()},
            }
            if span["references"]:
                zipkin["parentId"] = span["references"][0]["spanID"][-16:]
            spans.append(zipkin)
        out.append(spans)
    return out


def test_zipkin_parents_name_the_callers_too(
    secure: Mesh, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    at_us = int(prometheus.at.timestamp() * 1_000_000)
    with serving(zipkin_spans_app(_zipkin(_traces(at_us)))) as zipkin:
        proc = _run(
            "policy",
            "suggest",
            "--kubeconfig",
            str(secure.kubeconfig),
            "--prometheus",
            prometheus.url,
            "--zipkin",
            zipkin,
            "--telemetry-at",
            str(int(prometheus.at.timestamp())),
            "--out",
            str(tmp_path),
            cwd=secure.workdir,
        )
    assert proc.returncode == 0, proc.stderr
    for t in filter(_l7, TRACED):
        assert t.caller is not None
        config, workload = _policies(tmp_path, t.server), _workload(*t.server)
        assert decide(config, workload, _request(t.caller, t.method, t.path)).verdict == "allow"
        other = _request(t.caller, t.method, "/admin/users")
        assert decide(config, workload, other).verdict == "deny", t


# governance.policy.traced.join, unit level -----------------------------------


def test_more_paths_than_the_cap_fall_back_to_the_method_alone() -> None:
    from governance.policy import traced
    from governance.traffic import ObservedCall

    caller, target = f"{C}/web/storefront", f"{C}/bank/teller"
    call = ObservedCall(
        source=caller,
        target=target,
        namespace="web",
        principal="cluster.local/ns/web/sa/storefront",
        mtls=True,
        requests=60.0,
    )
    ops = [traced.TracedOperation(caller, target, "GET", f"/items/{i}") for i in range(4)]
    ops.append(traced.TracedOperation(caller, target, "POST", "/items"))
    joined = traced.join([call], ops, l7_targets={target}, max_paths=3)
    got = sorted((c.method, c.path, c.requests) for c in joined.calls)
    # GET over the cap: any path (one call, 4 of the 5 spans' share); POST keeps its path.
    assert got == [("GET", None, 48.0), ("POST", "/items", 12.0)]
    assert joined.notes[target] == (
        f"{caller}: 4 paths traced for GET, over 3: allowed on any path",
    )
    # Not enforced at L7 (ztunnel): the call is kept whole.
    assert traced.join([call], ops, l7_targets=set()).calls == (call,)
