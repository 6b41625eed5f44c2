"""A reflection server that never stops streaming costs one message, not the deadline's worth.

A real grpc.aio server on loopback answers ``ServerReflectionInfo`` with large
list-services messages, one after another, until the client goes away. The
probe reads the one answer its one request asks for, then cancels the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection_pb2

from discovery.probing import grpcprobe
from fixtures.ports import free_port

_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def _answer(batch: int) -> reflection_pb2.ServerReflectionResponse:
    names = [
        reflection_pb2.ServiceResponse(name=f"flood.v1.Service{batch}x{i}") for i in range(2000)
    ]
    return reflection_pb2.ServerReflectionResponse(
        list_services_response=reflection_pb2.ListServiceResponse(service=names)
    )


async def _serve_flood(port: int, sent: list[int]) -> grpc.aio.Server:
    async def flood(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[reflection_pb2.ServerReflectionResponse]:
        batch = 0
        while True:
            batch += 1
            sent[0] = batch
            yield _answer(batch)
            await asyncio.sleep(0)

    handler = grpc.method_handlers_generic_handler(
        "grpc.reflection.v1alpha.ServerReflection",
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                flood,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def test_an_endless_reflection_stream_is_read_once() -> None:
    async def scenario() -> tuple[grpcprobe.GrpcAnswer | None, int]:
        port = free_port()
        sent = [0]
        server = await _serve_flood(port, sent)
        try:
            answer = await grpcprobe.list_services(
                address="127.0.0.1", port=port, deadline=5.0, max_bytes=4 * 1024 * 1024
            )
        finally:
            await server.stop(None)
        return answer, sent[0]

    answer, sent = asyncio.run(scenario())
    assert answer is not None and answer.status == "OK"
    assert len(answer.services) == grpcprobe.MAX_SERVICES
    assert all(name.startswith("flood.v1.Service1x") for name in answer.services)
    # The server may have queued a few more before the cancel reached it, never
    # the thousands a five-second deadline would have read.
    assert sent < 200
