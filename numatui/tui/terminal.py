"""The terminal around the app: where Textual measures it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def terminal_as_stdout() -> Iterator[None]:
    """``numatui launch > numa.args``: Textual draws on stderr but measures the
    terminal through stdout (shutil.get_terminal_size), so a redirected stdout
    means a fixed 80x24.  Point fd 1 at the terminal while the app runs."""
    if os.isatty(1) or not os.isatty(2):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
