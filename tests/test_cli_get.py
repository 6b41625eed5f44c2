"""``meshatlas get``: the catalogue from the terminal, run as a user runs it.

A SQLite catalogue is published through the store API with drafts this file
writes (the source of truth for every expected row): two assets of group
``acme`` in clusters ``east`` and ``west``, one of them with two versions and
an instance that a recorded run made stale, and a deprecated third. The
real ``meshatlas`` console script reads it in a child process, from the file
and from a real ``meshatlas serve`` of a copy on loopback; neither read
creates, migrates or writes a byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.exc import InternalError, OperationalError

import catalog
from catalog import AssetDraft, AssetFile, Instance, Provenance
from catalog.model import RunCoverage
from fixtures.mesh import load_manifests
from meshatlas.commands.get import age
from tests import serving
from tests.test_cli_trust import _bash_complete, _one_error, meshatlas

GROUP = "acme"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def _spec(version: str, paths: list[str]) -> bytes:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": version},
        "paths": {p: {"get": {"responses": {"200": {"description": "ok"}}}} for p in paths},
    }
    return json.dumps(document).encode()


def _instance(cluster: str, namespace: str, service: str, port: int) -> Instance:
    return Instance(
        cluster=cluster,
        namespace=namespace,
        service=service,
        port=port,
        endpoint_uri=f"http://{service}.{namespace}.svc:{port}",
    )


def _orders(version: str, paths: list[str], where: Instance) -> AssetDraft:
    return AssetDraft(
        group_id=GROUP,
        asset_id="shop-orders",
        name="orders",
        type="rest-api",
        description="Orders of the shop",
        spec_version_hint=version,
        files=(AssetFile(classifier="oas", packaging="json", content=_spec(version, paths)),),
        operations=tuple(f"GET {p}" for p in paths),
        tags=("orders", "team:shop"),
        owner="team-orders",
        lifecycle=None,
        instance=where,
        dependencies=(),
        provenance=Provenance(method="probe", detail="GET /openapi.json"),
    )


def _plain(asset_id: str, kind: catalog.AssetType, where: Instance) -> AssetDraft:
    return AssetDraft(
        group_id=GROUP,
        asset_id=asset_id,
        name=asset_id,
        type=kind,
        description=None,
        spec_version_hint=None,
        files=(),
        operations=(),
        tags=("team:billing",),
        owner=None,
        lifecycle=None,
        instance=where,
        dependencies=(),
        provenance=Provenance(method="probe", detail="JSON answers"),
    )


#: What was published, and where each instance is once the run is recorded.
OLD = _instance("east", "shop", "orders", 8080)  # 1.0.0; stale after the run
MOVED = _instance("east", "shop", "orders-v2", 8080)  # 1.1.0
WEST = _instance("west", "shop", "orders", 8080)  # 1.1.0
LEDGER = _instance("east", "billing", "ledger", 8080)
LEGACY = _instance("east", "billing", "legacy", 80)


def _publish(url: str) -> None:
    """shop-orders 1.0.0 then 1.1.0, billing-ledger, billing-legacy (deprecated), and a run."""
    with catalog.open_store(url) as store:
        store.publish(_orders("1.0.0", ["/orders"], OLD), seen_at=T0)
        store.publish(_plain("billing-legacy", "soap-api", LEGACY), seen_at=T0)
        store.set_lifecycle(GROUP, "billing-legacy", status="deprecated")
        # The next run: orders moved to orders-v2 (a new version), and runs in west too.
        store.publish(_orders("1.1.0", ["/orders", "/orders/{id}"], MOVED), seen_at=T1)
        store.publish(_orders("1.1.0", ["/orders", "/orders/{id}"], WEST), seen_at=T1)
        store.publish(_plain("billing-ledger", "http-api", LEDGER), seen_at=T1)
        summary = store.record_run(
            group_id=GROUP,
            seen=["shop-orders", "billing-ledger"],
            started_at=T1,
            finished_at=T1 + timedelta(minutes=1),
            clusters=["east"],
            namespaces=["shop"],
            coverage=RunCoverage(answered=frozenset({("east", "shop", "orders-v2")})),
            stale_after=1,
        )
    # The run listed east/shop completely and orders was gone: its instance is stale.
    assert [(r.cluster, r.service) for r in summary.stale] == [("east", "orders")]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue file :func:`_publish` fills."""
    db = tmp_path_factory.mktemp("get") / "catalog.db"
    _publish(f"sqlite:///{db}")
    return db


def _get(*args: str, db: Path | str, cwd: Path) -> Any:
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return meshatlas("get", *args, "--catalog", url, cwd=cwd)


def _table(stdout: str) -> list[list[str]]:
    """Rows of a kubectl-style table, cells split on runs of 3+ spaces."""
    return [re.split(r" {3,}", line.strip()) for line in stdout.splitlines()]


def _json(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""
    return json.loads(proc.stdout)


# --- what is listed -----------------------------------------------------------


def test_assets_table_has_kubectls_columns_and_leaves_out_the_deprecated(
    published: Path, tmp_path: Path
) -> None:
    proc = _get("assets", db=published, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    assert rows[0] == ["NAME", "TYPE", "VERSION", "LIFECYCLE", "INSTANCES", "AGE"]
    # Stale instances are not counted: orders serves from orders-v2 (east) and west.
    assert [r[:5] for r in rows[1:]] == [
        ["billing-ledger", "http-api", "1.0.0", "development", "1"],
        ["shop-orders", "rest-api", "1.1.0", "development", "2"],
    ]
    # AGE as kubectl writes it (its exact form is test_age_is_written_as_kubectl_writes_it).
    assert all(re.fullmatch(r"\d+[smhdy](\d+[smhd])?", r[5]) for r in rows[1:]), rows
    every = _table(_get("assets", "--all", db=published, cwd=tmp_path).stdout)
    assert [(r[0], r[3], r[4]) for r in every[1:]] == [
        ("billing-ledger", "development", "1"),
        ("billing-legacy", "deprecated", "1"),
        ("shop-orders", "development", "3"),
    ]
    apis = _get("apis", "--all", db=published, cwd=tmp_path)
    assert _table(apis.stdout) == every  # apis is assets by another name


def test_namespace_cluster_and_selector_narrow_the_assets(published: Path, tmp_path: Path) -> None:
    def names(*args: str) -> list[str]:
        proc = _get("assets", *args, "-o", "name", db=published, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    assert names("-n", "shop") == ["asset/shop-orders"]
    assert names("--namespace", "billing,shop") == ["asset/billing-ledger", "asset/shop-orders"]
    assert names("--cluster", "west") == ["asset/shop-orders"]
    assert names("--cluster", "west", "-n", "billing") == []
    # Tags as key:value answer key=value; a bare key is "has that tag".
    assert names("-l", "team=shop") == ["asset/shop-orders"]
    assert names("-l", "team") == ["asset/billing-ledger", "asset/shop-orders"]
    assert names("-l", "!orders") == ["asset/billing-ledger"]
    assert names("-l", "team!=shop,type=http-api") == ["asset/billing-ledger"]
    assert names("-l", "owner=team-orders") == ["asset/shop-orders"]
    assert names("-l", "lifecycle=deprecated", "--all") == ["asset/billing-legacy"]
    assert names("-l", "tag=orders") == ["asset/shop-orders"]


def test_nothing_found_is_said_on_stderr_like_kubectl(published: Path, tmp_path: Path) -> None:
    proc = _get("assets", "-n", "nosuchns", db=published, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr.strip() == "No assets found in namespace nosuchns."


def test_versions_of_an_asset_say_their_contract_and_instances(
    published: Path, tmp_path: Path
) -> None:
    proc = _get("versions", "shop-orders", db=published, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    assert rows[0] == ["NAME", "VERSION", "CONTRACT", "OPERATIONS", "INSTANCES", "AGE"]
    assert [r[:5] for r in rows[1:]] == [
        ["shop-orders", "1.0.0", "oas/json", "1", "0"],  # its one instance is stale
        ["shop-orders", "1.1.0", "oas/json", "2", "2"],
    ]
    wide = _table(
        _get("versions", "shop-orders", "-o", "wide", "--all", db=published, cwd=tmp_path).stdout
    )
    assert wide[0][6:9] == ["GROUP", "LATEST", "FOUND BY"]
    assert [(r[1], r[4], r[7]) for r in wide[1:]] == [
        ("1.0.0", "1", "false"),
        ("1.1.0", "2", "true"),
    ]
    documents = _json(_get("versions", "shop-orders", "-o", "json", db=published, cwd=tmp_path))
    assert documents["kind"] == "List"
    newest = documents["items"][-1]
    assert newest["operations"] == ["GET /orders", "GET /orders/{id}"]
    (spec,) = newest["files"]
    content = _spec("1.1.0", ["/orders", "/orders/{id}"])
    assert (spec["classifier"], spec["packaging"], spec["size"]) == ("oas", "json", len(content))


def test_instances_are_where_each_version_runs(published: Path, tmp_path: Path) -> None:
    proc = _get("instances", db=published, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    assert rows[0] == [
        "CLUSTER", "NAMESPACE", "SERVICE", "PORT", "ASSET", "VERSION", "STATUS", "LAST SEEN"
    ]  # fmt: skip
    assert [r[:7] for r in rows[1:]] == [
        ["east", "billing", "ledger", "8080", "billing-ledger", "1.0.0", "Serving"],
        ["east", "shop", "orders-v2", "8080", "shop-orders", "1.1.0", "Serving"],
        ["west", "shop", "orders", "8080", "shop-orders", "1.1.0", "Serving"],
    ]
    every = _json(_get("instances", "--all", "-o", "json", db=published, cwd=tmp_path))
    found = {
        (i["cluster"], i["namespace"], i["service"], i["port"]): (i["version"], i["stale"])
        for i in every["items"]
    }
    assert found == {
        ("east", "billing", "ledger", 8080): ("1.0.0", False),
        ("east", "billing", "legacy", 80): ("1.0.0", False),
        ("east", "shop", "orders", 8080): ("1.0.0", True),
        ("east", "shop", "orders-v2", 8080): ("1.1.0", False),
        ("west", "shop", "orders", 8080): ("1.1.0", False),
    }
    names = _get(
        "instances", "-n", "shop", "--cluster", "west", "-o", "name", db=published, cwd=tmp_path
    )
    assert names.stdout.splitlines() == ["instance/west/shop/orders:8080"]


def test_one_asset_by_name_as_json_and_yaml(published: Path, tmp_path: Path) -> None:
    doc = _json(_get("assets", "shop-orders", "-o", "json", db=published, cwd=tmp_path))
    assert {k: doc[k] for k in ("kind", "groupId", "assetId", "name", "type", "version")} == {
        "kind": "Asset",
        "groupId": GROUP,
        "assetId": "shop-orders",
        "name": "orders",
        "type": "rest-api",
        "version": "1.1.0",
    }
    assert (doc["owner"], doc["tags"], doc["description"]) == (
        "team-orders",
        ["orders", "team:shop"],
        "Orders of the shop",
    )
    assert doc["versions"] == ["1.0.0", "1.1.0"]
    assert datetime.fromisoformat(doc["firstSeen"]) == T0
    assert sorted((i["cluster"], i["service"]) for i in doc["instances"]) == [
        ("east", "orders-v2"),
        ("west", "orders"),
    ]
    as_yaml = _get("assets", "shop-orders", "-o", "yaml", db=published, cwd=tmp_path)
    assert yaml.safe_load(as_yaml.stdout) == doc
    # A deprecated asset named is shown, as kubectl shows what it is asked for.
    legacy = _json(_get("assets", "billing-legacy", "-o", "json", db=published, cwd=tmp_path))
    assert legacy["lifecycle"] == "deprecated"


# --- refusals -------------------------------------------------------------------


def test_an_unknown_name_is_not_found_exit_1_with_the_one_meant(
    published: Path, tmp_path: Path
) -> None:
    proc = _get("assets", "shop-order", db=published, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert _one_error(proc) == 'error: asset "shop-order" not found; did you mean shop-orders?'
    elsewhere = _get("versions", "shop-orders", "-n", "billing", db=published, cwd=tmp_path)
    assert elsewhere.returncode == 1
    assert _one_error(elsewhere) == 'error: asset "shop-orders" not found in namespace billing'


def test_a_missing_catalogue_is_one_line_exit_2_and_never_created(tmp_path: Path) -> None:
    proc = _get("assets", db="sqlite:///typo.db", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert _one_error(proc).startswith(
        "error: --catalog sqlite:///typo.db: no catalogue at typo.db"
    )
    by_env = meshatlas("get", "assets", cwd=tmp_path, env={"MESHATLAS_CATALOG": "sqlite:///x.db"})
    assert by_env.returncode == 2
    assert _one_error(by_env).startswith("error: $MESHATLAS_CATALOG sqlite:///x.db: no catalogue")
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    "selector",
    ["env in (a,b)", "a=b=c", "", "!", "=x"],
    ids=["set", "two-equals", "empty", "bang", "no-key"],
)
def test_a_selector_that_does_not_parse_is_one_line_exit_2(
    selector: str, published: Path, tmp_path: Path
) -> None:
    proc = _get("assets", "-l", selector, db=published, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert _one_error(proc).startswith(f"error: -l/--selector {selector!r}")


def test_a_database_that_fails_while_read_is_one_line_exit_1(
    published: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.db"
    shutil.copy(published, broken)
    with sqlite3.connect(broken) as connection:
        connection.execute("DROP TABLE catalog_tags")  # at the schema's revision, one table gone
    connection.close()
    proc = _get("assets", db=broken, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    line = _one_error(proc)
    assert line.startswith(f"error: --catalog sqlite:///{broken}: the catalogue cannot be read:")
    assert "no such table: catalog_tags" in line


# --- read-only --------------------------------------------------------------------


def test_reading_writes_not_a_byte_of_the_catalogue(published: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(published, copy)
    os.utime(copy, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = (copy.read_bytes(), copy.stat().st_mtime_ns)
    for args in (
        ("get", "assets", "--all"),
        ("get", "instances", "-o", "json"),
        ("export", "openapi", "--out", "out"),
        ("graph", "-o", "json"),
    ):
        proc = meshatlas(*args, "--catalog", f"sqlite:///{copy}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert (copy.read_bytes(), copy.stat().st_mtime_ns) == before, args
    # The export wrote what was published (its draft's file), from the unchanged catalogue.
    (written,) = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and "1.1.0" in p.name]
    assert json.loads(written.read_bytes()) == json.loads(
        _spec("1.1.0", ["/orders", "/orders/{id}"])
    )


def test_a_rollback_journal_catalogue_is_not_switched_to_wal(
    published: Path, tmp_path: Path
) -> None:
    # Opening for writing would turn the file to WAL (a write to its header).
    copy = tmp_path / "journal.db"
    shutil.copy(published, copy)
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    connection.close()
    before = copy.read_bytes()
    proc = _get("assets", db=copy, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert copy.read_bytes() == before
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    connection.close()


def test_a_read_only_engine_creates_no_file_and_takes_no_write(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    engine = catalog.create_catalog_engine(f"sqlite:///{missing}", read_only=True)
    with pytest.raises(OperationalError, match="unable to open database file"):
        engine.connect().close()
    engine.dispose()
    assert not missing.exists()
    made = tmp_path / "made.db"
    _publish(f"sqlite:///{made}")
    engine = catalog.create_catalog_engine(f"sqlite:///{made}", read_only=True)
    with pytest.raises(OperationalError, match="readonly|read-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM catalog_assets"))
    engine.dispose()


def test_postgresql_is_read_in_read_only_sessions_and_lists_the_same(
    postgres_server: Any, published: Path, tmp_path: Path
) -> None:
    url = postgres_server.new_database()
    _publish(url)
    for args in (("assets", "--all"), ("versions", "--all"), ("instances", "--all")):
        from_pg = _json(_get(*args, "-o", "json", db=url, cwd=tmp_path))
        assert from_pg == _json(_get(*args, "-o", "json", db=published, cwd=tmp_path))
    engine = catalog.create_catalog_engine(url, read_only=True)
    with pytest.raises(InternalError, match="read-only transaction"), engine.begin() as connection:
        connection.execute(text("DELETE FROM catalog_assets"))
    engine.dispose()


# --- a meshatlas serve ------------------------------------------------------------


@pytest.fixture(scope="module")
def served(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("get-served")
    copy = workdir / "served.db"
    shutil.copy(published, copy)
    with serving.serve_process(f"sqlite:///{copy}", workdir, token="get-test-token") as url:
        yield url


@pytest.mark.parametrize(
    "args",
    [
        ("assets", "--all"),
        ("versions", "--all"),
        ("instances", "--all"),
        ("assets", "shop-orders"),
        ("instances", "-n", "shop", "-l", "team=shop"),
    ],
    ids=["assets", "versions", "instances", "named", "narrowed"],
)
def test_a_serve_url_lists_what_the_database_does(
    args: tuple[str, ...], served: str, published: Path, tmp_path: Path
) -> None:
    remote = _json(_get(*args, "-o", "json", db=served, cwd=tmp_path))
    local = _json(_get(*args, "-o", "json", db=published, cwd=tmp_path))
    assert remote == local
    assert remote.get("items", [remote])  # something was listed
    table = _get(*args, db=served, cwd=tmp_path)
    assert table.stdout == _get(*args, db=published, cwd=tmp_path).stdout
    by_env = meshatlas("get", *args, "-o", "json", cwd=tmp_path, env={"MESHATLAS_CATALOG": served})
    assert _json(by_env) == local


def test_a_name_the_server_does_not_hold_is_not_found(served: str, tmp_path: Path) -> None:
    proc = _get("versions", "shop-ordrs", db=served, cwd=tmp_path)
    assert proc.returncode == 1
    assert _one_error(proc) == 'error: asset "shop-ordrs" not found; did you mean shop-orders?'


# --- the demo ---------------------------------------------------------------------

_TYPES = {"rest": "rest-api", "soap": "soap-api", "http": "http-api", "grpc": "grpc-api"}
_TYPES |= {"graphql": "graphql-api", "asyncapi": "async-api"}


def test_the_demo_discover_is_listed_one_instance_per_api(
    demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    # The demo mesh's table (DESIGN.md; tests/test_discover_demo.py holds it as data).
    from tests.test_discover_demo import EXPECTED

    # Services the demo's manifests annotate deprecated are left out without --all.
    deprecated = {
        (doc["metadata"]["namespace"], doc["metadata"]["name"])
        for doc in load_manifests("demo")
        if doc.get("kind") == "Service"
        and (doc["metadata"].get("annotations") or {}).get("meshatlas.io/lifecycle") == "deprecated"
    }
    assert deprecated == {("billing", "legacy-soap")}
    url = demo_catalog["url"]
    listed = _json(_get("instances", "-o", "json", db=url, cwd=tmp_path))
    found = {(i["namespace"], i["service"]): i for i in listed["items"]}
    assert set(found) == set(EXPECTED) - deprecated
    every = _json(_get("instances", "--all", "-o", "json", db=url, cwd=tmp_path))
    assert {(i["namespace"], i["service"]) for i in every["items"]} == set(EXPECTED)
    assert {i["cluster"] for i in every["items"]} == {"demo"}
    assets = _json(_get("assets", "-A", "-o", "json", db=url, cwd=tmp_path))
    types = {a["assetId"]: a["type"] for a in assets["items"]}
    assert types == {f"{ns}-{name}": _TYPES[kind] for (ns, name), (kind, _, _) in EXPECTED.items()}
    shop = _get("assets", "-n", "shop", "-o", "name", db=demo_catalog["url"], cwd=tmp_path)
    assert shop.stdout.splitlines() == sorted(
        f"asset/shop-{name}" for ns, name in EXPECTED if ns == "shop"
    )


def test_bash_completes_what_get_lists_and_its_outputs(tmp_path: Path) -> None:
    script = tmp_path / "meshatlas.bash"
    script.write_text(meshatlas("completion", "bash", cwd=tmp_path).stdout)
    assert _bash_complete(script, ["meshatlas", "ge"]) == ["get"]
    assert set(_bash_complete(script, ["meshatlas", "get", ""])) == {
        "assets",
        "apis",
        "versions",
        "instances",
    }
    assert set(_bash_complete(script, ["meshatlas", "get", "assets", "-o", ""])) == {
        "table",
        "wide",
        "json",
        "yaml",
        "name",
    }


# --- AGE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        # kubectl's HumanDuration (k8s.io/apimachinery pkg/util/duration): seconds
        # below 2m, then minutes and seconds below 10m, minutes below 3h, hours and
        # minutes below 8h, hours below 2d, days and hours below 8d, days below 2y.
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (183, "3m3s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (48 * 3600 - 1, "47h"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (730 * 86400 - 1, "729d"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 + 86400, "8y"),
        (-5, "<invalid>"),
    ],
)
def test_age_is_written_as_kubectl_writes_it(seconds: int, shown: str) -> None:
    assert age(T0 - timedelta(seconds=seconds), now=T0) == shown
