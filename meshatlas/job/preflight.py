"""Checks a discover run makes before it contacts anything it would probe or publish to.

Each refusal is one :class:`~meshatlas.errors.UsageError` line that names the
thing (the flag, the file, the cluster) and how to fix it, raised before a
Service is probed, a catalogue opened or a file written:

* the kubeconfig exists, can be read, is YAML and a kubeconfig, and holds
  the contexts asked for (:func:`check_kubeconfig`);
* ``--out`` and ``--report`` can be written (:func:`check_outputs`);
* each cluster's API server accepts a connection (:func:`unreachable`), said
  as kubectl says it;
* a catalogue server (``--catalog http(s)://…``) answers, and takes the token
  in ``$MESHATLAS_TOKEN`` for what a crawl does (:func:`check_catalogue_server`):
  a refused token is a usage error, a server that does not answer a source error.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from meshatlas.errors import SourceError, UsageError
from meshatlas.interface.suggest import did_you_mean
from meshatlas.job.catalogues import writable_place

__all__ = [
    "CONNECT_TIMEOUT",
    "TOKEN_ENV",
    "check_catalogue_server",
    "check_kubeconfig",
    "check_outputs",
    "kubeconfig_files",
    "no_kubeconfig",
    "unreachable",
]

#: Seconds an API server has to accept a TCP connection.
CONNECT_TIMEOUT: Final = 5.0
_DEFAULT_KUBECONFIG: Final = "~/.kube/config"
#: The bearer token a crawl sends a catalogue server.
TOKEN_ENV: Final = "MESHATLAS_TOKEN"
#: A crawler route: the server asks for the token on reads of it too.
_PROBE_MEMORY: Final = "/meshatlas/api/v1/probe-memory"
#: Where an older server (no probe memory) is asked instead: an empty body is
#: refused as a bad request once the token is taken, and publishes nothing.
_PUBLICATIONS: Final = "/meshatlas/api/v1/publications"
#: Bytes of a refusal's body kept for the message.
_REFUSAL_BYTES: Final = 300


def kubeconfig_files(
    kubeconfig: str | None, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """The kubeconfig files a run reads: ``--kubeconfig``, ``$KUBECONFIG``'s, or the default.

    ``$KUBECONFIG`` may list several files (``:``-separated), as kubectl takes it.
    """
    env = os.environ if environ is None else environ
    if kubeconfig is not None:
        return [Path(kubeconfig).expanduser()]
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return [Path(p).expanduser() for p in listed]
    return [Path(_DEFAULT_KUBECONFIG).expanduser()]


def check_kubeconfig(
    *, kubeconfig: str | None, contexts: Sequence[str], environ: Mapping[str, str] | None = None
) -> None:
    """Refuse a kubeconfig the Kubernetes client would choke on, naming the file.

    Raises:
        UsageError: A file is missing, unreadable, not YAML or not a kubeconfig,
            or a context asked for is in none of them.
    """
    env = os.environ if environ is None else environ
    files = kubeconfig_files(kubeconfig, env)
    if kubeconfig is not None:
        given = "--kubeconfig"
    else:
        given = "$KUBECONFIG" if env.get("KUBECONFIG") else "kubeconfig"
    present = [f for f in files if f.exists() or f.is_symlink()]
    if kubeconfig is not None and not present:
        raise UsageError(f"--kubeconfig {files[0]}: no such file; check the path")
    if not present:
        if env.get("KUBECONFIG"):
            raise UsageError(f"$KUBECONFIG: none of {', '.join(map(str, files))} exists")
        # No kubeconfig at all: in a Pod the client takes the ServiceAccount;
        # elsewhere :func:`no_kubeconfig` says what to do.
        return
    known: list[str] = []
    current: str | None = None
    for path in present:
        doc = _read_kubeconfig(path, given)
        known.extend(str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict))
        current = current or (doc.get("current-context") or None)
    for name in contexts:
        if name not in known:
            where = ", ".join(map(str, present))
            have = f" (it has: {', '.join(known)})" if known else " (it has none)"
            hint = did_you_mean(name, known, quote=True)
            raise UsageError(f"--context {name!r}: no such context in {where}{have}{hint}")
    if not contexts and current is None:
        raise UsageError(
            f"{', '.join(map(str, present))} sets no current-context; give --context NAME"
            + (f" (it has: {', '.join(known)})" if known else "")
        )


def no_kubeconfig() -> str:
    """What to say when there is no kubeconfig and this is no Pod."""
    return (
        f"no kubeconfig: {Path(_DEFAULT_KUBECONFIG).expanduser()} does not exist and $KUBECONFIG"
        " is not set; give --kubeconfig PATH, set $KUBECONFIG, or run in a Pod (--in-cluster)"
    )


def _read_kubeconfig(path: Path, given: str) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError as exc:
        raise UsageError(f"{given} {path} is a directory, not a kubeconfig file") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{given} {path} is not a kubeconfig (not UTF-8 text)") from exc
    except OSError as exc:
        raise UsageError(f"{given} {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError(f"{given} {path} is not a kubeconfig: not YAML ({problem}{at})") from exc
    if not isinstance(doc, dict) or not any(k in doc for k in ("clusters", "contexts", "users")):
        raise UsageError(
            f"{given} {path} is not a kubeconfig (it has no clusters, contexts or users);"
            " give the file kubectl uses (kubectl config view --minify shows it)"
        )
    for key in ("clusters", "contexts", "users"):
        if not isinstance(doc.get(key) or [], list):
            raise UsageError(f"{given} {path} is not a kubeconfig: {key} is not a list")
    return doc


def check_outputs(*, out: Path | None, report: str | None) -> None:
    """Refuse ``--out`` and ``--report`` places that cannot be written, creating nothing.

    Raises:
        UsageError: ``--out`` is a file or an unwritable place; ``--report`` is a
            directory or in an unwritable place.
    """
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file; give a directory (created if missing)")
        problem = writable_place(out)
        if problem is not None:
            raise UsageError(f"--out {out}: cannot write there: {problem}")
    if report is not None and report != "-":
        path = Path(report)
        if path.is_dir():
            raise UsageError(f"--report {path} is a directory; give a file path, or - for stdout")
        problem = writable_place(path.parent)
        if problem is None and path.exists() and not os.access(path, os.W_OK):
            problem = f"{path} is not writable by this user"
        if problem is not None:
            raise UsageError(f"--report {path}: cannot write there: {problem}")


def unreachable(servers: Mapping[str, str], *, timeout: float = CONNECT_TIMEOUT) -> dict[str, str]:
    """The clusters whose API server accepts no connection, with what kubectl would say.

    Args:
        servers: Cluster name to its API server URL (or the proxy it is reached through).
        timeout: Seconds each server has to accept.
    """
    if not servers:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
        answers = pool.map(lambda url: _connect(url, timeout), servers.values())
        said = dict(zip(servers, answers, strict=True))
    return {name: message for name, message in said.items() if message is not None}


def _connect(url: str, timeout: float) -> str | None:
    """None when ``url``'s host accepts a TCP connection, else kubectl's words for it."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or "localhost"
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        return f"the server {url!r} has no valid port"
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return (
            f"the connection to the server {shown} was refused"
            " - did you specify the right host or port?"
        )
    except socket.gaierror:
        return f"unable to connect to the server: dial tcp: lookup {host}: no such host"
    except TimeoutError:
        return f"unable to connect to the server: dial tcp {shown}: i/o timeout"
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        return f"unable to connect to the server: dial tcp {shown}: {reason}"


def check_catalogue_server(
    url: str, *, shown: str, token: str | None, timeout: float = CONNECT_TIMEOUT, client: Any = None
) -> None:
    """Refuse a catalogue server that does not answer, or does not take the token.

    Asks what a crawl asks first (its probe memory, which only a crawler with
    a token may read); a server too old to have it is sent an empty
    publication, which it refuses as malformed once the token is taken.
    Nothing is written either way, and redirects are not followed.

    Args:
        url: The server's base URL.
        shown: The URL as messages quote it (no password).
        token: ``$MESHATLAS_TOKEN``, or None.
        timeout: Seconds for each request.
        client: An ``httpx.Client`` to send through (tests); by default one is made.

    Raises:
        UsageError: 401 or 403: the token is missing or refused.
        SourceError: No answer, a redirect, or a server error.
    """
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = url.rstrip("/")
    own = client is None
    http = client or httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
    try:
        try:
            answer = _ask(http, "GET", base + _PROBE_MEMORY, headers=headers)
            if answer.status in (404, 405):
                json_headers = {**headers, "Content-Type": "application/json"}
                answer = _ask(http, "POST", base + _PUBLICATIONS, headers=json_headers, body=b"{}")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise SourceError(
                f"--catalog {shown}: the catalogue server did not answer ({reason});"
                " check the URL and that meshatlas serve runs there"
            ) from exc
    finally:
        if own:
            http.close()
    status = answer.status
    if status in (401, 403):
        said = answer.reason
        if token is None:
            raise UsageError(
                f"--catalog {shown}: the catalogue server wants a token to publish ({status}:"
                f" {said}); set ${TOKEN_ENV} to one it accepts"
            )
        raise UsageError(
            f"--catalog {shown}: the catalogue server refused the token in ${TOKEN_ENV}"
            f" ({status}: {said}); set ${TOKEN_ENV} to one it accepts"
        )
    if 300 <= status < 400:
        where = answer.location or "elsewhere"
        raise SourceError(
            f"--catalog {shown}: the catalogue server redirects ({status} to {where});"
            " give the URL of the server itself"
        )
    if status >= 500:
        raise SourceError(
            f"--catalog {shown}: the catalogue server answered {status}: {answer.reason}"
        )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    #: The server's one-line reason: its JSON ``message``, else the start of its body.
    reason: str
    location: str | None


def _ask(
    http: Any, method: str, url: str, *, headers: dict[str, str], body: bytes = b""
) -> _Answer:
    """One request, of whose answer only the status and a bounded start are read.

    (A crawler's probe memory can be megabytes; only a refusal's reason is wanted.)
    """
    with http.stream(method, url, headers=headers, content=body or None) as response:
        start = b""
        for chunk in response.iter_bytes():
            start += chunk
            if len(start) >= _REFUSAL_BYTES * 4:
                break
        return _Answer(
            status=response.status_code,
            reason=_reason(start, response.reason_phrase),
            location=response.headers.get("Location"),
        )


def _reason(start: bytes, phrase: str) -> str:
    text = start.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    return " ".join(text.split())[:_REFUSAL_BYTES] or phrase
