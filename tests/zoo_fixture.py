"""The framework zoo as a session fixture; import it where it is used.

::

    from tests.zoo_fixture import zoo  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.zoo import Zoo
from tests.conftest import mesh_octet


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    """Every zoo app running on ``127.<octet>.x.y``; ``zoo.truth`` is what each serves."""
    with Zoo(mesh_octet(offset=7), tmp_path_factory.mktemp("zoo")) as running:
        yield running
