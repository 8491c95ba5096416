"""The command-line panel: the mapping as QEMU options, with View, Copy and
Exit preconfig buttons (the design's "final panel").

Shows one of :data:`numatui.core.export.VIEWS` (``v`` switches); ``y`` or the
Copy button copies exactly what is shown; Exit preconfig is ``X`` (the
preflight dialog, then boot) and goes away after boot.  The text scrolls from
the keyboard once focused (tab to it: arrows, PageUp/PageDown, Home/End).
The app's CSS sizes the panel (breakpoint classes at :data:`SMALL_HEIGHT`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Static

from numatui.core.actions import key_of
from numatui.core.export import VIEWS
from numatui.tui.paint import update_static

#: Below this many terminal rows the panel keeps its smallest size (6 rows, so
#: the grid keeps a whole socket of a big VM at 80x24); from it, two fifths of
#: the height (at 200x60 a full command line or a JSON plan fits).
SMALL_HEIGHT = 30
#: Terminal columns from which the QMP log sits beside the panel instead of replacing it.
LOG_BESIDE_WIDTH = 140


class CommandScroll(ScrollableContainer):
    """The panel's text; focusable, so arrows and PageUp/PageDown scroll it."""

    DEFAULT_CSS = """
    CommandScroll { height: 1fr; padding: 0 1; }
    CommandScroll:focus { background-tint: $foreground 5%; }
    """


class CommandPanel(Vertical):
    DEFAULT_CSS = """
    CommandPanel { height: 1fr; border-top: solid $primary; }
    CommandPanel:focus-within { border-top: solid $accent; }
    CommandPanel #cmd-bar { height: 1; }
    CommandPanel #cmd-title { width: 1fr; text-style: bold; padding: 0 1; }
    CommandPanel Button { margin-left: 1; }
    /* long options scroll sideways, never wrap; at least the visible area, so
       a new line that fits needs no layout pass (numatui.tui.show) */
    CommandPanel #cmd-text { width: auto; min-width: 100%; min-height: 100%; }
    """

    class CopyRequested(Message):
        pass

    class ViewRequested(Message):
        pass

    class BootRequested(Message):
        """The Exit preconfig button: the same as ``X``."""

    class SaveRequested(Message):
        """The Save to domain button (shown by ``numatui domain`` only): the same as ctrl+s."""

    def __init__(self, *, keymap: Mapping[str, str] | None = None, id: str | None = None) -> None:
        """``keymap``: the user's keys, which the buttons name."""
        super().__init__(id=id)
        self.view = "compact"
        self.text = ""
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        keys = self.keymap
        with Horizontal(id="cmd-bar"):
            yield Label("", id="cmd-title")
            yield Button(f"View ({key_of('next_view', keys)})", id="cmd-view", compact=True)
            yield Button(f"Copy ({key_of('copy', keys)})", id="cmd-copy", compact=True, variant="primary")
            yield Button(f"Exit preconfig ({key_of('exit_preconfig', keys)})", id="cmd-boot", compact=True,
                         variant="warning")
            save = Button(f"Save to domain ({key_of('save_domain', keys)})", id="cmd-save", compact=True,
                          variant="success")
            save.display = False
            yield save
        with CommandScroll(id="cmd-scroll"):
            yield Static("", id="cmd-text")

    def show(self, text: str, mask: Callable[[str], str] = str, *, booted: bool = False) -> None:
        """Show ``text`` (QEMU strings inside: never parsed as markup); the
        Exit preconfig button only before boot."""
        self.text = text
        update_static(self.query_one("#cmd-title", Label), f"{VIEWS[self.view]}  ·  v: switch view")
        update_static(self.query_one("#cmd-text", Static), Text(mask(text)))
        boot = self.query_one("#cmd-boot", Button)
        if boot.display == booted:
            boot.display = not booted

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
        elif event.button.id == "cmd-boot":
            self.post_message(self.BootRequested())
        elif event.button.id == "cmd-save":
            self.post_message(self.SaveRequested())
