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
from textual.binding import Binding
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
    cursor at the end (focusing does not select it: a key typed next adds to it)."""
    field.select_on_focus = False
    field.value = value
    field.border_title = title
    field.add_class("shown")
    field.focus()
    field.cursor_position = len(field.value)


def digit_bindings() -> list[Binding]:
    """0-9 on an editor's table start an edit with that digit, or add it to the
    edit already open.  Bindings, not ``on_key``: Textual runs a key's binding
    only after the key bubbled up to the app, so a handler on the way would
    take "2" before an earlier arrow's binding moved the cursor (keys typed
    in one burst); as bindings, every key acts in the order typed."""
    return [Binding(str(d), f"edit('{d}')", show=False) for d in range(10)]


def type_into(field: Input, text: str) -> None:
    """``text`` typed after an edit opened but before the focus reached ``field``."""
    field.cursor_position = len(field.value)
    field.insert_text_at_cursor(text)
