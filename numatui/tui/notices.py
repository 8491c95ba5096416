"""Notifications that replace rather than stack.

Textual stacks every ``notify``: four undos in a row showed four notices at
once, over the command-line panel.  Here a new notice replaces the one shown;
an error stays beside it (a newer error replaces it) until something
succeeds (:meth:`Notices.drop_errors`: a change QEMU took, a reconnect) or
its time is up.  Only Textual's public ``notify`` and ``clear_notifications``
are used: every change clears the toasts and shows what is left, each for
the rest of its own time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.notifications import SeverityLevel

from numatui.model import sanitise

#: Text from QEMU longer than this is cut in notifications (the QMP log and --log keep it).
MAX_NOTICE = 1500


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    """Text from the QMP peer made safe for a notification: through the sanitiser
    (controls visible, newlines kept), cut to ``limit`` characters with a marker
    saying how much was left out."""
    return sanitise.multi_line(text, limit)


@dataclass(frozen=True)
class Notice:
    """One notice as shown: its words, and when its time is up (monotonic)."""

    message: str
    title: str
    severity: SeverityLevel
    markup: bool
    until: float


class Notices:
    """What is shown now (``shown``, oldest first: at most one error and one other)."""

    def __init__(self, show: Callable[[Notice, float], None], clear: Callable[[], None],
                 default_timeout: float) -> None:
        self._show = show  # Textual's notify of one notice for so many seconds
        self._clear = clear
        self._default = default_timeout
        self.shown: list[Notice] = []

    def post(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
             timeout: float | None = None, markup: bool = True) -> None:
        now = time.monotonic()
        seconds = self._default if timeout is None else timeout
        notice = Notice(message, title, severity, markup, now + seconds)
        kept = [n for n in self.shown if n.until > now and n.severity == "error" and severity != "error"]
        self.shown = [*kept[-1:], notice]
        self._redraw()

    def drop_errors(self) -> None:
        """Something succeeded: the errors shown go."""
        if any(n.severity == "error" for n in self.shown):
            self.shown = [n for n in self.shown if n.severity != "error"]
            self._redraw()

    def _redraw(self) -> None:
        self._clear()
        now = time.monotonic()
        self.shown = [n for n in self.shown if n.until > now]
        for notice in self.shown:
            self._show(notice, notice.until - now)
