"""The QMP log panel: the session transcript, commands, replies and events.

Text from QEMU is shown literally (``RichLog(markup=False)`` and ``Text``);
events lose their timestamp so the panel reads (and snapshots) the same on
every run.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

KINDS: dict[str, tuple[str, str]] = {
    "cmd": ("→", "bold #06b6d4"),
    "reply": ("←", "#10b981"),
    "error": ("✖", "bold #ef4444"),
    "event": ("⚡", "#f59e0b"),
    "note": ("·", "italic #94a3b8"),
}


#: Longer entries (a query-hotpluggable-cpus reply of 4096 slots) are cut for the panel.
MAX_SHOWN = 240
#: Lines the panel keeps (older ones scroll away).
MAX_LINES = 5000


def entry_text(kind: str, text: str, mask: Callable[[str], str] = str) -> Text:
    """One transcript entry as a styled line (never parsed as markup)."""
    mark, style = KINDS.get(kind, ("?", ""))
    if kind == "event":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            data.pop("timestamp", None)
            text = json.dumps(data, separators=(",", ":"))
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN]} … ({len(text) - MAX_SHOWN} more characters; --log FILE has all)"
    line = Text(f"{mark} ", style=style)
    line.append(mask(text), style=style if kind in ("error", "note") else "")
    return line


class QmpLog(RichLog):
    """Hidden until ``l``; fills from the transcript, then follows it."""

    DEFAULT_CSS = """
    QmpLog { height: 10; border-top: solid $primary; display: none; }
    QmpLog.shown { display: block; }
    """

    def __init__(self, mask: Callable[[str], str] = str, *, id: str | None = None) -> None:
        super().__init__(markup=False, highlight=False, wrap=True, max_lines=MAX_LINES, id=id)
        self._mask = mask
        self.border_title = "QMP log (l hides)"
        #: entries that arrived while hidden: written when shown (writing to a
        #: hidden log would still cost a layout pass per QMP message)
        self._unwritten: deque[Any] = deque(maxlen=MAX_LINES)

    @property
    def shown(self) -> bool:
        return self.has_class("shown")

    def toggle(self) -> bool:
        """Show or hide; returns whether it is shown now."""
        self.toggle_class("shown")
        if self.shown:
            self.add_entries(())
        return self.shown

    def add_entries(self, entries: Iterable[Any]) -> None:
        self._unwritten.extend(entries)
        if not self.shown:
            return
        while self._unwritten:
            entry = self._unwritten.popleft()
            self.write(entry_text(entry.kind, entry.text, self._mask))
