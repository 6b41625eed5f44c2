"""``meshatlas policy suggest``: least-privilege policies from the traffic telemetry shows.

Reads the clusters and the telemetry as ``posture`` does (nothing probed,
nothing published, nothing applied), then writes, per workload somebody
called in the window, an ALLOW AuthorizationPolicy naming exactly the callers
seen (by principal, else by namespace) and, where every call was already
mTLS, a STRICT PeerAuthentication. Every object has been validated against
Istio's own CRD schemas before it is written (:mod:`governance.policy.crds`).

Without ``--out`` the YAML goes to stdout as one stream, ready for
``kubectl apply -f -`` after review; with it, one file per workload
(``<namespace>/<service>.yaml``, a ``<cluster>/`` folder first when several
clusters were read). ``-o json`` prints the suggestions with their evidence
instead (what each was built from, what it would deny).

With ``--jaeger`` or ``--zipkin`` the server spans add, per caller, the
methods and paths it was seen to use (:mod:`governance.policy.traced`), for
the workloads an L7 proxy enforces policy for (a sidecar or a waypoint;
ztunnel sees L4 only). What the traces cannot tie to a caller the metrics
identify is said in the evidence.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import governance
from discovery.telemetry.base import parse_window
from governance.policy import manifests, traced
from governance.policy.suggestion import Suggestion
from meshatlas.commands import posture as posture_cmd
from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.job import posture
from meshatlas.job import traced as traced_job
from meshatlas.status import ExitCode

__all__ = ["HELP", "add_parser", "run"]

HELP = "suggest least-privilege Istio policies from the traffic telemetry shows"
OUTPUTS: Final = ("yaml", "json")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``policy`` subcommand and its ``suggest`` action."""
    cmd = sub.add_parser(
        "policy",
        help=HELP,
        description="Istio security policies meshatlas can write for you.",
    )
    actions = cmd.add_subparsers(dest="policy_action", metavar="ACTION", required=True)
    suggest = actions.add_parser(
        "suggest",
        help="write an ALLOW policy per workload from its observed callers",
        description="Write, per workload called in the telemetry window, an ALLOW"
        " AuthorizationPolicy naming exactly the callers seen (principals, else"
        " namespaces) on what they were seen to use (methods and paths too with --jaeger"
        " or --zipkin, where a sidecar or waypoint enforces them), and a STRICT"
        " PeerAuthentication"
        " where all its traffic was mTLS. Nothing is applied; review, then"
        " kubectl apply.",
    )
    posture_cmd.add_reading_arguments(suggest)
    out = suggest.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="write one file per workload under DIR (default: one YAML stream on stdout)",
    )
    out.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="yaml",
        help="yaml: the objects, each file headed by its evidence; json: the"
        " suggestions with their evidence (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Suggest the policies as ``args`` say; 0, or 3 when a source could not be read."""
    out: Path | None = args.out
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a directory")
    if not args.prometheus:
        raise UsageError(
            "policy suggest needs --prometheus: the callers come from Istio's telemetry"
        )
    seen = posture_cmd.read(args)
    options = seen.options
    window_s = parse_window(options.telemetry_window)
    at = options.telemetry_at or datetime.now(UTC)
    chosen = posture.workloads(seen.inventory)
    calls = [
        call
        for workload, _service in chosen
        for call in governance.calls_from_callers(
            workload,
            governance.callers_seen(workload, seen.edges, seen.peers.traffic),
            window_seconds=window_s,
        )
    ]
    problems = list(seen.problems)
    evidence: dict[str, tuple[str, ...]] = {}
    if options.jaeger or options.zipkin:
        nodes = {w.node for w, _ in chosen}
        read = traced_job.read(options, seen.inventory, nodes)
        problems.extend(read.problems)
        joined = traced.join(
            calls,
            read.operations,
            l7_targets={w.node for w, _ in chosen if not w.ambient or w.waypoint is not None},
        )
        calls, evidence = list(joined.calls), joined.notes
    suggestions, skipped = governance.suggest_all(
        config=seen.inventory.mesh.security,
        workloads=[w for w, _ in chosen],
        calls=calls,
        window=options.telemetry_window,
        window_end=at.isoformat(timespec="seconds"),
        max_paths=traced.DEFAULT_MAX_PATHS,
        evidence=evidence,
    )
    if args.output == "json":
        console.print_json(
            {
                "suggestions": [_suggestion_doc(s) for s in suggestions],
                "skipped": list(skipped),
                "problems": [{"where": p.where, "what": p.what, "why": p.why} for p in problems],
            }
        )
    elif out is None:
        console.out("\n".join(manifests.render(s) for s in suggestions).rstrip("\n"))
    else:
        written = _write(out, manifests.files(suggestions))
        for path in written:
            console.info(f"wrote {path}")
    for reason in skipped:
        console.info(f"no suggestion for {reason}")
    for problem in problems:
        console.warning(f"{problem.where}: {problem.what}: {problem.why}")
    console.info(
        f"{len(suggestions)} workload{'s' if len(suggestions) != 1 else ''} with a suggestion,"
        f" {len(skipped)} without; nothing applied"
    )
    return ExitCode.PARTIAL if problems else ExitCode.COMPLETE


def _write(out: Path, files: dict[str, str]) -> list[Path]:
    written: list[Path] = []
    try:
        for relative, text in files.items():
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write ({exc.strerror or exc})") from exc
    return written


def _suggestion_doc(s: Suggestion) -> dict[str, Any]:
    doc = dataclasses.asdict(s)
    doc["workload"] = s.workload.node
    doc["identified_by"] = s.identified_by
    doc["requests"] = s.requests
    doc["objects"] = [dict(o) for o in s.objects]
    del doc["authorization_policy"], doc["peer_authentication"]
    return doc
