"""The raw descriptions: one file per asset version, byte for byte as catalogued."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

from catalog.exports.names import file_stem
from catalog.model import Asset

__all__ = ["SpecFormat", "write"]

SpecFormat = Literal["openapi", "wsdl"]
_CLASSIFIER: Final = {"openapi": "oas", "wsdl": "wsdl"}


def write(assets: Sequence[Asset], out: Path, *, spec_format: SpecFormat) -> list[Path]:
    """Write every version's ``openapi`` (classifier ``oas``) or ``wsdl`` file.

    Files are named ``<group>/<asset>/<version>.<packaging>``; a version
    without such a file writes nothing.

    Returns:
        The files written, in catalogue order.
    """
    classifier = _CLASSIFIER[spec_format]
    written: list[Path] = []
    for asset in assets:
        for version in asset.versions:
            for file in version.files:
                if file.classifier != classifier:
                    continue
                folder = out / file_stem(asset.group_id) / file_stem(asset.asset_id)
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{file_stem(version.version)}.{file.packaging}"
                path.write_bytes(file.content)
                written.append(path)
                break  # one file per version: the first, as the catalogue's main file
    return written
