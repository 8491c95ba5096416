"""Shell completion scripts for bash and zsh, generated from the argparse
parser (:func:`numatui.cli.parser.build_parser`), so a new command or option
completes without editing a script.

Install: ``numatui completion bash > ~/.local/share/bash-completion/completions/numatui``,
or for zsh ``numatui completion zsh > ~/.zfunc/_numatui`` with ``~/.zfunc`` on
``$fpath`` before ``compinit``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

#: Options whose value is a file or directory (completed as paths).
_PATH_VALUES = frozenset({"FILE", "DIR", "BINARY", "PLAN"})


@dataclass
class _Option:
    flags: list[str]
    help: str
    metavar: str | None  # None: a flag without a value
    choices: list[str] = field(default_factory=list)


@dataclass
class _Command:
    name: str
    help: str
    options: list[_Option]
    positional_choices: list[str]


def _commands(parser: argparse.ArgumentParser) -> tuple[list[_Option], list[_Command]]:
    """The top-level options, and each subcommand with its options."""
    def options(p: argparse.ArgumentParser) -> list[_Option]:
        out = []
        for action in p._actions:  # argparse has no public walk of its actions
            if not action.option_strings:
                continue
            takes = action.nargs != 0
            metavar = str(action.metavar or action.dest.upper()) if takes else None
            out.append(_Option(list(action.option_strings), action.help or "", metavar,
                               [str(c) for c in action.choices or ()]))
        return out

    commands = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                positional = [str(c) for a in sub._actions if not a.option_strings and a.choices
                              for c in a.choices]
                commands.append(_Command(name, helps.get(name, ""), options(sub), positional))
    return options(parser), commands


def _bash_values(options: list[_Option]) -> list[str]:
    """``case "$prev"`` arms: an option's choices, paths for file values, nothing for numbers."""
    arms = []
    for o in options:
        flags = "|".join(o.flags)
        if o.choices:
            words = shlex.quote(" ".join(o.choices))
            arms.append(f'            {flags}) COMPREPLY=($(compgen -W {words} -- "$cur")); return;;')
        elif o.metavar in _PATH_VALUES:
            arms.append(f'            {flags}) COMPREPLY=($(compgen -f -- "$cur")); return;;')
        elif o.metavar is not None:
            arms.append(f"            {flags}) return;;")
    return arms


def bash_script(parser: argparse.ArgumentParser) -> str:
    """``complete -F _numatui numatui``: commands, then each command's options,
    an option's choices, and paths for file values and the rest."""
    top, commands = _commands(parser)
    prog = parser.prog
    words = " ".join([c.name for c in commands] + [f for o in top for f in o.flags])
    cases = []
    for c in commands:
        flags = shlex.quote(" ".join(f for o in c.options for f in o.flags))
        cases += [f"        {c.name})", '            case "$prev" in', *_bash_values(c.options),
                  "            esac",
                  f"            opts={flags}; words={shlex.quote(' '.join(c.positional_choices))};;"]
    name = "_" + prog.replace("-", "_")
    return "\n".join([
        f"# bash completion for {prog} (generated: {prog} completion bash)",
        f"{name}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" opts="" words=""',
        '    if [ "$COMP_CWORD" -eq 1 ]; then',
        f'        COMPREPLY=($(compgen -W {shlex.quote(words)} -- "$cur")); return',
        "    fi",
        '    case "${COMP_WORDS[1]}" in',
        *cases,
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        '    elif [ -n "$words" ]; then',
        '        COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "    else",
        '        COMPREPLY=($(compgen -f -- "$cur"))',
        "    fi",
        "}",
        f"complete -o filenames -F {name} {prog}",
        "",
    ])


def _zsh_text(text: str) -> str:
    """Help text safe inside a zsh ``_arguments`` spec (no brackets, colons, quotes)."""
    return text.replace("\\", "").replace("'", "").replace("[", "(").replace("]", ")").replace(":", " ")


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """A ``#compdef`` function: commands with their help, then per command
    ``_arguments`` specs (choices listed, file values as paths)."""
    top, commands = _commands(parser)
    prog = parser.prog

    def spec(o: _Option) -> str:
        flags = o.flags[0] if len(o.flags) == 1 else "{" + ",".join(o.flags) + "}"
        head = f"{flags}[{_zsh_text(o.help)}]"
        if o.metavar is None:
            return f"'{head}'"
        if o.choices:
            return f"'{head}:{o.metavar.lower()}:({' '.join(o.choices)})'"
        action = "_files" if o.metavar in _PATH_VALUES else " "
        return f"'{head}:{_zsh_text(o.metavar.lower())}:{action}'"

    lines = [f"#compdef {prog}", f"# zsh completion for {prog} (generated: {prog} completion zsh)",
             f"_{prog}() {{", "    local -a commands", "    commands=("]
    lines += [f"        '{c.name}:{_zsh_text(c.help)}'" for c in commands]
    lines += ["    )", "    if (( CURRENT == 2 )); then",
              f"        _describe command commands; _arguments {' '.join(spec(o) for o in top)}; return",
              "    fi", "    local cmd=$words[2]", "    shift words; (( CURRENT-- ))", '    case "$cmd" in']
    for c in commands:
        rest = f"'*:value:({' '.join(c.positional_choices)})'" if c.positional_choices else "'*:file:_files'"
        lines.append(f"        {c.name}) _arguments {' '.join(spec(o) for o in c.options)} {rest};;")
    lines += ["    esac", "}", f'_{prog} "$@"', ""]
    return "\n".join(lines)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    return bash_script(parser) if shell == "bash" else zsh_script(parser)
