"""Security posture: Istio's own rules for mTLS precedence and authorisation.

Expected outcomes come from Istio's reference documentation
(security/peer_authentication, security/authorization-policy, and the
ambient "Use Layer 4 security policy" page), not from meshatlas's output;
each case names the rule it checks.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from discovery.mesh.peers import PeerTraffic, principal, read_samples
from discovery.mesh.security import SecurityConfig, read_security
from discovery.model import Edge
from governance import (
    Request,
    Workload,
    assess,
    callers_of,
    callers_seen,
    decide,
    effective_mode,
    mtls_share,
    service_accounts,
)

CLUSTER = "c1"
SLEEP = "cluster.local/ns/default/sa/sleep"


def config(text: str) -> SecurityConfig:
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return read_security(
        cluster=CLUSTER,
        peer_authentications=by_kind.get("PeerAuthentication", []),
        authorization_policies=by_kind.get("AuthorizationPolicy", []),
        request_authentications=by_kind.get("RequestAuthentication", []),
    )


HTTPBIN = Workload(CLUSTER, "foo", "httpbin", labels={"app": "httpbin"})

# The reference's own example: sleep's service account or namespace "test",
# GET on /info* or POST on /data.
EXAMPLE = """
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: foo}
spec:
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/sleep"]}
    - source: {namespaces: ["test"]}
    to:
    - operation: {methods: ["GET"], paths: ["/info*"]}
    - operation: {methods: ["POST"], paths: ["/data"]}
"""


@pytest.mark.parametrize(
    ("request_", "verdict"),
    [
        (Request(principal=SLEEP, namespace="default", method="GET", path="/info/a"), "allow"),
        (
            Request(
                principal="cluster.local/ns/test/sa/x",
                namespace="test",
                method="POST",
                path="/data",
            ),
            "allow",
        ),
        (Request(principal=SLEEP, namespace="default", method="POST", path="/info"), "deny"),
        (
            Request(
                principal="cluster.local/ns/other/sa/x",
                namespace="other",
                method="GET",
                path="/info",
            ),
            "deny",
        ),
        # Telemetry without paths: the sleep caller may or may not be allowed.
        (Request(principal=SLEEP, namespace="default"), "unknown"),
        # A caller from another namespace is denied whatever its path.
        (Request(principal="cluster.local/ns/other/sa/x", namespace="other"), "deny"),
    ],
)
def test_the_reference_example_allows_exactly_what_it_says(request_: Request, verdict: str) -> None:
    assert decide(config(EXAMPLE), HTTPBIN, request_).verdict == verdict


def test_no_allow_policy_allows_and_deny_wins_over_allow() -> None:
    caller = Request(principal=SLEEP, namespace="default", method="GET", path="/")
    assert decide(config(""), HTTPBIN, caller).verdict == "allow"
    both = config(
        """
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: foo}
spec: {rules: [{}]}
---
kind: AuthorizationPolicy
metadata: {name: deny-sleep, namespace: foo}
spec:
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/*"]}}]}]
"""
    )
    decision = decide(both, HTTPBIN, caller)
    assert (decision.verdict, decision.policies) == (
        "deny",
        ("AuthorizationPolicy foo/deny-sleep",),
    )
    other = Request(principal="cluster.local/ns/x/sa/y", namespace="x")
    assert decide(both, HTTPBIN, other).verdict == "allow"


def test_an_allow_policy_without_rules_denies_everything() -> None:
    # "allow-nothing": spec {} is an ALLOW policy that never matches.
    nothing = config(
        "kind: AuthorizationPolicy\nmetadata: {name: allow-nothing, namespace: foo}\nspec: {}\n"
    )
    assert decide(nothing, HTTPBIN, Request(principal=SLEEP, namespace="default")).verdict == "deny"


def test_a_root_namespace_policy_applies_to_every_namespace_and_audit_changes_nothing() -> None:
    root = config(
        """
kind: AuthorizationPolicy
metadata: {name: mesh-deny-plaintext, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {notPrincipals: ["*"]}}]}]
---
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: foo}
spec: {action: AUDIT, rules: [{}]}
"""
    )
    plaintext = Request.from_caller(namespace="default", mtls=False)
    assert decide(root, HTTPBIN, plaintext).verdict == "deny"
    assert (
        decide(
            root, HTTPBIN, Request.from_caller(namespace="default", mtls=True, principal=SLEEP)
        ).verdict
        == "allow"
    )


def test_a_plaintext_caller_has_no_namespace_for_a_namespaces_rule() -> None:
    # source.namespace comes from the peer certificate: plaintext has none.
    ns_only = config(
        """
kind: AuthorizationPolicy
metadata: {name: from-default, namespace: foo}
spec: {rules: [{from: [{source: {namespaces: ["default"]}}]}]}
"""
    )
    assert (
        decide(ns_only, HTTPBIN, Request.from_caller(namespace="default", mtls=True)).verdict
        == "allow"
    )
    assert (
        decide(ns_only, HTTPBIN, Request.from_caller(namespace="default", mtls=False)).verdict
        == "deny"
    )
    # mTLS unknown: the namespace cannot be relied on.
    assert (
        decide(ns_only, HTTPBIN, Request.from_caller(namespace="default", mtls=None)).verdict
        == "unknown"
    )


def test_a_selector_on_labels_the_service_does_not_show_is_undecided() -> None:
    policy = config(
        """
kind: AuthorizationPolicy
metadata: {name: v2-only, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin, version: v2}}
  rules: [{from: [{source: {namespaces: ["test"]}}]}]
"""
    )
    caller = Request(principal=SLEEP, namespace="default")
    assert decide(policy, HTTPBIN, caller).verdict == "unknown"
    v1 = Workload(CLUSTER, "foo", "httpbin", labels={"app": "httpbin", "version": "v1"})
    assert decide(policy, v1, caller).verdict == "allow"


def test_ztunnel_fails_safe_on_l7_rules() -> None:
    # Ambient, selector policy: ztunnel cannot see methods, so an ALLOW rule
    # naming one matches nothing and every caller is denied.
    l7 = config(
        """
kind: AuthorizationPolicy
metadata: {name: get-only, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{to: [{operation: {methods: ["GET"]}}]}]
"""
    )
    ambient = Workload(CLUSTER, "foo", "httpbin", labels={"app": "httpbin"}, ambient=True)
    get = Request(principal=SLEEP, namespace="default", method="GET", path="/")
    assert decide(l7, HTTPBIN, get).verdict == "allow"
    assert decide(l7, ambient, get).verdict == "deny"
    posture = assess(config=l7, workload=ambient, ports=[8080])
    assert "l7-policy-on-ztunnel" in {f.kind for f in posture.findings}


def test_a_policy_targeting_a_service_needs_its_waypoint() -> None:
    targeted = config(
        """
kind: AuthorizationPolicy
metadata: {name: via-waypoint, namespace: foo}
spec:
  targetRefs: [{kind: Service, group: "", name: httpbin}]
  rules: [{from: [{source: {namespaces: ["test"]}}]}]
"""
    )
    caller = Request(principal=SLEEP, namespace="default")
    with_waypoint = Workload(CLUSTER, "foo", "httpbin", ambient=True, waypoint="waypoint")
    without = Workload(CLUSTER, "foo", "httpbin", ambient=True)
    assert decide(targeted, with_waypoint, caller).verdict == "deny"
    assert decide(targeted, without, caller).verdict == "allow"
    kinds = {f.kind for f in assess(config=targeted, workload=without, ports=[80]).findings}
    assert "policy-without-waypoint" in kinds


MTLS = """
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: PERMISSIVE}}
---
kind: PeerAuthentication
metadata: {name: finance, namespace: foo}
spec:
  selector: {matchLabels: {app: finance}}
  mtls: {mode: UNSET}
  portLevelMtls: {8080: {mode: DISABLE}}
---
kind: PeerAuthentication
metadata: {name: ignored, namespace: istio-system}
spec:
  selector: {matchLabels: {app: bar}}
  mtls: {mode: DISABLE}
"""


@pytest.mark.parametrize(
    ("workload", "port", "mode"),
    [
        # Workload policy UNSET inherits the namespace's PERMISSIVE ...
        (Workload(CLUSTER, "foo", "finance", labels={"app": "finance"}), 9090, "PERMISSIVE"),
        # ... while its port-level setting wins on its own port.
        (Workload(CLUSTER, "foo", "finance", labels={"app": "finance"}), 8080, "DISABLE"),
        # Another namespace gets the mesh-wide STRICT; the root-namespace
        # selector policy is ignored.
        (Workload(CLUSTER, "bar", "bar", labels={"app": "bar"}), 8080, "STRICT"),
        # In ambient DISABLE is not supported: the port inherits.
        (
            Workload(CLUSTER, "foo", "finance", labels={"app": "finance"}, ambient=True),
            8080,
            "PERMISSIVE",
        ),
    ],
)
def test_mtls_precedence(workload: Workload, port: int, mode: str) -> None:
    assert effective_mode(config(MTLS), workload, port).mode == mode


def test_nothing_set_is_permissive_and_the_oldest_namespace_policy_wins() -> None:
    assert effective_mode(config(""), HTTPBIN, 80).mode == "PERMISSIVE"
    two = config(
        """
kind: PeerAuthentication
metadata: {name: b-newer, namespace: foo, creationTimestamp: "2026-02-01T00:00:00Z"}
spec: {mtls: {mode: PERMISSIVE}}
---
kind: PeerAuthentication
metadata: {name: a-older, namespace: foo, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
"""
    )
    setting = effective_mode(two, HTTPBIN, 80)
    assert (setting.mode, setting.source) == ("STRICT", "PeerAuthentication foo/a-older")


def _edge(source: str, target: str, mtls: bool | None) -> Edge:
    return Edge(
        source=source, target=target, protocol="http", origin="telemetry", rps=1.0, mtls=mtls
    )


def test_findings_of_an_open_api_and_none_for_a_secured_one() -> None:
    edges = [
        _edge("c1/default/sleep", "c1/foo/httpbin", True),
        _edge("c1/legacy/batch", "c1/foo/httpbin", False),
        _edge("c1/test/client", "c1/foo/secure", True),
    ]
    open_config = config(
        """
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: PERMISSIVE}}
---
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules: [{issuer: "https://issuer.example.com"}]
"""
    )
    posture = assess(
        config=open_config,
        workload=HTTPBIN,
        ports=[8080],
        callers=callers_of(HTTPBIN, edges),
        exposed_at=("istio-ingress/public shop.example.com:80/",),
    )
    assert {f.kind: f.severity for f in posture.findings} == {
        "plaintext-accepted": "high",
        "no-authorization-policy": "high",
        "jwt-optional": "high",
        "exposed-without-authentication": "high",
    }
    assert posture.plaintext_callers == ("c1/legacy/batch",)

    secure = Workload(CLUSTER, "foo", "secure", labels={"app": "secure"})
    secured = config(
        """
kind: PeerAuthentication
metadata: {name: secure, namespace: foo}
spec: {selector: {matchLabels: {app: secure}}, mtls: {mode: STRICT}}
---
kind: AuthorizationPolicy
metadata: {name: secure, namespace: foo}
spec:
  selector: {matchLabels: {app: secure}}
  rules: [{from: [{source: {namespaces: ["test"]}}]}]
"""
    )
    calm = assess(config=secured, workload=secure, ports=[8080], callers=callers_of(secure, edges))
    assert calm.findings == ()
    assert [v.decision.verdict for v in calm.callers] == ["allow"]


def test_a_policy_that_denies_a_caller_calling_today_is_reported() -> None:
    stale = config(
        """
kind: AuthorizationPolicy
metadata: {name: only-test, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{from: [{source: {namespaces: ["test"]}}]}]
"""
    )
    callers = callers_of(HTTPBIN, [_edge("c1/default/sleep", "c1/foo/httpbin", True)])
    findings = assess(config=stale, workload=HTTPBIN, ports=[8080], callers=callers).findings
    denied = [f for f in findings if f.kind == "policy-denies-observed-caller"]
    assert len(denied) == 1
    assert denied[0].objects == ("AuthorizationPolicy foo/only-test",)
    assert denied[0].subject == "c1/default/sleep -> c1/foo/httpbin"


def test_an_unreadable_object_is_a_note_and_the_rest_is_read() -> None:
    mixed = config(
        """
kind: AuthorizationPolicy
metadata: {name: broken, namespace: foo}
spec: {action: PERMIT}
---
kind: AuthorizationPolicy
metadata: {name: fine, namespace: foo}
spec: {action: DENY, rules: [{}]}
---
kind: PeerAuthentication
metadata: {name: bad-port, namespace: foo}
spec: {selector: {matchLabels: {a: b}}, portLevelMtls: {http: {mode: STRICT}}}
"""
    )
    assert [str(p.ref) for p in mixed.authorization_policies] == ["AuthorizationPolicy foo/fine"]
    assert mixed.peer_authentications == ()
    assert len(mixed.notes) == 2
    assert any("PERMIT" in note and "foo/broken" in note for note in mixed.notes)
    assert any("'http' is not a port number" in note for note in mixed.notes)


# --- identities from telemetry (discovery.mesh.peers, governance.identity) -------


def _peer(
    source: str,
    principal: str | None,
    mtls: bool | None,
    rate: float,
    unit: str = "requests",
    target: str = "c1/foo/httpbin",
) -> PeerTraffic:
    return PeerTraffic(
        source=source,
        target=target,
        source_principal=principal,
        target_principal="cluster.local/ns/foo/sa/httpbin" if mtls else None,
        mtls=mtls,
        rate=rate,
        unit=unit,  # type: ignore[arg-type]
    )


def test_principals_in_policy_form_drop_the_spiffe_scheme() -> None:
    # Istio's reference: principals are "<trust domain>/ns/<ns>/sa/<sa>", the
    # SPIFFE id without its scheme; telemetry's "unknown" is no principal.
    assert principal("spiffe://cluster.local/ns/default/sa/sleep") == SLEEP
    assert principal("unknown") is None and principal("") is None and principal(None) is None


def test_a_caller_with_two_identities_is_judged_once_per_identity() -> None:
    only_sleep = config(
        """
kind: AuthorizationPolicy
metadata: {name: only-sleep, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]}]
"""
    )
    edges = [_edge("c1/default/sleep", "c1/foo/httpbin", False)]
    peers = [
        _peer("c1/default/sleep", SLEEP, True, 3.0),
        _peer("c1/default/sleep", None, False, 1.0),
    ]
    callers = callers_seen(HTTPBIN, edges, peers)
    assert [(c.principal, c.mtls, c.rps) for c in callers] == [
        (None, False, 1.0),
        (SLEEP, True, 3.0),
    ]
    verdicts = assess(config=only_sleep, workload=HTTPBIN, ports=[8080], callers=callers).callers
    # The plaintext half has no identity: no ALLOW rule can match it.
    assert [v.decision.verdict for v in verdicts] == ["deny", "allow"]


def test_the_mtls_share_counts_one_unit_never_both() -> None:
    peers = [
        _peer("c1/default/sleep", SLEEP, True, 3.0),
        _peer("c1/bar/old", None, False, 1.0),
        # L4 series of the same traffic (ztunnel): not added to the requests.
        _peer("c1/default/sleep", SLEEP, True, 50.0, unit="connections"),
        _peer("c1/default/sleep", SLEEP, True, 9.0, target="c1/foo/other"),
    ]
    share = mtls_share(HTTPBIN, peers)
    assert (share.share, share.unit, share.total_rate) == (0.75, "requests", 4.0)
    only_l4 = mtls_share(HTTPBIN, [p for p in peers if p.unit == "connections"])
    assert (only_l4.share, only_l4.unit) == (1.0, "connections")
    assert mtls_share(HTTPBIN, []).share is None
    assert service_accounts(HTTPBIN, peers) == ("cluster.local/ns/foo/sa/httpbin",)


def test_peer_samples_drop_the_waypoint_hop_and_keep_the_waypoints_report() -> None:
    from discovery.model import Inventory, Service, ServiceKey
    from discovery.telemetry import NodeNamer, Sample

    def svc(namespace: str, name: str) -> Service:
        return Service(
            key=ServiceKey(CLUSTER, namespace, name),
            type="ClusterIP",
            headless=False,
            cluster_ips=("127.0.0.1",),
            external_name=None,
            ports=(),
            ready_addresses=(),
            selector={"app": name},
        )

    namer = NodeNamer(
        Inventory((CLUSTER,), (svc("foo", "httpbin"), svc("default", "sleep")), (), (), ())
    )
    common = {
        "destination_service_namespace": "foo",
        "destination_service_name": "httpbin",
        "destination_principal": "spiffe://cluster.local/ns/foo/sa/httpbin",
        "connection_security_policy": "mutual_tls",
    }
    sleep = {
        "source_workload_namespace": "default",
        "source_workload": "sleep-v1",
        "source_app": "sleep",
        "source_principal": f"spiffe://{SLEEP}",
    }
    hop = {
        "source_workload_namespace": "foo",
        "source_workload": "waypoint",
        "source_app": "waypoint",
        "source_principal": "spiffe://cluster.local/ns/foo/sa/waypoint",
    }
    samples = [
        ("requests", Sample({"reporter": "waypoint", **common, **sleep}, 2.0)),
        ("connections", Sample({"reporter": "destination", **common, **hop}, 1.0)),
        ("requests", Sample({"reporter": "destination", **common, **sleep}, 0.0)),
    ]
    found = read_samples(samples, namer, waypoints=[("foo", "waypoint")])  # type: ignore[arg-type]
    assert [(p.source, p.target, p.source_principal, p.mtls, p.rate) for p in found] == [
        ("c1/default/sleep", "c1/foo/httpbin", SLEEP, True, 2.0)
    ]


def test_a_namespaces_share_of_the_config_gives_the_same_posture() -> None:
    from governance.istio.scope import for_namespace

    mesh = config(
        """
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: DISABLE}}
---
kind: AuthorizationPolicy
metadata: {name: deny-legacy, namespace: istio-system}
spec: {action: DENY, rules: [{from: [{source: {namespaces: ["legacy"]}}]}]}
---
kind: AuthorizationPolicy
metadata: {name: only-sleep, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]}]
---
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: bar}
spec: {}
---
kind: RequestAuthentication
metadata: {name: jwt, namespace: bar}
spec: {jwtRules: [{issuer: "https://issuer.example"}]}
"""
    )
    share = for_namespace(mesh, cluster=CLUSTER, namespace="foo")
    assert sorted(str(p.ref) for p in share.authorization_policies) == [
        "AuthorizationPolicy foo/only-sleep",
        "AuthorizationPolicy istio-system/deny-legacy",
    ]
    assert [str(p.ref) for p in share.peer_authentications] == [
        "PeerAuthentication istio-system/default"
    ]
    assert share.request_authentications == ()
    callers = callers_of(
        HTTPBIN,
        [
            _edge("c1/default/sleep", "c1/foo/httpbin", True),
            _edge("c1/legacy/batch", "c1/foo/httpbin", True),
            _edge("c1/other/x", "c1/foo/httpbin", True),
        ],
    )
    full = assess(config=mesh, workload=HTTPBIN, ports=[8080], callers=callers)
    scoped = assess(config=share, workload=HTTPBIN, ports=[8080], callers=callers)
    assert scoped == full
    assert for_namespace(mesh, cluster="other", namespace="foo").authorization_policies == ()
