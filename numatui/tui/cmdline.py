"""The command-line panel: the mapping as QEMU options, and a Copy button.

Shows one of :data:`numatui.core.export.VIEWS` (``v`` switches); ``y`` or the
Copy button copies exactly what is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Static

from numatui.core.export import VIEWS
from numatui.tui.paint import update_static


class CommandPanel(Vertical):
    DEFAULT_CSS = """
    CommandPanel { height: 7; border-top: solid $primary; }
    CommandPanel #cmd-bar { height: 1; }
    CommandPanel #cmd-title { width: 1fr; text-style: bold; padding: 0 1; }
    CommandPanel Button { margin-left: 1; }
    CommandPanel ScrollableContainer { height: 1fr; padding: 0 1; }
    /* long options scroll sideways, never wrap; at least the visible area, so
       a new line that fits needs no layout pass (numatui.tui.show) */
    CommandPanel #cmd-text { width: auto; min-width: 100%; min-height: 100%; }
    """

    class CopyRequested(Message):
        pass

    class ViewRequested(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = "compact"
        self.text = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="cmd-bar"):
            yield Label("", id="cmd-title")
            yield Button("View (v)", id="cmd-view", compact=True)
            yield Button("Copy (y)", id="cmd-copy", compact=True, variant="primary")
        with ScrollableContainer():
            yield Static("", id="cmd-text")

    def show(self, text: str, mask: Callable[[str], str] = str) -> None:
        """Show ``text`` (QEMU strings inside: never parsed as markup)."""
        self.text = text
        update_static(self.query_one("#cmd-title", Label), f"{VIEWS[self.view]}  ·  v: switch view")
        update_static(self.query_one("#cmd-text", Static), Text(mask(text)))

    def next_view(self) -> str:
        names = list(VIEWS)
        self.view = names[(names.index(self.view) + 1) % len(names)]
        return self.view

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cmd-copy":
            self.post_message(self.CopyRequested())
        elif event.button.id == "cmd-view":
            self.post_message(self.ViewRequested())
