"""Errors of the composition root (CLI, configuration, pipeline).

::

    MeshatlasError
     └── UsageError       bad flags or configuration (exit 2)

Errors of the other packages (``DiscoveryError``, ``CatalogError``,
``GraphError``) reach :func:`meshatlas.cli.main`, which maps them to exit codes.
"""

from __future__ import annotations


class MeshatlasError(Exception):
    """Root of the composition root's errors."""


class UsageError(MeshatlasError):
    """The command line or configuration is wrong; the message says how."""
