"""Parse and validate descriptions in worker processes, each document bounded.

A few kilobytes of OpenAPI whose schemas fan out (``allOf`` of the same
schema twice, level after level) keep a validator busy for hours, and a WSDL
whose XSD types do the same keeps zeep busy: size caps do not bound that
work. So every description whose outcome is not known yet is parsed and
validated in a worker process with a limit on CPU time (``RLIMIT_CPU``, set
afresh for each document) and on memory (``RLIMIT_DATA``). A worker that
passes a limit is killed by the kernel and replaced; the document is refused
with the limit it passed. The event loop never does this work: probes go on
while a document is validated, and our own CPU never eats their deadlines.

Descriptions whose validation outcome is already known (by the digest of
their bytes, from an earlier run; for a WSDL, zeep's outcome under its
current :func:`~discovery.contracts.wsdl.check_key`) are parsed in the calling process:
parsing is bounded by :class:`~discovery.specs.SpecLimits` and only
validation is unbounded. So a warm crawl with nothing changed starts no
worker. Contracts read as a known kind (``reading``)
go to a worker, once per process for the same bytes: building a GraphQL
schema is its validation, and graphql-core's checks are pure Python. A small
protobuf descriptor set (:data:`INLINE_DESCRIPTORS` bytes at most) is read in
the calling process: decoding it and building it into a descriptor pool is
the protobuf runtime's C code, linear in its size, and a warm crawl of gRPC
Services then starts no worker.

Workers are ``python -m discovery.specworker`` processes speaking
length-prefixed pickles over their pipes; one starts (about half a second of
imports) only when a document needs it, so a warm crawl that validates
nothing starts none, and a worker is kept for the run. A document comes back
without its bytes (the caller has them) and the worker keeps nothing of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import pickle
import signal
import struct
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from discovery import contracts, specs
from discovery.contracts import wsdl
from discovery.errors import NotASpecError, SpecError, SpecRefusedError
from discovery.model import SpecDocument

__all__ = ["PoolLimits", "SpecPool"]

_FRAME: Final = struct.Struct("!Q")
_ERRORS: Final[dict[str, type[SpecError]]] = {
    "NotASpecError": NotASpecError,
    "SpecRefusedError": SpecRefusedError,
    "SpecError": SpecError,
}


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """What validating one document may cost.

    ``cpu_seconds`` of CPU time and ``memory_mib`` of heap beyond what the
    worker holds when it starts; ``workers`` processes at most (default: one
    per core). One worker starts first; another only when every running one
    has been on its document for :data:`SPARE_AFTER` seconds (see
    :class:`SpecPool`).
    """

    cpu_seconds: int = 20
    memory_mib: int = 1024
    workers: int = 0

    @property
    def size(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)


class SpecPool:
    """Parses descriptions off the event loop, each within :class:`PoolLimits`.

    Workers start as they are needed: one for the first document, and
    another (up to :attr:`PoolLimits.size`) only while every running worker
    has been on its document for :data:`SPARE_AFTER` seconds. Ordinary
    descriptions take a few milliseconds, so one worker keeps up with a crawl
    and the event loop, which is what bounds a crawl, keeps a core: on two
    cores shared with other work, a second busy worker took CPU from the
    probes (``bench/crawl.py``, 2,000 Services: cold 29-39 s with two
    workers, 18-23 s with one; within a second of each other on an idle
    machine) and adds its memory to the peak. A slow or hostile document
    still has the others validated beside it.

    Use it as an async context manager, or call :meth:`close`.
    """

    def __init__(self, *, limits: PoolLimits = PoolLimits()) -> None:
        self.limits = limits
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._freed = asyncio.Event()
        self._slots = asyncio.Semaphore(limits.size)
        #: Documents refused because they passed a limit.
        self.refused_by_limit = 0
        #: Worker processes started so far.
        self.started = 0

    async def __aenter__(self) -> SpecPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def parse(
        self,
        content: bytes,
        *,
        url: str,
        content_type: str | None,
        known: Mapping[str, Sequence[str]] | None = None,
        known_digests: Collection[str] = (),
        reading: contracts.Reading | None = None,
    ) -> SpecDocument:
        """:func:`discovery.specs.parse_spec`, bounded; raises its :class:`SpecError` s."""
        outcome = specs.known_outcome(content, content_type=content_type, reading=reading)
        descriptors = reading is not None and reading.kind == "protobuf"
        if outcome is None and descriptors and len(content) <= INLINE_DESCRIPTORS:
            return specs.parse_spec(content, url=url, content_type=content_type, reading=reading)
        if outcome is None:
            digest = hashlib.sha256(content).hexdigest()
            if reading is None and _validated_before(content, digest, known or {}, known_digests):
                # Validated before: only parsing is left, and parsing is bounded.
                return specs.parse_spec(content, url=url, content_type=content_type, known=known)
            wanted = (known or {}) if digest in known_digests else {}
            outcome = await self._in_worker(content, digest, url, content_type, wanted, reading)
            # Kept where parse_spec keeps its own, bounded the same way.
            specs.keep_outcome(content, _bare(outcome), content_type=content_type, reading=reading)
        if isinstance(outcome, SpecError):
            raise type(outcome)(outcome.message, url=url)
        return outcome if outcome.url == url else dataclasses.replace(outcome, url=url)

    async def _in_worker(
        self,
        content: bytes,
        digest: str,
        url: str,
        content_type: str | None,
        known: Mapping[str, Sequence[str]],
        reading: contracts.Reading | None,
    ) -> SpecDocument | SpecError:
        # Only the outcomes this document could use travel to the worker.
        prefix = digest + "/"
        wanted = {k: list(v) for k, v in known.items() if k.startswith(prefix)}
        job = (content, url, content_type, wanted, self.limits.cpu_seconds, reading)
        async with self._slots:
            try:
                worker = await self._take()
            except _WorkerDied as exc:
                self.refused_by_limit += 1
                return SpecRefusedError(exc.reason, url=url)
            worker.since = time.monotonic()
            self._busy.add(worker)
            try:
                reply = await worker.run(job, self.limits)
            except _WorkerDied as exc:
                await worker.kill()
                self.refused_by_limit += 1
                return SpecRefusedError(exc.reason, url=url)
            finally:
                self._busy.discard(worker)
                self._freed.set()
            self._idle.append(worker)
        kind, value = reply
        if kind == "same":
            # Sent back without the bytes it was sent (see discovery.specworker).
            same: SpecDocument = dataclasses.replace(value, content=content)
            return same
        if kind == "doc":
            document: SpecDocument = value
            return document
        name, message = value
        return _ERRORS.get(name, SpecError)(message, url=url)

    async def _take(self) -> _Worker:
        """An idle worker, or a new one when none runs or every running one is slow."""
        while True:
            if self._idle:
                return self._idle.pop()
            running = len(self._busy) + self._starting
            now = time.monotonic()
            newest = max((w.since for w in self._busy), default=now - SPARE_AFTER)
            if running == 0 or (
                running < self.limits.size and not self._starting and now - newest >= SPARE_AFTER
            ):
                self._starting += 1
                self.started += 1
                try:
                    return await _Worker.start(self.limits)
                finally:
                    self._starting -= 1
            # Until a worker is free, or the newest job has run for SPARE_AFTER.
            wait = max(0.01, newest + SPARE_AFTER - now) if self._busy else SPARE_AFTER
            self._freed.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._freed.wait()
            except TimeoutError:
                pass

    async def close(self) -> None:
        """Stop every worker."""
        for worker in [*self._idle, *self._busy]:
            await worker.kill()
        self._idle.clear()
        self._busy.clear()


class _WorkerDied(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    """One ``python -m discovery.specworker`` process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        #: When its current (or last) document was handed to it (monotonic).
        self.since = time.monotonic()

    @classmethod
    async def start(cls, limits: PoolLimits) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "discovery.specworker",
            str(limits.memory_mib),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,  # read only when it dies: its last words
        )
        worker = cls(process)
        try:
            # Ready once its imports are done: a document's time starts then.
            await worker._reply(limits)
        except _WorkerDied:
            await worker.kill()
            raise
        return worker

    async def run(self, job: tuple[Any, ...], limits: PoolLimits) -> tuple[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        frame = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            stdin.write(_FRAME.pack(len(frame)) + frame)
        except (ConnectionError, OSError) as exc:
            code = await self._exit_code()
            raise _WorkerDied(_death(code, limits, await self._last_words())) from exc
        return await self._reply(limits, drain=True)

    async def _reply(self, limits: PoolLimits, *, drain: bool = False) -> tuple[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        wall = limits.cpu_seconds * 3 + 5
        try:
            # CPU time is the kernel's limit; wall time backs it up (a worker
            # starved by a busy machine, or stuck, still ends).
            async with asyncio.timeout(wall):
                if drain:
                    await stdin.drain()
                size = _FRAME.unpack(await stdout.readexactly(_FRAME.size))[0]
                reply: tuple[str, Any] = pickle.loads(await stdout.readexactly(size))
        except TimeoutError as exc:
            raise _WorkerDied(f"validation exceeded {wall} s of wall time") from exc
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            code = await self._exit_code()
            raise _WorkerDied(_death(code, limits, await self._last_words())) from exc
        if reply[0] == "memory":
            raise _WorkerDied(f"validation exceeded {limits.memory_mib} MiB")
        return reply

    async def _exit_code(self) -> int | None:
        try:
            async with asyncio.timeout(5):
                return await self.process.wait()
        except TimeoutError:
            return None

    async def _last_words(self) -> str:
        if self.process.stderr is None:
            return ""
        try:
            async with asyncio.timeout(1):
                said = await self.process.stderr.read(65536)
        except TimeoutError:
            return ""
        lines = said.decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:200] if lines else ""

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self._exit_code()


def _validated_before(
    content: bytes, digest: str, known: Mapping[str, Sequence[str]], digests: Collection[str]
) -> bool:
    """Whether only (bounded) parsing is left for these bytes: their validation is known.

    An OpenAPI/Swagger document counts when a check of its bytes is known; a
    WSDL only when zeep's outcome is known under the key it has now
    (:func:`discovery.contracts.wsdl.check_key`): zeep's loading is the unbounded part.
    """
    if digest not in digests:
        return False
    return wsdl.check_key(digest) in known or not specs.looks_like_wsdl(content)


def _bare(outcome: SpecDocument | SpecError) -> SpecDocument | SpecError:
    # As parse_spec keeps errors: without a traceback that would hold the body.
    return outcome if isinstance(outcome, SpecDocument) else type(outcome)(outcome.message)


def _death(exitcode: int | None, limits: PoolLimits, said: str = "") -> str:
    if exitcode is not None and -exitcode in (signal.SIGXCPU, signal.SIGKILL):
        return f"validation exceeded {limits.cpu_seconds} s of CPU time"
    if exitcode == MEMORY_EXIT:
        return f"validation exceeded {limits.memory_mib} MiB"
    return f"validation worker died (exit code {exitcode}{': ' + said if said else ''})"


#: Seconds every running worker must have spent on its document before
#: another worker starts (see :class:`SpecPool`).
SPARE_AFTER: Final = 0.5

#: Largest protobuf descriptor set read in the calling process (see the module docstring).
INLINE_DESCRIPTORS: Final = 64 * 1024

#: The worker's exit code when it ran out of memory outside a document's parse.
MEMORY_EXIT: Final = 99
