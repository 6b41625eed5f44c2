"""Least-privilege policies from observed traffic (issue 18, `policy suggest`).

The sources of truth: Istio's CRD schemas as vendored from its release (read
here from the files, not through meshatlas's loader), Istio's evaluation
rules as governance.istio.authz implements them (tested on their own against
Istio's reference in test_governance_posture.py), and the traffic each test
builds. Generated YAML is parsed back with the same reader meshatlas uses
for a cluster's policies, and the observed calls are re-evaluated against it.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from discovery.mesh.security import SecurityConfig, merge, read_security
from discovery.model import Edge
from governance.errors import InvalidPolicyError, SuggestionError
from governance.istio.authz import decide
from governance.istio.workload import Request, Workload
from governance.policy import crds, manifests
from governance.policy.suggest import suggest, suggest_all
from governance.policy.suggestion import Suggestion
from governance.posture import Caller, callers_of
from governance.traffic import ObservedCall, calls_from_callers

CLUSTER = "c1"
SCHEMAS = Path(__file__).resolve().parent.parent / "governance" / "policy" / "schemas"
FRONTEND = "cluster.local/ns/shop/sa/frontend"
CART = "cluster.local/ns/shop/sa/cart"
WAYPOINT_USER = "cluster.local/ns/web/sa/portal"


def config(text: str) -> SecurityConfig:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(text):
        if doc:
            by_kind.setdefault(doc["kind"], []).append(doc)
    return read_security(
        cluster=CLUSTER,
        peer_authentications=by_kind.get("PeerAuthentication", []),
        authorization_policies=by_kind.get("AuthorizationPolicy", []),
        request_authentications=by_kind.get("RequestAuthentication", []),
    )


# Today's state: the mesh is PERMISSIVE by default, `payments` is STRICT by
# namespace, and `catalog` has an ALLOW policy for the whole shop namespace.
TODAY = config(
    """
kind: PeerAuthentication
metadata: {name: default, namespace: payments}
spec: {mtls: {mode: STRICT}}
---
kind: AuthorizationPolicy
metadata: {name: shop-only, namespace: shop}
spec:
  selector: {matchLabels: {app: catalog}}
  rules:
  - from: [{source: {namespaces: ["shop"]}}]
  - from: [{source: {principals: ["cluster.local/ns/tools/sa/debug"]}}]
"""
)

ORDERS = Workload(CLUSTER, "shop", "orders", labels={"app": "orders", "version": "v1"})
CATALOG = Workload(CLUSTER, "shop", "catalog", labels={"app": "catalog"})
PAYMENTS = Workload(CLUSTER, "payments", "gateway", labels={"app": "gateway"})
SEARCH = Workload(CLUSTER, "platform", "search", ambient=True, waypoint="waypoint")
LEDGER = Workload(CLUSTER, "data", "ledger", labels={"app": "ledger"}, ambient=True)


def call(
    source: str,
    target: Workload,
    *,
    principal: str | None,
    mtls: bool | None = True,
    port: int | None = 8000,
    method: str | None = None,
    path: str | None = None,
    requests: float | None = 10.0,
) -> ObservedCall:
    namespace = source.split("/")[0] if "/" in source else None
    return ObservedCall(
        source=f"{CLUSTER}/{source}" if source != "unknown" else source,
        target=target.node,
        namespace=namespace,
        principal=principal,
        mtls=mtls,
        port=port,
        method=method,
        path=path,
        requests=requests,
    )


ORDERS_CALLS = (
    call("shop/frontend", ORDERS, principal=f"spiffe://{FRONTEND}", method="GET", path="/orders"),
    call(
        "shop/frontend",
        ORDERS,
        principal=f"spiffe://{FRONTEND}",
        method="GET",
        path="/orders/7?x=1",
    ),
    call("shop/frontend", ORDERS, principal=f"spiffe://{FRONTEND}", method="POST", path="/orders"),
    call("shop/cart", ORDERS, principal=CART, port=9090, method="GET", path="/health"),
)
SEARCH_CALLS = (
    call(
        "web/portal", SEARCH, principal=WAYPOINT_USER, port=50051, method="POST", path="/s.S/Find"
    ),
)
LEDGER_CALLS = (
    call("billing/invoice", LEDGER, principal=None, port=8080, method="GET", path="/entries"),
)
PAYMENTS_CALLS = (call("shop/orders", PAYMENTS, principal="cluster.local/ns/shop/sa/orders"),)
CATALOG_CALLS = (call("shop/frontend", CATALOG, principal=FRONTEND, port=8080),)
ALL_CALLS = ORDERS_CALLS + SEARCH_CALLS + LEDGER_CALLS + PAYMENTS_CALLS + CATALOG_CALLS


def suggested(workload: Workload, calls: tuple[ObservedCall, ...] = ALL_CALLS) -> Suggestion:
    return suggest(
        config=TODAY,
        workload=workload,
        calls=calls,
        window="10m",
        window_end="2026-12-01T12:00:00Z",
        known_callers=ALL_CALLS,
    )


def applied(suggestion: Suggestion) -> SecurityConfig:
    """The suggestion's YAML file, read back as a cluster's policies would be."""
    docs = [d for d in yaml.safe_load_all(manifests.render(suggestion)) if d]
    parsed = read_security(
        cluster=CLUSTER,
        authorization_policies=[d for d in docs if d["kind"] == "AuthorizationPolicy"],
        peer_authentications=[d for d in docs if d["kind"] == "PeerAuthentication"],
    )
    assert parsed.notes == ()
    return parsed


def docs_of(suggestion: Suggestion) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifests.render(suggestion)) if d]


# (a) Istio's schema ---------------------------------------------------------

VENDORED = {
    "AuthorizationPolicy": json.loads((SCHEMAS / "authorizationpolicy.v1.json").read_text()),
    "PeerAuthentication": json.loads((SCHEMAS / "peerauthentication.v1.json").read_text()),
}


@pytest.mark.parametrize("workload", [ORDERS, CATALOG, PAYMENTS, SEARCH, LEDGER], ids=str)
def test_every_generated_object_validates_against_istios_schema(workload: Workload) -> None:
    docs = docs_of(suggested(workload))
    assert docs and {d["apiVersion"] for d in docs} == {"security.istio.io/v1"}
    for doc in docs:
        jsonschema.Draft7Validator(VENDORED[doc["kind"]]).validate(doc)
        assert crds.problems(doc) == ()


def test_the_vendored_schemas_are_istios_v1_with_licence_and_notice() -> None:
    notice = (SCHEMAS / "NOTICE").read_text()
    assert "https://github.com/istio/api" in notice and "v1.30.3" in notice
    assert "Apache License" in (SCHEMAS / "LICENSE").read_text()
    spec = VENDORED["AuthorizationPolicy"]["properties"]["spec"]["properties"]
    assert spec["action"]["enum"] == ["ALLOW", "DENY", "AUDIT", "CUSTOM"]
    assert "portLevelMtls" in VENDORED["PeerAuthentication"]["properties"]["spec"]["properties"]
    # Every CEL rule Istio ships has a translation, so none is silently skipped.
    assert crds.untranslated_rules() == ()


def _mutated(change: str) -> dict[str, Any]:
    doc = copy.deepcopy(docs_of(suggested(ORDERS))[0])
    spec = doc["spec"]
    if change == "port-as-int":
        spec["rules"][0]["to"][0]["operation"]["ports"] = [8000]
    elif change == "unknown-field":
        spec["rules"][0]["from"][0]["source"]["principal"] = [FRONTEND]
    elif change == "selector-and-targetrefs":
        spec["targetRefs"] = [{"group": "", "kind": "Service", "name": "orders"}]
    elif change == "wildcard-label":
        spec["selector"]["matchLabels"] = {"app": "ord*"}
    elif change == "bad-action":
        spec["action"] = "PERMIT"
    elif change == "bad-name":
        doc["metadata"]["name"] = "Meshatlas_Orders"
    return doc


@pytest.mark.parametrize(
    "change",
    [
        "port-as-int",
        "unknown-field",
        "selector-and-targetrefs",
        "wildcard-label",
        "bad-action",
        "bad-name",
    ],
)
def test_an_object_istio_would_refuse_is_refused(change: str) -> None:
    doc = _mutated(change)
    assert crds.problems(doc)
    with pytest.raises(InvalidPolicyError):
        crds.validate(doc)


def test_a_peer_authentication_with_port_level_mtls_needs_a_selector() -> None:
    doc: dict[str, Any] = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}},
    }
    assert any("portLevelMtls requires selector" in p for p in crds.problems(doc))
    doc["spec"]["selector"] = {"matchLabels": {"app": "x"}}
    assert crds.problems(doc) == ()


# (b) re-evaluation ----------------------------------------------------------


def test_sidecar_policy_allows_every_observed_call_and_nothing_else() -> None:
    s = suggested(ORDERS)
    policies = applied(s)
    assert s.enforced_by == "sidecar" and s.identified_by == "principals"
    spec = docs_of(s)[0]["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "orders", "version": "v1"}}
    observed = [
        Request(principal=FRONTEND, namespace="shop", port=8000, method="GET", path="/orders"),
        Request(principal=FRONTEND, namespace="shop", port=8000, method="GET", path="/orders/7"),
        Request(principal=FRONTEND, namespace="shop", port=8000, method="POST", path="/orders"),
        Request(principal=CART, namespace="shop", port=9090, method="GET", path="/health"),
    ]
    for request in observed:
        assert decide(policies, ORDERS, request).verdict == "allow", request
    refused = [
        # another principal of the same namespace
        Request(principal="cluster.local/ns/shop/sa/other", namespace="shop", port=8000),
        # another namespace
        Request(principal="cluster.local/ns/web/sa/x", namespace="web", port=8000),
        # plaintext
        Request(principal="", namespace="", port=8000, method="GET", path="/orders"),
        # observed callers on what they never did: port, method, path
        Request(principal=FRONTEND, namespace="shop", port=9090, method="GET", path="/orders"),
        Request(principal=FRONTEND, namespace="shop", port=8000, method="DELETE", path="/orders"),
        Request(principal=FRONTEND, namespace="shop", port=8000, method="POST", path="/orders/7"),
        Request(principal=CART, namespace="shop", port=9090, method="GET", path="/admin"),
        Request(principal=CART, namespace="shop", port=8000, method="GET", path="/health"),
    ]
    for request in refused:
        assert decide(policies, ORDERS, request).verdict == "deny", request


def test_waypoint_policy_targets_the_service_and_keeps_l7() -> None:
    s = suggested(SEARCH)
    assert s.enforced_by == "waypoint"
    spec = docs_of(s)[0]["spec"]
    assert spec["targetRefs"] == [{"group": "", "kind": "Service", "name": "search"}]
    assert "selector" not in spec
    policies = applied(s)
    ok = Request(
        principal=WAYPOINT_USER, namespace="web", port=50051, method="POST", path="/s.S/Find"
    )
    assert decide(policies, SEARCH, ok).verdict == "allow"
    other_path = Request(
        principal=WAYPOINT_USER, namespace="web", port=50051, method="POST", path="/s.S/Delete"
    )
    assert decide(policies, SEARCH, other_path).verdict == "deny"
    stranger = Request(principal="cluster.local/ns/web/sa/y", namespace="web", port=50051)
    assert decide(policies, SEARCH, stranger).verdict == "deny"


def test_ztunnel_policy_is_l4_only_and_still_allows_the_observed_caller() -> None:
    s = suggested(LEDGER)
    assert s.enforced_by == "ztunnel"
    rules = docs_of(s)[0]["spec"]["rules"]
    operations = [o["operation"] for r in rules for o in r.get("to", [])]
    assert operations == [{"ports": ["8080"]}]
    policies = applied(s)
    ok = Request(namespace="billing", port=8080, method="GET", path="/entries")
    assert decide(policies, LEDGER, ok).verdict == "allow"
    assert decide(policies, LEDGER, Request(namespace="shop", port=8080)).verdict == "deny"
    assert decide(policies, LEDGER, Request(namespace="billing", port=9000)).verdict == "deny"
    assert any("ztunnel enforces L4 only" in n for n in s.notes)


def test_policy_alongside_todays_config_still_allows_every_observed_call() -> None:
    for workload in (ORDERS, CATALOG, PAYMENTS, SEARCH, LEDGER):
        s = suggested(workload)
        both = merge([TODAY, applied(s)])
        for c in ALL_CALLS:
            if c.target != workload.node:
                continue
            request = Request(
                principal=(c.principal or "").removeprefix("spiffe://") or None,
                namespace=c.namespace,
                port=c.port,
                method=c.method,
                path=None if c.path is None else c.path.split("?")[0],
            )
            assert decide(both, workload, request).verdict == "allow", (workload, c)


# (c) PeerAuthentication ----------------------------------------------------


def test_strict_peer_authentication_only_when_every_observed_call_was_mtls() -> None:
    all_mtls = suggested(ORDERS)
    assert all_mtls.peer_authentication is not None
    peer = docs_of(all_mtls)[1]
    assert peer["kind"] == "PeerAuthentication"
    assert peer["spec"] == {
        "selector": {"matchLabels": {"app": "orders", "version": "v1"}},
        "mtls": {"mode": "STRICT"},
    }
    assert applied(all_mtls).peer_authentications[0].mode == "STRICT"

    plaintext = call("legacy/batch", ORDERS, principal=None, mtls=False)
    mixed = suggested(ORDERS, ORDERS_CALLS + (plaintext,))
    assert mixed.peer_authentication is None
    assert any("plaintext from c1/legacy/batch" in n for n in mixed.notes)

    unknown = call("legacy/batch", ORDERS, principal=None, mtls=None)
    assert suggested(ORDERS, ORDERS_CALLS + (unknown,)).peer_authentication is None


def test_no_peer_authentication_where_strict_is_already_in_force() -> None:
    s = suggested(PAYMENTS)
    assert s.peer_authentication is None
    assert any("already STRICT (PeerAuthentication payments/default)" in n for n in s.notes)


# (d) unknown principals ------------------------------------------------------


def test_unknown_principals_fall_back_to_namespaces_and_say_so() -> None:
    s = suggested(LEDGER)
    assert s.identified_by == "namespaces"
    sources = [f["source"] for r in docs_of(s)[0]["spec"]["rules"] for f in r["from"]]
    assert sources == [{"namespaces": ["billing"]}]
    assert any(
        "principal of c1/billing/invoice unknown: allowed by namespace billing" in n
        for n in s.notes
    )
    assert [(t.identity, t.name) for t in s.traffic] == [("namespace", "billing")]


def test_a_caller_with_neither_principal_nor_mtls_cannot_be_named_and_is_reported() -> None:
    plaintext = call("legacy/batch", ORDERS, principal=None, mtls=False, requests=42)
    s = suggested(ORDERS, ORDERS_CALLS + (plaintext,))
    policies = applied(s)
    assert (
        decide(policies, ORDERS, Request(principal="", namespace="", port=8000)).verdict == "deny"
    )
    observed = [d for d in s.would_deny if d.observed]
    assert [d.who for d in observed] == ["c1/legacy/batch (observed, 42 requests)"]
    assert "no ALLOW policy applies" in observed[0].today


# What it would deny ---------------------------------------------------------


def test_would_deny_names_what_today_allows_and_the_suggestion_does_not() -> None:
    fresh = suggested(ORDERS)
    who = {d.who for d in fresh.would_deny}
    assert who == {
        "any other mesh identity",
        "plaintext callers (no identity)",
        "c1/billing/invoice (namespace billing)",
        "c1/web/portal (principal cluster.local/ns/web/sa/portal)",
        "c1/shop/orders (principal cluster.local/ns/shop/sa/orders)",
        f"{FRONTEND} beyond GET /orders /orders/7 on port 8000; POST /orders on port 8000",
        f"{CART} beyond GET /health on port 9090",
    }
    assert all(d.today.startswith("no ALLOW policy applies") for d in fresh.would_deny)
    assert not any(d.observed for d in fresh.would_deny)
    assert fresh.still_allowed == ()


def test_todays_allow_policies_keep_allowing_and_the_suggestion_says_so() -> None:
    # ALLOW policies add up: with shop-only in place, applying the suggestion
    # for catalog denies nothing shop-only allows, and it says what stays open.
    s = suggested(CATALOG)
    denied = {d.who for d in s.would_deny}
    assert (
        "principal cluster.local/ns/tools/sa/debug (AuthorizationPolicy shop/shop-only)"
        not in denied
    )
    still = "\n".join(s.still_allowed)
    assert "principal cluster.local/ns/tools/sa/debug (AuthorizationPolicy shop/shop-only)" in still
    assert (
        f"c1/shop/cart (principal {CART}): allowed by AuthorizationPolicy shop/shop-only" in still
    )
    assert any(
        "AuthorizationPolicy shop/shop-only still applies: ALLOW policies add up" in n
        for n in s.notes
    )


def test_the_built_from_summary_counts_callers_and_requests() -> None:
    s = suggested(ORDERS)
    by_caller = {t.caller: t for t in s.traffic}
    assert by_caller["c1/shop/frontend"].requests == 30.0
    assert by_caller["c1/shop/frontend"].ports == (8000,)
    assert by_caller["c1/shop/cart"].operations == ("GET /health on port 9090",)
    assert {t.verdict for t in s.traffic} == {"allow"}
    meta = docs_of(s)[0]["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "meshatlas",
        "meshatlas.io/suggested-for": "orders",
    }
    assert meta["annotations"]["meshatlas.io/telemetry-window"] == "10m"
    assert meta["annotations"]["meshatlas.io/window-end"] == "2026-12-01T12:00:00Z"
    assert meta["annotations"]["meshatlas.io/built-from"] == "2 callers, 40 requests"


# Output ---------------------------------------------------------------------


def test_one_file_per_workload_and_stable_output() -> None:
    workloads = [ORDERS, CATALOG, PAYMENTS, SEARCH, LEDGER, Workload(CLUSTER, "shop", "idle")]
    found, skipped = suggest_all(config=TODAY, workloads=workloads, calls=ALL_CALLS, window="10m")
    out = manifests.files(found)
    assert list(out) == [
        "data/ledger.yaml",
        "payments/gateway.yaml",
        "platform/search.yaml",
        "shop/catalog.yaml",
        "shop/orders.yaml",
    ]
    assert skipped == ("c1/shop/idle: no calls observed in 10m",)
    shuffled = list(ALL_CALLS)
    random.Random(7).shuffle(shuffled)
    again, _ = suggest_all(
        config=TODAY, workloads=reversed(workloads), calls=shuffled, window="10m"
    )
    assert manifests.files(again) == out

    other = Workload("c2", "shop", "orders", labels={"app": "orders"})
    two = (
        suggested(ORDERS),
        suggest(
            config=TODAY,
            workload=other,
            calls=[ObservedCall("c2/shop/frontend", other.node, "shop", FRONTEND, True, 80)],
            window="10m",
        ),
    )
    assert list(manifests.files(two)) == ["c1/shop/orders.yaml", "c2/shop/orders.yaml"]


def test_a_workload_without_labels_cannot_be_selected() -> None:
    bare = Workload(CLUSTER, "shop", "bare")
    with pytest.raises(SuggestionError):
        suggest(
            config=TODAY,
            workload=bare,
            calls=[call("shop/frontend", bare, principal=FRONTEND)],
            window="10m",
        )


def test_hostile_telemetry_values_are_not_copied_as_wildcards_or_comment_breaks() -> None:
    calls = (
        call("shop/frontend", ORDERS, principal="*", method="GET", path="/admin*"),
        call("shop/frontend\nkind: Secret", ORDERS, principal=FRONTEND, method="get", path="/x"),
    )
    s = suggested(ORDERS, calls)
    text = manifests.render(s)
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in docs] == ["AuthorizationPolicy", "PeerAuthentication"]
    values = json.dumps(docs[0]["spec"])
    assert '"*"' not in values and "/admin*" not in values
    # "*" is no principal: the first caller is named by its namespace; its
    # wildcard path is not copied (method only), and the lower-case method of
    # the second leaves its rule on the port alone.
    rules = docs[0]["spec"]["rules"]
    assert [r["from"] for r in rules] == [
        [{"source": {"namespaces": ["shop"]}}],
        [{"source": {"principals": [FRONTEND]}}],
    ]
    assert [r["to"] for r in rules] == [
        [{"operation": {"ports": ["8000"], "methods": ["GET"]}}],
        [{"operation": {"ports": ["8000"]}}],
    ]
    assert "\n# " in text and "\nkind: Secret" not in text


def test_callers_from_the_dependency_edges_become_a_policy_by_namespace_or_principal() -> None:
    # What a run has today: telemetry edges (no principal, port or path) and,
    # where peer traffic gave one, the caller's principal.
    edges = [
        Edge("c1/shop/frontend", ORDERS.node, "http", "telemetry", rps=0.5, mtls=True),
        Edge("c1/shop/catalog", ORDERS.node, "http", "config"),
    ]
    callers = callers_of(ORDERS, edges) + (
        Caller("c1/web/portal", "web", True, rps=0.1, principal=f"spiffe://{WAYPOINT_USER}"),
    )
    calls = calls_from_callers(ORDERS, callers, window_seconds=600)
    assert [(c.source, c.requests) for c in calls] == [
        ("c1/shop/frontend", 300.0),
        ("c1/web/portal", 60.0),
    ]
    s = suggest(config=TODAY, workload=ORDERS, calls=calls, window="10m")
    assert s.identified_by == "principals and namespaces"
    # Neither did anything more specific than "call": one rule names both.
    assert docs_of(s)[0]["spec"]["rules"] == [
        {
            "from": [
                {"source": {"principals": [WAYPOINT_USER]}},
                {"source": {"namespaces": ["shop"]}},
            ]
        }
    ]
    assert any("no methods or paths observed" in n for n in s.notes)
    assert any("ports not observed" in n for n in s.notes)
    policies = applied(s)
    assert decide(policies, ORDERS, Request(principal=WAYPOINT_USER, namespace="web")).verdict == (
        "allow"
    )
    assert decide(policies, ORDERS, Request(namespace="shop")).verdict == "allow"
    catalog_sa = Request(principal="cluster.local/ns/billing/sa/catalog", namespace="billing")
    assert decide(policies, ORDERS, catalog_sa).verdict == "deny"
