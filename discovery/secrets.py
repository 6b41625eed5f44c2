"""Whether a value read from a cluster looks like a secret, by word or by shape.

Annotation and label values are kept in the catalogue, the report and the
exports; some carry tokens. A value is refused when it names a secret
(``token``, ``password``…) or has a secret's shape: an AWS access key id, a
JWT, a URL with a password in it, a PEM block, a well-known token prefix
(GitHub, Slack, Stripe, Google), or a long high-entropy run of characters.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

__all__ = ["looks_secret", "mask_credentials"]

_WORDS: Final = re.compile(
    r"(token|secret|password|passwd|credential|apikey|api-key|api_key|bearer|private.key)", re.I
)
_SHAPES: Final = re.compile(
    "|".join(
        (
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
            r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",  # URL with a password
            r"-----BEGIN [A-Z0-9 ]+-----",  # PEM
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API key
        )
    )
)
_RUN: Final = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
#: Bits per character above which a long run reads as random (English text
#: and identifiers stay well below; base64 of random bytes is near 6).
_ENTROPY: Final = 4.2


_USERINFO: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s:@]*):([^/\s@]+)@")


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL in it masked: ``scheme://user:***@host``."""
    return _USERINFO.sub(lambda m: f"{m[1]}{m[2]}:***@", text)


def looks_secret(value: str) -> bool:
    """True when ``value`` names or looks like a secret."""
    if _WORDS.search(value) or _SHAPES.search(value):
        return True
    return any(_random(run) for run in _RUN.findall(value))


def _random(run: str) -> bool:
    classes = sum(
        (
            any(c.islower() for c in run),
            any(c.isupper() for c in run),
            any(c.isdigit() for c in run),
        )
    )
    if classes < 3:
        return False
    counts = Counter(run)
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
    return entropy >= _ENTROPY
