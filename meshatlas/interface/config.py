"""``meshatlas.yaml``: ``discover`` settings from a file and the environment.

Every ``meshatlas discover`` flag can be set three ways. Lowest precedence
first:

1. the file named by ``--config FILE`` (or ``$MESHATLAS_CONFIG``)::

       discover:
         in-cluster: true
         catalog: http://meshatlas-catalog.meshatlas:8080
         namespace: [shop, billing]      # repeatable flags take a list

   Keys are the long flags without their dashes. The file is validated
   against ``meshatlas/schemas/config.schema.json``.
2. environment variables ``MESHATLAS_<FLAG>``, the flag in upper case with
   ``_`` for ``-`` (``MESHATLAS_CATALOG``, ``MESHATLAS_IN_CLUSTER=true``,
   ``MESHATLAS_NAMESPACE=shop,billing``);
3. the command line.

Any bad value is a :class:`ConfigError` (exit code 2) that names the key or
variable it came from. A ``MESHATLAS_*`` variable meshatlas does not know is
a warning that names the one most likely meant (:func:`unknown_variables`).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from meshatlas.errors import UsageError
from meshatlas.interface import console
from meshatlas.interface.parsing import CommaList
from meshatlas.interface.suggest import closest

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "LOG_LEVEL_ENV",
    "OTHER_VARIABLES",
    "ConfigError",
    "add_arguments",
    "apply",
    "file_keys",
    "known_variables",
    "parse",
    "schema",
    "settings",
    "subparser",
    "unknown_variables",
    "variable",
]

#: Environment variable naming the config file when ``--config`` is not given.
CONFIG_ENV: Final = "MESHATLAS_CONFIG"
ENV_PREFIX: Final = "MESHATLAS_"
#: Environment variable setting ``--log-level`` for every command.
LOG_LEVEL_ENV: Final = console.LOG_LEVEL_ENV
#: Flags that are not ``discover`` settings: they stay on the command line
#: (``--log-level`` is every command's, from its own variable).
_NOT_SETTINGS: Final = frozenset({"help", "config", "log_level", "output", "quiet"})
#: The other variables meshatlas reads (``publishing.TOKEN_ENV``,
#: ``serve.HASHES_ENV``), and the one deploy/ sets for the catalogue server's args.
OTHER_VARIABLES: Final = frozenset(
    {
        CONFIG_ENV,
        LOG_LEVEL_ENV,
        "MESHATLAS_TOKEN",
        "MESHATLAS_TOKEN_SHA256",
        "MESHATLAS_CATALOG_URL",
    }
)
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


class ConfigError(UsageError):
    """A config file or ``MESHATLAS_*`` variable that cannot be used."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` and ``--log-format`` flags of ``discover``."""
    group = parser.add_argument_group("configuration and logs")
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"read settings from this meshatlas.yaml (also: ${CONFIG_ENV});"
        f" {ENV_PREFIX}* variables override it, flags override both",
    )
    group.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        default="auto",
        help="log lines on stderr: json (one object per line) or text;"
        " auto is json when stderr is not a terminal (default: %(default)s)",
    )


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of ``meshatlas.yaml``."""
    text = resources.files("meshatlas").joinpath("schemas/config.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def settings(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The settings of a subcommand's parser, by key (the long flag without ``--``)."""
    keys: dict[str, argparse.Action] = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in _NOT_SETTINGS or action.dest == argparse.SUPPRESS:
            continue
        keys[longs[0][2:]] = action
    return keys


def file_keys(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The settings of a subcommand's parser that a config file may hold, by key: all of them."""
    return settings(parser)


def variable(key: str) -> str:
    """The environment variable of a setting: ``fail-on`` is ``MESHATLAS_FAIL_ON``."""
    return ENV_PREFIX + key.upper().replace("-", "_")


def known_variables() -> frozenset[str]:
    """Every ``MESHATLAS_*`` variable meshatlas reads.

    The settings are the schema's keys (a test holds them equal to the flags),
    so no command's parser has to be built, nor its modules imported.
    """
    keys = set(schema()["properties"]["discover"]["properties"])
    return frozenset(variable(key) for key in keys) | OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``MESHATLAS_*`` variable meshatlas does not read."""
    env = os.environ if environ is None else environ
    known = known_variables()
    said = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        # Compared without the prefix every one of them shares.
        meant = closest(name.removeprefix(ENV_PREFIX), [k.removeprefix(ENV_PREFIX) for k in known])
        hint = f"; did you mean ${ENV_PREFIX}{meant}?" if meant else ""
        said.append(f"${name} is not a meshatlas variable and is ignored{hint}")
    return said


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def parse(text: str, *, source: str) -> dict[str, Any]:
    """The ``discover`` settings of a config file's text, validated.

    Raises:
        ConfigError: Not YAML, or not valid against the schema.
    """
    import jsonschema
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if doc is None:
        doc = {}
    doc = _plain(doc)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("; ".join(_describe(e, source) for e in errors[:5]))
    settings: dict[str, Any] = doc.get("discover") or {}
    return settings


def _plain(value: Any) -> Any:
    """YAML timestamps back to text: the flags take RFC 3339 strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        described = []
        for key in unknown:
            name = f"{where}.{key}" if where else key
            meant = closest(key, known)
            hint = f" (did you mean {meant!r}?)" if meant else ""
            described.append(f"{source}: {name}: unknown key{hint}")
        return "; ".join(described)
    return f"{source}: {where or '(top level)'}: {error.message}"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    return parse(text, source=str(path))


def _explicit(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The dests that ``argv`` sets itself (parsed again with no defaults)."""
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        given = vars(parser.parse_args(list(argv)))
    finally:
        for action, default in saved:
            action.default = default
    return set(given)


def _convert(action: argparse.Action, raw: Any, where: str) -> Any:
    """One setting as the flag would have parsed it."""
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    try:
        if isinstance(action, argparse._StoreTrueAction):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(f"{raw!r} is not true or false")
        if isinstance(action, argparse._AppendAction):
            items = raw if isinstance(raw, list) else [s.strip() for s in str(raw).split(",")]
            values = [convert(str(item)) for item in items if str(item)]
            if isinstance(action, CommaList):  # each item converts to a list of its own
                values = [value for listed in values for value in listed]
            for value in values:
                _check_choice(action, value)
            return values
        value = convert(str(raw))
        _check_choice(action, value)
        return value
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_choice(action: argparse.Action, value: Any) -> None:
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ValueError(f"{value!r} is not one of {choices}")


def apply(
    args: argparse.Namespace,
    *,
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """Fill ``args`` from the config file and environment where no flag was given.

    Args:
        args: What ``parser`` made of ``argv``.
        parser: The subcommand's parser (``discover``).
        argv: The subcommand's own arguments, as given.
        environ: Environment variables (default: ``os.environ``).

    Raises:
        ConfigError: The file or a variable holds a value the flag would refuse.
    """
    env = os.environ if environ is None else environ
    explicit = _explicit(parser, argv)
    path = args.config
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    from_file = _read(path) if path is not None else {}
    source = str(path)
    for key, action in settings(parser).items():
        if action.dest in explicit:
            continue
        name = variable(key)
        if name in env:
            setattr(args, action.dest, _convert(action, env[name], f"${name}"))
        elif key in from_file:
            where = f"{source}: discover.{key}"
            setattr(args, action.dest, _convert(action, from_file[key], where))
    return args
