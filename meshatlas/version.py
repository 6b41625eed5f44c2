"""The installed distribution's version."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("meshatlas")
except metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0+source"
