"""The portal: pages for people over the catalogue, served live or written as files.

``Site(assets).page(path)`` renders one page; :func:`write` copies every page
into a folder for any static web server; :mod:`catalog.server` serves them
under ``/portal/`` through :class:`LiveSite`, which reads only what each page
shows. Pages link relatively, so both behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from catalog.model import Asset
from catalog.portal.live import LiveSite
from catalog.portal.pages import CSP, Page, Site

__all__ = ["CSP", "LiveSite", "Page", "Site", "write"]


def write(assets: Sequence[Asset], out: Path) -> list[Path]:
    """Write the whole portal under ``out``; returns the files written."""
    written = []
    for page in Site(assets, static=True).pages():
        path = out / page.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(page.content)
        written.append(path)
    return written
