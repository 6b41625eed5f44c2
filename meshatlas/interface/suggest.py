"""The closest known name to one that was mistyped: "did you mean ...?".

One rule for flags, subcommands, config-file keys and ``MESHATLAS_*``
variables, so every typo is answered the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name ``word`` most likely meant, or None when none is close.

    A name that ``word`` is the start of wins when it is the only one (``--kube``
    for ``--kubeconfig``); otherwise the most similar name above difflib's
    usual cutoff.
    """
    names = sorted(set(known))
    if word in names:
        return word
    starting = [name for name in names if name.startswith(word)]
    if len(starting) == 1 and len(word) > 2:
        return starting[0]
    import difflib  # only once something was mistyped

    close = difflib.get_close_matches(word, names, n=1)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str], *, quote: bool = False) -> str:
    """``"; did you mean X?"`` for the closest known name, or ``""`` when none is close."""
    found = closest(word, known)
    if found is None or found == word:
        return ""
    return f"; did you mean {found!r}?" if quote else f"; did you mean {found}?"
