"""Publish the folders :mod:`catalog.exports.exchange` wrote to Anypoint Exchange.

Each folder's ``publish.json`` is one call of Exchange's v2 publication API:
``POST {base}/exchange/api/v2/organizations/{org}/assets/{group}/{asset}/{version}``
as ``multipart/form-data``, the form fields as text parts and the main file
as the ``files.<classifier>.<packaging>`` part, with ``Authorization: bearer
<token>`` and ``x-sync-publication: true`` (Exchange then answers once the
version exists instead of handing out a status link).

Every folder gets an :class:`Outcome`; one failure does not stop the others,
and the folders stay on disk, so a second run publishes what is missing (the
versions already there answer 409 and count as ``exists``). Two answers stop
the run, because every later call would get the same: the token refused
(401/403) and no connection to the server. The folders not tried are
``not-attempted``.

Answers are read bounded (:data:`MAX_ANSWER` bytes), redirects are not
followed, and the token is sent only over HTTPS or to a loopback address.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from catalog.errors import InvalidAsset

__all__ = ["MAX_ANSWER", "Outcome", "OutcomeStatus", "check_base_url", "publish"]

OutcomeStatus = Literal["published", "accepted", "exists", "skipped", "failed", "not-attempted"]
#: Bytes of an answer read for its message; the rest is dropped.
MAX_ANSWER: Final = 64 * 1024
_CONTENT_TYPES: Final = {
    "json": "application/json",
    "yaml": "application/yaml",
    "wsdl": "application/wsdl+xml",
    "xml": "application/xml",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What publishing one folder did.

    Attributes:
        folder: The version's folder.
        asset: ``group/asset/version`` as Exchange names it.
        status: ``published`` (201), ``accepted`` (202: Exchange is still
            publishing), ``exists`` (409: that version is already there),
            ``skipped`` (not an asset Exchange takes), ``failed`` or
            ``not-attempted`` (the run stopped before it).
        message: One line for a person.
        http_status: The answer's status code, if there was one.
    """

    folder: Path
    asset: str
    status: OutcomeStatus
    message: str
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the version is (or is becoming) in Exchange, or was rightly left out."""
        return self.status in ("published", "accepted", "exists", "skipped")


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, if a token may be sent there.

    Raises:
        InvalidAsset: Not an http(s) URL, credentials in it, or plain HTTP to
            a host that is not loopback.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidAsset("--publish", f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InvalidAsset("--publish", "give the token in the environment, not in the URL")
    if parts.query or parts.fragment:
        raise InvalidAsset("--publish", "takes a base URL without query or fragment")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidAsset("--publish", "plain HTTP would send the token in clear; use https")
    return url.rstrip("/")


def publish(
    folders: Sequence[Path], *, client: httpx.Client, base_url: str, token: str
) -> list[Outcome]:
    """Publish every folder in order; returns one outcome per folder.

    Args:
        folders: Folders holding ``publish.json`` (from :func:`exchange.write`).
        client: The HTTP client (timeouts are the caller's); redirects are
            never followed.
        base_url: Exchange's base URL (``https://anypoint.mulesoft.com``),
            checked with :func:`check_base_url`.
        token: The bearer token.
    """
    base = check_base_url(base_url)
    outcomes: list[Outcome] = []
    stopped: str | None = None
    for folder in folders:
        if stopped is not None:
            outcomes.append(Outcome(folder, _name(folder), "not-attempted", stopped))
            continue
        outcome = _publish_one(folder, client=client, base=base, token=token)
        outcomes.append(outcome)
        if outcome.http_status in (401, 403):
            stopped = f"not tried: an earlier call was refused ({outcome.http_status})"
        elif (
            outcome.status == "failed"
            and outcome.http_status is None
            and "connect" in (outcome.message)
        ):
            stopped = "not tried: the server could not be reached"
    return outcomes


def _publish_one(folder: Path, *, client: httpx.Client, base: str, token: str) -> Outcome:
    name = _name(folder)
    try:
        form = json.loads((folder / "publish.json").read_text(encoding="utf-8"))
        fields, files, path = _form(form)
        # Text fields as parts without a filename: the body is multipart even for
        # an http-api, which has no file.
        parts: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            (key, (None, value, None)) for key, value in fields.items()
        ]
        parts += [
            (part, (filename, (folder / filename).read_bytes(), _content_type(part)))
            for part, filename in files.items()
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(folder, name, "failed", f"unreadable folder: {exc}")
    name = "/".join(path.rstrip("/").split("/")[-3:])
    if form.get("publishable") is False:
        return Outcome(folder, name, "skipped", str(form.get("reason") or "not publishable"))
    headers = {"Authorization": f"bearer {token}", "x-sync-publication": "true"}
    try:
        with client.stream(
            "POST",
            base + path,
            files=parts,
            headers=headers,
            follow_redirects=False,
        ) as answer:
            body = _bounded(answer)
    except httpx.ConnectError as exc:
        return Outcome(folder, name, "failed", f"cannot connect to {base}: {exc}")
    except httpx.HTTPError as exc:
        return Outcome(folder, name, "failed", f"{type(exc).__name__}: {exc}")
    return _judge(folder, name, answer.status_code, body)


def _judge(folder: Path, name: str, status: int, body: bytes) -> Outcome:
    said = _message(body)
    if status in (200, 201):
        return Outcome(folder, name, "published", "published", status)
    if status == 202:
        return Outcome(folder, name, "accepted", f"accepted, still publishing{said}", status)
    if status == 409:
        return Outcome(folder, name, "exists", f"this version is already in Exchange{said}", status)
    if status == 401:
        return Outcome(folder, name, "failed", f"the token was refused (401){said}", status)
    if status == 403:
        return Outcome(
            folder, name, "failed", f"the token may not publish there (403){said}", status
        )
    if 300 <= status < 400:
        return Outcome(folder, name, "failed", f"redirected ({status}), not followed", status)
    return Outcome(folder, name, "failed", f"answered {status}{said}", status)


def _form(form: Any) -> tuple[dict[str, str], dict[str, str], str]:
    if not isinstance(form, dict):
        raise ValueError("publish.json is not an object")
    fields, files, path = form["fields"], form.get("files") or {}, form["path"]
    if not (isinstance(fields, dict) and isinstance(files, dict) and isinstance(path, str)):
        raise ValueError("publish.json's fields, files or path has the wrong type")
    if not path.startswith("/exchange/api/v2/organizations/") or "{" in path or ".." in path:
        raise ValueError(f"publish.json's path {path!r} is not a v2 publication path")
    for filename in files.values():
        if not isinstance(filename, str) or "/" in filename or filename.startswith("."):
            raise ValueError(f"publish.json names a file outside its folder: {filename!r}")
    return {str(k): str(v) for k, v in fields.items()}, files, path


def _content_type(part: str) -> str:
    return _CONTENT_TYPES.get(part.rsplit(".", 1)[-1], "application/octet-stream")


def _bounded(answer: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in answer.iter_bytes():
        body += chunk[: MAX_ANSWER - len(body)]
        if len(body) >= MAX_ANSWER:
            break
    return bytes(body)


def _message(body: bytes) -> str:
    try:
        found = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip().splitlines()
        return f": {text[0][:200]}" if text else ""
    if isinstance(found, dict):
        for key in ("message", "detail", "error"):
            if isinstance(found.get(key), str):
                return f": {found[key][:200]}"
    return ""


def _name(folder: Path) -> str:
    return "/".join(folder.parts[-3:])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
