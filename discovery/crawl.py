"""One discovery run: inventory, then probes, then config edges.

The inventory is read with the (blocking) ``kubernetes`` client in a worker
thread; probes run concurrently on the caller's event loop through one shared
``aiohttp.ClientSession``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

import aiohttp

from discovery import inventory as inventory_mod
from discovery import kube
from discovery.model import Discovery, Edge, Hint, HintKey, Inventory, ServiceFindings
from discovery.probing.fetch import Fetcher, Lanes, Limits
from discovery.probing.probe import Prober, ProbeSettings
from discovery.specpool import SpecPool

#: Called after each Service is probed: (done, total, "cluster/ns/name").
Progress = Callable[[int, int, str], None]


class Watch(Protocol):
    """Told what a run has so far, so an interrupted one can say it."""

    def listed(self, inventory: Inventory) -> None:
        """The inventory is read; probing starts."""

    def probed(self, findings: ServiceFindings) -> None:
        """One Service is probed."""


async def discover(
    *,
    connections: Sequence[kube.ClusterConnection],
    client: aiohttp.ClientSession,
    scope: inventory_mod.Scope = inventory_mod.Scope(),
    limits: Limits = Limits(),
    concurrency: int = 64,
    settings: ProbeSettings = ProbeSettings(),
    progress: Progress | None = None,
    hints: Mapping[HintKey, Hint] | None = None,
    quiet: Collection[HintKey] = (),
    checks: Mapping[str, Sequence[str]] | None = None,
    pool: SpecPool | None = None,
    watch: Watch | None = None,
) -> Discovery:
    """Read the clusters, probe every Service, and derive config edges.

    ``hints`` (what worked last time, per port) send probes straight there;
    ``quiet`` ports (silent last time) get a short deadline until they answer;
    ``settings`` bound each port and each Service (requests, ports, seconds and
    bytes: ``service_seconds``, ``service_bytes``);
    descriptions whose ``checks`` are known are not validated again; the
    others are parsed and validated in ``pool``'s bounded workers (inline
    without one).
    """
    started = time.perf_counter()
    inventory = await asyncio.to_thread(inventory_mod.read_inventory, connections, scope=scope)
    listed = time.perf_counter()
    fetcher = Fetcher(client=client, limits=limits, lanes=Lanes(concurrency))
    prober = Prober(
        fetcher=fetcher, settings=settings, hints=hints, quiet=quiet, checks=checks, pool=pool
    )
    if watch is not None:
        watch.listed(inventory)
    findings = await probe_all(inventory, prober=prober, progress=progress, watch=watch)
    problems = inventory.problems + tuple(p for f in findings for p in f.problems)
    return Discovery(
        inventory=inventory,
        findings=findings,
        edges=config_edges(inventory),
        problems=problems,
        timings={
            "inventory": round(listed - started, 3),
            "probe": round(time.perf_counter() - listed, 3),
        },
    )


async def probe_all(
    inventory: Inventory,
    *,
    prober: Prober,
    progress: Progress | None = None,
    watch: Watch | None = None,
) -> tuple[ServiceFindings, ...]:
    """Probe every Service of the inventory; results keep inventory order.

    Services without an answer from last time start first: they are the new,
    the changed and the ones that gave nothing (dead, or silent until their
    deadline), so their waiting overlaps the quick, remembered ones. All are
    probed side by side, each within its per-Service budget (see
    :class:`~discovery.probing.probe.ProbeSettings`), so a hostile Service's probing
    adds at most its own budget to the crawl's wall time, not the sum of its
    ports' deadlines. (Descriptions wait for a validation worker in turn, each
    bounded by :class:`~discovery.specpool.PoolLimits`.)
    """
    total = len(inventory.services)
    done = 0

    async def one(index: int) -> ServiceFindings:
        nonlocal done
        service = inventory.services[index]
        result = await prober.probe(service)
        done += 1
        if watch is not None:
            watch.probed(result)
        if progress is not None:
            progress(done, total, str(service.key))
        return result

    order = sorted(range(total), key=lambda i: prober.remembers(inventory.services[i]))
    tasks = {i: asyncio.ensure_future(one(i)) for i in order}
    await asyncio.gather(*tasks.values())
    return tuple(tasks[i].result() for i in range(total))


def config_edges(inventory: Inventory) -> tuple[Edge, ...]:
    """Edges declared by VirtualService routes whose caller is known."""
    edges: dict[tuple[str, str], Edge] = {}
    for route in inventory.routes:
        if route.source is None:
            continue
        source, target = str(route.source), str(route.target)
        if source != target:
            edges.setdefault((source, target), Edge(source, target, "http", "config"))
    return tuple(edges.values())
