"""Where the palette's Screenshot goes: an SVG in numatui's private state
directory, else the current directory (the user's own), written to a new
file renamed into place."""

from __future__ import annotations

import time
from pathlib import Path

from numatui.session.files import write_atomic
from numatui.session.trust import private_dir_problem
from numatui.session.xdg import state_dir


def save_screenshot(svg: str) -> Path:
    """Write ``svg``; its path, or the current directory's OSError."""
    name = f"numatui_{time.strftime('%Y-%m-%dT%H_%M_%S')}.svg"
    where = state_dir() / "screenshots"
    try:
        problem = private_dir_problem(state_dir()) or private_dir_problem(where, "screenshot directory")
        if problem is not None:
            raise OSError(problem)
        write_atomic(where / name, svg, mode=0o644)
    except OSError:  # the current directory is the user's own: no private-directory check
        where = Path.cwd()
        write_atomic(where / name, svg, mode=0o644)
    return where / name
