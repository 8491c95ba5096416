"""The topology dialog: another ``-smp`` (sockets, dies, clusters, cores,
threads, maxcpus) or CPU model for a QEMU numatui started.

QEMU fixes both when it starts, so applying starts a new QEMU with them and
replays the plan (:meth:`numatui.core.vm.Vm.set_topology`): the slots that
still exist keep their node, and the dialog says which assigned slots are
gone.  Two inputs (tab between them), enter applies, esc closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Input, Static

from numatui.core.errors import ActionRefused
from numatui.model.topology import format_key
from numatui.session.errors import SessionError
from numatui.session.replay import ReplayFailed
from numatui.tui.dialog import Dialog
from numatui.tui.editing import Enqueue, MessageLine, Step, error_words, local_step, run_on

if TYPE_CHECKING:
    from numatui.core.vm import Vm

#: How many gone slots the message names before "and N more".
NAMED = 4


class SmpEditor(Dialog[None]):
    """Edit ``-smp`` and ``-cpu`` of ``vm`` (see the module docstring)."""

    DEFAULT_CSS = """
    SmpEditor > Vertical { width: 72; }
    SmpEditor Input { width: 100%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, vm: Vm, *, step: Step | None = None, enqueue: Enqueue | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.vm = vm
        self.step = step or local_step()
        self.enqueue = enqueue
        self.on_change = on_change

    def compose(self) -> ComposeResult:
        smp, cpu = self.vm.topology_options()
        with Vertical() as box:
            box.border_title = "CPU topology (-smp, -cpu)"
            yield Static("QEMU fixes these when it starts: enter starts a new QEMU with them and "
                         "replays the plan; slots that still exist keep their node.", id="smp-help")
            yield Input(smp, placeholder="8,sockets=2,dies=1,clusters=1,cores=2,threads=2,maxcpus=8",
                        id="smp-input")
            yield Input(cpu, placeholder="CPU model (empty: QEMU's default), like max", id="cpu-input")
            yield MessageLine("", id="smp-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#smp-input", Input).border_title = "-smp"
        self.query_one("#cpu-input", Input).border_title = "-cpu"
        if not self.vm.can_relaunch or self.vm.launcher is None:
            self.message.say("Read-only: numatui did not start this QEMU, or the VM has booted; "
                             "-smp and -cpu are fixed when QEMU starts.", "error")

    @property
    def message(self) -> MessageLine:
        """The message line; once closed, one nobody sees (the work goes on)."""
        try:
            return self.query_one("#smp-message", MessageLine)
        except NoMatches:
            return MessageLine()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.apply(self.query_one("#smp-input", Input).value.strip(),
                   self.query_one("#cpu-input", Input).value.strip())

    def apply(self, smp: str, cpu: str) -> None:
        """A new QEMU with these, on the app's queue (closing the editor cancels nothing)."""
        run_on(self, self.enqueue, self._apply(smp, cpu), "smp")

    async def _apply(self, smp: str, cpu: str) -> None:
        self.message.say(f"Starting a new QEMU with -smp {smp} and replaying the plan\u2026")
        async with self.step("relaunching QEMU with a new CPU topology"):
            try:
                gone = await self.vm.set_topology(smp, cpu)
            except ReplayFailed as exc:
                where = "still on the old QEMU" if exc.restored else "QEMU is gone"
                self.message.say(f"{error_words(exc)} ({where})", "error")
                return
            except (SessionError, ActionRefused) as exc:
                self.message.say(error_words(exc), "error")
                return
        pid = self.vm.launcher.pid if self.vm.launcher is not None else "?"
        if gone:
            named = ", ".join(format_key(k) for k in gone[:NAMED])
            more = f" and {len(gone) - NAMED} more" if len(gone) > NAMED else ""
            self.message.say(f"Applied (QEMU pid {pid}); not carried over, the slot is gone: "
                             f"{named}{more}.")
        else:
            self.message.say(f"Applied (QEMU pid {pid}): every assigned slot kept its node.", "ok")
        if self.on_change is not None:
            self.on_change()

    def action_close(self) -> None:
        self.dismiss(None)
