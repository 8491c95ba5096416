"""A user's own keys: the ``[keys]`` table of ``$XDG_CONFIG_HOME/numatui/config.toml``.

Each entry names a binding id of :data:`numatui.core.actions.ACTIONS`
(:func:`~numatui.core.actions.binding_ids`: ``assign-0`` .. ``assign-9``,
``exit_preconfig``, ``cursor_up``, ...) and the Textual keys it gets, comma
separated::

    [keys]
    exit_preconfig = "B"
    assign-1 = "f1"

The app applies it with ``App.set_keymap``: the new keys work, the old ones
of a remapped binding do nothing, and the footer and the help show the keys
in force.  The file is data: read bounded, a regular file only; an unknown
id, a key name that is not one, or a file that is not TOML is one line each
(shown when the app starts) and the rest of the file still applies.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from numatui.core.actions import binding_ids
from numatui.model import sanitise
from numatui.session.files import FileRefused, decode, read_optional
from numatui.session.xdg import config_dir

#: The largest config file read (a keymap is a few lines).
MAX_CONFIG_BYTES = 64 * 1024

#: A Textual key name (``f1``, ``ctrl+z``, ``question_mark``) or one printable ASCII character.
_KEY = re.compile(r"[A-Za-z0-9_+-]{1,40}|[!-~]")


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """``(keymap, problems)``: the binding id -> keys of the ``[keys]`` table
    (empty when there is no file), and one line per thing refused."""
    path = path or config_dir() / "config.toml"
    try:
        data_bytes = read_optional(path, MAX_CONFIG_BYTES, "config")
        if data_bytes is None:  # no config (or one this user cannot read): the defaults
            return {}, []
        text = decode(data_bytes, "config", path)
    except FileRefused as exc:
        return {}, [f"{exc}; the default keys apply"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{path}: not TOML ({exc}); the default keys apply"]
    table = data.get("keys", {})
    if not isinstance(table, dict):
        return {}, [f"{path}: [keys] is not a table; the default keys apply"]
    known = binding_ids()
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for name, value in table.items():
        shown = sanitise.one_line(str(name), 60)
        if name not in known:
            problems.append(f"{path}: [keys] {shown}: no such action (the README's Keys section "
                            "lists the names)")
        elif not isinstance(value, str) or not all(_KEY.fullmatch(k.strip()) for k in value.split(",")):
            problems.append(f"{path}: [keys] {shown}: {sanitise.one_line(repr(value), 60)} is not a "
                            'list of key names such as "f1" or "ctrl+b,B"')
        else:
            keymap[name] = ",".join(k.strip() for k in value.split(","))
    return keymap, problems
