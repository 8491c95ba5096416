"""A text stream that never passes a control character a terminal would obey.

The CLI writes stdout and stderr through :class:`SafeStream` (see
:func:`numatui.cli.main`): whatever text from QEMU or a file reaches a write,
ESC, BEL, CSI, OSC, DEL and the rest are shown visibly by
:func:`numatui.model.sanitise.multi_line` (newlines and tabs kept).  The
exports are escaped for their own format before they get here (JSON escapes
controls, the XML and shell exports refuse or quote them), so the guard never
changes a correct export; it is the last line of defence, not the escaping.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, TextIO

from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.qemu_args import load_plan
from numatui.model.sanitise import multi_line


class SafeStream(io.TextIOBase):
    """Wraps ``inner``; every ``write`` goes through the sanitiser (unbounded:
    the callers bound what they print)."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(multi_line(text, limit=None))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def safe(stream: TextIO) -> TextIO:
    """``stream`` wrapped once (a SafeStream is returned as it is)."""
    return stream if isinstance(stream, SafeStream) else SafeStream(stream)  # type: ignore[return-value]


def read_plan(path: str) -> Plan:
    """A plan file (JSON or ``-numa`` text), ``-`` for stdin; NumaError/OSError when bad."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # a text-only stdin (tests) reads as text
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    else:
        data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NumaError(f"plan {path}: not UTF-8 text (byte {exc.start}); a plan is JSON or -numa "
                        "options") from None
    return load_plan(text)
