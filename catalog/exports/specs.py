"""The raw contracts: each asset version's file(s), byte for byte as catalogued.

``openapi`` and ``wsdl`` descriptions, ``graphql`` schemas (SDL), ``proto``
(a gRPC API's FileDescriptorSet and its ``.proto`` text) and ``asyncapi``
documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

from catalog.exports.names import file_stem
from catalog.model import Asset

__all__ = ["FORMATS", "SpecFormat", "write"]

SpecFormat = Literal["openapi", "wsdl", "graphql", "proto", "asyncapi"]
#: Each export's classifier, and whether every file of it is written (a gRPC
#: version keeps two: the descriptor set and its ``.proto`` text) or the first.
_CLASSIFIER: Final[dict[str, tuple[str, bool]]] = {
    "openapi": ("oas", False),
    "wsdl": ("wsdl", False),
    "graphql": ("graphql", False),
    "proto": ("grpc", True),
    "asyncapi": ("asyncapi", False),
}
#: The export targets, in the order the CLI lists them.
FORMATS: Final = tuple(_CLASSIFIER)


def write(assets: Sequence[Asset], out: Path, *, spec_format: SpecFormat) -> list[Path]:
    """Write every version's file(s) of ``spec_format``'s classifier.

    Files are named ``<group>/<asset>/<version>.<packaging>`` (``.protobuf``
    and ``.proto`` for gRPC, ``.graphql``, ``.json``/``.yaml``...); a version
    without such a file writes nothing.

    Returns:
        The files written, in catalogue order.
    """
    classifier, every = _CLASSIFIER[spec_format]
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
                if not every:
                    break  # one file per version: the first, as the catalogue's main file
    return written
