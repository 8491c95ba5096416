"""Context for ``keypress_ratio``: what any Textual app on qemu.qmp pays.

A minimal app with no numatui code: one ``Static`` at the same terminal
size, on its own identical VM.  Its digit key runs a worker that sends the
same ``set-numa-node`` and ``query-hotpluggable-cpus`` through qemu.qmp's
``QMPClient`` (as numatui runs it: :class:`numatui.session.connect.Client`,
whose message hooks skip formatting for a debug log that is off; a stock
client pays ~1 ms more per 240-slot reply), then puts one line in the
Static without a layout pass; the
clock stops when the Static's repaint is complete.  No Textual app using qemu.qmp
can answer the key faster: this over the raw floor is the part of
``keypress_ratio`` numatui cannot remove (key dispatch, a worker, qemu.qmp's
tasks and queues, one compositor pass).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from qemu.qmp import QMPClient
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widgets import Static

from numatui.bench.paint import PAINT_TIMEOUT, BenchError, new_worker, settled


class Probe(Static):
    """A Static that counts the lines it paints."""

    def __init__(self) -> None:
        super().__init__("", id="probe")
        self.lines = 0
        self.painted_at = 0.0  # perf_counter when the last render_line returned

    def render_line(self, y: int) -> Strip:
        self.lines += 1
        strip = super().render_line(y)
        self.painted_at = time.perf_counter()
        return strip


class MinimalApp(App[None]):
    """One Static; digit ``s`` puts socket ``s`` on node ``s`` over qemu.qmp."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding(str(n), f"assign({n})") for n in range(10)]

    def __init__(self, client: QMPClient) -> None:
        super().__init__()
        self.client = client
        self.lines_at_update = 0

    def compose(self) -> ComposeResult:
        yield Probe()

    def action_assign(self, socket: int) -> None:
        self.run_worker(self._assign(socket))

    async def _assign(self, socket: int) -> None:
        await self.client.execute("set-numa-node", {"type": "cpu", "node-id": socket, "socket-id": socket})
        reply: Any = await self.client.execute("query-hotpluggable-cpus")
        probe = self.query_one(Probe)
        self.lines_at_update = probe.lines
        probe.update(f"socket {socket} -> node {socket} ({len(reply)} slots listed)", layout=False)


async def press(app: MinimalApp, socket: int) -> float:
    """Seconds from posting the digit key until the Static's repaint was
    complete: the same steps and clock as numatui's side
    (:func:`numatui.bench.keypress._press_assign`)."""
    known = set(app.workers)
    start = time.perf_counter()
    app.post_message(events.Key(str(socket), str(socket)))
    worker = await new_worker(app, known)
    await worker.wait()
    probe = app.query_one(Probe)
    deadline = time.monotonic() + PAINT_TIMEOUT
    while probe.lines <= app.lines_at_update:
        if time.monotonic() > deadline:
            raise BenchError("the minimal Textual app did not repaint")
        await settled(app)
    seconds = probe.painted_at - start
    if f"socket {socket} ->" not in str(probe.content):
        raise BenchError(f"the minimal Textual app shows {probe.content!r}")
    return seconds
