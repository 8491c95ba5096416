"""The QMP log panel: the session transcript, commands, replies and events.

Text from QEMU is shown literally (``RichLog(markup=False)`` and ``Text``);
events lose their timestamp so the panel reads (and snapshots) the same on
every run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import RichLog

if TYPE_CHECKING:
    from numatui.session.transcript import Transcript

KINDS: dict[str, tuple[str, str]] = {
    "cmd": ("→", "bold #06b6d4"),
    "reply": ("←", "#10b981"),
    "error": ("✖", "bold #ef4444"),
    "event": ("⚡", "#f59e0b"),
    "note": ("·", "italic #94a3b8"),
}


#: Longer entries (a query-hotpluggable-cpus reply of 4096 slots) are cut for the panel.
MAX_SHOWN = 240
#: Lines the panel keeps (older ones scroll away; each costs ~6 KB drawn, so an event
#: flood stays within ~12 MB; the transcript and --log keep more).
MAX_LINES = 2000


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
    """Hidden until ``l``; shows the transcript, then follows it while shown."""

    DEFAULT_CSS = """
    QmpLog { height: 10; border-top: solid $primary; display: none; }
    QmpLog.shown { display: block; }
    """

    def __init__(self, transcript: Transcript, mask: Callable[[str], str] = str, *,
                 id: str | None = None) -> None:
        super().__init__(markup=False, highlight=False, wrap=True, max_lines=MAX_LINES, id=id)
        self._transcript = transcript
        self._mask = mask
        self._written = 0  # transcript.count() when the log last caught up
        self.border_title = "QMP log (l hides)"

    @property
    def shown(self) -> bool:
        return self.has_class("shown")

    def toggle(self) -> bool:
        """Show or hide; returns whether it is shown now."""
        self.toggle_class("shown")
        self.catch_up()
        return self.shown

    def catch_up(self) -> None:
        """Write the entries appended since the last call, while shown only:
        writing to a hidden log would still cost a layout pass per QMP message
        (the transcript keeps as many entries as the log keeps lines)."""
        if not self.shown:
            return
        entries = self._transcript.since(self._written)
        self._written = self._transcript.count()
        for entry in entries:
            self.write(entry_text(entry.kind, entry.text, self._mask))
