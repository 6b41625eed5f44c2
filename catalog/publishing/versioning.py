"""Semantic versions, content identity, and how a new version is numbered.

Rules (Semantic Versioning 2.0.0, with two documented leniencies for spec hints):

- A catalogue version is ``MAJOR.MINOR.PATCH`` with an optional pre-release
  (``1.2.0-rc.1``); precedence follows semver §11.
- A spec's ``info.version`` is honoured when it parses. ``MAJOR.MINOR`` is read
  as ``MAJOR.MINOR.0`` because generators commonly emit ``"1.0"``; a bare
  ``"1"`` or a ``"v1"`` is not semver and is not guessed at. Build metadata
  (``+sha.5114f85``) is dropped: it carries no precedence, and keeping it would
  let two catalogue versions compare equal.
- Without a usable hint (none, not semver, or already published), the first
  version is 1.0.0 and later ones bump the highest published version by what
  changed (:mod:`catalog.publishing.changes`: removed operation or changed required
  parameter → major, added operation → minor, otherwise patch). Without a
  comparison the bump is minor. The bump starts from the highest version, so
  it can never land on a published one.
- A version published without a contract (no description file) never
  outranks one with a contract: when the highest version has none, a
  described version's own lower hint (``1.0.0-SNAPSHOT`` after a spec-less
  ``1.0.0``) is not honoured, and it is numbered by the bump above instead,
  so the description becomes the latest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from catalog.publishing.changes import Bump, Change

__all__ = [
    "FIRST_VERSION",
    "SemVer",
    "VersionChoice",
    "choose_version",
    "content_key",
    "latest",
    "parse",
    "parse_hint",
    "sort_versions",
]

# The regular expression published with semver 2.0.0, split for readability.
_NUM = r"0|[1-9]\d*"
_PRE_ID = r"0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*"
_SEMVER_RE: Final = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>(?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_MAJOR_MINOR_RE: Final = re.compile(rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})$")


@dataclass(frozen=True, slots=True)
class SemVer:
    """A parsed semantic version without build metadata."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.prerelease)}" if self.prerelease else core

    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Sort key implementing semver §11 precedence.

        A release sorts after its pre-releases; numeric identifiers compare
        numerically and sort before alphanumeric ones; with an equal prefix the
        longer identifier list wins (tuple comparison already does that).
        """
        ids = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def next_minor(self) -> SemVer:
        """The next minor release: ``1.4.2`` and ``1.4.0-rc.1`` both give ``1.5.0``."""
        return SemVer(self.major, self.minor + 1, 0)

    def bump(self, kind: Bump) -> SemVer:
        """The next release of ``kind``; always of higher precedence than ``self``.

        A pre-release is bumped from its core: ``2.0.0-rc.1`` gives ``3.0.0``,
        ``2.1.0`` or ``2.0.1``.
        """
        if kind == "major":
            return SemVer(self.major + 1, 0, 0)
        if kind == "minor":
            return self.next_minor()
        return SemVer(self.major, self.minor, self.patch + 1)


FIRST_VERSION: Final = SemVer(1, 0, 0)


def parse(text: str) -> SemVer:
    """Parse a strict semantic version, dropping build metadata.

    Args:
        text: A version such as ``1.2.3`` or ``2.0.0-rc.1+build.7``.

    Returns:
        The parsed version.

    Raises:
        ValueError: ``text`` is not a semantic version.
    """
    match = _SEMVER_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a semantic version")
    pre = match["pre"]
    return SemVer(
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        tuple(pre.split(".")) if pre else (),
    )


def parse_hint(text: str) -> tuple[SemVer | None, str]:
    """Read a spec's own version leniently (see the module docstring).

    Args:
        text: The spec's version string, e.g. ``info.version``.

    Returns:
        The version, or None when ``text`` is not usable, and a note for the
        publish reason (empty when the hint was taken verbatim).
    """
    stripped = text.strip()
    short = _MAJOR_MINOR_RE.match(stripped)
    if short is not None:
        version = SemVer(int(short["major"]), int(short["minor"]), 0)
        return version, f"spec version {text!r} read as {version}"
    try:
        version = parse(stripped)
    except ValueError:
        return None, f"spec version {text!r} is not semver"
    if str(version) != text:
        return version, f"spec version {text!r} read as {version}"
    return version, ""


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Sort catalogue versions by ascending semver precedence.

    Raises:
        ValueError: One of ``versions`` is not a semantic version.
    """
    return sorted(versions, key=lambda v: parse(v).precedence())


def latest(versions: Iterable[str]) -> str | None:
    """The highest-precedence version, or None for no versions."""
    ordered = sort_versions(versions)
    return ordered[-1] if ordered else None


@dataclass(frozen=True, slots=True)
class VersionChoice:
    """The number a new version gets, and why."""

    version: str
    reason: str


def choose_version(
    *,
    hint: str | None,
    published: Collection[str],
    change: Change | None = None,
    contract: bool = False,
    top_contract: bool = True,
) -> VersionChoice:
    """Number a new version of an asset whose content is not yet published.

    Args:
        hint: The spec's own version, or None.
        published: Versions of the asset already in the catalogue.
        change: How the content differs from the highest published version
            (:func:`catalog.publishing.changes.compare`); None bumps the minor.
        contract: The new version carries a contract (a description file).
        top_contract: The highest published version carries one.

    Returns:
        The version to create and a one-line reason.
    """
    lead = "content changed" if published else "first version"
    top = latest(published)
    if top is None:
        fallback, how = FIRST_VERSION, "1.0.0"
    elif change is None:
        fallback, how = parse(top).next_minor(), f"next minor after {top}"
    else:
        fallback = parse(top).bump(change.bump)
        how = f"{change.bump} bump after {top} ({change.reason})"

    if hint is None:
        return VersionChoice(str(fallback), f"{lead}; spec declares no version, so {how}")
    candidate, note = parse_hint(hint)
    if candidate is None:
        return VersionChoice(str(fallback), f"{lead}; {note}, so {how}")
    taken = {parse(v) for v in published}
    if candidate in taken:
        shown = repr(hint) if str(candidate) == hint else f"{hint!r} ({candidate})"
        return VersionChoice(
            str(fallback), f"{lead}; spec version {shown} is already published, so {how}"
        )
    below = top is not None and candidate.precedence() < parse(top).precedence()
    if below and contract and not top_contract:
        # Honouring it would leave the spec-less version the latest.
        shown = repr(hint) if str(candidate) == hint else f"{hint!r} ({candidate})"
        return VersionChoice(
            str(fallback),
            f"{lead}; spec version {shown} is below {top}, which was published without a"
            f" contract, so {how}",
        )
    words = [lead, note or f"spec version {hint!r}"]
    if below:
        # Honoured anyway: the spec says what it is; "latest" stays the higher one.
        words.append(f"below the latest {top}")
    return VersionChoice(str(candidate), "; ".join(words))


def content_key(*, asset_type: str, file_digests: Iterable[str], operations: Iterable[str]) -> str:
    """Identity of an asset version's content, as a hex SHA-256.

    Files decide when there are any (their sorted digests, so order does not
    matter); a spec-less asset is identified by its type and sorted operations.

    Args:
        asset_type: Asset type.
        file_digests: SHA-256 hex digests of the files.
        operations: Operation signatures.

    Returns:
        A 64-character key; equal keys mean the same content.
    """
    digests = sorted(file_digests)
    if digests:
        canonical = "files\n" + "\n".join(digests)
    else:
        canonical = f"type {asset_type}\n" + "\n".join(sorted(set(operations)))
    return hashlib.sha256(canonical.encode()).hexdigest()
