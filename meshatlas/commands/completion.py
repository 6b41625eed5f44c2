"""``meshatlas completion bash|zsh|fish``: shell completion, generated from the parser.

The script is written from the argparse tree itself (every command, flag,
choice and whether a value is a file), so it never falls behind the flags::

    source <(meshatlas completion bash)                  # bash, e.g. in ~/.bashrc
    meshatlas completion zsh > "${fpath[1]}/_meshatlas"   # zsh
    meshatlas completion fish > ~/.config/fish/completions/meshatlas.fish

shtab (the usual generator) writes no fish completion, so meshatlas writes its own.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from meshatlas.status import ExitCode

__all__ = ["HELP", "SHELLS", "Command", "Option", "add_parser", "commands", "run", "script"]

HELP = "print a shell completion script (bash, zsh or fish)"
SHELLS: Final = ("bash", "zsh", "fish")
_FILE_METAVARS: Final = frozenset({"PATH", "FILE", "PATH|-"})
_DIR_METAVARS: Final = frozenset({"DIR"})


@dataclass(frozen=True, slots=True)
class Option:
    """One flag as a shell sees it."""

    flags: tuple[str, ...]
    help: str
    takes_value: bool = False
    choices: tuple[str, ...] = ()
    #: ``file``, ``dir`` or ``""``: what the value names.
    path: str = ""
    repeatable: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand (or, with an empty name, the command itself) as a shell sees it."""

    name: str
    help: str
    options: tuple[Option, ...]
    #: Values its positional arguments take, when they are choices.
    arguments: tuple[str, ...] = ()


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``completion`` subcommand."""
    completion = sub.add_parser(
        "completion",
        help=HELP,
        description="Print a completion script for SHELL on stdout. bash: "
        "source <(meshatlas completion bash); zsh: meshatlas completion zsh > "
        '"${fpath[1]}/_meshatlas"; fish: meshatlas completion fish > '
        "~/.config/fish/completions/meshatlas.fish",
    )
    completion.add_argument("shell", choices=SHELLS, help="which shell")


def run(args: argparse.Namespace) -> ExitCode:
    """Print the script for ``args.shell``."""
    from meshatlas import cli  # the whole tree, every command's flags

    sys.stdout.write(script(args.shell, cli.build_parser()))
    return ExitCode.COMPLETE


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script of ``shell`` for ``parser`` and its subcommands."""
    top, subs = commands(parser)
    writers: dict[str, Callable[[str, Command, Sequence[Command]], str]] = {
        "bash": _bash,
        "zsh": _zsh,
        "fish": _fish,
    }
    return writers[shell](parser.prog, top, subs)


def commands(parser: argparse.ArgumentParser) -> tuple[Command, list[Command]]:
    """The command's own flags, and each subcommand's."""
    subs: list[Command] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, child in action.choices.items():
                own = _describe(child)
                subs.append(Command(name, helps.get(name, ""), own.options, own.arguments))
    return _describe(parser), subs


def _describe(parser: argparse.ArgumentParser) -> Command:
    formatter = parser._get_formatter()
    options = []
    arguments: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            arguments.extend(str(c) for c in action.choices or ())
            continue
        if action.help == argparse.SUPPRESS:
            continue
        try:
            text = formatter._expand_help(action) if action.help else ""
        except (KeyError, TypeError, ValueError):
            text = action.help or ""
        metavar = action.metavar if isinstance(action.metavar, str) else ""
        path = ""
        if metavar in _DIR_METAVARS:
            path = "dir"
        elif metavar in _FILE_METAVARS or action.type is Path:
            path = "file"
        options.append(
            Option(
                flags=tuple(action.option_strings),
                help=_short(text),
                takes_value=action.nargs != 0,
                choices=tuple(str(c) for c in action.choices or ()),
                path=path,
                repeatable=isinstance(action, argparse._AppendAction),
            )
        )
    return Command("", parser.description or "", tuple(options), tuple(arguments))


def _short(text: str) -> str:
    """The help text on one line, cut at its first clause when long."""
    line = " ".join(text.split())
    if len(line) <= 80:
        return line
    cut = re.split(r"[;(]| \(", line, maxsplit=1)[0].strip().rstrip(",")
    return cut if len(cut) <= 80 else cut[:77].rstrip() + "..."


# --- bash --------------------------------------------------------------------


def _bash_values(options: Sequence[Option], indent: str) -> list[str]:
    """``case "$prev"`` branches: what follows each flag that takes a value."""
    lines = []
    for option in options:
        if not option.takes_value:
            continue
        flags = "|".join(option.flags)
        if option.choices:
            words = " ".join(option.choices)
            action = f'COMPREPLY=($(compgen -W "{words}" -- "$cur"))'
        elif option.path == "file":
            action = 'COMPREPLY=($(compgen -f -- "$cur"))'
        elif option.path == "dir":
            action = 'COMPREPLY=($(compgen -d -- "$cur"))'
        else:
            action = "COMPREPLY=()"  # a value of the user's own
        lines.append(f"{indent}{flags}) {action}; return ;;")
    return lines


def _bash(prog: str, top: Command, subs: Sequence[Command]) -> str:
    function = "_" + re.sub(r"\W", "_", prog)
    valued = "|".join(f for o in top.options if o.takes_value for f in o.flags) or "--"
    top_words = " ".join([c.name for c in subs] + [f for o in top.options for f in o.flags])
    out = [
        f"# bash completion for {prog}; load it with: source <({prog} completion bash)",
        f"{function}() {{",
        "    local cur prev cmd i",
        '    cur="${COMP_WORDS[COMP_CWORD]}"',
        '    prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    cmd=""',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        f"            {valued}) ((i++)) ;;",
        "            -*) ;;",
        '            *) cmd="${COMP_WORDS[i]}"; break ;;',
        "        esac",
        "    done",
        '    case "$cmd" in',
        '        "")',
        '            case "$prev" in',
        *_bash_values(top.options, "                "),
        "            esac",
        f'            COMPREPLY=($(compgen -W "{top_words}" -- "$cur")) ;;',
    ]
    for command in subs:
        flags = " ".join(f for o in command.options for f in o.flags)
        arguments = " ".join(command.arguments)
        out += [
            f"        {command.name})",
            '            case "$prev" in',
            *_bash_values(command.options, "                "),
            "            esac",
            '            if [[ "$cur" == -* ]]; then',
            f'                COMPREPLY=($(compgen -W "{flags}" -- "$cur"))',
            "            else",
            f'                COMPREPLY=($(compgen -W "{arguments}" -- "$cur"))',
            "            fi ;;",
        ]
    out += ["    esac", "}", f"complete -F {function} {prog}", ""]
    return "\n".join(out)


# --- zsh ---------------------------------------------------------------------


def _zsh_quote(text: str) -> str:
    """``text`` inside a single-quoted zsh word."""
    return text.replace("'", "'\\''")


def _zsh_describe(text: str) -> str:
    """Help text safe inside an ``_arguments`` ``[...]`` description."""
    return _zsh_quote(re.sub(r"([\[\]:\\])", r"\\\1", text))


def _colons(text: str) -> str:
    """Colons escaped, as ``_describe`` entries (``name:description``) need."""
    return text.replace(":", "\\:")


def _zsh_spec(option: Option) -> str:
    described = f"[{_zsh_describe(option.help)}]"
    value = ""
    if option.takes_value:
        if option.choices:
            value = f":value:({' '.join(option.choices)})"
        elif option.path == "file":
            value = ":file:_files"
        elif option.path == "dir":
            value = ":directory:_files -/"
        else:
            value = ":value: "
    tail = f"'{described}{_zsh_quote(value)}'"
    if len(option.flags) == 1:
        prefix = "*" if option.repeatable else ""
        return f"'{prefix}{option.flags[0]}'{tail}"
    flags = "{" + ",".join(option.flags) + "}"
    exclusive = "'*'" if option.repeatable else f"'({' '.join(option.flags)})'"
    return f"{exclusive}{flags}{tail}"


def _zsh(prog: str, top: Command, subs: Sequence[Command]) -> str:
    function = "_" + re.sub(r"\W", "_", prog)
    out = [
        f"#compdef {prog}",
        f'# zsh completion for {prog}: {prog} completion zsh > "${{fpath[1]}}/_{prog}"',
        "",
        f"{function}() {{",
        '    local curcontext="$curcontext" state line',
        "    typeset -A opt_args",
        "    _arguments -C \\",
    ]
    out += [f"        {_zsh_spec(o)} \\" for o in top.options]
    out += [
        "        '1: :->command' \\",
        "        '*:: :->args' && return",
        "    case $state in",
        "        command)",
        "            local -a commands",
        "            commands=(",
    ]
    out += [f"                '{_zsh_quote(c.name)}:{_zsh_quote(_colons(c.help))}'" for c in subs]
    out += [
        "            )",
        f"            _describe -t commands '{prog} command' commands ;;",
        "        args)",
        f'            curcontext="${{curcontext%:*:*}}:{prog}-$line[1]:"',
        "            case $line[1] in",
    ]
    for command in subs:
        specs = [_zsh_spec(o) for o in command.options]
        if command.arguments:
            specs.append(f"'1:argument:({' '.join(command.arguments)})'")
        out.append(f"                {command.name})")
        out.append("                    _arguments \\")
        out += [f"                        {spec} \\" for spec in specs]
        out[-1] = out[-1].removesuffix(" \\")
        out.append("                    ;;")
    out += [
        "            esac ;;",
        "    esac",
        "}",
        "",
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
        f'    {function} "$@"',
        "else",
        f"    compdef {function} {prog}",
        "fi",
        "",
    ]
    return "\n".join(out)


# --- fish --------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(prog: str, condition: str, option: Option) -> str:
    parts = [f"complete -c {prog} -n {_fish_quote(condition)}"]
    for flag in option.flags:
        if flag.startswith("--"):
            parts.append(f"-l {flag[2:]}")
        else:
            parts.append(f"-s {flag[1:]}")
    if option.takes_value:
        if option.choices:
            parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
        elif option.path == "file":
            parts.append("-r -F")
        elif option.path == "dir":
            parts.append("-x -a '(__fish_complete_directories)'")
        else:
            parts.append("-x")
    if option.help:
        parts.append(f"-d {_fish_quote(option.help)}")
    return " ".join(parts)


def _fish(prog: str, top: Command, subs: Sequence[Command]) -> str:
    out = [
        f"# fish completion for {prog}:"
        f" {prog} completion fish > ~/.config/fish/completions/{prog}.fish",
        f"complete -c {prog} -f",
    ]
    out += [_fish_option(prog, "__fish_use_subcommand", o) for o in top.options]
    for command in subs:
        out.append(
            f"complete -c {prog} -n __fish_use_subcommand -a {command.name}"
            f" -d {_fish_quote(command.help)}"
        )
    for command in subs:
        condition = f"__fish_seen_subcommand_from {command.name}"
        out += [_fish_option(prog, condition, o) for o in command.options]
        if command.arguments:
            out.append(
                f"complete -c {prog} -n {_fish_quote(condition)}"
                f" -a {_fish_quote(' '.join(command.arguments))}"
            )
    out.append("")
    return "\n".join(out)
