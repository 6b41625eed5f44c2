"""Each kind of hostile Service beside twenty ordinary ones, in one real crawl.

The cluster: twenty FastAPI Services (``orders-00``...) and, beside them, one
of each hostile kind: deep JSON at ``GET /``, an OpenAPI document and a WSDL
whose schemas fan out (hours of validation), a gRPC reflection server that
never stops streaming, a Service with twenty ports that accept and never
answer, a huge legitimate description, a slowloris trickling every body, a
redirect loop, a ``Content-Length`` of 10^11 streamed as fast as it is read,
and a 5xx storm. ``meshatlas discover`` (the pipeline, publishing into
SQLite) runs in its own process, so its peak memory and its validation
workers' are measured alone; backends and the Kubernetes API server stay here.

Every ordinary Service is found and published; each hostile one ends with a
clear reason; each hostile Service is done within what its per-Service
budget allows (without budgets the slowloris alone would cost twenty request
deadlines); the run ends within a bound computed from the budgets and the
validation limits; and the crawler with its workers stays under 300 MB.

A second crawl: a description that takes 30 s or more to validate (past the
default limit of 20 s of CPU) beside twenty ordinary Services, each serving
its own bytes, with the default limits: all twenty found (validated beside
it, not after it), the slow one refused with its reason, the run within its
bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import catalog
from discovery.probing import grpcprobe
from discovery.probing.fetch import Limits
from discovery.probing.probe import DEFAULT_MAX_PORTS, ProbeSettings
from discovery.specpool import PoolLimits
from fixtures import generated_specs
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from tests.conftest import mesh_octet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ORDINARY_SPEC = SPECS_DIR / "openapi" / "3.1" / "orders-fastapi.json"
ORDINARY = 20
MIB = 1024 * 1024
#: Peak memory allowed to the crawler and its validation workers together.
MEMORY_BOUND_MIB = 300
#: Start-up, inventory, publishing and a busy shared machine: on top of any bound.
SLACK_S = 20.0

#: The crawl, in its own process. It records when each Service's probing was
#: done (seconds since the run started), its own peak memory, and its worker
#: processes': each one's VmHWM, and the peak of their Pss summed with its own
#: (sampled every 0.1 s; RUSAGE_CHILDREN would count each worker at the size of
#: the crawler it was forked from).
CRAWL = r"""
import json, os, sys, threading, time
from pathlib import Path
from meshatlas.job import pipeline
args = json.loads(sys.argv[1])
out = Path(args.pop("out"))
peaks = {}
pss = [0]
alive = [0]


def field(path, name):
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children():
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                found += fh.read().split()
        except OSError:
            pass
    return found


def sample(stop):
    while not stop.wait(0.1):
        total = field("/proc/self/smaps_rollup", "Pss:")
        workers = children()
        alive[0] = max(alive[0], len(workers))
        for pid in workers:
            peaks[pid] = max(peaks.get(pid, 0), field(f"/proc/{pid}/status", "VmHWM:"))
            total += field(f"/proc/{pid}/smaps_rollup", "Pss:")
        pss[0] = max(pss[0], total)


done = {}
started = time.monotonic()
stop = threading.Event()
sampler = threading.Thread(target=sample, args=(stop,), daemon=True)
sampler.start()
result = pipeline.run_discover(
    pipeline.DiscoverOptions(**args),
    progress=lambda n, total, name: done.setdefault(name, time.monotonic() - started),
)
wall = time.monotonic() - started
stop.set()
sampler.join()
out.write_text(json.dumps({
    "code": int(result.exit_code),
    "wall_s": wall,
    "done_s": done,
    "own_peak_kib": field("/proc/self/status", "VmHWM:"),
    "worker_peaks_kib": sorted(peaks.values()),
    "peak_pss_kib": pss[0],
    "most_workers_alive": alive[0],
}))
"""


@dataclass(frozen=True, slots=True)
class Svc:
    """One Service of a generated cluster: name, address, (port name, number)s, backends."""

    name: str
    address: str
    ports: tuple[tuple[str, int], ...]
    backends: tuple[Backend, ...] = field(default=())


def manifests(namespace: str, services: Sequence[Svc]) -> list[dict[str, Any]]:
    """The Namespace, and a ClusterIP Service with one ready endpoint per :class:`Svc`."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    ]
    for svc in services:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": svc.name, "namespace": namespace, "labels": {"app": svc.name}},
                "spec": {
                    "clusterIP": svc.address,
                    "clusterIPs": [svc.address],
                    "selector": {"app": svc.name},
                    "ports": [{"name": n, "port": p, "targetPort": p} for n, p in svc.ports],
                },
            }
        )
        docs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{svc.name}-x",
                    "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": svc.name},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [svc.address], "conditions": {"ready": True}}],
                "ports": [{"name": n, "port": p} for n, p in svc.ports],
            }
        )
    return docs


def ordinary(namespace: str, octet: int) -> list[Svc]:
    """Twenty FastAPI Services, ``orders-00``..., on ``127.<octet>.1.x``."""
    out = []
    for index in range(ORDINARY):
        name, address = f"orders-{index:02d}", f"127.{octet}.1.{10 + index}"
        backend = Backend(f"{namespace}/{name}", address, 8000, "fastapi", spec=ORDINARY_SPEC)
        out.append(Svc(name, address, (("http", 8000),), (backend,)))
    return out


def run_crawl(
    mesh: Mesh, workdir: Path, *, timeout: float, validation_cpu: int, limit_s: float
) -> dict[str, Any]:
    """Crawl ``mesh`` in a child process, publishing into ``workdir/catalog.db``."""
    figures = workdir / "figures.json"
    args = {
        "out": str(figures),
        "kubeconfig": str(mesh.kubeconfig),
        "catalog": f"sqlite:///{workdir / 'catalog.db'}",
        "report": str(workdir / "report.json"),
        "timeout": timeout,
        "validation_cpu": validation_cpu,
    }
    proc = subprocess.run(
        [sys.executable, "-c", CRAWL, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=limit_s,
        check=False,
    )
    assert figures.exists(), proc.stderr[-4000:]
    recorded: dict[str, Any] = json.loads(figures.read_text())
    recorded["stderr"] = proc.stderr
    recorded["report"] = json.loads((workdir / "report.json").read_text())
    recorded["catalog"] = args["catalog"]
    return recorded


@pytest.fixture(autouse=True)
def _figures(record_property: pytest.RecordProperty) -> None:
    # Each crawl's figures are recorded once, by the test that sums it up; the
    # others check one of its properties and are no case of their own
    # (``bench/reliability.py`` adds up what is recorded).
    record_property("cases", 0)


def validation_wall_s(cpu_seconds: int) -> float:
    """The wall time :mod:`discovery.specpool` gives one document at most (its CPU limit x3 + 5)."""
    return cpu_seconds * 3 + 5.0


def services_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["services"]}


def said(api: dict[str, Any]) -> str:
    return " | ".join(e["matched"] for e in api["evidence"])


def problems_of(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p["where"].split(":")[0].endswith(f"/{name}")]


def assert_ordinary_found_and_published(crawl: dict[str, Any], namespace: str) -> None:
    services = services_of(crawl["report"])
    with catalog.open_store(crawl["catalog"]) as store:
        for index in range(ORDINARY):
            name = f"orders-{index:02d}"
            (api,) = services[name]["apis"]
            assert api["kind"] == "rest" and api["spec"]["valid"], (name, said(api))
            assert api["spec"]["operation_count"] == 6
            asset = store.get("meshatlas", f"{namespace}-{name}")
            assert asset.type == "rest-api" and asset.latest.files, name


def assert_memory_bounded(crawl: dict[str, Any]) -> None:
    bound = MEMORY_BOUND_MIB * 1024
    assert crawl["own_peak_kib"] < bound, crawl["own_peak_kib"]
    assert all(peak < bound for peak in crawl["worker_peaks_kib"]), crawl["worker_peaks_kib"]
    assert crawl["peak_pss_kib"] < bound, crawl["peak_pss_kib"]


# --- every hostile kind at once ---------------------------------------------------------

NS = "mix"
TIMEOUT = 2.0
#: Enough for the large legitimate description (about 2.5 s where measured), little more.
MIX_VALIDATION_CPU = 8
#: The per-Service time budget the crawl runs with (the default: a multiple of --timeout).
SERVICE_S = ProbeSettings().service_time(Limits(deadline=TIMEOUT))
SERVICE_MIB = ProbeSettings().service_bytes // MIB
#: Hostile by what they send or withhold on the wire: bounded by the per-Service budget.
ON_THE_WIRE = (
    "deep-root",
    "grpc-flood",
    "many-ports",
    "slowloris",
    "redirect-loop",
    "huge-length",
    "error-storm",
)
#: Hostile by what their description costs to validate: bounded by the validation limits.
IN_VALIDATION = ("fanout-openapi", "fanout-wsdl", "large-spec")
HOSTILE = ON_THE_WIRE + IN_VALIDATION


def _hostile(octet: int, workdir: Path) -> list[Svc]:
    specs = {
        "fanout.json": generated_specs.fanout_openapi(24),
        "fanout.wsdl": generated_specs.fanout_wsdl(30),
        "large.json": generated_specs.large_openapi(1000),
    }
    for name, content in specs.items():
        (workdir / name).write_bytes(content)

    def svc(
        index: int,
        name: str,
        profile: str,
        ports: tuple[tuple[str, int], ...] = (("http", 8080),),
        spec: str | None = None,
    ) -> Svc:
        address = f"127.{octet}.2.{10 + index}"
        path = workdir / spec if spec else None
        backends = tuple(Backend(f"{NS}/{name}", address, p, profile, spec=path) for _, p in ports)
        return Svc(name, address, ports, backends)

    many = tuple((f"http-{p}", p) for p in range(9000, 9020))
    return [
        svc(0, "deep-root", "hostile-deep-root"),
        svc(1, "fanout-openapi", "hostile-static", spec="fanout.json"),
        svc(2, "fanout-wsdl", "hostile-static", spec="fanout.wsdl"),
        svc(3, "grpc-flood", "grpc-flood", ports=(("grpc", 50051),)),
        svc(4, "many-ports", "blackhole", ports=many),
        svc(5, "large-spec", "fastapi", ports=(("http", 8000),), spec="large.json"),
        svc(6, "slowloris", "hostile-slowloris"),
        svc(7, "redirect-loop", "hostile-redirect-loop"),
        svc(8, "huge-length", "hostile-huge-length"),
        svc(9, "error-storm", "hostile-error-storm"),
    ]


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hostile-mix")
    octet = mesh_octet(offset=31)
    services = ordinary(NS, octet) + _hostile(octet, tmp)
    backends = [b for s in services for b in s.backends]
    with Mesh(
        [NS],
        octet=octet,
        workdir=tmp / "mesh",
        generated={NS: manifests(NS, services)},
        generated_backends={NS: backends},
    ) as mesh:
        yield run_crawl(mesh, tmp, timeout=TIMEOUT, validation_cpu=MIX_VALIDATION_CPU, limit_s=600)


def _service_bound_s(name: str) -> float:
    """How long probing one hostile Service may take, from the budgets and limits."""
    if name in ON_THE_WIRE:
        # The budget, the request in flight when it ran out, and start-up and
        # scheduling on a busy machine (without the budget, the slowloris alone
        # costs nineteen request deadlines: 38 s).
        return SERVICE_S + TIMEOUT + 12.0
    # Its documents wait for a worker behind the other hostile documents, then
    # take at most the validation limit each; its requests at most the budget.
    documents = len(IN_VALIDATION)
    return SERVICE_S + documents * validation_wall_s(MIX_VALIDATION_CPU) + 8.0


def test_the_crawl_completes_and_every_ordinary_service_is_found_and_published(
    mix: dict[str, Any], record_property: pytest.RecordProperty
) -> None:
    # Hostile Services are problems of theirs, not failures of the run: exit 0.
    assert mix["code"] == 0, mix["stderr"][-4000:]
    assert "Traceback" not in mix["stderr"]
    assert len(mix["report"]["services"]) == ORDINARY + len(HOSTILE)
    assert_ordinary_found_and_published(mix, NS)
    record_property("cases", len(HOSTILE))
    record_property("hostile_rejected", len(HOSTILE))
    record_property("crawls_completed", 1)
    record_property(
        "hostile_wall_s", {n: round(mix["done_s"][f"{NS}/{NS}/{n}"], 2) for n in HOSTILE}
    )
    record_property("peak_rss_mib", round(max(mix["own_peak_kib"], mix["peak_pss_kib"]) / 1024))


def test_each_hostile_service_costs_at_most_its_budget(mix: dict[str, Any]) -> None:
    for name in HOSTILE:
        took = mix["done_s"][f"{NS}/{NS}/{name}"]
        assert took <= _service_bound_s(name), (name, took, _service_bound_s(name))


def test_the_run_ends_within_a_bound_computed_from_the_budgets(mix: dict[str, Any]) -> None:
    # Services are probed side by side: the run costs the largest bound, not their sum.
    bound = max(_service_bound_s(name) for name in HOSTILE) + SLACK_S
    assert mix["wall_s"] <= bound, (mix["wall_s"], bound)


def test_the_crawler_and_its_workers_stay_under_300_mb(mix: dict[str, Any]) -> None:
    assert_memory_bounded(mix)


def test_deep_json_at_the_root_is_refused_by_the_bounded_parser(mix: dict[str, Any]) -> None:
    (api,) = services_of(mix["report"])["deep-root"]["apis"]
    assert api["spec"] is None
    assert "nests too deeply" in said(api)


@pytest.mark.parametrize("name", ["fanout-openapi", "fanout-wsdl"])
def test_a_description_that_fans_out_is_refused_by_the_validation_limit(
    mix: dict[str, Any], name: str
) -> None:
    (api,) = services_of(mix["report"])[name]["apis"]
    assert api["spec"] is None
    # CPU time as a rule; wall time when the shared machine starves the worker.
    assert "refused: validation exceeded" in said(api), said(api)


def test_a_reflection_stream_is_read_for_one_message(mix: dict[str, Any]) -> None:
    (api,) = services_of(mix["report"])["grpc-flood"]["apis"]
    assert api["kind"] == "grpc" and api["requests"] == 1
    assert "server reflection lists flood.v1.Service1x" in said(api)
    assert len(api["grpc_services"]) <= grpcprobe.MAX_SERVICES


def test_ports_that_never_answer_cost_a_bounded_few(mix: dict[str, Any]) -> None:
    service = services_of(mix["report"])["many-ports"]
    assert service["apis"] == []
    problems = problems_of(mix["report"], "many-ports")
    failed = [p for p in problems if p["what"] == "probe failed"]
    skipped = [p for p in problems if p["what"] == "probe skipped"]
    assert 0 < len(failed) <= ProbeSettings().per_service + ProbeSettings().max_silent_ports
    assert len(failed) + len(skipped) == DEFAULT_MAX_PORTS
    assert all("gave no answer" in p["why"] for p in skipped)


def test_a_huge_legitimate_description_is_found(mix: dict[str, Any]) -> None:
    (api,) = services_of(mix["report"])["large-spec"]["apis"]
    assert api["spec"]["valid"] and api["spec"]["operation_count"] == 1000
    with catalog.open_store(mix["catalog"]) as store:
        assert store.get("meshatlas", f"{NS}-large-spec").latest.files


def test_a_slowloris_is_stopped_by_its_time_budget(mix: dict[str, Any]) -> None:
    assert services_of(mix["report"])["slowloris"]["apis"] == []
    (problem,) = problems_of(mix["report"], "slowloris")
    assert problem["what"] == "probe stopped"
    assert f"stopped after {SERVICE_S:g} s, its per-Service budget" in problem["why"]


def test_a_10_to_the_11_content_length_is_stopped_by_its_byte_budget(mix: dict[str, Any]) -> None:
    assert services_of(mix["report"])["huge-length"]["apis"] == []
    (problem,) = problems_of(mix["report"], "huge-length")
    assert f"stopped after {SERVICE_MIB:g} MiB, its per-Service budget" in problem["why"]


def test_a_redirect_loop_is_not_followed_round_and_round(mix: dict[str, Any]) -> None:
    (api,) = services_of(mix["report"])["redirect-loop"]["apis"]
    assert api["spec"] is None
    assert "still redirecting after 3 redirects, not followed" in said(api)
    assert api["requests"] <= 4 * ProbeSettings().budget


def test_a_5xx_storm_is_a_problem_not_an_api_without_description(mix: dict[str, Any]) -> None:
    assert services_of(mix["report"])["error-storm"]["apis"] == []
    (problem,) = problems_of(mix["report"], "error-storm")
    assert "was a server error (5xx): no verdict this run" in problem["why"]
    with catalog.open_store(mix["catalog"]) as store, pytest.raises(catalog.NotFound):
        store.get("meshatlas", f"{NS}-error-storm")


def test_nothing_cut_short_is_published(mix: dict[str, Any]) -> None:
    with catalog.open_store(mix["catalog"]) as store:
        for name in ("many-ports", "slowloris", "huge-length", "error-storm"):
            with pytest.raises(catalog.NotFound):
                store.get("meshatlas", f"{NS}-{name}")


# --- a description that takes 30 s to validate, default limits --------------------------

SLOW_NS = "slow"
#: Schemas fanning out 16 levels: about 50 s of CPU to validate where measured
#: (each level doubles it), so past the default limit on any machine.
SLOW_LEVELS = 16


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("slow-validation")
    octet = mesh_octet(offset=37)
    (tmp / "slow.json").write_bytes(generated_specs.fanout_openapi(SLOW_LEVELS))
    address = f"127.{octet}.2.10"
    slow_one = Svc(
        "slow-spec",
        address,
        (("http", 8000),),
        (Backend(f"{SLOW_NS}/slow-spec", address, 8000, "hostile-static", spec=tmp / "slow.json"),),
    )
    services = [*ordinary(SLOW_NS, octet), slow_one]
    with Mesh(
        [SLOW_NS],
        octet=octet,
        workdir=tmp / "mesh",
        generated={SLOW_NS: manifests(SLOW_NS, services)},
        generated_backends={SLOW_NS: [b for s in services for b in s.backends]},
        unique_specs=True,  # every ordinary Service serves its own bytes: each is validated
    ) as mesh:
        yield run_crawl(
            mesh, tmp, timeout=TIMEOUT, validation_cpu=PoolLimits().cpu_seconds, limit_s=600
        )


def test_a_30_s_validation_beside_20_ordinary_services(
    slow: dict[str, Any], record_property: pytest.RecordProperty
) -> None:
    assert slow["code"] == 0, slow["stderr"][-4000:]
    assert_ordinary_found_and_published(slow, SLOW_NS)
    (api,) = services_of(slow["report"])["slow-spec"]["apis"]
    assert api["spec"] is None
    assert "refused: validation exceeded" in said(api), said(api)
    # Its own budget plus one document's validation limit: the run waits for nothing else.
    bound = SERVICE_S + validation_wall_s(PoolLimits().cpu_seconds) + SLACK_S
    assert slow["wall_s"] <= bound, (slow["wall_s"], bound)
    if PoolLimits().size > 1:
        # Validated beside it, not after it.
        slowest = max(slow["done_s"][f"{SLOW_NS}/{SLOW_NS}/orders-{i:02d}"] for i in range(20))
        assert slowest < slow["done_s"][f"{SLOW_NS}/{SLOW_NS}/slow-spec"]
    assert_memory_bounded(slow)
    record_property("cases", 1)
    record_property("hostile_rejected", 1)
    record_property("crawls_completed", 1)
    record_property(
        "hostile_wall_s", {"slow-spec": round(slow["done_s"][f"{SLOW_NS}/{SLOW_NS}/slow-spec"], 2)}
    )
    record_property("peak_rss_mib", round(max(slow["own_peak_kib"], slow["peak_pss_kib"]) / 1024))
