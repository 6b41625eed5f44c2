"""Revisions of the catalogue schema, oldest first by ``down_revision``."""
