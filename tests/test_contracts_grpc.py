"""gRPC contracts through server reflection, against real grpc.aio servers on loopback.

The demo's backend runs grpcio's own reflection servicer over files that
import each other (a paging file, ``google/protobuf/timestamp.proto``); what
meshatlas reads is judged against the server's own descriptor pool. Servers
that behave otherwise run :mod:`fixtures.grpc_reflection`: one that sends
only the file asked for and speaks only ``grpc.reflection.v1``, one without
reflection, and hostile ones (an import cycle, more files or bytes than a
client should read).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2_grpc

from discovery import contracts, specpool, specs
from discovery.contracts import protobuf
from discovery.model import Api, Service, ServiceKey, ServicePort
from discovery.probing import grpcprobe
from discovery.probing.fetch import Fetcher, Limits, make_client
from discovery.probing.probe import Prober
from discovery.specpool import SpecPool
from fixtures import grpc_reflection
from fixtures.backends import _grpc
from fixtures.backends._model import Backend
from fixtures.ports import free_port

SEARCH = _grpc.SEARCH_SERVICE


def _service(port: int) -> Service:
    return Service(
        key=ServiceKey("c", "platform", "search"),
        type="ClusterIP",
        headless=False,
        cluster_ips=("127.0.0.1",),
        external_name=None,
        ports=(ServicePort("grpc", port, port, "TCP", None, "grpc"),),
        ready_addresses=("127.0.0.1",),
    )


Starter = Callable[[], Awaitable[tuple[Callable[[], Awaitable[None]], int]]]


def _with_server(start: Starter, *, pool: bool = True) -> Api:
    """Start a server, probe its port as a crawl does (descriptors read in a worker), stop it."""

    async def main() -> Api:
        stop, port = await start()
        try:
            limits = Limits(deadline=5.0)
            async with make_client(limits=limits) as client, SpecPool() as workers:
                prober = Prober(
                    fetcher=Fetcher(client=client, limits=limits), pool=workers if pool else None
                )
                (api,) = (await prober.probe(_service(port))).apis
                return api
        finally:
            await stop()

    return asyncio.run(main())


def _demo_backend() -> Starter:
    async def start() -> tuple[Callable[[], Awaitable[None]], int]:
        port = free_port()
        counts: dict[str, int] = collections.defaultdict(int)
        stop = await _grpc.start(
            Backend("platform/search", "127.0.0.1", port, "grpc-reflection"), counts
        )
        return stop, port

    return start


def _custom(reflection: grpc_reflection.Reflection) -> Starter:
    async def start() -> tuple[Callable[[], Awaitable[None]], int]:
        server, port = await grpc_reflection.start(reflection)

        async def stop() -> None:
            await server.stop(None)

        return stop, port

    return start


def _truth(services: list[str]) -> set[str]:
    """The operations the server's own pool defines, streaming marked as gRPC names it."""
    words = {
        (False, False): "",
        (False, True): " (server streaming)",
        (True, False): " (client streaming)",
        (True, True): " (bidirectional streaming)",
    }
    found = set()
    for name in services:
        service = _grpc.POOL.FindServiceByName(name)
        for method in service.methods:
            mark = words[(method.client_streaming, method.server_streaming)]
            found.add(f"rpc {service.full_name}/{method.name}{mark}")
    return found


def _server_files(names: list[str]) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """The files the server's pool holds for ``names`` and everything they import."""
    out: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [_grpc.POOL.FindFileContainingSymbol(n) for n in names]
    while pending:
        file = pending.pop()
        if file.name not in out:
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            out[file.name] = proto
            pending.extend(file.dependencies)
    return out


def test_grpcio_reflection_gives_every_file_and_the_methods_with_their_streaming() -> None:
    api = _with_server(_demo_backend())
    listed = ["grpc.health.v1.Health", SEARCH]
    assert api.grpc_services == tuple(listed)
    assert api.requests == 1
    contract = api.contract
    assert contract is not None and contract.valid, contract
    assert (contract.format, contract.packaging, contract.spec_version) == (
        "protobuf",
        "protobuf",
        "proto3",
    )
    assert {op.name for op in contract.operations} == _truth(listed)
    (watch,) = [
        op for op in contract.operations if op.name.endswith("WatchSuggestions (server streaming)")
    ]
    assert watch.streaming == "server"
    # The set holds exactly the server's files, the imported ones included, and builds alone.
    found = descriptor_pb2.FileDescriptorSet.FromString(contract.content)
    assert {f.name: f for f in found.file} == _server_files(listed)
    pool = descriptor_pool.DescriptorPool()
    for file in found.file:  # dependencies first
        pool.Add(file)
    assert pool.FindMethodByName(f"{SEARCH}.Search").input_type.fields_by_name[
        "page"
    ].message_type.full_name == ("platform.common.v1.PageRequest")
    text = (contract.readable or b"").decode()
    assert 'import "platform/common/v1/paging.proto";' in text
    assert "rpc WatchSuggestions(SuggestRequest) returns (stream SuggestResponse);" in text
    assert ".google.protobuf.Timestamp indexed_at = 4;" in text
    (described,) = [e for e in api.evidence if e.check == "grpc-descriptors"]
    assert f"descriptors of {len(_server_files(listed))} files" in described.matched


def test_imports_are_asked_for_by_name_from_a_server_that_sends_one_file_at_a_time() -> None:
    reflection = grpc_reflection.Reflection(
        files=grpc_reflection.files_of(_grpc.FILES),
        services=[SEARCH],
        apis=("grpc.reflection.v1",),
        with_imports=False,
    )
    api = _with_server(_custom(reflection))
    assert api.requests == 2  # v1alpha is not implemented there; v1 is
    assert api.evidence[0].matched == f"server reflection (grpc.reflection.v1) lists {SEARCH}"
    contract = api.contract
    assert contract is not None and contract.valid
    found = descriptor_pb2.FileDescriptorSet.FromString(contract.content)
    assert [f.name for f in found.file] == [
        "google/protobuf/timestamp.proto",
        "platform/common/v1/paging.proto",
        "platform/search/v1/search.proto",
    ]
    assert {op.name for op in contract.operations} == _truth([SEARCH])


def test_the_same_files_give_the_same_bytes_whoever_sends_them() -> None:
    lean = grpc_reflection.Reflection(
        files=grpc_reflection.files_of(reversed(_grpc.FILES)), services=[SEARCH], with_imports=False
    )
    full = grpc_reflection.Reflection(
        files=grpc_reflection.files_of(_grpc.FILES), services=[SEARCH]
    )
    first, second = _with_server(_custom(lean)), _with_server(_custom(full))
    assert first.contract is not None and second.contract is not None
    assert first.contract.content == second.contract.content


def test_a_server_without_reflection_stays_grpc_with_its_status() -> None:
    async def start() -> tuple[Callable[[], Awaitable[None]], int]:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()

        async def stop() -> None:
            await server.stop(None)

        return stop, port

    api = _with_server(start)
    assert api.kind == "grpc" and api.contract is None
    assert [e.check for e in api.evidence] == ["grpc-status"]
    assert api.evidence[0].matched == "answered with grpc-status UNIMPLEMENTED"
    assert api.requests == 2  # both reflection versions were asked


def _cyclic() -> dict[str, bytes]:
    first = descriptor_pb2.FileDescriptorProto(
        name="a/one.proto", package="a", syntax="proto3", dependency=["a/two.proto"]
    )
    first.service.add(name="One").method.add(name="Get", input_type=".a.Two", output_type=".a.Two")
    second = descriptor_pb2.FileDescriptorProto(
        name="a/two.proto", package="a", syntax="proto3", dependency=["a/one.proto"]
    )
    second.message_type.add(name="Two")
    return grpc_reflection.files_of([first, second])


def test_a_cyclic_descriptor_set_is_refused_with_its_reason() -> None:
    reflection = grpc_reflection.Reflection(files=_cyclic(), services=["a.One"], with_imports=False)
    api = _with_server(_custom(reflection))
    contract = api.contract
    assert contract is not None and not contract.valid
    assert contract.errors == ("import cycle: a/one.proto -> a/two.proto -> a/one.proto",)
    (described,) = [e for e in api.evidence if e.check == "grpc-descriptors"]
    assert "they do not build: import cycle" in described.matched


def _many_files(count: int, *, padding: int = 0) -> dict[str, bytes]:
    """A service file importing ``count`` files, each ``padding`` bytes of comment-free bulk."""
    deps = [f"bulk/f{i}.proto" for i in range(count)]
    root = descriptor_pb2.FileDescriptorProto(
        name="bulk/root.proto", package="bulk", dependency=deps
    )
    root.message_type.add(name="M")
    root.service.add(name="Bulk").method.add(
        name="Get", input_type=".bulk.M", output_type=".bulk.M"
    )
    files = [root]
    for name in deps:
        file = descriptor_pb2.FileDescriptorProto(name=name, package="bulk")
        if padding:
            file.options.java_package = "x" * padding
        files.append(file)
    return grpc_reflection.files_of(files)


def test_more_files_than_allowed_are_not_kept() -> None:
    reflection = grpc_reflection.Reflection(
        files=_many_files(protobuf.MAX_FILES + 20), services=["bulk.Bulk"], with_imports=False
    )
    api = _with_server(_custom(reflection))
    assert api.contract is None and api.grpc_services == ("bulk.Bulk",)
    (described,) = [e for e in api.evidence if e.check == "grpc-descriptors"]
    assert (
        described.matched
        == f"no descriptors: more than {protobuf.MAX_FILES} files: descriptors not kept"
    )


def test_descriptors_past_the_byte_cap_are_not_kept() -> None:
    files = _many_files(12, padding=200_000)  # about 2.4 MB in all

    async def main() -> grpcprobe.GrpcAnswer | None:
        server, port = await grpc_reflection.start(
            grpc_reflection.Reflection(files=files, services=["bulk.Bulk"], with_imports=False)
        )
        try:
            return await grpcprobe.reflect(
                address="127.0.0.1", port=port, deadline=5.0, max_bytes=1024 * 1024
            )
        finally:
            await server.stop(None)

    answer = asyncio.run(main())
    assert answer is not None and answer.services == ("bulk.Bulk",)
    assert answer.descriptors is None
    assert answer.gap == "descriptors over 1048576 bytes: not kept"
    assert answer.received <= 1024 * 1024 + 210_000  # one message past the cap at most


def test_a_large_descriptor_set_is_read_in_a_worker_as_it_is_inline() -> None:
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in _many_files(12, padding=10_000).values()
    ]
    content = protobuf.descriptor_set(files)
    assert len(content) > specpool.INLINE_DESCRIPTORS
    reading = contracts.Reading("protobuf", ("bulk.Bulk",))

    async def pooled() -> tuple[Any, int]:
        async with SpecPool() as pool:
            doc = await pool.parse(content, url="grpc://x", content_type=None, reading=reading)
            return doc, len(pool._idle)

    doc, workers = asyncio.run(pooled())
    inline = specs.parse_spec(content, url="grpc://x", content_type=None, reading=reading)
    assert workers == 1  # it went to a worker
    assert doc == inline and doc.readable == inline.readable
    assert [op.name for op in doc.operations] == ["rpc bulk.Bulk/Get"]
