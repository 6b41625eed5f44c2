"""A catalogue already at the newest schema opens without Alembic; any other is migrated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

import catalog
from catalog.storage import migrate

ROOT = Path(__file__).resolve().parent.parent
# Opens the catalogue named by argv[1], then prints the Alembic modules it imported.
OPEN_AND_LIST_ALEMBIC = (
    "import sys, catalog; catalog.open_store(sys.argv[1]).close(); "
    "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
)


def _open_in_a_fresh_process(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_LIST_ALEMBIC, url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_catalogue_at_head_opens_without_importing_alembic(catalog_url: str) -> None:
    catalog.open_store(catalog_url).close()
    assert _open_in_a_fresh_process(catalog_url) == "[]"
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        assert migrate.current_revision(engine) == migrate.HEAD
    finally:
        engine.dispose()


def test_a_catalogue_behind_head_is_still_migrated(catalog_url: str) -> None:
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision=migrate.BASE)
        assert _open_in_a_fresh_process(catalog_url) != "[]"
        assert migrate.current_revision(engine) == migrate.HEAD
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT * FROM {migrate.VERSION_TABLE}")).all()
        assert len(rows) == 1
    finally:
        engine.dispose()


def test_an_empty_version_table_is_left_to_alembic(catalog_url: str) -> None:
    # Tables present, no revision recorded: stamped as the first release and upgraded.
    engine = catalog.create_catalog_engine(catalog_url)
    try:
        migrate.upgrade(engine, revision=migrate.BASE)
        with engine.begin() as connection:
            connection.execute(text(f"DELETE FROM {migrate.VERSION_TABLE}"))
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.HEAD
    finally:
        engine.dispose()
