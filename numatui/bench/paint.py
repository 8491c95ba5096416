"""Knowing when the screen has painted, without touching the app's code.

:class:`GridPaints` wraps two methods of the CPU grid class while it is
active (restored on exit): ``render_line`` (counted: the compositor calls it
while painting the grid's dirty lines, synchronously, so once the count
moves that paint is complete) and ``set_topology`` (the count at the last
call is kept: "repainted after an assignment" means a render_line after it).

:func:`settled` uses Textual's public ``call_after_refresh`` to sleep until
the screen is idle.  It alone is not proof of a paint: the screen may run the
callback before the grid has reported itself dirty, so every wait here also
checks the render_line count.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual.app import App
from textual.message_pump import MessagePump
from textual.strip import Strip
from textual.worker import Worker

from numatui.model.topology import Topology
from numatui.tui.grid import CpuGrid

#: Give up waiting for a paint after this long (a hung app must not hang the bench).
PAINT_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """A measurement did not do what it should (wrong mapping, no paint, ...)."""


async def settled(node: MessagePump) -> None:
    """Return once ``node``'s queued messages are handled and the screen is idle."""
    done = asyncio.Event()
    if not node.call_after_refresh(done.set):
        raise BenchError(f"{node!r} no longer takes messages")
    await asyncio.wait_for(done.wait(), PAINT_TIMEOUT)


class GridPaints:
    """Counts CpuGrid paints while active (``with GridPaints() as paints``)."""

    def __init__(self) -> None:
        self.lines = 0  # render_line calls so far
        self.lines_at_topology = 0  # ``lines`` when set_topology was last called
        #: perf_counter when the last render_line returned: once a wait here
        #: returns, when the grid's repaint was complete
        self.painted_at = 0.0
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> GridPaints:
        render_line, set_topology = CpuGrid.render_line, CpuGrid.set_topology
        self._saved = (render_line, set_topology)
        probe = self

        def counted_render_line(grid: CpuGrid, y: int) -> Strip:
            probe.lines += 1
            strip = render_line(grid, y)
            probe.painted_at = time.perf_counter()
            return strip

        def noted_set_topology(grid: CpuGrid, topology: Topology, **kwargs: Any) -> None:
            probe.lines_at_topology = probe.lines
            set_topology(grid, topology, **kwargs)

        CpuGrid.render_line = counted_render_line  # type: ignore[method-assign, assignment]
        CpuGrid.set_topology = noted_set_topology  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            CpuGrid.render_line, CpuGrid.set_topology = self._saved  # type: ignore[method-assign]

    async def painted_since(self, node: MessagePump, lines: int) -> None:
        """Wait until the grid has painted after the count was ``lines``."""
        deadline = time.monotonic() + PAINT_TIMEOUT
        while self.lines <= lines:
            if time.monotonic() > deadline:
                raise BenchError("the CPU grid did not repaint")
            await settled(node)

    async def first_paint(self, app: MessagePump) -> None:
        """Wait until the grid has drawn its rows for the first time."""
        await self.painted_since(app, 0)


async def new_worker(app: App[Any], known: set[Worker[Any]]) -> Worker[Any]:
    """The worker a key press started (the key is dispatched a few loop turns later)."""
    deadline = time.monotonic() + PAINT_TIMEOUT
    while time.monotonic() < deadline:
        for worker in app.workers:
            if worker not in known:
                return worker
        await asyncio.sleep(0)
    raise BenchError("the key press started no worker")
