"""Errors of the composition root (CLI, configuration, pipeline).

::

    MeshatlasError
     ├── UsageError       bad flags or configuration: fix the command (exit 2)
     └── SourceError      a source the whole run needs did not answer: no API
                          server, no catalogue server (exit 1; a retry may do)

Errors of the other packages (``DiscoveryError``, ``CatalogError``,
``GraphError``) reach :func:`meshatlas.cli.main`, which maps them to exit codes.
"""

from __future__ import annotations


class MeshatlasError(Exception):
    """Root of the composition root's errors."""


class UsageError(MeshatlasError):
    """The command line or configuration is wrong; the message says how."""


class SourceError(MeshatlasError):
    """A source the whole run depends on did not answer; nothing was probed or published."""
