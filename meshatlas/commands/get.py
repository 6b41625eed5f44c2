"""``meshatlas get``: the catalogue from the terminal, as ``kubectl get`` shows a cluster.

``meshatlas get assets|apis|versions|instances [NAME]`` lists what the
catalogue holds (a SQLite or PostgreSQL database, or a ``meshatlas serve``),
read without creating, migrating or writing anything. ``apis`` is another
name for ``assets``: every asset is an API.

What is listed, and what narrows it:

* NAME is an asset id (``shop-orders``); an asset named is shown even when
  deprecated, and a NAME the catalogue does not hold exits 1 ("not found");
* ``-n/--namespace`` and ``--cluster`` keep the assets with an instance there
  (for ``instances``, the instances there);
* ``-l/--selector`` matches the assets' own fields and tags (:func:`parse_selector`);
* deprecated assets and stale instances are left out unless ``--all``
  (``-A``) asks for them.

Output (``-o``): ``table`` (the default) and ``wide`` as kubectl prints them
(upper-case headers, columns three spaces apart, AGE as kubectl writes
durations); ``json`` and ``yaml`` a ``List`` of items, or the one asset a NAME
names; ``name`` one ``kind/name`` per line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.interface.parsing import CommaList, comma_items
from meshatlas.interface.suggest import did_you_mean
from meshatlas.job import catalogues
from meshatlas.status import ExitCode

if TYPE_CHECKING:
    import catalog

__all__ = [
    "FIELDS",
    "HELP",
    "OUTPUTS",
    "RESOURCES",
    "Requirement",
    "Selector",
    "add_parser",
    "age",
    "parse_selector",
    "run",
]

HELP = "list the catalogue's assets, versions or instances, as kubectl get does"
#: What can be listed; ``apis`` is ``assets`` by another name.
RESOURCES: Final = ("assets", "apis", "versions", "instances")
OUTPUTS: Final = ("table", "wide", "json", "yaml", "name")

#: Selector keys that name an asset's own field; any other key is a tag's.
FIELDS: Final = ("type", "lifecycle", "owner", "group", "tag")

# kubectl's duration units for AGE (k8s.io/apimachinery pkg/util/duration,
# HumanDuration): (unit, its seconds, counted in it from this many, shown
# with the next smaller unit below this many). Below 2 minutes: seconds.
_UNITS: Final = (
    ("m", 60, 2, 10),
    ("h", 3600, 3, 8),
    ("d", 86400, 2, 8),
    ("y", 365 * 86400, 2, 8),
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``get`` subcommand."""
    get = sub.add_parser(
        "get",
        help=HELP,
        description="List what the catalogue holds. Nothing is created or written: a"
        " catalogue that is not there is refused.",
    )
    get.add_argument("resource", choices=RESOURCES, help="what to list (apis: the assets)")
    get.add_argument("name", nargs="?", metavar="NAME", help="one asset, by its asset id")
    get.add_argument(
        "--catalog",
        metavar="URL",
        help="sqlite:///PATH, postgresql://... or http(s)://HOST of a meshatlas serve"
        f" (token: ${catalogues.TOKEN_ENV}) (default: ${catalogues.CATALOG_ENV},"
        f" else {catalogues.DEFAULT_URL})",
    )
    get.add_argument(
        "-n",
        "--namespace",
        action=CommaList,
        type=comma_items,
        default=[],
        metavar="NS",
        help="only assets with an instance in this namespace (repeatable, or a comma list)",
    )
    get.add_argument(
        "--cluster",
        action=CommaList,
        type=comma_items,
        default=[],
        metavar="NAME",
        help="only assets with an instance in this cluster (repeatable, or a comma list)",
    )
    get.add_argument(
        "-l",
        "--selector",
        metavar="SELECTOR",
        help="asset fields and tags: tag, !tag, key=value, key!=value, comma-separated;"
        f" fields: {', '.join(FIELDS)}; any other key is a tag key=value or key:value",
    )
    get.add_argument("--group-id", metavar="ID", help="only assets of this group")
    get.add_argument(
        "-A",
        "--all",
        action="store_true",
        help="deprecated assets and stale instances too",
    )
    get.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="table",
        help="table, wide (more columns), json, yaml or name (default: %(default)s)",
    )


@dataclass(frozen=True, slots=True)
class _Scope:
    """What the flags keep."""

    namespaces: frozenset[str]
    clusters: frozenset[str]
    every: bool

    def instance(self, instance: catalog.Instance) -> bool:
        if instance.stale and not self.every:
            return False
        if self.namespaces and instance.namespace not in self.namespaces:
            return False
        return not self.clusters or instance.cluster in self.clusters

    @property
    def placed(self) -> bool:
        """Whether a place (namespace or cluster) was asked for."""
        return bool(self.namespaces or self.clusters)

    def words(self) -> str:
        """Where the scope is, for "No assets found in ..."."""
        parts = []
        if self.namespaces:
            parts.append(f"namespace {', '.join(sorted(self.namespaces))}")
        if self.clusters:
            parts.append(f"cluster {', '.join(sorted(self.clusters))}")
        return " and ".join(parts)


def run(args: argparse.Namespace) -> ExitCode:
    """List what was asked; exit 1 when NAME is not in the catalogue.

    Raises:
        UsageError: A selector that does not parse, or no catalogue where
            ``--catalog`` points (nothing is created).
        SourceError: The database or server did not answer.
    """
    wanted = parse_selector(args.selector) if args.selector is not None else None
    url, flag = catalogues.given(args.catalog)
    catalogue = catalogues.parse(url, flag=flag)
    listed = catalogues.read_listing(
        catalogue, flag=flag, group_id=args.group_id, asset_id=args.name
    )
    scope = _Scope(frozenset(args.namespace), frozenset(args.cluster), args.all)
    shown = [
        item
        for item in listed
        if (args.all or args.name is not None or item.asset.lifecycle != "deprecated")
        and (wanted is None or wanted.matches(item.asset))
        and (not scope.placed or any(_instances(item.versions, scope)))
    ]
    if args.name is not None and not shown:
        return _not_found(args, catalogue, scope, found=bool(listed))
    resource = "assets" if args.resource == "apis" else args.resource
    if resource == "assets":
        rows = [_asset_row(item, scope) for item in shown]
    elif resource == "versions":
        rows = [_version_row(item, v, scope) for item in shown for v in item.versions]
    else:
        rows = [
            _instance_row(item, version, instance)
            for item in shown
            for version, instance in _instances(item.versions, scope)
        ]
    _print(rows, resource=resource, output=args.output, scope=scope, single=args.name)
    return ExitCode.COMPLETE


def _instances(
    versions: Sequence[catalog.VersionSummary], scope: _Scope
) -> Iterable[tuple[catalog.VersionSummary, catalog.Instance]]:
    """Each instance in scope with the version it serves."""
    for version in versions:
        for instance in version.instances:
            if scope.instance(instance):
                yield version, instance


def _not_found(
    args: argparse.Namespace, catalogue: catalogues.CatalogueUrl, scope: _Scope, *, found: bool
) -> ExitCode:
    where = f" in {scope.words()}" if found and scope.placed else ""
    if found and args.selector:
        where += f" matching {args.selector!r}" if not where else f", matching {args.selector!r}"
    hint = ""
    if not found:
        known = {i.asset.asset_id for i in catalogues.read_listing(catalogue, group_id=None)}
        hint = did_you_mean(args.name, known)
    group = f" in group {args.group_id}" if args.group_id else ""
    console.error(f'asset "{args.name}" not found{group}{where}{hint}')
    return ExitCode.ERROR


# --- rows -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of output: its ``kind/name``, table cells by column, and its document."""

    name: str
    cells: dict[str, str]
    doc: dict[str, Any]


_COLUMNS: Final = {
    "assets": (
        ("NAME", "TYPE", "VERSION", "LIFECYCLE", "INSTANCES", "AGE"),
        ("GROUP", "OWNER", "OPERATIONS", "CONTRACT", "NAMESPACES", "TAGS"),
    ),
    "versions": (
        ("NAME", "VERSION", "CONTRACT", "OPERATIONS", "INSTANCES", "AGE"),
        ("GROUP", "LATEST", "FOUND BY", "REASON"),
    ),
    "instances": (
        ("CLUSTER", "NAMESPACE", "SERVICE", "PORT", "ASSET", "VERSION", "STATUS", "LAST SEEN"),
        ("GROUP", "ENVIRONMENT", "ENDPOINT"),
    ),
}


def _asset_row(item: catalogues.Listed, scope: _Scope) -> _Row:
    from catalog.remote import wire

    asset, latest = item.asset, item.asset.latest
    here = list(_instances(item.versions, scope))
    cells = {
        "NAME": asset.asset_id,
        "TYPE": asset.type,
        "VERSION": latest.version,
        "LIFECYCLE": asset.lifecycle,
        "INSTANCES": str(len(here)),
        "AGE": age(asset.first_seen),
        "GROUP": asset.group_id,
        "OWNER": asset.owner or "<none>",
        "OPERATIONS": str(len(latest.operations)),
        "CONTRACT": _contract(latest),
        "NAMESPACES": ",".join(sorted({i.namespace for _, i in here})) or "<none>",
        "TAGS": ",".join(asset.tags) or "<none>",
    }
    doc = {
        "kind": "Asset",
        "groupId": asset.group_id,
        "assetId": asset.asset_id,
        "name": asset.name,
        "type": asset.type,
        "version": latest.version,
        "lifecycle": asset.lifecycle,
        "owner": asset.owner,
        "tags": list(asset.tags),
        "description": asset.description,
        "firstSeen": asset.first_seen.isoformat(),
        "lastSeen": asset.last_seen.isoformat(),
        "versions": [v.version for v in item.versions],
        "instances": [wire.instance_json(i, version=v.version) for v, i in here],
    }
    return _Row(f"asset/{asset.asset_id}", cells, doc)


def _version_row(item: catalogues.Listed, version: catalog.VersionSummary, scope: _Scope) -> _Row:
    from catalog.remote import wire

    asset = item.asset
    here = [i for i in version.instances if scope.instance(i)]
    latest = version.version == asset.latest.version
    cells = {
        "NAME": asset.asset_id,
        "VERSION": version.version,
        "CONTRACT": _contract(version),
        "OPERATIONS": str(len(version.operations)),
        "INSTANCES": str(len(here)),
        "AGE": age(version.created_at),
        "GROUP": asset.group_id,
        "LATEST": "true" if latest else "false",
        "FOUND BY": version.provenance.method or "<none>",
        "REASON": version.reason or "<none>",
    }
    doc = {
        "kind": "AssetVersion",
        "groupId": asset.group_id,
        "assetId": asset.asset_id,
        "version": version.version,
        "latest": latest,
        "createdAt": version.created_at.isoformat(),
        "reason": version.reason,
        "provenance": {"method": version.provenance.method, "detail": version.provenance.detail},
        "operations": list(version.operations),
        "files": [
            {
                "classifier": f.classifier,
                "packaging": f.packaging,
                "sha256": f.sha256,
                "size": f.size,
            }
            for f in version.files
        ],
        "instances": [wire.instance_json(i) for i in here],
        "dependencies": list(version.dependencies),
    }
    return _Row(f"version/{asset.asset_id}:{version.version}", cells, doc)


def _instance_row(
    item: catalogues.Listed, version: catalog.VersionSummary, instance: catalog.Instance
) -> _Row:
    from catalog.remote import wire

    asset = item.asset
    cells = {
        "CLUSTER": instance.cluster,
        "NAMESPACE": instance.namespace,
        "SERVICE": instance.service,
        "PORT": str(instance.port),
        "ASSET": asset.asset_id,
        "VERSION": version.version,
        "STATUS": "Stale" if instance.stale else "Serving",
        "LAST SEEN": age(instance.last_seen) if instance.last_seen else "<unknown>",
        "GROUP": asset.group_id,
        "ENVIRONMENT": instance.environment or "<none>",
        "ENDPOINT": instance.endpoint_uri,
    }
    doc = {"kind": "Instance", "groupId": asset.group_id, "assetId": asset.asset_id}
    doc |= wire.instance_json(instance, version=version.version)
    where = f"{instance.cluster}/{instance.namespace}/{instance.service}:{instance.port}"
    return _Row(f"instance/{where}", cells, doc)


def _contract(version: catalog.VersionSummary) -> str:
    """The version's description file as ``classifier/packaging``; ``none`` without one."""
    described = [f for f in version.files if f.classifier != "http"]
    return ",".join(f"{f.classifier}/{f.packaging}" for f in described) or "none"


def age(since: datetime, *, now: datetime | None = None) -> str:
    """How long ago ``since`` was, as kubectl's AGE column writes it (``45s``, ``5m3s``, ``3d``)."""
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < -1:  # kubectl lets a clock be a second ahead
        return "<invalid>"
    seconds = max(seconds, 0)
    shown, size = "s", 1
    for unit, unit_size, start, detail_below in _UNITS:
        whole = seconds // unit_size
        if whole < start:
            break
        if whole < detail_below:
            rest = (seconds % unit_size) // size
            return f"{whole}{unit}{rest}{shown}" if rest else f"{whole}{unit}"
        shown, size = unit, unit_size
    return f"{seconds // size}{shown}"


# --- selectors ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a selector: ``key``, ``!key``, ``key=value`` or ``key!=value``."""

    key: str
    #: ``exists``, ``absent``, ``=`` or ``!=``.
    op: str
    value: str = ""

    def matches(self, asset: catalog.AssetSummary) -> bool:
        values = _values(asset, self.key)
        if self.op == "exists":
            return bool(values)
        if self.op == "absent":
            return not values
        return (self.value in values) == (self.op == "=")


@dataclass(frozen=True, slots=True)
class Selector:
    """Requirements that must all hold (kubectl's comma is an AND)."""

    requirements: tuple[Requirement, ...]

    def matches(self, asset: catalog.AssetSummary) -> bool:
        return all(r.matches(asset) for r in self.requirements)


def parse_selector(text: str, *, flag: str = "-l/--selector") -> Selector:
    """A selector as kubectl writes equality and existence ones: ``a=b,c!=d,e,!f``.

    A key in :data:`FIELDS` is the asset's own field (``tag`` any one of its
    tags); any other key is a tag: ``team`` is there when the asset has the
    tag ``team`` or one ``team=...``/``team:...``, and ``team=shop`` when it
    has ``team=shop`` or ``team:shop``. kubectl's set terms (``in``,
    ``notin``) are not taken.

    Raises:
        UsageError: A term that is none of the four forms.
    """
    terms = [term.strip() for term in text.split(",")]
    if not any(terms):
        raise UsageError(f"{flag} {text!r} is empty; give key=value, key!=value, key or !key")
    found = []
    for term in terms:
        key, op, value = _term(term)
        if not key or any(c in key for c in "=!() ") or any(c in value for c in "=!()"):
            raise UsageError(
                f"{flag} {text!r}: {term!r} is not key=value, key!=value, key or !key"
                " (set terms such as 'in (...)' are not taken)"
            )
        found.append(Requirement(key, op, value))
    return Selector(tuple(found))


def _term(term: str) -> tuple[str, str, str]:
    for op, spelt in (("!=", "!="), ("=", "=="), ("=", "=")):
        if spelt in term:
            key, value = term.split(spelt, 1)
            return key.strip(), op, value.strip()
    if term.startswith("!"):
        return term[1:].strip(), "absent", ""
    return term, "exists", ""


def _values(asset: catalog.AssetSummary, key: str) -> set[str]:
    """The values ``key`` has on ``asset`` (empty: it has none)."""
    own = {
        "type": asset.type,
        "lifecycle": asset.lifecycle,
        "owner": asset.owner,
        "group": asset.group_id,
    }
    if key in own:
        value = own[key]
        return {value} if value else set()
    if key == "tag":
        return set(asset.tags)
    values = set()
    for tag in asset.tags:
        if tag == key:
            values.add("")
        for separator in ("=", ":"):
            if tag.startswith(key + separator):
                values.add(tag[len(key) + 1 :])
    return values


# --- output -----------------------------------------------------------------


def _print(
    rows: list[_Row], *, resource: str, output: str, scope: _Scope, single: str | None
) -> None:
    if output == "name":
        for row in rows:
            console.out(row.name)
        return
    if output in ("json", "yaml"):
        doc: dict[str, Any]
        if single is not None and resource == "assets" and len(rows) == 1:
            doc = rows[0].doc  # kubectl prints the one object a name names
        else:
            doc = {"kind": "List", "items": [row.doc for row in rows]}
        (console.print_json if output == "json" else console.print_yaml)(doc)
        return
    if not rows:
        where = f" in {scope.words()}" if scope.placed else ""
        sys.stderr.write(f"No {resource} found{where}.\n")  # kubectl says so on stderr too
        return
    narrow, more = _COLUMNS[resource]
    columns = list(narrow) + (list(more) if output == "wide" else [])
    if output != "wide" and len({row.cells["GROUP"] for row in rows}) > 1:
        columns.insert(0, "GROUP")  # the same asset id can be in two groups: say which
    table = [columns] + [[row.cells[c] for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        console.out("   ".join(padded).rstrip())
