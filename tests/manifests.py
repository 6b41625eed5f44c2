"""Kubernetes documents for small generated fixture clusters in tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service_at(
    namespace: str, name: str, address: str, ports: Sequence[int]
) -> list[dict[str, Any]]:
    """A ClusterIP Service on ``address`` and its EndpointSlice with that one ready address."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "clusterIP": address,
                "clusterIPs": [address],
                "selector": {"app": name},
                "ports": [{"name": f"http-{p}", "port": p, "targetPort": p} for p in ports],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-x",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"port": p} for p in ports],
        },
    ]
