"""Names that Backstage and file systems accept, derived from catalogue ids."""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["backstage_name", "backstage_tag", "file_stem"]

#: Backstage's rule for ``metadata.name`` (and the name part of a reference).
NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$")
_NAME_MAX: Final = 63
_TAG_MAX: Final = 63


def backstage_name(text: str) -> str:
    """A legal Backstage entity name for ``text``.

    Runs of anything but letters and digits become one dash, the ends are
    trimmed, and a name longer than 63 characters is cut and given a short
    hash of the whole so two long names stay distinct.
    """
    name = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-") or "unnamed"
    if len(name) > _NAME_MAX:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: _NAME_MAX - 9].rstrip('-')}-{digest}"
    return name


def backstage_tag(text: str) -> str | None:
    """A legal Backstage tag (lowercase ``[a-z0-9:+#]`` words joined by ``-``), or None."""
    tag = re.sub(r"[^a-z0-9:+#]+", "-", text.lower()).strip("-")[:_TAG_MAX].rstrip("-")
    return tag or None


def file_stem(text: str) -> str:
    """``text`` made safe as one path segment (catalogue ids already are; be sure)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return stem or "unnamed"
