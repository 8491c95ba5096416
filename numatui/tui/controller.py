"""The TUI's controller: runs each user action of :class:`numatui.core.vm.Vm`
as a QMP step, one at a time, and owns the state around them (the busy
text, whether QEMU going away was told, the plan a refused move needs).

Each step runs under one lock as an async worker on the app's event loop
(the session's); failures become notifications here, in one place: QEMU's
text verbatim (never parsed as markup) plus what it means.  The controller
reaches the app only through :class:`Face`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from numatui.core.vm import ActionRefused, MoveRefused
from numatui.model.errors import NumaError
from numatui.model.topology import SlotKey
from numatui.session.errors import Disconnected, QemuRefused, SessionError
from numatui.session.replay import ATTACHED_EXPLANATION
from numatui.tui.clip import clip
from numatui.tui.refusals import refusal_reason

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.timer import Timer

    from numatui.core.vm import Vm
    from numatui.model.plan import Plan

#: A step quicker than this shows no busy text: no flash, and the result is the
#: key press's only repaint (a second one would wait for Textual's next frame).
BUSY_DELAY = 0.15


class Face(Protocol):
    """What the controller needs of the app."""

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def mask(self, text: str) -> str: ...

    def sync(self) -> None: ...

    def show_status(self) -> None: ...

    def set_timer(self, delay: float, callback: Callable[[], Any]) -> Timer: ...

    def start(self, work: Coroutine[Any, Any, None], group: str = "qmp") -> None: ...

    def deselect(self) -> None: ...

    def booting(self, busy: bool) -> None: ...

    async def copy(self, text: str) -> str: ...


class Controller:
    """One QMP step at a time, and the state around them."""

    def __init__(self, face: Face, vm: Vm) -> None:
        self.face = face
        self.vm = vm
        self._lock = asyncio.Lock()
        self.busy: str | None = None
        self.told_disconnected = False  # a step already showed QEMU going away
        #: the plan a refused move on an attached QEMU would need (palette: copy it)
        self.needed_plan: Plan | None = None

    def say(self, text: str, *, title: str = "", severity: SeverityLevel = "information",
            timeout: float | None = None) -> None:
        """A notification of ``text`` (masked, never markup)."""
        self.face.notify(self.face.mask(text), title=title, severity=severity, timeout=timeout,
                         markup=False)

    @contextlib.asynccontextmanager
    async def step(self, what: str) -> AsyncIterator[None]:
        """Run one QMP step under the lock, then redraw from the session; ``what``
        shows in the status bar if the step takes longer than BUSY_DELAY."""
        face = self.face
        async with self._lock:
            self.busy = what
            busy_timer = face.set_timer(BUSY_DELAY, face.show_status)
            try:
                yield
            except Disconnected as exc:
                self.told_disconnected = True
                saved = self.vm.keeper.saved_path
                where = f"\nThe plan is saved in {saved}." if saved else ""
                face.notify(clip(face.mask(str(exc))) + where, title="QEMU went away", severity="error",
                            timeout=30, markup=False)
            except (SessionError, NumaError) as exc:  # NumaError: a malformed reply, never a traceback
                face.notify(clip(face.mask(str(exc))), title="QEMU", severity="error", timeout=10,
                            markup=False)
            finally:
                busy_timer.stop()
                self.busy = None
                face.sync()

    # -- assign, add node --------------------------------------------------------------
    def assign(self, keys: Collection[SlotKey], node: int) -> None:
        """A digit key or a drop: :meth:`Vm.assign` as a step."""
        try:
            self.vm.check_assign(node)
        except ActionRefused as exc:
            self.face.notify(str(exc), severity="warning")
            return
        self.face.start(self._assign(keys, node))

    async def _assign(self, keys: Collection[SlotKey], node: int) -> None:
        vm = self.vm
        if vm.moves_by_relaunch(keys, node):
            self.face.notify(f"QEMU cannot move an assigned CPU: relaunching it with node {node} …",
                             title="Move", timeout=4)
            what = f"moving {len(keys)} slot(s) to node {node} (relaunching QEMU)"
        else:
            what = f"assigning {len(keys)} slot(s) to node {node}"
        async with self.step(what):
            try:
                await vm.assign(keys, node)
            except MoveRefused as exc:
                self.needed_plan = exc.plan
                self.face.notify(f"{clip(exc.qemu_message)}\n{ATTACHED_EXPLANATION}. "
                                 "Ctrl+p › \"Copy the plan this move needs\" copies it.",
                                 title="QEMU refused", severity="error", timeout=20, markup=False)
            except QemuRefused as exc:
                self.face.notify(f"{clip(exc.qemu_message)}\n{refusal_reason(exc.qemu_message, node)}",
                                 title="QEMU refused", severity="error", timeout=10, markup=False)
            else:
                self.face.deselect()

    async def add_node(self) -> None:
        async with self.step("adding a node"):
            node = await self.vm.add_node()
            if node.id < 10:
                hint = f"Press {node.id} to put CPUs on it."
            else:
                hint = "Assign to it from the command palette (ctrl+p)."
            self.face.notify(f"Node {node.id} added (memoryless). {hint}")

    async def assign_to_new_node(self, keys: Collection[SlotKey]) -> None:
        """A drop on the "new node" target: add a node live, then assign to it."""
        session = self.vm.session
        before = {n.id for n in session.nodes}
        await self.add_node()
        added = sorted(n.id for n in session.nodes if n.id not in before)
        if added:
            await self._assign(keys, added[0])

    # -- boot, copy ------------------------------------------------------------------------
    async def boot(self, force: bool) -> None:
        self.face.booting(True)
        try:
            async with self.step("booting the VM (x-exit-preconfig)"):
                await self.vm.boot(force=force)
                self.face.notify("QEMU is running. The node of every CPU is fixed now.", title="Booted")
        finally:
            self.face.booting(False)

    async def copy(self, text: str) -> None:
        self.face.notify(await self.face.copy(text), title="Copy", markup=False)

    # -- undo, redo, relaunch ------------------------------------------------------------
    async def undo(self, redo: bool = False) -> None:
        word = "redo" if redo else "undo"
        try:
            what = self.vm.check_undo(redo)
        except ActionRefused as exc:
            nothing = str(exc).startswith("Nothing to")
            self.face.notify(str(exc), title="" if nothing else f"Cannot {word}", severity="warning",
                             timeout=None if nothing else 15, markup=False)
            return
        self.face.notify(f"Relaunching QEMU to {word}: {what} …", title=word.capitalize(), timeout=4,
                         markup=False)
        async with self.step(f"{word}: {what} (relaunching QEMU)"):
            await self.vm.undo(redo)
            self.face.notify(f"{'Redone' if redo else 'Undone'}: {what}", title=word.capitalize(),
                             markup=False)
            self.face.deselect()

    async def relaunch_or_reconnect(self) -> None:
        try:
            how = self.vm.check_relaunch_or_reconnect()
        except ActionRefused as exc:
            self.face.notify(str(exc), severity="information")
            return
        if how == "relaunch":
            async with self.step("relaunching QEMU with the plan"):
                await self.vm.relaunch_or_reconnect()
                self.told_disconnected = False
                self.face.notify("QEMU relaunched in preconfig with the plan replayed.", title="Relaunched")
            return
        async with self.step(f"reconnecting to {self.face.mask(str(self.vm.session.address))}"):
            await self.vm.relaunch_or_reconnect()
            self.told_disconnected = False
            self.face.notify("Reconnected.", title="QEMU")
