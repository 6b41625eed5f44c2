"""``meshatlas demo``: discover against the bundled demo mesh.

Starts the fixture mesh (a Kubernetes API server and real backends on
loopback), runs ``discover`` into a SQLite catalogue in the output folder,
prints the summary and says where everything went, ending with the
``meshatlas serve`` that shows it in the portal.

SIGTERM (a ``kill``, a container stopping) stops the demo as Ctrl-C does: its
Prometheus child and the mesh's servers are stopped before it exits (143).
"""

from __future__ import annotations

import random
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from fixtures.mesh import Mesh, MeshError
from fixtures.telemetry import PrometheusServer, TelemetryFixtureError
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.job.pipeline import DiscoverOptions, run_discover
from meshatlas.status import ExitCode

_GRAPH_FORMATS = ("json", "graphml", "dot", "mermaid")
#: Tried in order; another run of the demo (or of the tests) may hold one.
_OCTETS = (10, *random.sample(range(11, 250), 6))


def start_mesh(workdir: Path) -> Mesh:
    """Start the demo mesh on the first free 127.N.0.0/16."""
    last: MeshError | None = None
    for octet in _OCTETS:
        mesh = Mesh(["demo"], octet=octet, workdir=workdir)
        try:
            return mesh.start()
        except MeshError as exc:
            last = exc
    raise UsageError(f"cannot start the demo mesh: {last}")


def start_prometheus(
    workdir: Path, *, started: list[PrometheusServer] | None = None
) -> PrometheusServer | None:
    """A real Prometheus serving the demo mesh's Istio telemetry, if installed.

    Args:
        workdir: Its data and log.
        started: Takes the server before it is waited on, so that whoever
            stops the demo (SIGTERM while it starts) can stop it too.
    """
    try:
        server = PrometheusServer(workdir)
        console.info(f"starting Prometheus with the demo mesh's Istio telemetry on {server.url}")
        if started is not None:
            started.append(server)
        return server.start()
    except TelemetryFixtureError as exc:
        console.info(f"no telemetry for the demo (graph from Istio config only): {exc}")
        return None


#: Exit status after SIGTERM: 128 + its number, as shells report it.
TERMINATED = 128 + signal.SIGTERM


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM unwinds the demo (every ``finally`` runs) instead of killing it outright."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(TERMINATED)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(*, out: Path, report: str | None, keep_running: bool) -> ExitCode:
    """Start the demo mesh (and Prometheus), discover it, say where it all went."""
    with _stopped_by_sigterm():
        return _run(out=out, report=report, keep_running=keep_running)


def _run(*, out: Path, report: str | None, keep_running: bool) -> ExitCode:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    console.info("starting the demo mesh (Kubernetes API + backends on 127.x loopback addresses)")
    mesh = start_mesh(out / "mesh")
    started: list[PrometheusServer] = []
    try:
        prometheus = start_prometheus(out / "prometheus", started=started)
        options = DiscoverOptions(
            kubeconfig=str(mesh.kubeconfig),
            catalog=f"sqlite:///{out / 'catalog.db'}",
            out=out,
            report=report,
            prometheus=prometheus.url if prometheus else None,
            telemetry_at=prometheus.at if prometheus else None,
            graph_formats=_GRAPH_FORMATS + (("svg",) if shutil.which("dot") else ()),
        )
        with console.progress() as tick:
            result = run_discover(options, progress=tick)
        console.summary(result)
        console.info(f"catalogue: {out / 'catalog.db'}")
        console.info(f"kubeconfig of the demo mesh: {mesh.kubeconfig}")
        console.info(
            f"browse it: meshatlas serve --catalog sqlite:///{out / 'catalog.db'}"
            " then open http://127.0.0.1:8080/portal/"
        )
        if keep_running:
            telemetry = (
                f" --prometheus {prometheus.url} --telemetry-at {prometheus.at.isoformat()}"
                if prometheus
                else ""
            )
            console.info(
                "demo mesh running; try: meshatlas discover "
                f"--kubeconfig {mesh.kubeconfig}{telemetry} --dry-run  (Ctrl-C to stop)"
            )
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        return result.exit_code
    finally:
        for server in started:
            server.stop()
        mesh.stop()
