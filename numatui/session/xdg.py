"""Where numatui keeps files, by the XDG base directory spec (a variable
counts only when it is an absolute path, else the spec's default).  How it
writes them (atomically, never through a link): :mod:`numatui.session.files`;
which directories it trusts: :mod:`numatui.session.trust`."""

from __future__ import annotations

import os
from pathlib import Path


def _home(variable: str, default: str) -> Path:
    base = os.environ.get(variable) or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / default) / "numatui"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/numatui`` (``~/.local/state/numatui`` by default): autosaves."""
    return _home("XDG_STATE_HOME", ".local/state")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/numatui`` (``~/.config/numatui`` by default): ``config.toml``."""
    return _home("XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/numatui`` (``~/.cache/numatui`` by default): a copy no clipboard took."""
    return _home("XDG_CACHE_HOME", ".cache")
