"""The TUI on the real 240-vCPU VM: one key press assigning a selected socket.

numatui side: ``NumaApp(session)`` headless (``App.run_test``); for socket s
the cursor is put on it and ``s`` selects it (not timed); then the clock
runs from posting the digit key (``s`` -> node s) until the grid's repaint
after the app handed it QEMU's re-read topology is complete: the last line
the compositor asked of the grid in that frame
(:class:`~numatui.bench.paint.GridPaints`).  The other panels follow in the
next frame (``NumaApp.sync``): the time until the app is idle again, with
them redrawn, is kept beside it (``idle``), not in the ratio.  Floor side, on its own
identical VM, interleaved sample by sample: the raw client's same
set-numa-node plus one query-hotpluggable-cpus.  Context, on a third VM:
the minimal Textual app on qemu.qmp (:mod:`numatui.bench.textual_floor`),
the least any Textual app pays for the same key.  Eight sockets give eight
samples per set of VMs.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from textual import events

from numatui.bench import textual_floor
from numatui.bench.measures import mapping_of_reply
from numatui.bench.paint import PAINT_TIMEOUT, BenchError, GridPaints, settled
from numatui.bench.qemu_vm import CORES, SOCKETS, THREADS, fresh_vm, socket_path
from numatui.bench.raw_qmp import RawQmp
from numatui.session.connect import Client
from numatui.session.session import Session
from numatui.session.transcript import Entry
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid

#: The terminal the headless app runs in.
SIZE = (120, 40)


@dataclass
class KeypressRun:
    numatui: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    textual: list[float] = field(default_factory=list)  # the minimal Textual + qemu.qmp app
    qmp: list[float] = field(default_factory=list)  # of numatui's: first command sent to last reply
    idle: list[float] = field(default_factory=list)  # numatui's key until idle, panels redrawn too
    connect_to_first_paint: float = 0.0


async def keypress_pair(sockets: Sequence[int], profiler: cProfile.Profile | None = None) -> KeypressRun:
    """Three identical VMs: numatui's, the raw floor's and the minimal Textual
    app's; one sample each per socket, interleaved.  ``profiler`` (if given)
    runs during numatui's timed spans only."""
    run = KeypressRun()
    async with fresh_vm() as vm_app, fresh_vm() as vm_floor, fresh_vm() as vm_textual:
        with GridPaints() as paints:
            start = time.perf_counter()
            session = await Session.connect(vm_app.address, launcher=vm_app)
            app = NumaApp(session)
            raw = await RawQmp.connect(socket_path(vm_floor))
            client = Client("bench")  # qemu.qmp's QMPClient as numatui runs it
            await client.connect(socket_path(vm_textual))
            minimal = textual_floor.MinimalApp(client)
            try:
                async with app.run_test(size=SIZE) as pilot, minimal.run_test(size=SIZE):
                    await paints.first_paint(app)
                    run.connect_to_first_paint = time.perf_counter() - start
                    grid = app.query_one("#grid", CpuGrid)
                    for s in sockets:
                        await _select_socket(app, pilot, grid, s)
                        mark = session.transcript.count()
                        painted, idle = await _press_assign(app, grid, paints, s, profiler)
                        run.numatui.append(painted)
                        run.idle.append(idle)
                        run.qmp.append(_qmp_span(session.transcript.since(mark)))
                        run.floor.append(await _floor_assign(raw, s))
                        await settled(minimal)
                        run.textual.append(await textual_floor.press(minimal, s))
            finally:
                await client.disconnect()
                await raw.close()
                await session.close()
    return run


async def _select_socket(app: NumaApp, pilot: Any, grid: CpuGrid, s: int) -> None:
    """Put the cursor on socket ``s`` and select it with ``s`` (not timed)."""
    grid.action_jump(s * CORES * THREADS)
    await pilot.press("s")
    await settled(grid)
    if len(grid.selection) != CORES * THREADS:
        raise BenchError(f"`s` selected {len(grid.selection)} slots, not socket {s}")
    await settled(app)


async def _press_assign(app: NumaApp, grid: CpuGrid, paints: GridPaints, s: int,
                        profiler: cProfile.Profile | None = None) -> tuple[float, float]:
    """Seconds from the key until the grid's repaint was complete, and until
    the app was idle after it."""
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    app.post_message(events.Key(str(s), str(s)))
    await _job_done(app, s)
    # the job's last step handed QEMU's re-read topology to the grid: wait for its paint
    await paints.painted_since(grid, paints.lines_at_topology)
    idle = time.perf_counter() - start
    seconds = paints.painted_at - start
    if profiler is not None:
        profiler.disable()
    mine = {slot.node_id for slot in grid.topology.slots if slot.key[0] == ("socket-id", s)}
    qemu = {slot.node_id for slot in app.session.topology.slots if slot.key[0] == ("socket-id", s)}
    if mine != {s} or qemu != {s}:
        raise BenchError(f"socket {s}: the grid shows nodes {mine}, QEMU has {qemu}, not {{{s}}}")
    return seconds, idle


async def _job_done(app: NumaApp, s: int) -> None:
    """Until the key's job is done.  The key is dispatched a few loop turns
    after it is posted: poll (as the Textual floor polls for its worker) only
    until the job is on the app's one work queue or running, then wait on the
    queue.  Polling on every loop turn until QEMU's answer was in (as this did
    before) kept a core busy through the QMP exchange, on a machine of two
    where QEMU needs one to answer: the floors wait without spinning."""
    ctl = app.ctl
    deadline = time.monotonic() + PAINT_TIMEOUT
    while not (ctl.queued or ctl.busy):
        if time.monotonic() > deadline:
            raise BenchError(f"the key {s} put no job on the queue")
        await asyncio.sleep(0)
    await ctl.queue.join()


def _qmp_span(entries: Sequence[Entry]) -> float:
    """Seconds from the first command sent to the last reply received."""
    sent = [e.time for e in entries if e.kind == "cmd"]
    got = [e.time for e in entries if e.kind in ("reply", "error")]
    return max(got) - min(sent) if sent and got else 0.0


async def _floor_assign(raw: RawQmp, s: int) -> float:
    start = time.perf_counter()
    await raw.execute("set-numa-node", {"type": "cpu", "node-id": s, "socket-id": s})
    reply = await raw.execute("query-hotpluggable-cpus")
    seconds = time.perf_counter() - start
    nodes = {n for k, n in mapping_of_reply(reply).items() if k[0] == ("socket-id", s)}
    if nodes != {s}:
        raise BenchError(f"floor: socket {s} is on {nodes}")
    return seconds


async def profile_keypress(top: int = 30) -> str:
    """A cProfile of numatui's eight key presses (one set of VMs), as text:
    the functions by cumulative time, then by own time."""
    profiler = cProfile.Profile()
    run = await keypress_pair(range(SOCKETS), profiler)
    out = io.StringIO()
    ms = statistics.median
    qmp = ms(run.qmp)
    out.write(f"numatui key press, median {ms(run.numatui) * 1000:.2f} ms "
              f"({len(run.numatui)} presses; profiled, so slower than unprofiled)\n"
              f"parts (medians): QMP exchange {qmp * 1000:.2f} ms (set-numa-node + one "
              f"query-hotpluggable-cpus; the raw floor's {ms(run.floor) * 1000:.2f} ms), the app "
              f"handling the key and repainting the grid rows {(ms(run.numatui) - qmp) * 1000:.2f} ms; "
              "the other panels are redrawn once, after that frame (NumaApp.sync)\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top // 2)
    return out.getvalue()
