"""Where numatui keeps files, by the XDG base directory spec (a variable
counts only when it is an absolute path, else the spec's default), and how
it writes them (atomically)."""

from __future__ import annotations

import contextlib
import os
import tempfile
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


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync, rename over ``path``."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
