"""What meshatlas knows of web frameworks, and how it chooses where to look.

- :mod:`~discovery.frameworks.table`: the frameworks as data: their signs and
  their description locations; the wide net for servers nobody recognises.
- :mod:`~discovery.frameworks.pointers`: links an answer gives towards a
  description (docs pages, ``Link`` headers, listings), kept to the Service's
  own address.
- :mod:`~discovery.frameworks.engine`: the per-port :class:`Plan` that orders
  the candidates as answers come in.
"""

import hashlib

from discovery.frameworks.engine import Candidate, Plan
from discovery.frameworks.pointers import Origin, Pointer, Reading, read
from discovery.frameworks.table import (
    FRAMEWORKS,
    WIDE_NET,
    WSDL_QUERIES,
    Framework,
    Location,
    Sign,
)

#: What the search knew, in a few characters: a port found without a
#: description is searched again once this changes (a framework added, a
#: location moved), not only with ``--cold``.
KNOWLEDGE = hashlib.sha256(repr((FRAMEWORKS, WIDE_NET, WSDL_QUERIES)).encode()).hexdigest()[:12]

__all__ = [
    "FRAMEWORKS",
    "KNOWLEDGE",
    "WIDE_NET",
    "WSDL_QUERIES",
    "Candidate",
    "Framework",
    "Location",
    "Origin",
    "Plan",
    "Pointer",
    "Reading",
    "Sign",
    "read",
]
