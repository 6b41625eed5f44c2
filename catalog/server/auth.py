"""Bearer tokens for the catalogue server, configured as hashes only.

The server never sees a token in its configuration: operators give it the
SHA-256 of each token (``sha256:<64 hex digits>``), and a request's
``Authorization: Bearer <token>`` is hashed and compared in constant time.
Tokens are meant to be long random strings (``openssl rand -hex 32``), for
which one SHA-256 is as good as a slow password hash. Make a hash with::

    printf %s "$TOKEN" | sha256sum

Publishing always needs a token; reading needs one only when the server is
configured private. With no tokens configured, the server is read-only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["Auth", "hash_token", "parse_hashes", "read_hash_file"]

_HASH_RE: Final = re.compile(r"sha256:([0-9a-f]{64})")


def hash_token(token: str) -> str:
    """The configuration form of ``token``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def parse_hashes(entries: Iterable[str]) -> frozenset[bytes]:
    """Parse ``sha256:<hex>`` entries; blanks and ``#`` comments are skipped.

    Raises:
        ValueError: An entry is not ``sha256:`` and 64 lowercase hex digits
            (a plain token put there by mistake is refused, not accepted).
    """
    digests = set()
    for raw in entries:
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        match = _HASH_RE.fullmatch(entry)
        if match is None:
            raise ValueError(
                "token hashes must look like sha256:<64 hex digits>; got an entry of"
                f" {len(entry)} characters (make one with: printf %s TOKEN | sha256sum)"
            )
        digests.add(bytes.fromhex(match[1]))
    return frozenset(digests)


def read_hash_file(path: Path) -> frozenset[bytes]:
    """Read token hashes from a file, one per line.

    Raises:
        ValueError: The file holds an entry that is not a hash.
        OSError: The file cannot be read.
    """
    return parse_hashes(path.read_text().splitlines())


@dataclass(frozen=True, slots=True)
class Auth:
    """Who may do what.

    Attributes:
        token_hashes: SHA-256 digests of the accepted tokens.
        private: Whether reading needs a token too.
    """

    token_hashes: frozenset[bytes] = frozenset()
    private: bool = False

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries an accepted bearer token."""
        if not authorization or not self.token_hashes:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        # Compare with every hash, so timing does not tell which one matched.
        matched = False
        for known in self.token_hashes:
            matched |= hmac.compare_digest(digest, known)
        return matched
