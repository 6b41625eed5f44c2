"""The installed distribution's version.

Read from the ``Version:`` line of meshatlas's own ``*.dist-info/METADATA``
on ``sys.path``, as ``importlib.metadata`` finds it: importing
``importlib.metadata`` (and the ``email`` package it parses with) would cost
``meshatlas --version`` more than everything else it does. Anything unusual
(no dist-info, an egg) is left to ``importlib.metadata``.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["VERSION"]


def _from_dist_info() -> str | None:
    for entry in sys.path:
        try:
            found = sorted(Path(entry or ".").glob("meshatlas-*.dist-info"))
        except OSError:
            continue
        for info in found:
            try:
                with (info / "METADATA").open(encoding="utf-8") as metadata:
                    for line in metadata:
                        if line.startswith("Version:"):
                            return line.partition(":")[2].strip()
                        if not line.strip():  # the headers end at the first blank line
                            break
            except OSError:
                continue
    return None


def _version() -> str:
    found = _from_dist_info()
    if found:
        return found
    from importlib import metadata

    try:
        return metadata.version("meshatlas")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


VERSION = _version()
