"""``meshatlas posture`` on the secure fixture mesh, through the real CLI.

The fixture kube API serves fixtures/clusters/secure (Istio security config
included) and a real Prometheus holds the series of
:mod:`fixtures.telemetry_secure`. Expected findings come from how the
manifests are built (fixtures/clusters/secure/security.yaml says what each
object does) and from Istio's rules, as the comments below give them; the
rates and shares from :data:`SECURE_CALLS`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

import governance
from discovery import inventory, kube
from discovery.mesh.security import SecurityConfig, merge, read_security
from fixtures.mesh import Mesh
from fixtures.telemetry import PrometheusServer
from fixtures.telemetry_secure import (
    SECURE_CALLS,
    TRUST_DOMAIN,
    closed_manifests,
    write_openmetrics,
)
from governance import Request, decide
from governance.policy import crds
from meshatlas.cli import main
from meshatlas.job import report as report_mod
from meshatlas.status import ExitCode
from tests.conftest import mesh_octet

BIN = Path(sys.executable).parent / "meshatlas"
CLUSTER_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "clusters" / "secure"
C = "secure"
MESH_STRICT = "PeerAuthentication istio-system/default"
LEGACY_PERMISSIVE = "PeerAuthentication legacy/default"


@dataclass(frozen=True)
class Expected:
    kind: str
    severity: str
    subject: str
    objects: tuple[str, ...]
    #: Words the reason must name (callers, modes).
    names: tuple[str, ...] = ()


EXPECTED: tuple[Expected, ...] = (
    # bank/ledger allows only bank/accounts' principal; bank/teller calls it too.
    Expected(
        "policy-denies-observed-caller",
        "high",
        f"{C}/bank/teller -> {C}/bank/ledger",
        ("AuthorizationPolicy bank/ledger",),
        (f"{C}/bank/teller",),
    ),
    # pricing is ambient without a waypoint: quotes' selector policy tests a
    # method, which ztunnel cannot see, so its ALLOW rule matches nothing and
    # denies storefront, which calls today.
    Expected(
        "l7-policy-on-ztunnel",
        "high",
        f"{C}/pricing/quotes",
        ("AuthorizationPolicy pricing/quotes",),
        ("denies every request",),
    ),
    Expected(
        "policy-denies-observed-caller",
        "high",
        f"{C}/web/storefront -> {C}/pricing/quotes",
        ("AuthorizationPolicy pricing/quotes",),
        (f"{C}/web/storefront",),
    ),
    # rates' policy attaches to the Service with targetRefs; no waypoint enforces it.
    Expected(
        "policy-without-waypoint",
        "medium",
        f"{C}/pricing/rates",
        ("AuthorizationPolicy pricing/rates",),
    ),
    Expected("no-authorization-policy", "medium", f"{C}/pricing/rates", ()),
    # legacy is PERMISSIVE and ops/cron calls reports over plaintext (its DestinationRule).
    Expected(
        "plaintext-accepted",
        "high",
        f"{C}/legacy/reports:8080",
        (LEGACY_PERMISSIVE,),
        ("PERMISSIVE", f"{C}/ops/cron"),
    ),
    Expected("no-authorization-policy", "medium", f"{C}/legacy/reports", ()),
    # archive: PERMISSIVE, but its one caller (bank/ledger) already uses mTLS.
    Expected("could-be-strict", "low", f"{C}/legacy/archive:8080", (LEGACY_PERMISSIVE,)),
    # audit's workload policy: UNSET (inherits STRICT) with port 9090 DISABLE.
    Expected(
        "mtls-disabled",
        "medium",
        f"{C}/bank/audit:9090",
        ("PeerAuthentication bank/audit (port 9090)",),
    ),
    # storefront is exposed at istio-system/public, validates JWTs when sent and
    # has no AuthorizationPolicy at all: three findings, all high since exposed.
    Expected(
        "jwt-optional", "high", f"{C}/web/storefront", ("RequestAuthentication web/storefront-jwt",)
    ),
    Expected(
        "exposed-without-authentication",
        "high",
        f"{C}/web/storefront",
        ("Gateway istio-system/public",),
    ),
    Expected("no-authorization-policy", "high", f"{C}/web/storefront", ()),
)
#: Every kind governance knows has at least one expected finding here.
KINDS = sorted({e.kind for e in EXPECTED})
#: STRICT, an ALLOW policy naming exactly the callers, not exposed.
SECURED = ("bank/accounts", "bank/teller", "ops/cron")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHATLAS_")}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path_factory.mktemp("prom-secure"), series=write_openmetrics) as p:
        yield p


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("secure")
    with Mesh([C], octet=mesh_octet(offset=83), workdir=workdir, with_backends=False) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("secure-closed")
    octet = mesh_octet(offset=89)
    docs = {C: closed_manifests(octet=octet)}
    with Mesh([C], octet=octet, workdir=workdir, with_backends=False, generated=docs) as mesh:
        yield mesh


def _posture(mesh: Mesh, prom: PrometheusServer, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "posture",
        "--kubeconfig",
        str(mesh.kubeconfig),
        "--prometheus",
        prom.url,
        "--telemetry-at",
        str(int(prom.at.timestamp())),
        *extra,
        cwd=mesh.workdir,
    )


@pytest.fixture(scope="module")
def doc(secure: Mesh, prometheus: PrometheusServer) -> dict[str, Any]:
    proc = _posture(secure, prometheus, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


def _instances(doc: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(f"{i['namespace']}/{i['service']}", i["port"]): i for i in doc["posture"]["instances"]}


def test_every_expected_finding_and_no_other(doc: dict[str, Any]) -> None:
    found = {
        (f["kind"], f["severity"], f["subject"], tuple(f["objects"]))
        for f in doc["posture"]["findings"]
    }
    assert found == {(e.kind, e.severity, e.subject, e.objects) for e in EXPECTED}
    assert len(doc["posture"]["findings"]) == len(EXPECTED)
    assert doc["problems"] == [] and doc["posture"]["notes"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_reported_exactly(doc: dict[str, Any], kind: str) -> None:
    wanted = [e for e in EXPECTED if e.kind == kind]
    got = [f for f in doc["posture"]["findings"] if f["kind"] == kind]
    assert sorted((f["subject"], f["severity"], tuple(f["objects"])) for f in got) == sorted(
        (e.subject, e.severity, e.objects) for e in wanted
    )
    for e in wanted:
        (finding,) = [f for f in got if f["subject"] == e.subject]
        for name in e.names:
            assert name in finding["reason"], (name, finding["reason"])
        assert finding["first_seen"] is None and finding["last_seen"] is None


@pytest.mark.parametrize("service", SECURED)
def test_a_correctly_secured_api_gets_no_finding(doc: dict[str, Any], service: str) -> None:
    instance = _instances(doc)[(service, 8080)]
    assert instance["findings"] == []
    node = f"{C}/{service}"
    about = [
        f
        for f in doc["posture"]["findings"]
        if f["subject"].split(":")[0] == node or f["subject"].endswith(f"-> {node}")
    ]
    assert about == []
    assert instance["mtls"]["mode"] == "STRICT" and instance["mtls"]["set_by"] == MESH_STRICT
    assert instance["covered_by_policy"] is True and instance["exposed_at"] == []
    namespace, name = service.split("/")
    callers = [c for c in SECURE_CALLS if c.server == (namespace, name)]
    assert sorted((c["principal"], c["verdict"]) for c in instance["callers"]) == sorted(
        (c.client_principal, "allow") for c in callers
    )


def test_the_secured_api_names_exactly_its_callers(doc: dict[str, Any]) -> None:
    accounts = _instances(doc)[("bank/accounts", 8080)]
    assert accounts["policies"] == ["AuthorizationPolicy bank/accounts"]
    assert accounts["service_accounts"] == ["cluster.local/ns/bank/sa/accounts"]
    assert accounts["mtls"]["share"] == 1.0 and accounts["plaintext_callers"] == []


def test_plaintext_callers_and_the_share_of_mtls(doc: dict[str, Any]) -> None:
    calls = [c for c in SECURE_CALLS if c.server == ("legacy", "reports")]
    secured = sum(c.rps for c in calls if c.mtls)
    reports = _instances(doc)[("legacy/reports", 8080)]
    assert reports["mtls"]["mode"] == "PERMISSIVE"
    assert reports["mtls"]["unit"] == "requests"
    assert reports["mtls"]["share"] == pytest.approx(secured / sum(c.rps for c in calls))
    plain = sorted(f"{C}/{c.client[0]}/{c.client[1]}" for c in calls if not c.mtls)
    assert reports["plaintext_callers"] == plain == [f"{C}/ops/cron"]
    # A plaintext caller presents no identity.
    cron = [c for c in reports["callers"] if c["node"] == f"{C}/ops/cron"]
    assert [(c["principal"], c["mtls"]) for c in cron] == [(None, False)]
    assert sorted(reports["findings"]) == ["no-authorization-policy", "plaintext-accepted"]


def test_ambient_traffic_is_counted_in_connections(doc: dict[str, Any]) -> None:
    quotes = _instances(doc)[("pricing/quotes", 8080)]
    assert quotes["dataplane"] == "ambient"
    assert quotes["mtls"] == {
        "mode": "STRICT",
        "set_by": MESH_STRICT,
        "share": 1.0,
        "unit": "connections",
    }
    (storefront,) = quotes["callers"]
    assert storefront["principal"] == "cluster.local/ns/web/sa/storefront"
    assert storefront["verdict"] == "deny"


def test_jwt_issuers_and_exposure_of_the_storefront(doc: dict[str, Any]) -> None:
    storefront = _instances(doc)[("web/storefront", 8080)]
    assert storefront["jwt"] == {"issuers": ["https://login.example.com"], "required": False}
    assert [(x["gateway"], x["host"], x["port"]) for x in storefront["exposed_at"]] == [
        ("istio-system/public", "shop.example.com", 443)
    ]
    assert storefront["covered_by_policy"] is False


def test_port_level_mtls_is_per_port(doc: dict[str, Any]) -> None:
    instances = _instances(doc)
    assert instances[("bank/audit", 8080)]["mtls"]["mode"] == "STRICT"
    assert instances[("bank/audit", 9090)]["mtls"]["mode"] == "DISABLE"
    assert instances[("bank/audit", 8080)]["findings"] == []
    assert instances[("bank/audit", 9090)]["findings"] == ["mtls-disabled"]


def test_json_is_valid_against_the_report_schemas_posture(doc: dict[str, Any]) -> None:
    schema = report_mod.schema()
    # The schema's own references resolve against its $id: register it, so
    # nothing is looked up anywhere else (tests never leave loopback).
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    posture = {"$ref": f"{schema['$id']}#/$defs/posture"}
    jsonschema.Draft202012Validator(posture, registry=registry).validate(doc["posture"])
    counts = doc["posture"]["counts"]
    assert counts == {
        s: sum(1 for e in EXPECTED if e.severity == s) for s in ("high", "medium", "low", "info")
    }


def test_the_table_lists_findings_most_severe_first(
    secure: Mesh, prometheus: PrometheusServer
) -> None:
    proc = _posture(secure, prometheus)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.strip().splitlines()
    assert header.split() == ["SEVERITY", "KIND", "SUBJECT", "REASON"]
    severities = [row.split()[0] for row in rows]
    order = ["high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)
    assert len(rows) == len(EXPECTED)


def test_fail_on_high_fails_the_gate_on_the_secure_mesh(
    secure: Mesh, prometheus: PrometheusServer
) -> None:
    proc = _posture(secure, prometheus, "--fail-on", "high")
    assert proc.returncode == ExitCode.GATE and int(ExitCode.GATE) == 4, proc.stderr
    high = sum(1 for e in EXPECTED if e.severity == "high")
    assert f"{high} findings at or above high" in proc.stderr


def test_fail_on_high_passes_with_the_gaps_closed(
    closed: Mesh, prometheus: PrometheusServer
) -> None:
    proc = _posture(closed, prometheus, "--fail-on", "high", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    left = {(f["kind"], f["subject"]) for f in json.loads(proc.stdout)["posture"]["findings"]}
    # What closed/security.yaml leaves open on purpose, both medium.
    assert left == {
        ("mtls-disabled", f"{C}/bank/audit:9090"),
        ("no-authorization-policy", f"{C}/legacy/reports"),
    }
    medium = _posture(closed, prometheus, "--fail-on", "medium")
    assert medium.returncode == ExitCode.GATE


def test_the_gate_wins_over_a_source_that_failed(secure: Mesh, tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback (discard): the telemetry read fails,
    # the config alone still has a low-or-worse finding (jwt-optional).
    dead = ("--kubeconfig", str(secure.kubeconfig), "--prometheus", "http://127.0.0.1:9")
    partial = _run("posture", *dead, cwd=secure.workdir)
    assert partial.returncode == ExitCode.PARTIAL, partial.stderr
    gated = _run("posture", *dead, "--fail-on", "low", cwd=secure.workdir)
    assert gated.returncode == ExitCode.GATE, gated.stderr
    assert "at or above low" in gated.stderr
    # The problem is still reported beside the gate's verdict.
    assert partial.stderr.count("127.0.0.1:9") >= 1 and "127.0.0.1:9" in gated.stderr


def test_help_names_the_gate_exit_code(tmp_path: Path) -> None:
    proc = _run("posture", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "exit 4" in " ".join(proc.stdout.split())


def test_a_bad_fail_on_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("posture", "--fail-on", "critical", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--fail-on" in proc.stderr and "Traceback" not in proc.stderr


def test_without_telemetry_principals_are_unknown_not_guessed(secure: Mesh) -> None:
    proc = _run("posture", "--kubeconfig", str(secure.kubeconfig), "-o", "json", cwd=secure.workdir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # Config alone: no callers, so only what config says is judged.
    kinds = {(f["kind"], f["subject"]) for f in doc["posture"]["findings"]}
    assert ("policy-denies-observed-caller", f"{C}/bank/teller -> {C}/bank/ledger") not in kinds
    assert ("jwt-optional", f"{C}/web/storefront") in kinds
    assert all(i["callers"] == [] for i in doc["posture"]["instances"])


def test_forbidden_security_config_is_a_note_and_nothing_is_judged(secure: Mesh) -> None:
    state = secure.state(C)
    state.forbidden = frozenset({"authorizationpolicies"})
    try:
        read = inventory.read_inventory(kube.connect(kubeconfig=str(secure.kubeconfig)))
    finally:
        state.forbidden = frozenset()
    assert read.problems == ()
    assert any("authorizationpolicies" in n or "not readable" in n for n in read.notes)
    assert not read.mesh.security.read_in(C, "bank")
    from meshatlas.job import posture

    judged = posture.assess(read, ())
    assert judged.instances == () and judged.findings == ()
    assert any("not judged" in n for n in judged.notes)


def test_the_security_config_is_read_from_the_kube_api(secure: Mesh) -> None:
    read = inventory.read_inventory(kube.connect(kubeconfig=str(secure.kubeconfig)))
    security = read.mesh.security
    assert security.notes == () and security.unread == frozenset()
    assert sorted(str(p.ref) for p in security.peer_authentications) == [
        "PeerAuthentication bank/audit",
        MESH_STRICT,
        LEGACY_PERMISSIVE,
    ]
    assert len(security.authorization_policies) == 8
    assert [r.jwt_rules[0].issuer for r in security.request_authentications] == [
        "https://login.example.com"
    ]
    # The root namespace is read even when the scope names other namespaces.
    scoped = inventory.read_inventory(
        kube.connect(kubeconfig=str(secure.kubeconfig)), scope=inventory.Scope(namespaces=("bank",))
    )
    refs = {str(p.ref) for p in scoped.mesh.security.peer_authentications}
    assert MESH_STRICT in refs and LEGACY_PERMISSIVE not in refs


def test_discover_reports_the_posture_of_the_apis_it_found(
    tmp_path: Path, prometheus: PrometheusServer
) -> None:
    out = tmp_path / "report.json"
    with Mesh([C], octet=mesh_octet(offset=97), workdir=tmp_path / "mesh") as mesh:
        argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--dry-run", "--report", str(out)]
        argv += [
            "--prometheus",
            prometheus.url,
            "--telemetry-at",
            str(int(prometheus.at.timestamp())),
        ]
        assert main(argv) == 0
    report = json.loads(out.read_text())
    jsonschema.Draft202012Validator(report_mod.schema()).validate(report)
    found = {(f["kind"], f["subject"]) for f in report["posture"]["findings"]}
    assert found == {(e.kind, e.subject) for e in EXPECTED}
    apis = {
        (f"{i['namespace']}/{i['service']}", i["port"]): i["api"]
        for i in report["posture"]["instances"]
    }
    assert apis[("bank/accounts", 8080)] == "rest"


def test_an_older_mesh_serving_only_v1beta1_is_read_the_same(secure: Mesh) -> None:
    from fixtures.kubeapi import Fault

    state = secure.state(C)
    state.faults = [Fault("/apis/security.istio.io/v1/", status=404, times=1000)]
    state.log.clear()
    try:
        read = inventory.read_inventory(kube.connect(kubeconfig=str(secure.kubeconfig)))
    finally:
        state.faults = []
    assert any(
        "/apis/security.istio.io/v1beta1/authorizationpolicies" in line for line in state.log
    )
    assert len(read.mesh.security.authorization_policies) == 8
    assert read.mesh.security.unread == frozenset()


def test_a_cluster_without_istio_is_a_note_and_not_judged(secure: Mesh) -> None:
    state = secure.state(C)
    state.istio = False
    try:
        read = inventory.read_inventory(kube.connect(kubeconfig=str(secure.kubeconfig)))
    finally:
        state.istio = True
    assert read.problems == ()
    assert f"{C}: no Istio security config (security.istio.io not served); posture not judged" in (
        read.notes
    )
    assert not read.mesh.security.read_in(C, "bank")


# meshatlas policy suggest -------------------------------------------------


def _workload(namespace: str, service: str) -> governance.Workload:
    """The workload behind a fixture Service, from the manifests themselves."""
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
    return governance.Workload(
        cluster=C,
        namespace=namespace,
        service=service,
        labels=dict(svc["spec"]["selector"]),
        ambient=labels.get("istio.io/dataplane-mode") == "ambient",
    )


def _security(docs: list[dict[str, Any]]) -> SecurityConfig:
    return read_security(
        cluster=C,
        peer_authentications=[d for d in docs if d["kind"] == "PeerAuthentication"],
        authorization_policies=[d for d in docs if d["kind"] == "AuthorizationPolicy"],
        request_authentications=[d for d in docs if d["kind"] == "RequestAuthentication"],
    )


@pytest.fixture(scope="module")
def suggested(
    secure: Mesh, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("suggested")
    proc = _run(
        "policy",
        "suggest",
        "--kubeconfig",
        str(secure.kubeconfig),
        "--prometheus",
        prometheus.url,
        "--telemetry-at",
        str(int(prometheus.at.timestamp())),
        "--out",
        str(out),
        cwd=secure.workdir,
    )
    assert proc.returncode == 0, proc.stderr
    assert "nothing applied" in proc.stderr
    return out


def test_policy_suggest_writes_one_file_per_called_workload(suggested: Path) -> None:
    written = sorted(p.relative_to(suggested).as_posix() for p in suggested.rglob("*.yaml"))
    assert written == sorted({f"{c.server[0]}/{c.server[1]}.yaml" for c in SECURE_CALLS})


def test_every_suggested_object_passes_istios_schema(suggested: Path) -> None:
    docs = [d for p in suggested.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    assert {d["kind"] for d in docs} <= {"AuthorizationPolicy", "PeerAuthentication"}
    for doc in docs:
        crds.validate(doc)  # Istio's own v1 CRD schema, vendored


def test_suggested_policies_allow_every_observed_call_and_deny_a_stranger(
    suggested: Path,
) -> None:
    today = [d for d in yaml.safe_load_all((CLUSTER_DIR / "security.yaml").read_text()) if d]
    suggested_docs: list[dict[str, Any]] = []
    for path in sorted(suggested.rglob("*.yaml")):
        namespace, service = path.relative_to(suggested).as_posix().removesuffix(".yaml").split("/")
        workload = _workload(namespace, service)
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        suggested_docs.extend(docs)
        alone = _security(docs)
        for call in (c for c in SECURE_CALLS if c.server == (namespace, service) and c.mtls):
            request = Request.from_caller(
                namespace=call.client[0], mtls=True, principal=call.client_principal
            )
            assert decide(alone, workload, request).verdict == "allow", (path, call)
        callers = {c.client_principal for c in SECURE_CALLS if c.server == (namespace, service)}
        stranger = f"{TRUST_DOMAIN}/ns/{namespace}/sa/nobody-calls"
        assert stranger not in callers
        request = Request.from_caller(namespace=namespace, mtls=True, principal=stranger)
        assert decide(alone, workload, request).verdict == "deny", path
    # Applied beside today's config (ALLOW policies add up), every observed
    # mTLS call is allowed too, the ones today's policies deny included.
    both = merge([_security(today), _security(suggested_docs)])
    for call in (c for c in SECURE_CALLS if c.mtls):
        request = Request.from_caller(
            namespace=call.client[0], mtls=True, principal=call.client_principal
        )
        assert decide(both, _workload(*call.server), request).verdict == "allow", call


def test_a_plaintext_caller_is_never_named_in_an_allow_rule(suggested: Path) -> None:
    (cron,) = [c for c in SECURE_CALLS if not c.mtls]
    text = (suggested / cron.server[0] / f"{cron.server[1]}.yaml").read_text()
    policy = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "AuthorizationPolicy")
    named = json.dumps(policy["spec"])
    assert cron.client_principal not in named and f'"{cron.client[0]}"' not in named
    workload = _workload(*cron.server)
    plaintext = Request.from_caller(namespace=cron.client[0], mtls=False)
    assert decide(_security([policy]), workload, plaintext).verdict == "deny"


def test_policy_suggest_without_prometheus_is_a_usage_error(secure: Mesh) -> None:
    proc = _run("policy", "suggest", "--kubeconfig", str(secure.kubeconfig), cwd=secure.workdir)
    assert proc.returncode == 2 and "--prometheus" in proc.stderr
