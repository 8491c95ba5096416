"""The app's QMP operations: one at a time, shown while they run, then a redraw.

Each method is a coroutine the app runs as an async worker on its own event
loop (the session's).  Failures become notifications here, in one place:
QEMU's text verbatim (never parsed as markup) plus what it means.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING

from numatui.model.errors import NumaError
from numatui.model.topology import SlotKey
from numatui.session.errors import Disconnected, QemuRefused, SessionError
from numatui.tui.clipboard import copy_text
from numatui.tui.messages import refusal_reason
from numatui.tui.resilience import clip

if TYPE_CHECKING:
    from numatui.tui.app import NumaApp


#: A step quicker than this shows no busy text: no flash, and the result is the
#: key press's only repaint (a second one would wait for Textual's next frame).
BUSY_DELAY = 0.15


class Operations:
    def __init__(self, app: NumaApp) -> None:
        self.app = app
        self._lock = asyncio.Lock()
        self.busy: str | None = None
        self.told_disconnected = False  # a step already showed QEMU going away

    @contextlib.asynccontextmanager
    async def step(self, what: str) -> AsyncIterator[None]:
        """Run one QMP step under the lock, then redraw from the session; ``what``
        shows in the status bar if the step takes longer than BUSY_DELAY."""
        app = self.app
        async with self._lock:
            self.busy = what
            busy_timer = app.set_timer(BUSY_DELAY, app.show_status)
            try:
                yield
            except Disconnected as exc:
                self.told_disconnected = True
                saved = getattr(getattr(app, "keeper", None), "saved_path", None)
                where = f"\nThe plan is saved in {saved}." if saved else ""
                app.notify(clip(app.mask(str(exc))) + where, title="QEMU went away", severity="error",
                           timeout=30, markup=False)
            except (SessionError, NumaError) as exc:  # NumaError: a malformed reply, never a traceback
                app.notify(clip(app.mask(str(exc))), title="QEMU", severity="error", timeout=10,
                           markup=False)
            finally:
                busy_timer.stop()
                self.busy = None
                app.sync()

    async def assign(self, keys: Collection[SlotKey], node: int) -> None:
        app = self.app
        async with self.step(f"assigning {len(keys)} slot(s) to node {node}"):
            try:
                await app.session.assign(keys, node)
            except QemuRefused as exc:
                app.notify(f"{clip(exc.qemu_message)}\n{refusal_reason(exc.qemu_message, node)}",
                           title="QEMU refused", severity="error", timeout=10, markup=False)
            else:
                app.grid.clear_selection()

    async def add_node(self) -> None:
        app = self.app
        async with self.step("adding a node"):
            node = await app.session.add_node()
            if node.id < 10:
                hint = f"Press {node.id} to put CPUs on it."
            else:
                hint = "Assign to it from the command palette (ctrl+p)."
            app.notify(f"Node {node.id} added (memoryless). {hint}")

    async def assign_to_new_node(self, keys: Collection[SlotKey]) -> None:
        """A drop on the "new node" target: add a node live, then assign to it."""
        before = {n.id for n in self.app.session.nodes}
        await self.add_node()
        added = sorted(n.id for n in self.app.session.nodes if n.id not in before)
        if added:
            await self.assign(keys, added[0])

    async def boot(self, force: bool) -> None:
        app = self.app
        app.grid.loading = True
        try:
            async with self.step("booting the VM (x-exit-preconfig)"):
                await app.session.exit_preconfig(force=force)
                app.notify("QEMU is running. The node of every CPU is fixed now.", title="Booted")
        finally:
            app.grid.loading = False
            app.grid.focus()
            # the footer rebuilt its keys while the loading indicator had the
            # focus; once the grid has it back, rebuild them with its keys
            app.call_after_refresh(app.refresh_bindings)

    async def copy(self, text: str) -> None:
        self.app.notify(await copy_text(self.app, text), title="Copy", markup=False)
