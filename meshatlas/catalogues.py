"""Which catalogue a ``--catalog`` URL names, checked before anything opens it.

Every command takes the same URLs: ``sqlite:///relative.db``,
``sqlite:////absolute.db``, ``postgresql://…`` (``postgres://``, which libpq
accepts, is the same) and, where a command can publish or read through one,
``http(s)://host[:port]`` of a ``meshatlas serve``. :func:`parse` refuses
anything else with the fix in the message; :func:`require_existing` keeps a
command that only reads from creating an empty catalogue out of a mistyped
path; :func:`check_creatable` makes sure a catalogue ``discover`` would
create can be created, without creating it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

from meshatlas.errors import UsageError

__all__ = [
    "CATALOG_ENV",
    "DEFAULT_URL",
    "CatalogueUrl",
    "check_creatable",
    "default_url",
    "parse",
    "require_existing",
    "writable_place",
]

DEFAULT_URL: Final = "sqlite:///meshatlas.db"
#: Environment variable every command's ``--catalog`` defaults to.
CATALOG_ENV: Final = "MESHATLAS_CATALOG"
_FORMS: Final = "sqlite:///PATH, postgresql://USER@HOST/DB"

Kind = Literal["sqlite", "postgresql", "http"]


@dataclass(frozen=True, slots=True)
class CatalogueUrl:
    """A catalogue URL that parsed: its kind, the URL to open, the file it names."""

    url: str
    kind: Kind
    #: The SQLite file (None for a server).
    path: Path | None = None

    @property
    def shown(self) -> str:
        """The URL without its password."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def default_url() -> str:
    """``$MESHATLAS_CATALOG``, else ``sqlite:///meshatlas.db``."""
    return os.environ.get(CATALOG_ENV) or DEFAULT_URL


def parse(text: str, *, servers: bool = True, flag: str = "--catalog") -> CatalogueUrl:
    """The catalogue ``text`` names.

    Args:
        text: The URL as given.
        servers: Whether an ``http(s)://`` catalogue server is accepted here.
        flag: The flag it came from, for messages.

    Raises:
        UsageError: It is no catalogue URL; the message gives the forms accepted.
    """
    forms = f"{_FORMS} or http(s)://HOST[:PORT] of a meshatlas serve" if servers else _FORMS
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r} cannot be parsed ({exc}); give {forms}") from exc
    scheme = parts.scheme.lower()
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return _sqlite(text, parts.netloc, parts.path, flag)
    if base in ("postgresql", "postgres"):
        # libpq takes postgres:// as a synonym; SQLAlchemy does not.
        url = "postgresql" + text.strip()[len(base) :] if base == "postgres" else text.strip()
        if not parts.netloc and "host=" not in parts.query:
            raise UsageError(f"{flag} {text!r} names no database server; give {_FORMS}")
        return CatalogueUrl(url=url, kind="postgresql")
    if base in ("http", "https") and "+" not in scheme:
        if not servers:
            raise UsageError(
                f"{flag} {text!r}: this command reads a database, not a catalogue server;"
                f" give {_FORMS}"
            )
        if not parts.hostname:
            raise UsageError(f"{flag} {text!r} names no host; give http(s)://HOST[:PORT]")
        return CatalogueUrl(url=text.strip(), kind="http")
    raise UsageError(f"{flag} must be {forms}, not {text!r}")


def _sqlite(text: str, netloc: str, path: str, flag: str) -> CatalogueUrl:
    if netloc:
        raise UsageError(
            f"{flag} {text!r}: a SQLite URL has three slashes before a relative path"
            " (sqlite:///meshatlas.db) and four before an absolute one (sqlite:////var/x.db)"
        )
    database = path[1:]
    if not database or database == ":memory:":
        raise UsageError(
            f"{flag} {text!r} names no file (an in-memory catalogue keeps nothing);"
            " give sqlite:///PATH"
        )
    return CatalogueUrl(url=text.strip(), kind="sqlite", path=Path(database))


def require_existing(catalogue: CatalogueUrl, *, flag: str = "--catalog") -> None:
    """Refuse a SQLite catalogue that does not exist (or is not a file).

    Raises:
        UsageError: The file is missing; the message says where it was looked for.
    """
    path = catalogue.path
    if path is None:
        return
    if not path.exists():
        where = path if path.is_absolute() else f"{path} (in {Path.cwd()})"
        raise UsageError(
            f"{flag} {catalogue.shown}: no catalogue at {where}; check the path"
            " (meshatlas discover creates one), or set $MESHATLAS_CATALOG"
        )
    if not path.is_file():
        raise UsageError(f"{flag} {catalogue.shown}: {path} is not a file")


def check_creatable(catalogue: CatalogueUrl, *, flag: str = "--catalog") -> None:
    """Refuse a SQLite catalogue that could not be opened or created, creating nothing.

    Raises:
        UsageError: The file, or the folder it would be created in, is not usable.
    """
    path = catalogue.path
    if path is None:
        return
    if path.exists():
        if not path.is_file():
            raise UsageError(f"{flag} {catalogue.shown}: {path} is not a file")
        if not _may(path, os.R_OK | os.W_OK):
            raise UsageError(f"{flag} {catalogue.shown}: {path} cannot be written by this user")
        return
    folder = path.parent
    if not folder.is_dir():
        # SQLite creates the file, never the folder it goes in.
        what = "is not a directory" if folder.exists() else "does not exist"
        raise UsageError(
            f"{flag} {catalogue.shown}: the catalogue cannot be created: {folder} {what}"
        )
    problem = writable_place(folder)
    if problem is not None:
        raise UsageError(f"{flag} {catalogue.shown}: the catalogue cannot be created: {problem}")


def writable_place(folder: Path) -> str | None:
    """Why files cannot be made in ``folder`` (created as needed), or None when they can.

    Creates nothing: the folder itself, or the nearest ancestor that exists,
    must be a directory this user may write.
    """
    here = folder if str(folder) else Path(".")
    while not here.exists():
        if here.is_symlink():
            return f"{here} is a broken link"
        parent = here.parent
        if parent == here:
            break
        here = parent
    if not here.is_dir():
        return f"{here} is not a directory"
    if not _may(here, os.W_OK | os.X_OK):
        return f"{here} is not writable by this user"
    try:
        if os.statvfs(here).f_flag & os.ST_RDONLY:
            return f"{here} is on a read-only file system"
    except OSError:
        pass
    return None


def _may(path: Path, mode: int) -> bool:
    """Whether this process (its effective user) may access ``path`` in ``mode``."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)
