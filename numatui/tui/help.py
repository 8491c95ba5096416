"""The help screen (``?``): every key, and what QEMU allows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from numatui.core.actions import help_rows, key_of
from numatui.tui.dialog import Dialog

#: Columns of the section names and of the keys.
SECTION, KEY = 12, 8

#: Lines before a section's keys: the grid's and the panel's own keys, not actions of the table.
BEFORE = {
    "Command": ("tab     focuses the panel: arrows, PageUp PageDown scroll it",),
}

MOUSE = """\
click a slot: it alone; ctrl+click: add or remove it
shift+click: every slot from the cursor to it, in
topology order (socket, die, core, thread)
click a socket or core label: its slots
drag across empty space: a band selects what it touches
drag slots onto a node (or + new node): assigned, live;
let go elsewhere or press escape: nothing is sent
hover: a slot's props; wheel: scroll; after boot: select only"""

QEMU = """\
[b]What QEMU allows[/b]
\u2022 Each assignment is sent to QEMU at once; the grid shows what QEMU
  reports.
\u2022 QEMU has no undo: a slot set on a node (marked \u2022) cannot move there.
  When numatui launched QEMU, a move or {undo} / {redo} relaunches it and
  replays the plan; attached, export the plan, restart QEMU with
  --preconfig and apply it.
\u2022 Slots left unassigned go to node 0 at boot, with a warning from QEMU.
\u2022 After boot the nodes are fixed; present CPUs show their cpu-index.

Press escape or {help} to close."""


def _section(name: str, rows: list[str]) -> list[str]:
    return [(f"[b]{name}[/b]" + " " * (SECTION - len(name)) if i == 0 else " " * SECTION) + row
            for i, row in enumerate(rows)]


def help_text(keymap: Mapping[str, str] | None = None) -> str:
    """The help: every key from :data:`numatui.core.actions.ACTIONS` by
    section, as ``keymap`` binds them, then the mouse and what QEMU allows."""
    lines = ["[b]numatui[/b] maps the guest's CPU slots to NUMA nodes in a QEMU in preconfig.", ""]
    for section, keys in help_rows(keymap):
        # a key aligned on the column, or its words after it when it is wider; "[" is literal
        rows = [f"{key:<{KEY - 1}} {what}".replace("[", "\\[") for key, what in keys]
        lines += _section(section, [*BEFORE.get(section, ()), *rows])
    lines += _section("Mouse", MOUSE.splitlines())
    return "\n".join([*lines, "", QEMU.format(undo=key_of("undo", keymap), redo=key_of("redo", keymap),
                                                help=key_of("help", keymap))])


HELP = help_text()


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = "HelpScreen > VerticalScroll { width: 90; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.text = help_text(keymap) if keymap else HELP

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text)
