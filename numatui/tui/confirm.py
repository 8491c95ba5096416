"""A yes/no question in a small dialog: quitting would stop a running guest
numatui launched (:func:`stop_guest_dialog`); after ``R`` reconnected to a
fresh QEMU, apply the saved plan (:func:`apply_saved_dialog`).

Dismisses with True (yes) or False (no).  Its footer shows its own keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from numatui.core.vm import is_booted, run_state
from numatui.tui.dialog import ButtonDialog

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.model.plan import Plan


QUIT_QUESTION = ("The guest is running in the QEMU numatui started (pid {pid}); quitting numatui "
                 "stops it. Start numatui with --keep-running to leave QEMU running after you quit.")

APPLY_QUESTION = ("This QEMU does not hold the saved plan ({what}; saved in {where}). "
                  "Apply it now, live?")


class ConfirmDialog(ButtonDialog[bool]):
    DEFAULT_CSS = "ConfirmDialog > Vertical { width: 72; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,y", "confirm", "Yes", priority=True),
        Binding("escape,n", "cancel", "No"),
    ]

    def __init__(self, title: str, question: str, yes: str, no: str) -> None:
        super().__init__()
        self.box_title, self.question, self.yes, self.no = title, question, yes, no

    def body(self) -> ComposeResult:
        yield Static(self.question, id="question", markup=False)
        yield from self.buttons(self.yes, self.no)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def stop_guest_dialog(vm: Vm) -> ConfirmDialog | None:
    """The question before quitting stops the guest (None: quitting does not).
    Quitting ends a running guest when numatui started QEMU, the machine is
    built, QEMU is still there and ``--keep-running`` was not given."""
    launcher = vm.launcher
    if (launcher is None or launcher.keep_running or not is_booted(vm.session)
            or run_state(vm.session) == "disconnected"):
        return None
    return ConfirmDialog("Quit and stop the guest?", QUIT_QUESTION.format(pid=launcher.pid),
                         "Quit, stop QEMU", "Stay")


def apply_saved_dialog(plan: Plan, where: str) -> ConfirmDialog:
    """Whether to apply ``plan`` (saved in ``where``) to a QEMU that lacks it."""
    cpus = sum(1 for _ in plan.cpus)
    what = f"{len(plan.nodes)} node(s), {cpus} -numa cpu option(s)"
    return ConfirmDialog("Apply the saved plan?", APPLY_QUESTION.format(what=what, where=where),
                         "Apply", "Not now")
