"""What the node editors (distances, memory) share: running a QMP step and
showing its outcome where the user is looking.

An editor runs its QMP work through a *step*: an async context manager that
serialises QMP calls.  Inside the app it is ``Controller.step`` (the app's
lock, the status bar, a redraw after); standing alone (tests, other hosts) a
private lock.  Refusals are caught by the editor first and shown in its own
message line, QEMU's words verbatim and never parsed as markup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from rich.text import Text
from textual import events
from textual.widget import Widget
from textual.widgets import Input, Static

from numatui.session.errors import QemuRefused, SessionError

Step = Callable[[str], AbstractAsyncContextManager[None]]


def local_step() -> Step:
    """A step that only serialises (no app around).  A SessionError that
    reaches it was shown by the editor already: it goes no further."""
    lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def step(what: str) -> AsyncIterator[None]:
        async with lock:
            with contextlib.suppress(SessionError):
                yield

    return step


def error_words(exc: BaseException) -> str:
    """One line for a failure: QEMU's own text when it refused."""
    if isinstance(exc, QemuRefused):
        return f"QEMU refused: {exc.qemu_message}"
    if isinstance(exc, SessionError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class MessageLine(Static):
    """The editor's one-line outcome: plain text (QEMU's words are not markup)."""

    DEFAULT_CSS = """
    MessageLine { height: auto; min-height: 1; padding: 0 1; }
    MessageLine.error { color: $error; text-style: bold; }
    MessageLine.ok { color: $success; }
    """

    text = ""

    def say(self, text: str, kind: str = "info") -> None:
        self.text = text
        self.set_class(kind == "error", "error")
        self.set_class(kind == "ok", "ok")
        self.update(Text(text))


def open_input(field: Input, value: str, title: str) -> None:
    """Show an editor's input holding ``value`` under ``title``, focused, the
    cursor at the end."""
    field.value = value
    field.border_title = title
    field.add_class("shown")
    field.focus()
    field.cursor_position = len(field.value)


def typed_digit(event: events.Key, table: Widget) -> str | None:
    """The digit typed on the focused ``table`` (the key then goes no further),
    which starts an edit with it; None for any other key."""
    if event.character and event.character.isdigit() and table.has_focus:
        event.stop()
        return event.character
    return None
