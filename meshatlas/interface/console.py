"""What the command line shows people: progress, summaries, errors.

On a terminal, progress is a live bar on stderr (rich): the phase, Services
probed of all, time spent and an estimate of the time left. Off a terminal
(a pipe, a CronJob's log) there is none: at ``--log-level debug`` one line per
tenth of the work says how far the run got.

``discover`` may switch stderr to JSON lines (:func:`use_format`; by default
when stderr is not a terminal): one object per line,
``{"ts": ..., "level": ..., "msg": ..., "fields": {...}}``, and the summary
becomes log lines too, so a log pipeline reads the whole run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from rich.console import Console

    from meshatlas.job.pipeline import RunResult

#: Log levels, least severe first; ``--log-level`` drops the lines below its own.
LEVELS: Final = ("debug", "info", "warning", "error")
#: Environment variable for ``--log-level`` (every command).
LOG_LEVEL_ENV: Final = "MESHATLAS_LOG_LEVEL"


@cache
def _err() -> Console:
    # rich is imported on first use: ``meshatlas --version`` never pays for it.
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@cache
def _out() -> Console:
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        # Logs and pipes have no width; keep rows on one line.
        out = Console(highlight=False, width=160)
    return out


_json_lines = False
_threshold = LEVELS.index("info")


def use_format(name: str) -> None:
    """Log as ``json`` lines, ``text``, or ``auto`` (JSON unless stderr is a terminal)."""
    global _json_lines
    _json_lines = name == "json" or (name == "auto" and not _err().is_terminal)


def use_level(name: str) -> None:
    """Show log lines of level ``name`` (one of :data:`LEVELS`) and above."""
    global _threshold
    _threshold = LEVELS.index(name)


def shows(level: str) -> bool:
    """Whether a line of ``level`` is shown at the current ``--log-level``."""
    return LEVELS.index(level) >= _threshold


def log(level: str, message: str, *, text: bool = False, **fields: Any) -> None:
    """One log line on stderr: a JSON object, or the message as text (also when ``text``)."""
    if not shows(level):
        return
    if _json_lines and not text:
        line = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "msg": message,
            "fields": fields,
        }
        sys.stderr.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        sys.stderr.flush()
        return
    err = _err()
    if level == "error":
        # Off a terminal nothing is wrapped: a message is copied, grepped, pasted.
        if err.is_terminal:
            err.print("error:", style="bold red", end=" ")
        else:
            err.print("error:", end=" ", markup=False)
        err.print(message, markup=False, soft_wrap=not err.is_terminal)
    elif level == "warning":
        err.print(f"warning: {message}", markup=False, soft_wrap=not err.is_terminal)
    else:
        err.print(message, markup=False, soft_wrap=not err.is_terminal)


def error(message: str, *, text: bool = False) -> None:
    """Print an error for a person; ``text`` keeps it plain even in JSON mode."""
    log("error", mask_credentials(message), text=text)


def warning(message: str, *, text: bool = False) -> None:
    """Print a warning for a person; ``text`` keeps it plain even in JSON mode."""
    log("warning", mask_credentials(message), text=text)


def info(message: str) -> None:
    log("info", message)


def debug(message: str, **fields: Any) -> None:
    log("debug", mask_credentials(message), **fields)


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if "://" not in text or "@" not in text:
        # Nothing to mask, and nothing to import: discovery loads its whole package.
        return text
    from discovery import secrets

    return secrets.mask_credentials(text)


def out(line: str) -> None:
    """One line of a command's own output, on stdout, never wrapped."""
    sys.stdout.write(line + "\n")


def print_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()


def print_yaml(doc: dict[str, Any]) -> None:
    """``doc`` as YAML on stdout: the same document as :func:`print_json`'s, in block style."""
    import yaml

    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1 << 20))
    sys.stdout.flush()


#: What the bar says before the first Service is probed, and after the last.
LISTING: Final = "listing Services"
AFTER_PROBING: Final = "telemetry, graph, publishing"


@contextmanager
def progress(*, quiet: bool = False) -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback: a live bar on a terminal; off one, debug lines only.

    Args:
        quiet: Show nothing at all (``--quiet``).
    """
    err = _err()
    if err.is_terminal and not _json_lines and shows("info") and not quiet:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.description}", markup=False),
            console=err,
            transient=True,
        )
        task = bar.add_task("", total=None, phase=LISTING)

        def tick(done: int, total: int, name: str) -> None:
            phase = AFTER_PROBING if done >= total else "probing"
            bar.update(task, completed=done, total=total, description=name, phase=phase)

        with bar:
            yield tick
        return

    last = -1

    def plain(done: int, total: int, name: str) -> None:
        nonlocal last
        step = max(1, total // 10)
        if quiet or not shows("debug") or not (done == total or done // step != last):
            return
        last = done // step
        if _json_lines:
            log("debug", "probing", done=done, total=total, last=name)
        else:
            err.print(f"probed {done}/{total} services (last: {name})", markup=False)

    yield plain


def summary(result: RunResult, *, wide: bool = False, table: bool = False) -> None:
    """The table of what was found, then where outputs went.

    Args:
        result: The run.
        wide: Also the cluster (always), the port's name, the API's title and
            version, what publishing did, and the description's URL (or the
            endpoint where there is none), as ``-o wide`` asks.
        table: The table on stdout even when stderr takes JSON lines (``-o`` asked
            for it); otherwise the summary is log lines then.
    """
    if _json_lines and not table:
        _summary_lines(result)
        return
    from rich.table import Table

    stdout = _out()
    if wide:
        # Rows as long as they need: a wide table is read in a terminal that scrolls.
        from rich.console import Console

        stdout = Console(highlight=False, width=1 << 12) if not stdout.is_terminal else stdout
    rows = Table(title="meshatlas discovery", title_justify="left")
    # Several clusters: the same namespace/name can be in each, so say which.
    several = wide or len({f.service.key.cluster for f in result.discovery.findings}) > 1
    columns: tuple[str, ...] = ("service", "port", "kind", "spec", "ops", "asset", "reqs")
    if wide:
        columns = ("service", "port", "port-name", "kind", "spec", "ops", "title", "api-version")
        columns += ("asset", "published", "reqs", "url")
    columns += ("note",)
    for column in ("cluster", *columns) if several else columns:
        rows.add_column(column, justify="right" if column in ("port", "ops", "reqs") else "left")
    assets = {
        (s["cluster"], s["namespace"], s["name"], a["port"]): a
        for s in result.report["services"]
        for a in s["apis"]
    }
    for findings in result.discovery.findings:
        key = findings.service.key
        for api in findings.apis:
            row = assets[(key.cluster, key.namespace, key.name, api.port.port)]
            spec = api.spec or api.contract
            spec_text = f"{spec.format} {spec.spec_version}" if spec else "-"
            if spec and not spec.valid:
                spec_text += " (invalid)"
            asset = row["asset"]
            gav = (
                f"{asset['asset_id']}:{asset['version']}" if asset["version"] else asset["asset_id"]
            )
            cells = [key.short, str(api.port.port)]
            if wide:
                cells.append(api.port.name or "")
            cells += [api.kind, spec_text, str(spec.operation_count) if spec else "-"]
            if wide:
                cells += [
                    (spec.title or "") if spec else "",
                    (spec.api_version or "") if spec else "",
                ]
            cells.append(gav)
            if wide:
                cells.append(str(asset.get("outcome") or ""))
            cells.append(str(api.requests))
            if wide:
                cells.append((spec.url if spec else None) or api.base_url or "")
            cells.append("" if spec else (str(api.evidence[-1].matched) if api.evidence else ""))
            rows.add_row(*((key.cluster,) if several else ()), *cells)
        if not findings.apis:
            reasons = "; ".join(dict.fromkeys(s.reason for s in findings.skipped)) or "no API"
            if wide:
                cells = [key.short, "", "", "-", *[""] * 6, str(findings.requests), "", reasons]
            else:
                cells = [key.short, "", "-", "", "", "", str(findings.requests), reasons]
            rows.add_row(*((key.cluster,) if several else ()), *cells)
    stdout.print(rows)
    stats = result.report["stats"]
    stdout.print(
        f"{stats['services']} services, {stats['apis']} APIs "
        f"({', '.join(f'{k} {v}' for k, v in stats['apis_by_kind'].items())}), "
        f"{stats['edges']} edges, {stats['requests']} probe requests, "
        f"{stats['duration_s']:.1f}s",
        markup=False,
    )
    for note in result.report["notes"]:
        stdout.print(f"note: {note}", markup=False)
    for problem in result.report["problems"]:
        stdout.print(
            f"problem: {problem['where']}: {problem['what']}: {problem['why']}", markup=False
        )
    for path in result.outputs:
        stdout.print(f"wrote {path}", markup=False)


def _summary_lines(result: RunResult) -> None:
    """The summary as log lines: one per API, problem and output, then the totals."""
    doc = result.report
    for service in doc["services"]:
        for api in service["apis"]:
            spec = api.get("spec") or api.get("contract") or {}
            asset = api.get("asset") or {}
            log(
                "info",
                "api",
                service=f"{service['namespace']}/{service['name']}",
                cluster=service["cluster"],
                port=api["port"],
                kind=api["kind"],
                spec=f"{spec['format']} {spec['version']}" if spec else None,
                asset=asset.get("asset_id"),
                version=asset.get("version"),
            )
    for note in doc["notes"]:
        log("info", "note", note=note)
    for problem in doc["problems"]:
        log("warning", "problem", where=problem["where"], what=problem["what"], why=problem["why"])
    for path in result.outputs:
        log("info", "wrote", path=str(path))
    log("info", "discovery finished", outcome=doc.get("outcome"), **doc["stats"])
