"""The worker behind :class:`discovery.specpool.SpecPool`: ``python -m discovery.specworker MIB``.

Says ``("ready", None)`` on stdout once its imports are done, then reads
length-prefixed pickled jobs ``(content, url, content_type, known,
cpu_seconds, reading)`` on stdin and answers each on stdout: ``("doc", SpecDocument)``,
``("same", SpecDocument)`` for one whose ``content`` is the bytes it was sent
(left empty: the caller has them),
``("error", (name, message))`` or ``("memory", None)``. Its heap is limited
to ``MIB`` MiB beyond what it holds at start (``RLIMIT_DATA``), and each job
to ``cpu_seconds`` of CPU time (the soft ``RLIMIT_CPU``, set afresh per
job: the kernel ends the process with SIGXCPU when it is passed).
"""

from __future__ import annotations

import dataclasses
import gc
import pickle
import resource
import struct
import sys
from typing import Any, BinaryIO, Final

from discovery import specs
from discovery.errors import SpecError

# What validating needs, imported before the worker says it is ready (the
# calling process imports it only when it validates inline): no document's
# CPU limit or time pays for it.
specs.import_validators()

_FRAME: Final = struct.Struct("!Q")
_MIB: Final = 1024 * 1024


def _data_bytes() -> int:
    """The data segment now (what RLIMIT_DATA counts), from /proc."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _send(writer: BinaryIO, reply: tuple[str, Any]) -> None:
    frame = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_FRAME.pack(len(frame)) + frame)
    writer.flush()


def serve(memory_mib: int, reader: BinaryIO, writer: BinaryIO) -> int:
    # What importing made lives as long as the worker: out of the collector's way.
    gc.freeze()
    limit = _data_bytes() + memory_mib * _MIB
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    _send(writer, ("ready", None))
    while (head := _read(reader, _FRAME.size)) is not None:
        body = _read(reader, _FRAME.unpack(head)[0])
        if body is None:
            return 0
        content, url, content_type, known, cpu_seconds, reading = pickle.loads(body)
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime) + 1
        # The soft limit only: the kernel sends SIGXCPU there, which ends the
        # process; a hard limit once lowered could not be raised for the next job.
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds, hard))
        try:
            # Not kept here (the caller keeps outcomes).
            document = specs.parse_spec(
                content,
                url=url,
                content_type=content_type,
                known=known,
                reading=reading,
                keep=False,
            )
            reply: tuple[str, Any] = ("doc", document)
            if document.content is content:
                # The bytes it was sent: the caller has them already.
                reply = ("same", dataclasses.replace(document, content=b""))
        except SpecError as exc:
            reply = ("error", (type(exc).__name__, exc.message))
        except MemoryError:
            reply = ("memory", None)
        _send(writer, reply)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(serve(int(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer))
    except MemoryError:
        sys.exit(99)  # specpool.MEMORY_EXIT
