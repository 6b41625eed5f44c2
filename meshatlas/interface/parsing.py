"""The argument parser every ``meshatlas`` command uses, and the value types they share.

:class:`Parser` never exits (``main`` owns exit codes), never takes an
abbreviation for a flag (``--kube`` is not ``--kubeconfig``: a new flag would
silently change what an old command line means), and answers an unknown flag
with the subcommand's name and the flag meant::

    meshatlas discover: unknown flag --namespce; did you mean --namespace?
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, Final

from meshatlas.errors import UsageError
from meshatlas.interface.suggest import did_you_mean

__all__ = [
    "CommaList",
    "Parser",
    "comma_items",
    "flags_of",
    "namespace_name",
    "namespace_names",
    "positive_float",
    "positive_int",
    "probe_path",
    "unknown_arguments",
]

# Kubernetes namespace names are DNS-1123 labels.
_NAMESPACE: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` and takes no abbreviations.

    Subparsers are made of this class too (``parser_class``), so the rules hold
    for every subcommand.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def flags_of(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string ``parser`` takes."""
    return [flag for action in parser._actions for flag in action.option_strings]


def unknown_arguments(parser: argparse.ArgumentParser, extras: Sequence[str]) -> UsageError:
    """The error for arguments ``parser`` did not take, naming the flag meant.

    Only the unknown flags are named when there are any: the words after one
    are most likely its value.
    """
    flags = [arg for arg in extras if arg.startswith("-") and arg != "-"]
    if not flags:
        listed = " ".join(repr(arg) for arg in extras)
        return UsageError(f"{parser.prog}: unexpected argument {listed}")
    known = flags_of(parser)
    said = []
    for flag in flags:
        name = flag.split("=", 1)[0]
        said.append(f"unknown flag {name}{did_you_mean(name, known)}")
    return UsageError(f"{parser.prog}: {'; '.join(said)}")


class CommaList(argparse._AppendAction):
    """A repeatable flag that also takes a comma-separated list: ``-n shop,billing``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.extend(values if isinstance(values, list) else [values])
        setattr(namespace, self.dest, items)


def comma_items(text: str) -> list[str]:
    """The items of a comma-separated value, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def namespace_names(text: str) -> list[str]:
    """One namespace name or a comma-separated list of them, each checked."""
    names = comma_items(text)
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no namespace")
    return [namespace_name(name) for name in names]


def namespace_name(text: str) -> str:
    """A Kubernetes namespace name (a DNS-1123 label)."""
    if _NAMESPACE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a namespace name (up to 63 lowercase letters, digits and '-')"
        )
    return text


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    """A number above 0."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def probe_path(text: str) -> str:
    """A path on the probed Service: never a URL, never another host."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text or " " in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a path (it must start with one /)")
    return text


def add_cluster_arguments(
    parser: argparse.ArgumentParser, *, cluster_name_help: str | None = None
) -> None:
    """The "clusters" flags of the commands that read clusters.

    ``cluster_name_help`` adds ``--cluster-name`` with that help; None leaves it out.
    """
    conn = parser.add_argument_group("clusters")
    conn.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
    )
    conn.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME",
        help="kubeconfig context to read; repeat for several clusters",
    )
    conn.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the Pod's ServiceAccount (not with --kubeconfig or --context)",
    )
    if cluster_name_help is not None:
        conn.add_argument("--cluster-name", metavar="NAME", help=cluster_name_help)


def add_scope_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_excluded: Sequence[str],
    namespace_help: str = "only this namespace (repeatable, or a comma-separated list)",
) -> argparse._ArgumentGroup:
    """The "what to read" flags: namespaces in and out, a Service label selector."""
    sel = parser.add_argument_group("what to read")
    sel.add_argument(
        "-n",
        "--namespace",
        action=CommaList,
        type=namespace_names,
        default=[],
        metavar="NS",
        help=namespace_help,
    )
    sel.add_argument(
        "--exclude-namespace",
        action=CommaList,
        type=namespace_names,
        default=[],
        metavar="NS",
        help="skip this namespace (repeatable, or a comma-separated list; replaces the"
        f" default: {', '.join(default_excluded)})",
    )
    sel.add_argument(
        "-l",
        "--selector",
        metavar="LABELS",
        help="label selector for Services, e.g. team=shop",
    )
    return sel
