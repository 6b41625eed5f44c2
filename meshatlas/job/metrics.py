"""Run metrics of ``meshatlas discover``, pushed to a Prometheus Pushgateway.

A CronJob's Pod is gone before Prometheus could scrape it, so at the end of
each run (``--pushgateway URL``) its numbers go to a Pushgateway, replacing
the previous run's group (job ``meshatlas``, grouped by ``instance`` and any
``--pushgateway-label``). A run that fails still pushes its outcome and
duration, so an alert can watch ``meshatlas_run_outcome{outcome="error"}`` and
the age of ``meshatlas_run_finished_timestamp_seconds``.

A Pushgateway that cannot be reached is logged as a warning; it never changes
the run's exit code.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import httpx
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from meshatlas.errors import UsageError
from meshatlas.interface import console

if TYPE_CHECKING:
    from meshatlas.job.pipeline import DiscoverOptions, RunResult

__all__ = ["JOB", "add_arguments", "grouping_key", "pushing", "registry_for"]

JOB: Final = "meshatlas"
API_KINDS: Final = ("rest", "soap", "http", "grpc", "graphql")
OUTCOMES: Final = ("complete", "partial", "error")
PROBE_OUTCOMES: Final = ("api", "no-api", "not-probed")
_PUSH_TIMEOUT: Final = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``discover`` flags that push run metrics."""
    group = parser.add_argument_group("run metrics")
    group.add_argument(
        "--pushgateway",
        metavar="URL",
        help="push run metrics to this Prometheus Pushgateway at the end of the run",
    )
    group.add_argument(
        "--pushgateway-label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="grouping label of the pushed metrics, e.g. cluster=prod-eu (repeatable)",
    )


def grouping_key(
    *, labels: Sequence[str], contexts: Sequence[str], in_cluster: bool
) -> dict[str, str]:
    """The Pushgateway group of this run: ``instance`` plus the given labels.

    Raises:
        UsageError: A label is not ``NAME=VALUE``.
    """
    instance = ",".join(contexts) or ("in-cluster" if in_cluster else "default")
    key = {"instance": instance}
    for label in labels:
        name, sep, value = label.partition("=")
        if not sep or not name.isidentifier() or not value:
            raise UsageError(f"--pushgateway-label must be NAME=VALUE, not {label!r}")
        key[name] = value
    return key


def registry_for(
    result: RunResult | None, *, seconds: float, finished: float, failed_code: int = 1
) -> CollectorRegistry:
    """The metrics of one run; ``result`` is None when the run failed outright.

    ``failed_code`` is then the exit code the run ends with.
    """
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labelnames=labels, registry=registry)

    gauge("meshatlas_run_duration_seconds", "Wall time of the discover run.").set(seconds)
    gauge("meshatlas_run_finished_timestamp_seconds", "When the run ended, Unix seconds.").set(
        finished
    )
    report: Mapping[str, Any] = result.report if result is not None else {}
    outcome = report.get("outcome", "error")
    outcomes = gauge("meshatlas_run_outcome", "1 for the run's outcome.", ["outcome"])
    for name in OUTCOMES:
        outcomes.labels(name).set(1 if name == outcome else 0)
    exit_code = int(result.exit_code) if result is not None else failed_code
    gauge("meshatlas_run_exit_code", "Exit code of the run.").set(exit_code)
    if result is None:
        return registry

    stats = report["stats"]
    gauge("meshatlas_services", "Services found.").set(stats["services"])
    apis = gauge("meshatlas_apis", "APIs found, by kind.", ["kind"])
    for kind in sorted(set(API_KINDS) | set(stats["apis_by_kind"])):
        apis.labels(kind).set(stats["apis_by_kind"].get(kind, 0))
    gauge("meshatlas_specs", "APIs with a machine-readable description.").set(stats["specs"])
    probes = gauge(
        "meshatlas_probe_outcomes",
        "Services by what probing found: an API, nothing, or not probed.",
        ["outcome"],
    )
    seen = Counter(_probe_outcome(s) for s in report["services"])
    for name in PROBE_OUTCOMES:
        probes.labels(name).set(seen.get(name, 0))
    gauge("meshatlas_probe_requests", "HTTP requests spent probing.").set(stats["requests"])
    gauge("meshatlas_kube_requests", "Kubernetes API requests.").set(stats["kube_requests"])
    gauge("meshatlas_edges", "Dependency graph edges.").set(stats["edges"])
    gauge("meshatlas_problems", "Problems the run reported.").set(len(report["problems"]))
    published = gauge("meshatlas_assets_published", "Assets by publication outcome.", ["outcome"])
    for name, count in stats["published"].items():
        published.labels(name).set(count)
    return registry


def _probe_outcome(service: Mapping[str, Any]) -> str:
    if service.get("apis"):
        return "api"
    if service.get("requests"):
        return "no-api"
    return "not-probed"


def _handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
) -> Callable[[], None]:
    """Send through httpx, ignoring proxy variables as every meshatlas client does."""

    def send() -> None:
        with httpx.Client(trust_env=False, timeout=timeout or _PUSH_TIMEOUT) as client:
            response = client.request(method, url, headers=dict(headers), content=data)
        if response.status_code >= 400:
            raise OSError(f"HTTP {response.status_code}: {response.text.strip()[:200]}")

    return send


def push(registry: CollectorRegistry, *, url: str, grouping: Mapping[str, str]) -> bool:
    """Replace this run's group on the Pushgateway; False (and a warning) on failure."""
    try:
        push_to_gateway(
            url,
            job=JOB,
            registry=registry,
            grouping_key=dict(grouping),
            timeout=_PUSH_TIMEOUT,
            handler=_handler,
        )
    except (OSError, httpx.HTTPError) as exc:
        console.log("warning", "run metrics not pushed", pushgateway=url, why=str(exc))
        return False
    console.log("info", "run metrics pushed", pushgateway=url, group=dict(grouping))
    return True


@contextmanager
def pushing(
    *, url: str | None, labels: Sequence[str], options: DiscoverOptions
) -> Iterator[Callable[[RunResult], None]]:
    """Push the run's metrics when the block ends, also when it raises.

    Yields a function to call with the run's result.
    """
    if url is not None and not url.startswith(("http://", "https://")):
        raise UsageError(f"--pushgateway must be an http:// or https:// URL, not {url!r}")
    grouping = grouping_key(labels=labels, contexts=options.contexts, in_cluster=options.in_cluster)
    outcome: list[RunResult] = []
    started = time.monotonic()
    failed_code = 1
    try:
        yield outcome.append
    except UsageError:
        failed_code = 2
        raise
    finally:
        if url is not None:
            registry = registry_for(
                outcome[-1] if outcome else None,
                seconds=time.monotonic() - started,
                finished=time.time(),
                failed_code=failed_code,
            )
            push(registry, url=url, grouping=grouping)
