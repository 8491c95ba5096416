"""The topology dialog: another ``-smp`` (sockets, dies, clusters, cores,
threads, maxcpus) or CPU model for a QEMU numatui started.

QEMU fixes both when it starts, so applying starts a new QEMU with them and
replays the plan (:meth:`numatui.core.vm.Vm.set_topology`): the slots that
still exist keep their node, and the dialog says which assigned slots are
gone.  Two inputs (tab between them), enter applies, esc closes.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from numatui.model.topology import format_key
from numatui.tui.editing import MessageLine, VmDialog

#: How many gone slots the message names before "and N more".
NAMED = 4


class SmpEditor(VmDialog):
    """Edit ``-smp`` and ``-cpu`` of ``vm`` (see the module docstring)."""

    DEFAULT_CSS = """
    SmpEditor > Vertical { width: 72; }
    SmpEditor Input { width: 100%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]
    PREFIX = "smp"
    box_title = "CPU topology (-smp, -cpu)"

    def body(self) -> ComposeResult:
        smp, cpu = self.vm.topology_options()
        yield Static("QEMU fixes these when it starts: enter starts a new QEMU with them and "
                     "replays the plan; slots that still exist keep their node.", id="smp-help")
        yield Input(smp, placeholder="8,sockets=2,dies=1,clusters=1,cores=2,threads=2,maxcpus=8",
                    id="smp-input")
        yield Input(cpu, placeholder="CPU model (empty: QEMU's default), like max", id="cpu-input")
        yield MessageLine("", id="smp-message")

    def on_mount(self) -> None:
        self.query_one("#smp-input", Input).border_title = "-smp"
        self.query_one("#cpu-input", Input).border_title = "-cpu"
        if not self.vm.can_relaunch or self.vm.launcher is None:
            self.message.say("Read-only: numatui did not start this QEMU, or the VM has booted; "
                             "-smp and -cpu are fixed when QEMU starts.", "error")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        """A new QEMU with these, on the app's queue (closing the editor cancels nothing)."""
        self.run(self.apply(self.query_one("#smp-input", Input).value.strip(),
                            self.query_one("#cpu-input", Input).value.strip()), "smp")

    async def apply(self, smp: str, cpu: str) -> None:
        self.message.say(f"Starting a new QEMU with -smp {smp} and replaying the plan\u2026")
        async with self.sending("relaunching QEMU with a new CPU topology"):
            gone = await self.vm.set_topology(smp, cpu)
            pid = self.vm.launcher.pid if self.vm.launcher is not None else "?"
            if gone:
                named = ", ".join(format_key(k) for k in gone[:NAMED])
                more = f" and {len(gone) - NAMED} more" if len(gone) > NAMED else ""
                self.message.say(f"Applied (QEMU pid {pid}); not carried over, the slot is gone: "
                                 f"{named}{more}.")
            else:
                self.message.say(f"Applied (QEMU pid {pid}): every assigned slot kept its node.", "ok")
            self.changed()
