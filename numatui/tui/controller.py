"""The TUI's one work queue and the controller around it: every user action
of :class:`numatui.core.vm.Vm` runs here as a QMP step, one at a time, in
the order asked, and this module owns the state around them (the busy
text, whether QEMU going away was told, the plan a refused move needs).

The path of a key press, each step calling only down::

    key / drop / editor / dialog     (app, a widget: takes its targets now)
      -> Controller.enqueue          (one asyncio.Queue, FIFO)
      -> Controller.serve            (the app's one @work(exclusive=True) worker)
      -> Vm action                   (numatui.core.vm: checks, raises ActionRefused)
      -> Session -> QMP              (numatui.session)
      -> state                       (the session's mirror of QEMU)
      -> repaint                     (step's end: Face.sync redraws from the state)

Whoever asks (a digit, a drop, an editor, hot-plug, relaunch, the boot
dialog, the domain save) puts a coroutine on the queue and returns; an
editor closing does not cancel what it queued (the worker is the app's).
Each job decides on the state the earlier jobs left, so keys act in the
order typed however long QEMU takes.  Failures become notifications here,
in one place: QEMU's text verbatim (never parsed as markup) plus what it
means.  The controller reaches the app only through :class:`Face`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from numatui.core.errors import ActionRefused, NothingToDo
from numatui.core.vm import MoveRefused
from numatui.model.errors import NumaError
from numatui.model.preflight import Finding, timeout_advice
from numatui.model.topology import SlotKey
from numatui.session.errors import BadRequest, CommandTimeout, Disconnected, QemuRefused, SessionError
from numatui.session.replay import ATTACHED_EXPLANATION
from numatui.tui.notices import clip

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from numatui.core.vm import Vm
    from numatui.model.plan import Plan

#: The status bar redraws a batch's progress at most this often (seconds).
PROGRESS_EVERY = 0.25

#: A step quicker than this shows no busy text: no flash, and the result is the
#: key press's only repaint (a second one would wait for Textual's next frame).
BUSY_DELAY = 0.15


def refusal_reason(qemu_message: str, node: int) -> str:
    """Why QEMU refused a set-numa-node, in plain words."""
    if "already assigned" in qemu_message:
        return ("QEMU cannot move a CPU that is already on a node: there is no undo in "
                "preconfig. Nothing else changed; to start over, quit and start QEMU again.")
    if "Invalid node-id" in qemu_message or "must be defined" in qemu_message:
        return f"Node {node} does not exist in QEMU yet: press n to add a node."
    if "not supported" in qemu_message:
        return "This board has no such CPU prop."
    return "QEMU refused the change; the grid shows what QEMU has now."


def internal_error(exc: BaseException) -> str:
    """The line a TUI shows for an exception nobody expected (the CLI's words)."""
    return f"internal error: {type(exc).__name__}: {exc}"


class Face(Protocol):
    """What the controller needs of the app."""

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def mask(self, text: str) -> str: ...

    def sync(self) -> None: ...

    def show_status(self) -> None: ...

    def booting(self, busy: bool) -> None: ...


Job = Coroutine[Any, Any, None]


class Controller:
    """One QMP step at a time, and the state around them."""

    def __init__(self, face: Face, vm: Vm) -> None:
        self.face = face
        self.vm = vm
        #: QMP work waiting its turn, in the order asked (see :meth:`enqueue`)
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.busy: str | None = None
        #: (replies, commands) of the running step's batch, as they come: ``applying 120/496``
        self.progress: tuple[int, int] | None = None
        self.busy_since = 0.0  # when the running step began (monotonic)
        #: when a boot was asked for that has not ended (monotonic; None: none): a second
        #: one is refused (X, the button)
        self.boot_requested: float | None = None
        #: set while the running job waits for the user's answer (the boot dialog);
        #: the jobs behind it wait for that answer too
        self.asking = asyncio.Event()
        self.told_disconnected = False  # a step already showed QEMU going away
        #: the plan a refused move on an attached QEMU would need (palette: copy it)
        self.needed_plan: Plan | None = None

    def enqueue(self, work: Job) -> None:
        """Run ``work`` after every job queued before it (FIFO, one at a time).

        Every QMP action comes through here, whichever widget asked, so keys
        act in the order they were pressed however long QEMU takes (a move
        by relaunch included); each job decides what to do (node exists,
        move or not) when it runs, on the state the earlier jobs left."""
        self.queue.put_nowait(work)

    @property
    def queued(self) -> int:
        """Jobs waiting (not counting the one running)."""
        return self.queue.qsize()

    async def idle(self) -> None:
        """Until every job asked is done, or the running one waits for the
        user's answer (nothing can run before it)."""
        done = asyncio.ensure_future(self.queue.join())
        asking = asyncio.ensure_future(self.asking.wait())
        try:
            await asyncio.wait((done, asking), return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            asking.cancel()

    async def serve(self) -> None:
        """The queue's one consumer (the app runs it as its one exclusive
        worker, as Textual's ``DirectoryTree._loader``): each job in turn,
        until the app ends; a job's bug is said and the next one runs."""
        try:
            while True:
                job = await self.queue.get()
                try:
                    await job
                except Exception as exc:  # step() catches QEMU's failures; this is a bug
                    self.face.notify(clip(self.face.mask(internal_error(exc))), title="numatui",
                                     severity="error", timeout=30, markup=False)
                finally:
                    self.queue.task_done()
        finally:  # the app is closing: never leave a coroutine un-awaited
            while not self.queue.empty():
                self.queue.get_nowait().close()

    def say(self, text: str, *, title: str = "", severity: SeverityLevel = "information",
            timeout: float | None = None) -> None:
        """A notification of ``text`` (masked, never markup)."""
        self.face.notify(self.face.mask(text), title=title, severity=severity, timeout=timeout,
                         markup=False)

    @contextlib.asynccontextmanager
    async def step(self, what: str) -> AsyncIterator[None]:
        """Run one QMP step (the queue runs one at a time), then redraw from the
        session; ``what`` shows in the status bar if the step takes longer than BUSY_DELAY, and
        the state badge counts its seconds (``booting 12 s``) until it ends."""
        face = self.face
        loop = asyncio.get_running_loop()
        timers: list[asyncio.TimerHandle] = []  # loop timers: a Textual one is a task per step

        def tick() -> None:
            face.show_status()
            timers.append(loop.call_later(1.0, tick))

        self.busy = what
        self.busy_since = time.monotonic()
        timers.append(loop.call_later(BUSY_DELAY, tick))
        shown = [0.0]

        def progress(replies: int, commands: int) -> None:  # a batch's replies coming in
            self.progress = (replies, commands)
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_EVERY and now - self.busy_since >= BUSY_DELAY:
                shown[0] = now
                face.show_status()

        session = self.vm.session
        session.progress = progress
        try:
            yield
        except Disconnected as exc:
            self.told_disconnected = True
            saved = self.vm.keeper.saved_path
            where = f"\nThe plan is saved in {saved}." if saved else ""
            face.notify(clip(face.mask(str(exc))) + where, title="QEMU went away", severity="error",
                        timeout=30, markup=False)
        except ActionRefused as exc:  # numatui's own refusal: nothing was sent
            face.notify(face.mask(str(exc)), severity="warning", markup=False)
        except (SessionError, NumaError) as exc:  # NumaError: a malformed reply, never a traceback
            words = str(exc)
            if isinstance(exc, CommandTimeout):
                words += f"; {timeout_advice(exc.command)}"
            face.notify(clip(face.mask(words)), title="QEMU", severity="error", timeout=10,
                        markup=False)
        except Exception as exc:  # a bug: said, and the app (and the VM it launched) stay
            face.notify(clip(face.mask(internal_error(exc))), title="numatui", severity="error",
                        timeout=30, markup=False)
        finally:
            timers[-1].cancel()
            session.progress = None
            self.busy, self.progress = None, None
            face.sync()

    # -- assign, add node --------------------------------------------------------------
    async def assign(self, keys: Collection[SlotKey], node: int,
                     restore: Callable[[], None] | None = None) -> None:
        """A digit key or a drop: :meth:`Vm.assign` as a step.  ``keys`` were
        taken when the key came (the selection is cleared then); ``restore``
        gives the selection back when the assignment is refused."""
        vm = self.vm

        def relaunching() -> None:
            self.face.notify(f"QEMU cannot move an assigned CPU: relaunching it with node {node} …",
                             title="Move", timeout=4)
            self.busy = f"moving {len(keys)} slot(s) to node {node} (relaunching QEMU)"

        async with self.step(f"assigning {len(keys)} slot(s) to node {node}"):
            try:  # decided now, by the Vm, on what every earlier key left
                await vm.assign(keys, node, relaunching)
            except ActionRefused as exc:
                self.face.notify(str(exc), severity="warning")
            except MoveRefused as exc:
                self.needed_plan = exc.plan
                self.face.notify(f"{clip(exc.qemu_message)}\n{ATTACHED_EXPLANATION}. "
                                 "Ctrl+p › \"Copy the plan this move needs\" copies it.",
                                 title="QEMU refused", severity="error", timeout=20, markup=False)
            except QemuRefused as exc:
                self.face.notify(f"{clip(exc.qemu_message)}\n{refusal_reason(exc.qemu_message, node)}",
                                 title="QEMU refused", severity="error", timeout=10, markup=False)
            else:
                return
            if restore:  # refused: the selection comes back
                restore()

    async def add_node(self, for_drop: bool = False) -> None:
        async with self.step("adding a node"):
            node = await self.vm.add_node()
            hint = (f" Press {node.id} to put CPUs on it." if node.id < 10
                    else " Assign to it from the command palette (ctrl+p).")
            self.face.notify(f"Node {node.id} added (memoryless)." + ("" if for_drop else hint))

    async def assign_to_new_node(self, keys: Collection[SlotKey],
                                 restore: Callable[[], None] | None = None) -> None:
        """A drop on the "new node" target: add a node live, then assign to it."""
        session = self.vm.session
        before = {n.id for n in session.nodes}
        await self.add_node(for_drop=True)
        added = sorted(n.id for n in session.nodes if n.id not in before)
        if added:
            await self.assign(keys, added[0], restore)
        elif restore:
            restore()

    async def apply_preset(self, name: str, into: int | None = None, add_nodes: bool = False) -> None:
        """A preset over the whole machine (the chooser or the palette), as one step."""
        onto = f" onto {into} node(s)" if into is not None else ""
        async with self.step(f"applying preset {name}{onto}"):
            try:
                done = await self.vm.apply_preset(name, into, add_nodes)
            except QemuRefused as exc:
                self.face.notify(f"{clip(exc.qemu_message)}\nA preset maps every slot; QEMU cannot "
                                 "move a CPU already on a node (undo, or relaunch, first).",
                                 title="QEMU refused", severity="error", timeout=10, markup=False)
            except (NumaError, BadRequest, ActionRefused) as exc:
                self.say(str(exc), title=f"Preset {name}", severity="warning")
            else:
                self.say(f"{done.vcpus} vCPUs on {done.nodes} node(s) with {done.commands} command(s).",
                         title=f"Preset {name}{onto}")

    async def apply_saved(self, plan: Plan) -> None:
        """The saved plan onto a QEMU that lacks it (after R reconnected), as one step."""
        async with self.step("applying the saved plan"):
            try:
                applied = await self.vm.apply_plan(plan, lambda _args: None)
            except NumaError as exc:
                self.say(f"The saved plan does not fit this QEMU: {exc}", severity="error")
                return
            self.say(f"Saved plan applied: {applied.slots} slot(s) on {applied.nodes} node(s), "
                     f"{applied.commands} command(s).", title="Plan")

    # -- boot ------------------------------------------------------------------------
    async def boot(self, force: bool, findings: Sequence[Finding]) -> None:
        """Boot by the preflight ``findings`` the user saw (run once)."""
        self.face.booting(True)
        try:
            async with self.step("booting the VM (x-exit-preconfig)"):
                pinned = await self.vm.boot(force=force, findings=findings)
                self.face.notify("QEMU is running. The node of every CPU is fixed now."
                                 + (f" {len(pinned.applied)} vCPU(s) pinned." if pinned else ""),
                                 title="Booted")
                if self.vm.pin_error:
                    self.face.notify(self.vm.pin_error, title="Pinning refused", severity="error",
                                     markup=False)
        finally:
            self.face.booting(False)

    # -- undo, redo, relaunch ------------------------------------------------------------
    async def undo(self, redo: bool = False) -> None:
        word = "redo" if redo else "undo"

        def relaunching(what: str) -> None:
            self.face.notify(f"Relaunching QEMU to {word}: {what} …", title=word.capitalize(), timeout=4,
                             markup=False)
            self.busy = f"{word}: {what} (relaunching QEMU)"

        async with self.step(word):
            try:
                what = await self.vm.undo(redo, relaunching)
            except ActionRefused as exc:
                nothing = isinstance(exc, NothingToDo)
                self.face.notify(str(exc), title="" if nothing else f"Cannot {word}", severity="warning",
                                 timeout=None if nothing else 15, markup=False)
                return
            self.face.notify(f"{'Redone' if redo else 'Undone'}: {what}", title=word.capitalize(),
                             markup=False)

    async def relaunch_or_reconnect(self) -> None:
        where = self.face.mask(str(self.vm.session.address))
        async with self.step("relaunching QEMU with the plan" if self.vm.can_relaunch
                             else f"reconnecting to {where}"):
            try:
                how = await self.vm.relaunch_or_reconnect()
            except ActionRefused as exc:
                self.face.notify(str(exc), severity="information")
                return
            self.told_disconnected = False
            if how == "relaunch":
                self.face.notify("QEMU relaunched in preconfig with the plan replayed.", title="Relaunched")
            else:
                self.face.notify("Reconnected.", title="QEMU")
