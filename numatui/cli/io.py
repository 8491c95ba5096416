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
from typing import Any, TextIO

from numatui.model.plan import Plan
from numatui.model.sanitise import multi_line
from numatui.session.files import DOCUMENT_CAP, decode, read_bytes, read_stdin


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
    """A plan file (JSON or ``-numa`` text), ``-`` for stdin: a regular file or
    standard input of at most 16 MiB (:mod:`numatui.session.files`); NumaError
    (one line) when it is not one."""
    from numatui.model.qemu_args import load_plan  # apply only: not on every command's imports

    data = read_stdin(DOCUMENT_CAP, "plan") if path == "-" else read_bytes(path, DOCUMENT_CAP, "plan")
    return load_plan(decode(data, "plan", path))
