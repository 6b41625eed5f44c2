"""Governance: posture, findings and policy checks over discovery's models.

Pure functions, no I/O: the security config read from the clusters, the
Services and the telemetry edges go in; postures and findings come out.
"""

from __future__ import annotations

from governance.errors import (
    GovernanceError,
    InvalidPolicyError,
    PostureError,
    SuggestionError,
)
from governance.findings import SEVERITIES, Finding, Severity, at_least
from governance.identity import MtlsShare, callers_seen, mtls_share, service_accounts
from governance.istio.authz import Decision, decide
from governance.istio.mtls import MtlsSetting, effective_mode
from governance.istio.workload import Request, Workload
from governance.policy.suggest import suggest, suggest_all
from governance.policy.suggestion import Suggestion
from governance.posture import Caller, Posture, assess, assess_all, callers_of
from governance.traffic import ObservedCall, calls_from_callers

__all__ = [
    "SEVERITIES",
    "Caller",
    "Decision",
    "Finding",
    "GovernanceError",
    "InvalidPolicyError",
    "MtlsSetting",
    "MtlsShare",
    "ObservedCall",
    "Posture",
    "PostureError",
    "Request",
    "Severity",
    "Suggestion",
    "SuggestionError",
    "Workload",
    "assess",
    "assess_all",
    "at_least",
    "callers_of",
    "callers_seen",
    "calls_from_callers",
    "decide",
    "effective_mode",
    "mtls_share",
    "service_accounts",
    "suggest",
    "suggest_all",
]
