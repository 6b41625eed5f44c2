"""Alembic migrations of the catalogue schema.

Applied by :func:`catalog.storage.migrate.upgrade` only.
"""
