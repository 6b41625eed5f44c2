"""The part of a security config that can apply to one namespace.

Istio applies an object to a workload only from the workload's own namespace
or the root namespace (PeerAuthentication, RequestAuthentication,
AuthorizationPolicy alike; a ``targetRefs`` entry may name its namespace).
Judging thousands of workloads against every object of the mesh is
quadratic; judging each against its namespace's share is not, and gives the
same verdicts.
"""

from __future__ import annotations

from dataclasses import replace

from discovery.mesh.security import AuthorizationPolicy, SecurityConfig


def for_namespace(config: SecurityConfig, *, cluster: str, namespace: str) -> SecurityConfig:
    """``config`` with only the objects that may apply in ``cluster``/``namespace``."""
    where = (namespace, config.root_namespace)

    def near(ref_cluster: str, ref_namespace: str) -> bool:
        return ref_cluster == cluster and ref_namespace in where

    return replace(
        config,
        peer_authentications=tuple(
            p for p in config.peer_authentications if near(p.ref.cluster, p.ref.namespace)
        ),
        authorization_policies=tuple(
            p for p in config.authorization_policies if _may_apply(p, cluster, where)
        ),
        request_authentications=tuple(
            r for r in config.request_authentications if near(r.ref.cluster, r.ref.namespace)
        ),
    )


def _may_apply(policy: AuthorizationPolicy, cluster: str, where: tuple[str, str]) -> bool:
    if policy.ref.cluster != cluster:
        return False
    if policy.ref.namespace in where:
        return True
    return any(ref.namespace == where[0] for ref in policy.target_refs)
