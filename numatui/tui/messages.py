"""Messages from the session to the app."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class SessionChanged(Message):
    """A QMP event arrived or the run state changed (``event`` is None then).

    A burst collapses: a redraw-only message (no event) gives way to the next
    SessionChanged waiting in the queue, which redraws everything anyway."""

    def __init__(self, event: dict[str, Any] | None) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return self.event is None and isinstance(message, SessionChanged)


class TranscriptAppended(Message):
    """A new transcript entry (command, reply, error, event or note)."""

    def __init__(self, entry: Any) -> None:
        super().__init__()
        self.entry = entry
