"""The exit-preconfig dialog: preflight findings, blocking ones first, then boot.

Dismisses with the ``force`` flag to boot with (False normally, True when the
user forced past blocking findings), or None when cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Button, Checkbox, Static

from numatui.tui.dialog import ButtonDialog


def severity(finding: Any) -> str:
    return str(finding.severity.value)


#: Each severity's mark and style, in the order shown (blocking ones first).
MARKS = {"blocking": ("✖ blocking ", "bold #ef4444"), "warning": ("⚠ warning  ", "bold #f59e0b"),
         "info": ("ℹ note     ", "bold #38bdf8")}


def findings_text(findings: Sequence[Any]) -> Text:
    out = Text()
    if not findings:
        out.append("✔ No findings: QEMU should boot with this mapping.\n", style="bold #10b981")
    for f in sorted(findings, key=lambda f: list(MARKS).index(severity(f)) if severity(f) in MARKS else 1):
        out.append(*MARKS.get(severity(f), MARKS["warning"]))
        out.append(f"{f.message}\n")
    return out


class Tick(Checkbox):
    """A checkbox that reads ``✓`` ticked and blank unticked: Textual's shows
    an ``X`` either way (dimmed when off), which reads as ticked."""

    BUTTON_INNER = " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "\u2713" if self.value else " "
        super().watch_value()


class ExitDialog(ButtonDialog[bool | None]):
    DEFAULT_CSS = """
    ExitDialog > Vertical { width: 84; }
    ExitDialog #findings { height: auto; max-height: 12; }
    ExitDialog #force { margin: 1 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Boot", priority=True),
        Binding("f", "force", "Force"),
        Binding("escape", "cancel", "Cancel"),
    ]
    box_title = "Exit preconfig: build the machine and boot it"

    def __init__(self, findings: Sequence[Any]) -> None:
        super().__init__()
        self.findings = list(findings)
        self.blocking = [f for f in self.findings if severity(f) == "blocking"]

    def body(self) -> ComposeResult:
        yield Static("QEMU builds the machine with the current mapping; after that the node of "
                     "every CPU is fixed. Preflight findings:")
        with VerticalScroll(id="findings"):
            yield Static(findings_text(self.findings))
        if self.blocking:
            yield Tick("Force: boot despite the blocking findings (f)", id="force", compact=True)
        yield from self.buttons("Boot", "Cancel", disabled=bool(self.blocking))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.blocking) if action == "force" else True

    @on(Checkbox.Changed, "#force")
    def _forced(self, event: Checkbox.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not event.value

    def action_force(self) -> None:
        for box in self.query("#force").results(Checkbox):
            box.toggle()

    def action_confirm(self) -> None:
        if self.blocking and not any(b.value for b in self.query("#force").results(Checkbox)):
            self.notify("Blocking findings: fix them, or tick Force (f) to boot anyway.",
                        severity="warning")
            return
        self.dismiss(bool(self.blocking))

    def action_cancel(self) -> None:
        self.dismiss(None)
