"""gRPC contracts: a FileDescriptorSet from server reflection, checked and described.

:mod:`discovery.probing.grpcprobe` gathers the file descriptors of the services a
server lists, with every file they import, and packs them into one
``google.protobuf.FileDescriptorSet`` (:func:`descriptor_set`: dependencies
first, as ``protoc --include_imports`` writes it). :func:`read_descriptor_set`
reads such a set back, bounded in bytes and files, builds it into a fresh
descriptor pool (which checks that every type it names is defined), and
describes it: the methods of the listed services as operations
(``rpc shop.Orders/Get``, ``rpc shop.Orders/Watch (server streaming)``) and
the set as ``.proto`` text for people to read.

A set that does not build (an import the server did not give, an import
cycle, a type that is not defined) is still described, with ``valid`` False
and the reasons: its services and methods are plain names in the descriptors.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from google.protobuf import descriptor_pb2, descriptor_pool  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from discovery.contracts import prototext
from discovery.errors import NotASpecError, SpecRefusedError
from discovery.model import Operation, SpecDocument

if TYPE_CHECKING:
    from discovery.specs import SpecLimits

__all__ = ["MAX_FILES", "descriptor_set", "read_descriptor_set", "streaming", "syntax"]

#: Files one descriptor set may hold (the services' own files and their imports).
MAX_FILES: Final = 256
_MAX_MESSAGE: Final = 200
_STREAMING: Final = {"client": "client streaming", "server": "server streaming"}


def streaming(method: descriptor_pb2.MethodDescriptorProto) -> str | None:
    """``client``, ``server`` or ``bidi`` for a streaming method, else ``None``."""
    if method.client_streaming and method.server_streaming:
        return "bidi"
    if method.client_streaming:
        return "client"
    return "server" if method.server_streaming else None


def syntax(file: descriptor_pb2.FileDescriptorProto) -> str:
    """``proto2``, ``proto3`` or ``editions``, as the file declares it."""
    return file.syntax or "proto2"


def descriptor_set(files: Sequence[descriptor_pb2.FileDescriptorProto]) -> bytes:
    """Serialize ``files`` as one FileDescriptorSet, each file after what it imports.

    Ties (and files in a cycle) go by name, so the same files always give the
    same bytes, whatever order a server sent them in.
    """
    out = descriptor_pb2.FileDescriptorSet()
    out.file.extend(_ordered(files)[0])
    serialized: bytes = out.SerializeToString(deterministic=True)
    return serialized


def read_descriptor_set(
    content: bytes, *, url: str, services: Collection[str], limits: SpecLimits
) -> SpecDocument:
    """Check and describe a FileDescriptorSet.

    Args:
        content: the serialized set.
        url: where it came from (``grpc://address:port``).
        services: the services the server listed; only their methods are
            operations (an imported file may define services it does not
            serve). Empty: every service in the set.
        limits: bounds on the bytes read and the messages kept.

    Raises:
        NotASpecError: the bytes are no FileDescriptorSet, or one without services.
        SpecRefusedError: too large, or too many files.
    """
    if len(content) > limits.max_bytes:
        raise SpecRefusedError(
            f"{len(content)} bytes is over the {limits.max_bytes} limit", url=url
        )
    try:
        found = descriptor_pb2.FileDescriptorSet.FromString(content)
    except (DecodeError, RecursionError) as exc:
        raise NotASpecError(_short(f"not a FileDescriptorSet: {exc}"), url=url) from exc
    if len(found.file) > MAX_FILES:
        raise SpecRefusedError(f"{len(found.file)} files is over the {MAX_FILES} limit", url=url)
    files = list(found.file)
    errors = _check(files)
    wanted = set(services)
    operations = list(_operations(files, wanted))
    if not operations:
        raise NotASpecError("the descriptors define no method of the listed services", url=url)
    served = [f for f in files if any(_full(f, s.name) in wanted or not wanted for s in f.service)]
    return SpecDocument(
        format="protobuf",
        spec_version=syntax(served[0]) if served else syntax(files[0]),
        url=url,
        packaging="protobuf",
        title=None,
        api_version=None,
        description=None,
        operations=tuple(operations),
        valid=not errors,
        errors=tuple(errors[: limits.max_errors]),
        content=content,
        readable=prototext.render(_ordered(files)[0]).encode(),
    )


def _check(files: list[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    """Why the set does not build, in words; empty when it does."""
    errors: list[str] = []
    names = [f.name for f in files]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{name} appears more than once")
    have = set(names)
    for file in files:
        for dependency in file.dependency:
            if dependency not in have:
                errors.append(f"{file.name} imports {dependency}, which is not in the set")
    ordered, cycle = _ordered(files)
    if cycle:
        errors.append("import cycle: " + " -> ".join(cycle))
    if errors:
        return [_short(e) for e in errors]
    pool = descriptor_pool.DescriptorPool()
    for file in ordered:
        try:
            pool.Add(file)
        except (TypeError, ValueError, KeyError) as exc:
            errors.append(_short(f"{file.name}: {exc}"))
            break  # what imports it fails too, and says nothing new
    return errors


def _ordered(
    files: Sequence[descriptor_pb2.FileDescriptorProto],
) -> tuple[list[descriptor_pb2.FileDescriptorProto], list[str]]:
    """Files after their imports (by name among equals), and an import cycle if one was met."""
    by_name = {f.name: f for f in sorted(files, key=lambda f: f.name)}
    done: set[str] = set()
    out: list[descriptor_pb2.FileDescriptorProto] = []
    cycle: list[str] = []
    for root in by_name:
        # Depth first without recursion: (name, imports still to visit).
        path: list[tuple[str, Iterator[str]]] = []
        if root not in done:
            path.append((root, iter(sorted(by_name[root].dependency))))
        on_path = {root}
        while path:
            name, pending = path[-1]
            step = next((d for d in pending if d in by_name and d not in done), None)
            if step is None:
                path.pop()
                on_path.discard(name)
                done.add(name)
                out.append(by_name[name])
            elif step in on_path:
                if not cycle:
                    start = [n for n, _ in path].index(step)
                    cycle = [n for n, _ in path[start:]] + [step]
            else:
                path.append((step, iter(sorted(by_name[step].dependency))))
                on_path.add(step)
    return out, cycle


def _operations(
    files: Sequence[descriptor_pb2.FileDescriptorProto], wanted: set[str]
) -> Iterator[Operation]:
    seen: set[str] = set()
    for file in files:
        for service in file.service:
            full = _full(file, service.name)
            if (wanted and full not in wanted) or full in seen:
                continue
            seen.add(full)
            for method in service.method:
                flow = streaming(method)
                mark = f" ({_STREAMING.get(flow or '', 'bidirectional streaming')})" if flow else ""
                yield Operation(
                    name=f"rpc {full}/{method.name}{mark}",
                    method="rpc",
                    summary=f"{method.input_type.lstrip('.')} -> {method.output_type.lstrip('.')}",
                    streaming=flow,
                    deprecated=method.options.deprecated,
                )


def _full(file: descriptor_pb2.FileDescriptorProto, name: str) -> str:
    return f"{file.package}.{name}" if file.package else name


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
