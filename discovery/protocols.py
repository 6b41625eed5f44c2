"""Decide how the mesh treats a Service port, the way Istio does.

Istio's order: UDP is never proxied; then ``appProtocol``; then the port name's
prefix before the first ``-``; a few well-known ports are TCP; anything else
is "unknown", which Istio sniffs and meshatlas tries as HTTP.
"""

from __future__ import annotations

from typing import Final

from discovery.model import MeshProtocol

_KNOWN: Final[dict[str, MeshProtocol]] = {
    "http": "http",
    "http2": "http2",
    "https": "https",
    "grpc": "grpc",
    "grpc-web": "grpc-web",
    "tcp": "tcp",
    "tls": "tls",
    "mongo": "mongo",
    "redis": "redis",
    "mysql": "mysql",
    # Kubernetes' standard appProtocol values.
    "kubernetes.io/h2c": "http2",
    "kubernetes.io/ws": "http",
    "kubernetes.io/wss": "tls",
}
#: Ports Istio treats as TCP even when their name says nothing.
_TCP_PORTS: Final = frozenset({25, 53, 3306, 27017})


def mesh_protocol(
    *, name: str | None, port: int, protocol: str = "TCP", app_protocol: str | None = None
) -> MeshProtocol:
    """The protocol the mesh will use for one Service port.

    Args:
        name: the port's name (``http-api``, ``grpc``, ``tcp-redis``...).
        port: the Service port number.
        protocol: the L4 protocol from the Service (``TCP``, ``UDP``, ``SCTP``).
        app_protocol: the port's ``appProtocol``, which wins over the name.
    """
    if protocol.upper() == "UDP":
        return "udp"
    if app_protocol:
        known = _KNOWN.get(app_protocol.lower())
        if known is not None:
            return known
    if name:
        lowered = name.lower()
        if lowered in _KNOWN:
            return _KNOWN[lowered]
        # grpc-web contains a dash itself, so test it before splitting.
        if lowered.startswith("grpc-web-") or lowered == "grpc-web":
            return "grpc-web"
        prefix = lowered.split("-", 1)[0]
        if prefix in _KNOWN:
            return _KNOWN[prefix]
    if port in _TCP_PORTS:
        return "tcp"
    return "unknown"
