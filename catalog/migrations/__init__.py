"""Alembic migrations of the catalogue schema; applied by :func:`catalog.migrate.upgrade`."""
