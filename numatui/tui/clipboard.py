"""Copy text out of the terminal: OSC 52 through Textual, plus a clipboard
program through pyperclip when one exists, plus a file when neither can be
confirmed.

pyperclip runs in a child process whose stdout and stderr go to /dev/null:
a failing ``xclip`` writes to the stderr it inherits, and here that stderr
is the screen.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from textual.app import App

from numatui.session.files import write_atomic
from numatui.session.trust import private_dir_problem
from numatui.session.xdg import cache_dir

# The child: exit 3 when pyperclip finds no clipboard program, else copy stdin
# and print the mechanism's name ("xclip", "wl-clipboard", ...).
_CHILD = (
    "import sys, pyperclip\n"
    "copy, _ = pyperclip.determine_clipboard()\n"
    "if not copy: sys.exit(3)\n"
    "pyperclip.copy(sys.stdin.read())\n"
    "name = getattr(copy, '__name__', '') or type(copy).__name__\n"
    "print(name.removeprefix('copy_').replace('_', '-'))\n"
)


async def pyperclip_copy(text: str, timeout: float = 5.0) -> str | None:
    """Copy with pyperclip in a child process; the mechanism's name, or None."""
    try:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(sys.executable, "-I", "-c", _CHILD, stdin=pipe,
                                                    stdout=pipe, stderr=asyncio.subprocess.DEVNULL)
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(text.encode()), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return None if proc.returncode != 0 else out.decode(errors="replace").strip() or "pyperclip"


def fallback_path() -> Path:
    return cache_dir() / "copied.txt"


def save_copy(text: str) -> Path:
    """Write ``text`` to the fallback file: only in a private cache directory
    (the trust rules), as a new file renamed into place (a planted link is
    replaced, never written through).  OSError with the reason otherwise."""
    path = fallback_path()
    problem = private_dir_problem(path.parent, "cache directory")
    if problem is not None:
        raise OSError(problem)
    write_atomic(path, text)
    return path


async def copy_text(app: App[Any], text: str) -> str:
    """Copy ``text`` every way available; returns a sentence saying which worked."""
    app.copy_to_clipboard(text)  # OSC 52: the terminal may or may not take it
    program = await pyperclip_copy(text)
    if program:
        return f"Copied with {program}, and sent to the terminal (OSC 52)."
    said = "Sent to the terminal (OSC 52; it may ignore it). No clipboard program "
    try:
        path = save_copy(text)
    except OSError as exc:
        return f"{said}found, and saving a copy failed: {exc}"
    return f"{said}(xclip, xsel, wl-copy) found, so also saved to {path}"
