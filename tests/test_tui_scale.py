"""The grid stays responsive with many slots.

QEMU 7.2 lists at most 288 slots on q35, so the 288-slot case runs the whole
app on a real QEMU; the 4096-slot case (QEMU 9.0+ allows it) drives the grid
widget alone with a topology built as QEMU would report it.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import App, ComposeResult

from numatui.model.topology import Topology
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid


class GridOnly(App[None]):
    def __init__(self, topology: Topology) -> None:
        super().__init__()
        self.topology = topology

    def compose(self) -> ComposeResult:
        yield CpuGrid(self.topology)


async def test_4096_slots_paint_and_keys_are_fast() -> None:
    smp = {"sockets": 16, "cores": 128, "threads": 2, "maxcpus": 4096}
    topo = Topology.from_smp(smp, ("socket-id", "core-id", "thread-id"))
    app = GridOnly(topo)
    start = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first_paint = time.perf_counter() - start
        grid = app.query_one(CpuGrid)
        grid.focus()
        assert grid.virtual_size.height > 500  # it scrolls rather than cutting
        start = time.perf_counter()
        for _ in range(10):
            await pilot.press("pagedown")
        await pilot.press("end")
        assert grid.cursor == 4095
        assert grid.scroll_offset.y > 0
        await pilot.press("s")  # socket 15: 256 slots
        assert len(grid.selection) == 256
        # an assignment arrives: QEMU's new topology with socket 15 on node 3
        mapping = {s.key: 3 for s in topo.slots if s.key[0] == ("socket-id", 15)}
        grid.set_topology(topo.with_mapping(mapping))
        await pilot.pause()
        keys = time.perf_counter() - start
    assert first_paint < 5.0, first_paint
    assert keys < 5.0, keys  # 13 key presses and a repaint, Pilot overhead included


async def test_288_slots_on_a_real_qemu(qemu_factory: Any) -> None:
    qemu = qemu_factory([
        "-machine", "q35", "-accel", "tcg", "-cpu", "max",
        "-smp", "288,sockets=4,cores=36,threads=2", "-m", "1G",
        "-object", "memory-backend-ram,id=m0,size=512M", "-numa", "node,nodeid=0,memdev=m0",
        "-object", "memory-backend-ram,id=m1,size=512M", "-numa", "node,nodeid=1,memdev=m1",
    ])
    session = await Session.connect(qemu.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            start = time.perf_counter()
            await pilot.press("end", "s", "1")
            await app.workers.wait_for_complete()
            await pilot.pause()
            elapsed = time.perf_counter() - start
            nodes = await qemu.nodes()
            on_1 = [k for k, n in nodes.items() if n == 1]
            assert len(on_1) == 72 and all(k[0] == ("socket-id", 3) for k in on_1)
            assert app.query_one(CpuGrid).topology.mapping() == nodes
            assert elapsed < 5.0, elapsed
    finally:
        await session.close()
