"""Ask a gRPC port what it serves, through server reflection.

One ``ServerReflectionInfo`` stream over plaintext HTTP/2, ``grpc.reflection.v1alpha``
first (what most servers serve) and ``grpc.reflection.v1`` when that one is
not implemented; both speak the same messages. On it: ``ListServices``, then
the file that defines each listed service (``file_containing_symbol``), then
every file those import that the server has not sent yet (``file_by_filename``),
round after round until the set is closed. Some servers send a file with all
its imports, others the file alone: either way the set ends up whole, or says
what is missing.

Everything is bounded: the stream by the probe deadline and by ``max_bytes``
across all its messages, the services described (:data:`MAX_DESCRIBED`),
the files (:data:`~discovery.contracts.protobuf.MAX_FILES`). A server that
answers file requests with anything else, or keeps streaming, is read no
further. A reflection answer names the services even when their
descriptors could not be had; a ``grpc-status`` answer of any kind
(UNIMPLEMENTED when reflection is off) still proves the port speaks gRPC.
The channel ignores proxy settings and is closed afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pb2  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection_pb2

from discovery.contracts import protobuf

#: The reflection service itself is not an API of the Service.
_INFRASTRUCTURE = frozenset(
    {
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
#: Reflection's two versions, tried in this order; their messages are the same.
REFLECTION_APIS: Final = ("grpc.reflection.v1alpha", "grpc.reflection.v1")

#: Service names kept from one reflection answer.
MAX_SERVICES = 1000
#: Services whose descriptors are asked for.
MAX_DESCRIBED: Final = 64

_Request = reflection_pb2.ServerReflectionRequest
_Response = reflection_pb2.ServerReflectionResponse


@dataclass(frozen=True, slots=True)
class GrpcAnswer:
    """What a gRPC port said: its services and their descriptors, or only a status code.

    ``received`` is the size of the messages read, for the Service's byte
    budget; ``calls`` the RPCs made (two when only ``v1`` reflection answers).
    ``descriptors`` is the FileDescriptorSet of the services described, imports
    included (:func:`discovery.contracts.protobuf.descriptor_set`), and
    ``files`` how many files it holds; ``gap`` says why descriptors are
    missing or incomplete.
    """

    services: tuple[str, ...]
    status: str | None
    received: int = 0
    calls: int = 1
    api: str = REFLECTION_APIS[0]
    descriptors: bytes | None = field(default=None, repr=False)
    files: int = 0
    gap: str | None = None


async def list_services(
    *, address: str, port: int, deadline: float, max_bytes: int
) -> GrpcAnswer | None:
    """Reflection's service list, without descriptors; ``None`` when nothing gRPC answered."""
    return await reflect(
        address=address, port=port, deadline=deadline, max_bytes=max_bytes, describe=False
    )


async def reflect(
    *, address: str, port: int, deadline: float, max_bytes: int, describe: bool = True
) -> GrpcAnswer | None:
    """The services a port lists and, with ``describe``, their file descriptors.

    ``None`` when nothing gRPC answered (unavailable, no answer in time).
    """
    host = f"[{address}]" if ":" in address else address
    options = [
        ("grpc.enable_http_proxy", 0),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.enable_retries", 0),
    ]
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=options)
    loop = asyncio.get_running_loop()
    ends = loop.time() + deadline
    calls = 0
    try:
        for api in REFLECTION_APIS:
            calls += 1
            method = channel.stream_stream(
                f"/{api}.ServerReflection/ServerReflectionInfo",
                request_serializer=_Request.SerializeToString,
                response_deserializer=_Response.FromString,
            )
            call = method(timeout=max(ends - loop.time(), 0.001))
            try:
                return await _Conversation(call, api, calls, max_bytes, describe).run()
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNIMPLEMENTED and api != REFLECTION_APIS[-1]:
                    continue  # this server may speak the other version
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    return None
                return GrpcAnswer((), code.name, calls=calls, api=api)
            finally:
                call.cancel()
        return None  # not reached: the last version's refusal is returned above
    except (TimeoutError, OSError):
        return None
    finally:
        await channel.close()


class _Conversation:
    """One reflection stream: the list, then the files, within the byte cap."""

    def __init__(self, call: Any, api: str, calls: int, max_bytes: int, describe: bool) -> None:
        self.call = call
        self.api = api
        self.calls = calls
        self.max_bytes = max_bytes
        self.describe = describe
        self.received = 0
        self.files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self.gap: str | None = None
        self.unknown: list[str] = []

    async def run(self) -> GrpcAnswer:
        await self.call.write(_Request(list_services=""))
        response = await self._read()
        # One request, one answer: a server that keeps streaming is not read on
        # (each message is capped by max_bytes; the stream is capped here).
        listed = response.list_services_response.service if response is not None else ()
        services = tuple(
            sorted(s.name[:256] for s in listed[:MAX_SERVICES] if s.name not in _INFRASTRUCTURE)
        )
        if not self.describe or not services:
            return self._answer(services)
        try:
            await self._describe(services[:MAX_DESCRIBED])
        except grpc.aio.AioRpcError as exc:
            # The list stands; only the descriptors are missing.
            self.gap = f"descriptors not answered ({exc.code().name})"
        if self.gap is None and len(services) > MAX_DESCRIBED:
            self.gap = f"descriptors of the first {MAX_DESCRIBED} of {len(services)} services"
        return self._answer(services)

    async def _describe(self, services: tuple[str, ...]) -> None:
        asked: set[str] = set()
        rounds = [[_Request(file_containing_symbol=name) for name in services]]
        while rounds and self.gap is None:
            batch = rounds.pop()
            for request in batch:
                await self.call.write(request)
            for request in batch:
                if not self._take(await self._read(), request):
                    return
            missing = sorted(
                {d for f in self.files.values() for d in f.dependency} - self.files.keys() - asked
            )
            if len(self.files) + len(missing) > protobuf.MAX_FILES:
                self.gap = f"more than {protobuf.MAX_FILES} files: descriptors not kept"
                return
            if missing:
                asked.update(missing)
                rounds.append([_Request(file_by_filename=name) for name in missing])

    def _take(self, response: Any, request: Any) -> bool:
        """Keep the files of one answer; False when the conversation should stop."""
        asked_for = request.file_containing_symbol or request.file_by_filename
        if response is None:
            self.gap = self.gap or "the server ended the stream before sending every descriptor"
            return False
        if response.HasField("error_response"):
            code = response.error_response.error_code
            self.unknown.append(f"{asked_for} (error {code})")
            return True
        if not response.HasField("file_descriptor_response"):
            self.gap = f"answered {response.WhichOneof('message_response')} for {asked_for}"
            return False
        for raw in response.file_descriptor_response.file_descriptor_proto:
            try:
                file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            except (DecodeError, RecursionError):
                self.gap = f"a descriptor sent for {asked_for} does not decode"
                return False
            self.files.setdefault(file.name, file)
        if len(self.files) > protobuf.MAX_FILES:
            self.gap = f"more than {protobuf.MAX_FILES} files: descriptors not kept"
            return False
        return True

    async def _read(self) -> Any:
        if self.received >= self.max_bytes:
            self.gap = f"descriptors over {self.max_bytes} bytes: not kept"
            return None
        response = await self.call.read()
        if response is grpc.aio.EOF:
            return None
        self.received += response.ByteSize()
        if self.received > self.max_bytes:
            self.gap = f"descriptors over {self.max_bytes} bytes: not kept"
        return response

    def _answer(self, services: tuple[str, ...]) -> GrpcAnswer:
        descriptors = None
        if self.files and (self.gap is None or not self.gap.endswith("not kept")):
            descriptors = protobuf.descriptor_set(list(self.files.values()))
        gap = self.gap
        if self.unknown:
            said = "reflection does not know " + ", ".join(self.unknown[:3])
            gap = f"{gap}; {said}" if gap else said
        return GrpcAnswer(
            services=services,
            status="OK",
            received=self.received,
            calls=self.calls,
            api=self.api,
            descriptors=descriptors,
            files=len(self.files) if descriptors is not None else 0,
            gap=gap,
        )
