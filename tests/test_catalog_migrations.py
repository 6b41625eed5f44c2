"""Schema migrations: from the first release's schema to head, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import catalog
from catalog.storage import migrate
from catalog.storage.schema import metadata

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _insert_first_release_rows(url: str) -> None:
    engine = catalog.create_catalog_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO catalog_assets (id, group_id, asset_id, name, type, lifecycle,"
                    " first_seen, last_seen) VALUES (1, 'acme', 'orders', 'Orders', 'rest-api',"
                    " 'stable', :t, :t)"
                ),
                {"t": T0.replace(tzinfo=None) if url.startswith("sqlite") else T0},
            )
            connection.execute(
                text(
                    "INSERT INTO catalog_versions (id, asset_pk, version, content_key, type,"
                    " created_at, reason, provenance_method, provenance_detail)"
                    " VALUES (1, 1, '1.0.0', :key, 'rest-api', :t, 'first version', 'probe', '')"
                ),
                {"key": "0" * 64, "t": T0.replace(tzinfo=None) if url.startswith("sqlite") else T0},
            )
    finally:
        engine.dispose()


def test_head_names_the_newest_script() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.SCRIPTS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == migrate.HEAD
    assert scripts.get_base() == migrate.BASE


def test_a_database_at_the_first_revision_is_upgraded_and_keeps_its_data(
    catalog_url: str,
) -> None:
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision=migrate.BASE)
        assert migrate.current_revision(engine) == migrate.BASE
        assert not inspect(engine).has_table("catalog_runs")
    finally:
        engine.dispose()
    _insert_first_release_rows(catalog_url)

    with catalog.open_store(catalog_url) as store:
        assert migrate.current_revision(store.engine) == migrate.HEAD
        asset = store.get("acme", "orders")
        assert (asset.lifecycle, [v.version for v in asset.versions]) == ("stable", ["1.0.0"])
        with store.engine.connect() as connection:
            missed = connection.execute(text("SELECT missed_runs FROM catalog_assets")).scalar()
        assert missed == 0


def test_a_first_release_database_without_version_table_is_stamped_then_upgraded(
    catalog_url: str,
) -> None:
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision=migrate.BASE)
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {migrate.VERSION_TABLE}"))
        assert migrate.current_revision(engine) is None
    finally:
        engine.dispose()
    _insert_first_release_rows(catalog_url)

    with catalog.open_store(catalog_url) as store:
        assert migrate.current_revision(store.engine) == migrate.HEAD
        assert [a.asset_id for a in store.list_assets()] == ["orders"]


def test_migrated_schema_matches_the_models(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": migrate.VERSION_TABLE, "include_object": migrate.modelled},
        )
        assert compare_metadata(context, metadata) == []


def test_opening_twice_is_a_no_op(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as first:
        first_tables = sorted(inspect(first.engine).get_table_names())
    with catalog.open_store(catalog_url) as again:
        assert sorted(inspect(again.engine).get_table_names()) == first_tables
        assert migrate.current_revision(again.engine) == migrate.HEAD
    assert "catalog_alembic_version" in first_tables


def test_downgrades_run_back_to_an_empty_database(catalog_url: str) -> None:
    # Downgrades exist for operators rolling a release back; they must run.
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(migrate.SCRIPTS))
            config.attributes["connection"] = connection
            command.downgrade(config, migrate.BASE)
            assert not inspect(connection).has_table("catalog_runs")
            command.downgrade(config, "base")
        assert migrate.current_revision(engine) is None
        assert not inspect(engine).has_table("catalog_assets")
    finally:
        engine.dispose()


def test_revision_0008_adds_the_run_graphs_and_its_downgrade_drops_them(catalog_url: str) -> None:
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision="0007")
        assert not inspect(engine).has_table("catalog_run_graphs")
        migrate.upgrade(engine, revision="0008")
        columns = {c["name"] for c in inspect(engine).get_columns("catalog_run_graphs")}
        assert {"cluster", "taken_at", "window", "run_id", "digest", "body"} <= columns
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(migrate.SCRIPTS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0007")
            assert not inspect(connection).has_table("catalog_run_graphs")
            assert inspect(connection).has_table("catalog_instances")
    finally:
        engine.dispose()


def test_concurrent_openers_of_a_new_catalogue_migrate_it_once(catalog_url: str) -> None:
    count = 6
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            catalog.open_store(catalog_url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        assert migrate.current_revision(engine) == migrate.HEAD
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT * FROM {migrate.VERSION_TABLE}")).all()
        assert len(rows) == 1
    finally:
        engine.dispose()
