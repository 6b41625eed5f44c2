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

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast
from urllib.parse import quote, urlsplit, urlunsplit

from meshatlas.errors import SourceError, UsageError

if TYPE_CHECKING:  # imported when a catalogue is read: parse() must stay light
    import httpx

    import catalog
    from catalog.exports.backstage import PostureMark
    from catalog.model import ExposureSource, InstanceExposure, InstanceSubset

__all__ = [
    "CATALOG_ENV",
    "DEFAULT_URL",
    "MAX_ANSWER_BYTES",
    "TOKEN_ENV",
    "CatalogueUrl",
    "Listed",
    "ServerCatalogue",
    "check_creatable",
    "default_url",
    "given",
    "parse",
    "read_assets",
    "read_postures",
    "read_listing",
    "require_existing",
    "writable_place",
]

DEFAULT_URL: Final = "sqlite:///meshatlas.db"
#: Environment variable every command's ``--catalog`` defaults to.
CATALOG_ENV: Final = "MESHATLAS_CATALOG"
_FORMS: Final = "sqlite:///PATH, postgresql://USER@HOST/DB"
#: The bearer token sent to a catalogue server.
TOKEN_ENV: Final = "MESHATLAS_TOKEN"
#: Bytes one answer of a catalogue server may have (a page, a version list, a file).
MAX_ANSWER_BYTES: Final = 64 * 1024 * 1024
#: Assets per search page (the server's most).
_PAGE: Final = 200
_ASSETS: Final = "/exchange/api/v2/assets"

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


def given(flag_value: str | None) -> tuple[str, str]:
    """The catalogue URL a reading command uses, and how messages name where it came from.

    ``--catalog`` when given, else ``$MESHATLAS_CATALOG``, else the default file.
    """
    if flag_value:
        return flag_value, "--catalog"
    url = default_url()
    return url, "--catalog (default)" if url == DEFAULT_URL else f"${CATALOG_ENV}"


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


def read_assets(
    catalogue: CatalogueUrl,
    *,
    flag: str = "--catalog",
    group_id: str | None = None,
    files: bool = True,
    client: httpx.Client | None = None,
) -> list[catalog.Asset]:
    """Every asset of ``catalogue``, read without creating or migrating anything.

    A database must exist and be at the schema this meshatlas reads (a
    ``discover`` or ``serve`` migrates it); a catalogue server is read through
    its REST API, with ``$MESHATLAS_TOKEN`` when one is set (a private server
    asks for it).

    Args:
        catalogue: What ``--catalog`` named.
        flag: The flag it came from, for messages.
        group_id: Only assets of this group.
        files: Whether the versions' files are wanted (an export) or only each
            asset's latest version's instances and dependencies (a graph).
        client: An ``httpx.Client`` for a server (tests); by default one is made.

    Raises:
        UsageError: No such catalogue, a schema of another meshatlas, or a
            token the server refused.
        SourceError: The database or server did not answer.
    """
    if catalogue.kind == "http":
        with _server(catalogue, flag=flag, client=client) as reader:
            return reader.list_assets(group_id=group_id, files=files)
    require_existing(catalogue, flag=flag)
    return _read_database(catalogue, flag=flag, group_id=group_id)


def read_postures(
    catalogue: CatalogueUrl,
    assets: Sequence[catalog.Asset],
    *,
    flag: str = "--catalog",
    client: httpx.Client | None = None,
) -> dict[str, PostureMark]:
    """Each judged asset's posture mark, by ``group:asset``, as the served location gives it.

    A catalogue server older than the findings routes (404) gives none.

    Raises:
        UsageError: No such catalogue, or a token the server refused.
        SourceError: The database or server did not answer.
    """
    if catalogue.kind == "http":
        with _server(catalogue, flag=flag, client=client) as reader:
            return reader.postures(assets)
    from catalog.server import findingviews

    with _reading_store(catalogue, flag=flag) as store:
        return findingviews.postures(store, assets)


def _read_database(
    catalogue: CatalogueUrl, *, flag: str, group_id: str | None
) -> list[catalog.Asset]:

    with _reading_store(catalogue, flag=flag) as store:
        return list(store.list_assets(group_id=group_id))


@contextlib.contextmanager
def reading_store(
    catalogue: CatalogueUrl, *, flag: str = "--catalog"
) -> Iterator[catalog.CatalogStore | None]:
    """The database's store, read-only, for readers beyond assets; None for a server.

    Raises:
        UsageError: No catalogue there, or one at another schema revision.
        SourceError: A database server did not answer.
    """
    if catalogue.kind == "http":
        yield None
        return
    with _reading_store(catalogue, flag=flag) as store:
        yield store


@contextlib.contextmanager
def _server(
    catalogue: CatalogueUrl, *, flag: str, client: httpx.Client | None
) -> Iterator[ServerCatalogue]:
    """A reader of a catalogue server, with ``$MESHATLAS_TOKEN`` when one is set; closed after."""
    reader = ServerCatalogue(
        catalogue, flag=flag, token=os.environ.get(TOKEN_ENV) or None, client=client
    )
    try:
        yield reader
    finally:
        reader.close()


@contextlib.contextmanager
def _reading_store(catalogue: CatalogueUrl, *, flag: str) -> Iterator[catalog.CatalogStore]:
    """A store on a read-only engine, once the database is known to hold this schema.

    Raises:
        UsageError: No catalogue there, or one at another schema revision.
        SourceError: A database server did not answer.
    """
    import catalog
    from catalog.storage import migrate

    # Read-only: a file that is not there is not created, and nothing is written.
    engine = catalog.create_catalog_engine(catalogue.url, read_only=True)
    try:
        try:
            revision = migrate.current_revision(engine)
        except catalog.CatalogError as exc:
            said = f"{flag} {catalogue.shown}: the catalogue cannot be read: {_first_line(exc)}"
            if catalogue.kind == "sqlite":
                raise UsageError(said) from exc
            raise SourceError(said) from exc
        if revision is None:
            raise UsageError(
                f"{flag} {catalogue.shown}: this database holds no meshatlas catalogue"
                " (meshatlas discover creates one)"
            )
        if revision != migrate.HEAD:
            raise UsageError(
                f"{flag} {catalogue.shown}: the catalogue's schema is at revision {revision},"
                f" this meshatlas reads {migrate.HEAD}; run this meshatlas's discover (or serve)"
                " on it once to migrate it, or use the meshatlas that wrote it"
            )
        # Not open_store: that creates or migrates the schema, and reading must not.
        try:
            yield catalog.CatalogStore(engine)
        except catalog.StoreError as exc:
            # One line: the statement and driver detail SQLAlchemy appends help nobody here.
            raise SourceError(
                f"{flag} {catalogue.shown}: the catalogue cannot be read: {_first_line(exc)}"
            ) from exc
    finally:
        engine.dispose()


@dataclass(frozen=True, slots=True)
class Listed:
    """An asset as a listing shows it, with every version (no file bytes)."""

    asset: catalog.AssetSummary
    #: Every version, in ascending precedence, each with its instances.
    versions: tuple[catalog.VersionSummary, ...]


def read_listing(
    catalogue: CatalogueUrl,
    *,
    flag: str = "--catalog",
    group_id: str | None = None,
    asset_id: str | None = None,
    client: httpx.Client | None = None,
) -> list[Listed]:
    """Assets of ``catalogue`` with every version's instances, without any file's bytes.

    Read as :func:`read_assets` reads: nothing is created, migrated or written.

    Args:
        catalogue: What ``--catalog`` named.
        flag: The flag it came from, for messages.
        group_id: Only assets of this group.
        asset_id: Only assets with this id (in any group, or in ``group_id``).
        client: An ``httpx.Client`` for a server (tests); by default one is made.

    Raises:
        UsageError: No such catalogue, a schema of another meshatlas, or a
            token the server refused.
        SourceError: The database or server did not answer.
    """
    if catalogue.kind == "http":
        with _server(catalogue, flag=flag, client=client) as reader:
            return reader.listing(group_id=group_id, asset_id=asset_id)
    require_existing(catalogue, flag=flag)
    with _reading_store(catalogue, flag=flag) as store:
        found = []
        for summary in store.summaries(group_id=group_id):
            if asset_id is not None and summary.asset_id != asset_id:
                continue
            if len(summary.versions) == 1:  # most assets: the summary holds it all
                found.append(Listed(asset=summary, versions=(summary.latest,)))
                continue
            described = store.describe(summary.group_id, summary.asset_id, every=True)
            found.append(Listed(asset=described.asset, versions=described.versions))
        return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ServerCatalogue:
    """A ``meshatlas serve`` read through its REST API, as :class:`catalog.Asset` values.

    Assets come from the Exchange-style search in pages; with files, each
    asset's versions and each version's files are read too. Requests go to
    the server's own address only, redirects are not followed, and every
    answer is bounded (:data:`MAX_ANSWER_BYTES`).
    """

    def __init__(
        self,
        catalogue: CatalogueUrl,
        *,
        flag: str = "--catalog",
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._catalogue = catalogue
        self._flag = flag
        self._base = catalogue.url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._token = token
        import httpx

        self._owns = client is None
        self._client = client or httpx.Client(
            timeout=timeout, trust_env=False, follow_redirects=False
        )

    def close(self) -> None:
        if self._owns:
            self._client.close()

    def list_assets(
        self, *, group_id: str | None = None, files: bool = True
    ) -> list[catalog.Asset]:
        """Every asset (of ``group_id``), sorted as the server pages them."""
        found: list[catalog.Asset] = []
        offset = 0
        while True:
            params = {"offset": str(offset), "limit": str(_PAGE)}
            if group_id is not None:
                params["groupId"] = group_id
            page, total = self._page(params)
            for item in page:
                found.append(self._asset(item, files=files))
            offset += len(page)
            if not page or len(page) < _PAGE or (total is not None and offset >= total):
                return found

    def postures(self, assets: Sequence[catalog.Asset]) -> dict[str, PostureMark]:
        """Each judged asset's posture mark, one findings read per asset."""
        from catalog.exports.backstage import PostureMark

        marks: dict[str, PostureMark] = {}
        for asset in assets:
            group, name = quote(asset.group_id, safe=""), quote(asset.asset_id, safe="")
            path = f"/meshatlas/api/v1/assets/{group}/{name}/findings"
            response = self._get(path, missing_ok=True)
            if response.status_code == 404:
                if not marks:
                    return {}  # a server from before the findings routes
                raise SourceError(f"{self._where(path)}: the catalogue server answered 404")
            try:
                answer = response.json()
            except ValueError as exc:
                raise SourceError(f"{self._where(path)}: not JSON") from exc
            status = answer.get("posture") if isinstance(answer, dict) else None
            if isinstance(status, str) and status != "not-judged":
                found = answer.get("findings")
                count = len(found) if isinstance(found, list) else 0
                marks[f"{asset.group_id}:{asset.asset_id}"] = PostureMark(status, count)
        return marks

    def listing(self, *, group_id: str | None = None, asset_id: str | None = None) -> list[Listed]:
        """Every asset (of ``group_id``, with id ``asset_id``) with its versions' summaries.

        One search page per 200 assets, then one version list per asset; no
        file is downloaded.
        """
        import catalog

        found: list[Listed] = []
        offset = 0
        while True:
            params = {"offset": str(offset), "limit": str(_PAGE)}
            if group_id is not None:
                params["groupId"] = group_id
            if asset_id is not None:
                params["search"] = asset_id  # narrows the pages; the id is matched here
            page, total = self._page(params)
            for item in page:
                if asset_id is not None and item.get("assetId") != asset_id:
                    continue
                group, name = str(item["groupId"]), str(item["assetId"])
                path = f"{_ASSETS}/{quote(group, safe='')}/{quote(name, safe='')}/versions"
                listed = _json_list(self._get(path), self._where(path))
                versions = tuple(_version_summary(v) for v in reversed(listed))
                if not versions:
                    raise SourceError(f"{self._where(path)}: an asset without versions")
                summary = catalog.AssetSummary(
                    group_id=group,
                    asset_id=name,
                    name=str(item.get("name") or name),
                    type=cast("catalog.AssetType", item["type"]),
                    description=item.get("description"),
                    owner=item.get("owner"),
                    lifecycle=cast("catalog.Lifecycle", item["lifecycle"]),
                    tags=tuple(item.get("tags") or ()),
                    first_seen=datetime.fromisoformat(str(item["firstSeen"])),
                    last_seen=datetime.fromisoformat(str(item["lastSeen"])),
                    versions=tuple(
                        catalog.VersionHeader(
                            version=v.version, created_at=v.created_at, reason=v.reason
                        )
                        for v in versions
                    ),
                    latest=versions[-1],
                )
                found.append(Listed(asset=summary, versions=versions))
            offset += len(page)
            if not page or len(page) < _PAGE or (total is not None and offset >= total):
                return found

    def _page(self, params: dict[str, str]) -> tuple[list[dict[str, Any]], int | None]:
        response = self._get(f"{_ASSETS}", params=params)
        body = _json_list(response, self._where(_ASSETS))
        total = response.headers.get("X-Total-Count")
        return body, int(total) if total and total.isdigit() else None

    def _asset(self, item: dict[str, Any], *, files: bool) -> catalog.Asset:
        import catalog

        group, asset_id = str(item["groupId"]), str(item["assetId"])
        if files:
            path = f"{_ASSETS}/{quote(group, safe='')}/{quote(asset_id, safe='')}/versions"
            listed = _json_list(self._get(path), self._where(path))
            versions = [self._version(v, files=True) for v in reversed(listed)]
        else:
            versions = [self._version(item, files=False)]
        return catalog.Asset(
            group_id=group,
            asset_id=asset_id,
            name=str(item.get("name") or asset_id),
            type=cast("catalog.AssetType", item["type"]),
            description=item.get("description"),
            owner=item.get("owner"),
            lifecycle=cast("catalog.Lifecycle", item["lifecycle"]),
            tags=tuple(item.get("tags") or ()),
            first_seen=datetime.fromisoformat(str(item["firstSeen"])),
            last_seen=datetime.fromisoformat(str(item["lastSeen"])),
            versions=tuple(versions),
        )

    def _version(self, item: dict[str, Any], *, files: bool) -> catalog.AssetVersion:
        import catalog

        provenance = item.get("provenance") or {}
        return catalog.AssetVersion(
            version=str(item["version"]),
            created_at=datetime.fromisoformat(str(item["createdAt"])),
            files=tuple(self._file(f) for f in item.get("files") or ()) if files else (),
            operations=tuple(item.get("operations") or ()),
            instances=tuple(_instance(i) for i in item.get("instances") or ()),
            dependencies=tuple(_dependency(d) for d in item.get("dependencies") or ()),
            reason=str(item.get("reason") or ""),
            provenance=catalog.Provenance(
                method=str(provenance.get("method") or ""),
                detail=str(provenance.get("detail") or ""),
            ),
        )

    def _file(self, item: dict[str, Any]) -> catalog.AssetFile:
        import catalog

        link = str(item["downloadURL"])
        # Only the server's own address: a link elsewhere is not followed.
        path = urlsplit(link).path if link.startswith(self._base) else link
        if not path.startswith("/"):
            raise SourceError(f"{self._where(_ASSETS)}: a file link off the server: {link!r}")
        return catalog.AssetFile(
            classifier=cast("catalog.Classifier", item["classifier"]),
            packaging=cast("catalog.Packaging", item["packaging"]),
            content=self._get(path).content,
        )

    def _where(self, path: str) -> str:
        return f"{self._flag} {self._catalogue.shown}: {path}"

    def _get(
        self, path: str, *, params: dict[str, str] | None = None, missing_ok: bool = False
    ) -> httpx.Response:
        """One GET; its answer in full (bounded), or the error that says why not.

        ``missing_ok``: a 404 is answered (for routes an older server lacks).
        """
        import httpx

        url = self._base + path
        try:
            with self._client.stream("GET", url, params=params, headers=self._headers) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise SourceError(
                            f"{self._where(path)}: the answer is over {MAX_ANSWER_BYTES} bytes"
                        )
        except httpx.HTTPError as exc:
            raise SourceError(
                f"{self._flag} {self._catalogue.shown}: the catalogue server did not answer"
                f" ({_first_line(exc)})"
            ) from exc
        status = response.status_code
        if status in (401, 403):
            told = "refused the token in" if self._token else "wants a token to read; set"
            raise UsageError(
                f"{self._flag} {self._catalogue.shown}: the catalogue server {told}"
                f" ${TOKEN_ENV} ({status})"
            )
        if status != 200 and not (missing_ok and status == 404):
            raise SourceError(f"{self._where(path)}: the catalogue server answered {status}")
        return httpx.Response(status, headers=response.headers, content=bytes(body))


def _json_list(response: httpx.Response, where: str) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SourceError(f"{where}: the answer is not JSON") from exc
    if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
        raise SourceError(f"{where}: the answer is not a list of objects")
    return body


def _version_summary(item: dict[str, Any]) -> catalog.VersionSummary:
    """A version as the server's version list gives it (files as their metadata)."""
    import catalog

    provenance = item.get("provenance") or {}
    return catalog.VersionSummary(
        version=str(item["version"]),
        created_at=datetime.fromisoformat(str(item["createdAt"])),
        files=tuple(
            catalog.FileSummary(
                classifier=cast("catalog.Classifier", f["classifier"]),
                packaging=cast("catalog.Packaging", f["packaging"]),
                sha256=str(f.get("sha256") or ""),
                size=int(f.get("size") or 0),
            )
            for f in item.get("files") or ()
        ),
        operations=tuple(item.get("operations") or ()),
        instances=tuple(_instance(i) for i in item.get("instances") or ()),
        dependencies=tuple(_dependency(d) for d in item.get("dependencies") or ()),
        reason=str(item.get("reason") or ""),
        provenance=catalog.Provenance(
            method=str(provenance.get("method") or ""),
            detail=str(provenance.get("detail") or ""),
        ),
    )


def _instance(item: dict[str, Any]) -> catalog.Instance:
    import catalog

    seen = item.get("lastSeen")
    return catalog.Instance(
        cluster=str(item["cluster"]),
        namespace=str(item["namespace"]),
        service=str(item["service"]),
        port=int(item["port"]),
        endpoint_uri=str(item["endpointUri"]),
        environment=item.get("environment"),
        last_seen=datetime.fromisoformat(seen) if isinstance(seen, str) else None,
        stale=item.get("stale"),
        # Absent on servers older than exposure (catalog.remote.wire.instance_json).
        exposure=tuple(_exposure(e) for e in item.get("exposure") or ()),
        subsets=tuple(_subset(s) for s in item.get("subsets") or ()),
    )


def _exposure(item: dict[str, Any]) -> InstanceExposure:
    from catalog.model import InstanceExposure

    port = item.get("port")
    return InstanceExposure(
        gateway=str(item["gateway"]),
        source=cast("ExposureSource", str(item["source"])),
        host=str(item["host"]),
        port=None if port is None else int(port),
        path=_text(item.get("path")),
        path_match=_text(item.get("pathMatch")),
        protocol=_text(item.get("protocol")),
        route=_text(item.get("route")),
    )


def _subset(item: dict[str, Any]) -> InstanceSubset:
    from catalog.model import InstanceSubset

    return InstanceSubset(
        name=str(item["name"]), version=_text(item.get("version")), rule=_text(item.get("rule"))
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _dependency(item: dict[str, Any]) -> str:
    ref = f"{item['groupId']}:{item['assetId']}"
    return f"{ref}:{item['version']}" if item.get("version") else ref
