"""Reading what a Service answered, outside the description parser.

Everything a Service sends is hostile until proven otherwise. JSON read to
fingerprint a server, to follow a docs page or to recognise a GraphQL answer
goes through :func:`load_json`, which is bounded in size and never lets a
deeply nested document escape as a ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import Final

#: JSON read outside :mod:`discovery.specs` is small by nature (error pages,
#: listings, GraphQL answers); larger bodies are not read as JSON here.
MAX_JSON_BYTES: Final = 1024 * 1024


def load_json(body: bytes, *, max_bytes: int = MAX_JSON_BYTES) -> object | None:
    """The JSON value of ``body``, or ``None`` when it is not (small, sane) JSON."""
    if len(body) > max_bytes:
        return None
    head = body[:64].lstrip()
    if head[:1] not in (b"{", b"["):
        return None
    try:
        value: object = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting past the interpreter's limit
        return None
    return value
