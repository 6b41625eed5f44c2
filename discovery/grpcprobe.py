"""Ask a gRPC port what it serves, through server reflection.

One ``ListServices`` call over plaintext HTTP/2. A reflection answer names
the services; a ``grpc-status`` answer of any kind (UNIMPLEMENTED when
reflection is off) still proves the port speaks gRPC. The channel ignores
proxy settings, is bounded by the probe deadline, and is closed afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

#: The reflection service itself is not an API of the Service.
_INFRASTRUCTURE = frozenset(
    {
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


#: Service names kept from one reflection answer.
MAX_SERVICES = 1000


@dataclass(frozen=True, slots=True)
class GrpcAnswer:
    """What a gRPC port said: its services, or only a status code.

    ``received`` is the size of the one message read, for the Service's
    byte budget.
    """

    services: tuple[str, ...]
    status: str | None
    received: int = 0


async def list_services(
    *, address: str, port: int, deadline: float, max_bytes: int
) -> GrpcAnswer | None:
    """Reflection's service list; ``None`` when nothing gRPC answered."""
    host = f"[{address}]" if ":" in address else address
    options = [
        ("grpc.enable_http_proxy", 0),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.enable_retries", 0),
    ]
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=options)
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        call = stub.ServerReflectionInfo(iter([request]), timeout=deadline)
        services: list[str] = []
        received = 0
        # One request, one answer: a server that keeps streaming is not read on
        # (each message is capped by max_bytes; the stream is capped here).
        async for response in call:
            received = response.ByteSize()
            listed = response.list_services_response.service
            services.extend(s.name for s in listed[:MAX_SERVICES] if s.name not in _INFRASTRUCTURE)
            break
        call.cancel()
        return GrpcAnswer(tuple(sorted(n[:256] for n in services)), "OK", received)
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None
        return GrpcAnswer((), code.name)
    except (TimeoutError, OSError):
        return None
    finally:
        await channel.close()
