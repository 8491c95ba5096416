"""Messages from the session to the app, and the feed that posts them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from numatui.session.session import Session


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
    """New transcript entries (commands, replies, errors, events or notes): the log catches up."""


#: Events waiting for the next redraw (older ones of a flood are dropped).
MAX_PENDING_EVENTS = 1000


class SessionFeed:
    """The session's callbacks (run on the app's loop) as messages to the app,
    so widget work happens in handlers: a burst of events or state changes is
    one :class:`SessionChanged` (at most the last MAX_PENDING_EVENTS wait: an
    event flood costs time, not memory), a burst of transcript entries one
    :class:`TranscriptAppended` while the log is shown (a hidden log catches
    up when shown)."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self.log_shown = False
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING_EVENTS)
        self._events_posted = False
        self._log_posted = False
        self._removers: list[Callable[[], None]] = []

    def attach(self, session: Session, on_change: Callable[[], None]) -> None:
        """Listen to ``session`` (``on_change``: a change QEMU took)."""
        self._removers = [
            session.transcript.add_listener(self._on_entry),
            session.add_listener(self._on_event),
            session.add_state_listener(lambda _state: self._changed()),
            session.add_change_listener(lambda _what: on_change()),
        ]

    def detach(self) -> None:
        for remove in self._removers:
            remove()

    def _on_entry(self, entry: Any) -> None:
        if self.log_shown and not self._log_posted:
            self._log_posted = True  # catch_up reads every entry since
            self._post(TranscriptAppended())

    def _on_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self._changed()

    def _changed(self) -> None:
        if not self._events_posted:
            self._events_posted = True
            self._post(SessionChanged(None))

    def events(self, message: SessionChanged) -> list[dict[str, Any]]:
        """The events ``message`` stands for (taken: the next one posts again)."""
        self._events_posted = False
        events = [*self._events, message.event or {}]
        self._events.clear()
        return events

    def log_read(self) -> None:
        """The log caught up: the next entry posts again."""
        self._log_posted = False
