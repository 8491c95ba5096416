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
from textual.widgets import Button, Label, Static
from textual.widgets.button import ButtonVariant

from numatui.core.actions import key_of
from numatui.core.export import VIEWS, render
from numatui.core.vm import Vm
from numatui.tui.paint import FollowsVm, update_static

#: Below this many terminal rows the panel keeps its smallest size (6 rows, so
#: the grid keeps a whole socket of a big VM at 80x24); from it, two fifths of
#: the height (at 200x60 a full command line or a JSON plan fits).
SMALL_HEIGHT = 30
#: Terminal columns from which the QMP log sits beside the panel instead of replacing it.
LOG_BESIDE_WIDTH = 140
#: (label, action, id, variant) of the panel's buttons.
BUTTONS: tuple[tuple[str, str, str, ButtonVariant], ...] = (
    ("View", "next_view", "cmd-view", "default"), ("Copy", "copy", "cmd-copy", "primary"),
    ("Exit preconfig", "exit_preconfig", "cmd-boot", "warning"),
    ("Save to domain", "save_domain", "cmd-save", "success"))


class CommandScroll(ScrollableContainer):
    """The panel's text; focusable, so arrows and PageUp/PageDown scroll it."""

    DEFAULT_CSS = """
    CommandScroll { height: 1fr; padding: 0 1; }
    CommandScroll:focus { background-tint: $foreground 5%; }
    """


class CommandPanel(Vertical, FollowsVm):
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

    def __init__(self, vm: Vm, mask: Callable[[str], str], *, keymap: Mapping[str, str] | None = None,
                 id: str | None = None) -> None:
        """``mask``: applied to the text shown; ``keymap``: the user's keys, which the buttons name."""
        super().__init__(id=id)
        self.vm, self.mask = vm, mask
        self.view = "compact"
        self.text = ""
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        """The buttons run the app's actions of their keys (as the keys do: only where allowed)."""
        with Horizontal(id="cmd-bar"):
            yield Label("", id="cmd-title")
            for label, action, id, variant in BUTTONS:
                yield Button(f"{label} ({key_of(action, self.keymap)})", id=id, compact=True,
                             variant=variant, action=f"app.{action}")
        with CommandScroll(id="cmd-scroll"):
            yield Static("", id="cmd-text")

    def redraw(self) -> None:
        """The view of QEMU's state now (QEMU strings inside: never parsed as
        markup); the Exit preconfig button only before boot."""
        self.text = render(self.view, self.vm.session)
        update_static(self.query_one("#cmd-title", Label), f"{VIEWS[self.view]}  ·  v: switch view")
        update_static(self.query_one("#cmd-text", Static), Text(self.mask(self.text)))
        boot = self.query_one("#cmd-boot", Button)
        if boot.display == self.vm.booted:
            boot.display = not self.vm.booted

    def next_view(self) -> None:
        names = list(VIEWS)
        self.view = names[(names.index(self.view) + 1) % len(names)]
        self.redraw()
