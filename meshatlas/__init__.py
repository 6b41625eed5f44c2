"""meshatlas: the composition root (CLI, pipeline) over discovery, graph and catalog."""

from __future__ import annotations

from meshatlas.version import VERSION

__version__ = VERSION
__all__ = ["__version__"]
