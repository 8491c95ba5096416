"""The banner shown while QEMU is gone: why, QEMU's last words, where the
plan is saved, and what to do (R relaunches or reconnects)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from numatui.session.machine import RunState
from numatui.tui.notices import clip
from numatui.tui.paint import FollowsVm, update_static

if TYPE_CHECKING:
    from numatui.core.vm import Vm


class DisconnectedBanner(Static, FollowsVm):
    DEFAULT_CSS = """
    DisconnectedBanner { height: auto; max-height: 9; display: none; padding: 0 1;
                         background: $error 25%; color: $text; }
    DisconnectedBanner.shown { display: block; }
    """

    def __init__(self, vm: Vm, mask: Callable[[str], str], *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.vm, self.mask = vm, mask
        self.reason = "QEMU went away"
        self.stderr: str | None = None

    def lost(self, reason: str, stderr: str | None) -> None:
        self.reason = reason
        self.stderr = stderr

    def redraw(self) -> None:
        vm, mask = self.vm, self.mask
        gone = vm.session.state is RunState.DISCONNECTED
        self.set_class(gone, "shown")
        if not gone:
            return
        text = Text.assemble(("Disconnected: ", "bold"), clip(mask(self.reason), 300))
        if self.stderr:
            text.append("\nQEMU said:", style="bold")
            for line in self.stderr.strip().splitlines()[-4:]:
                text.append("\n  " + clip(mask(line), 200))
        if vm.keeper.saved_path:
            text.append(f"\nThe plan is saved in {mask(vm.keeper.saved_path)}.")
        text.append("\nPress R to relaunch QEMU with this plan. " if vm.can_relaunch
                    else "\nStart QEMU again, then press R to reconnect. ", style="bold")
        text.append("The grid and the command line stay readable; y copies.")
        update_static(self, text)
