"""Screen cost against slot count: 4096 slots vs 16, same terminal size.

``render_scaling``: the grid widget alone in a tiny app (as the issue says:
a synthetic topology fed to the grid).  Per sample, from the change until the
grid has repainted (:class:`~numatui.bench.paint.GridPaints`): a cursor move
(the ``right``/``left`` key posted to the app, as a terminal would) and an
assignment arriving (``CpuGrid.set_topology`` with QEMU's new mapping,
alternately node 1 and node 2) of the core under the cursor: the same change
on screen at both sizes (one row), so the ratio isolates the slot count.
The new topology is parsed from a query-hotpluggable-cpus reply, as the
session does after every set-numa-node (:func:`~numatui.bench.synthetic.with_group_on`),
before the span starts: the span is the grid's part, as in ``app.sync()``.
Assigning the whole socket 0 is measured too, as context: it changes 8 cells
on 2 rows at 16 slots but 256 cells filling the screen at 4096.

The ratio uses the process CPU time of that span: its wall time is mostly
Textual's 60 Hz frame timer (a change waits up to 16.7 ms for the next frame
at any slot count), which would hide the cost the goal is about.  Wall times
are reported beside it.

``first_paint_scaling`` and ``memory_scaling`` run in child processes
(:mod:`numatui.bench.child`), the whole ``NumaApp`` on a session connected
to a real QEMU in preconfig when one >= 9.0 is found (4096 slots), else on a
stand-in session with the synthetic topology:
from constructing the app to its first full paint, and its peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from textual import events
from textual.app import App, ComposeResult

from numatui.bench.paint import PAINT_TIMEOUT, BenchError, GridPaints, settled
from numatui.bench.synthetic import topology, with_group_on
from numatui.model.topology import Topology
from numatui.tui.grid import CpuGrid

#: Same terminal for both sizes.
SIZE = (120, 40)


class GridOnlyApp(App[None]):
    """The CPU grid and nothing else."""

    def __init__(self, topo: Topology) -> None:
        super().__init__()
        self.topo = topo

    def compose(self) -> ComposeResult:
        yield CpuGrid(self.topo, id="grid")

    def on_mount(self) -> None:
        self.query_one(CpuGrid).focus()


@dataclass
class RenderRun:
    cursor_cpu: list[float] = field(default_factory=list)
    cursor_wall: list[float] = field(default_factory=list)
    assign_cpu: list[float] = field(default_factory=list)
    assign_wall: list[float] = field(default_factory=list)
    socket_cpu: list[float] = field(default_factory=list)
    socket_wall: list[float] = field(default_factory=list)


class _Span:
    """Wall and process CPU time of a ``with`` block."""

    def __enter__(self) -> _Span:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


async def _cursor_to(app: App[None], grid: CpuGrid, paints: GridPaints, key: str, target: int) -> None:
    before = paints.lines
    app.post_message(events.Key(key, None))
    deadline = time.monotonic() + PAINT_TIMEOUT
    while grid.cursor != target:
        if time.monotonic() > deadline:
            raise BenchError(f"`{key}` did not move the cursor to {target}")
        await asyncio.sleep(0)
    await paints.painted_since(grid, before)


async def render_round(slots: int, moves: int, topo: Topology | None = None) -> RenderRun:
    """``moves`` cursor moves and ``moves`` assignments on a fresh grid app
    (``topo``: as a real QEMU reported it; default: the synthetic one)."""
    run = RenderRun()
    topo = topo if topo is not None else topology(slots)
    core = (("socket-id", 0), ("core-id", 0))  # under the cursor (slot 0 or 1)
    cores = [with_group_on(topo, core, 1), with_group_on(topo, core, 2)]
    sockets = [with_group_on(topo, core[:1], 1), with_group_on(topo, core[:1], 2)]
    app = GridOnlyApp(topo)
    with GridPaints() as paints:
        async with app.run_test(size=SIZE):
            await paints.first_paint(app)
            grid = app.query_one("#grid", CpuGrid)
            for i in range(moves):
                key, target = ("right", 1) if i % 2 == 0 else ("left", 0)
                with _Span() as span:
                    await _cursor_to(app, grid, paints, key, target)
                run.cursor_cpu.append(span.cpu)
                run.cursor_wall.append(span.wall)
                await settled(app)  # nothing left over for the next sample
            for kind, mapped in (("assign", cores), ("socket", sockets)):
                for i in range(moves):
                    before = paints.lines
                    with _Span() as span:
                        grid.set_topology(mapped[i % 2])
                        await paints.painted_since(grid, before)
                    getattr(run, f"{kind}_cpu").append(span.cpu)
                    getattr(run, f"{kind}_wall").append(span.wall)
                    await settled(app)
    return run


@dataclass
class ChildRun:
    first_paint: float
    first_paint_cpu: float
    peak_rss_kib: int  # VmHWM: this child's own peak
    max_rss_kib: int  # ru_maxrss: includes the forking parent's RSS (Linux)


def child_run(slots: int, socket: str | None = None) -> ChildRun:
    """A fresh interpreter runs NumaApp with ``slots`` slots (numatui.bench.child):
    connected to the real QEMU on ``socket``, else on the synthetic stand-in."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="numatui-bench-") as state:
        env["XDG_STATE_HOME"] = state  # the app's autosave and records stay out of the user's
        proc = subprocess.run(
            [sys.executable, "-m", "numatui.bench.child", str(slots), f"{SIZE[0]}x{SIZE[1]}",
             *([socket] if socket else [])],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )
    if proc.returncode != 0:
        raise BenchError(f"child for {slots} slots failed: {proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return ChildRun(float(data["first_paint"]), float(data["first_paint_cpu"]),
                    int(data["peak_rss_kib"]), int(data["max_rss_kib"]))
