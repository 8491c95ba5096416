"""The grid stays responsive with many slots.

QEMU 7.2 lists at most 288 slots on q35, so the 288-slot case runs the whole
app on a real QEMU; the 4096-slot case (QEMU 9.0+ allows it) drives the grid
widget alone with a topology built as QEMU would report it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.app import App, ComposeResult
from textual.strip import Strip

from numatui.bench import synthetic
from numatui.model.topology import Topology
from numatui.session.session import Session
from numatui.tui import colours
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid


class GridOnly(App[None]):
    def __init__(self, topology: Topology) -> None:
        super().__init__()
        self.topology = topology

    def compose(self) -> ComposeResult:
        yield CpuGrid(self.topology)


@asynccontextmanager
async def grid_of(topo: Topology) -> AsyncIterator[tuple[CpuGrid, Any]]:
    """``topo`` in a grid alone (120x40), focused, under Pilot."""
    app = GridOnly(topo)
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one(CpuGrid)
        grid.focus()
        await pilot.pause()
        yield grid, pilot


async def test_4096_slots_paint_and_keys_work() -> None:
    """(How fast is the benchmark's business: render_scaling, first_paint_scaling.)"""
    smp = {"sockets": 16, "cores": 128, "threads": 2, "maxcpus": 4096}
    topo = Topology.from_smp(smp, ("socket-id", "core-id", "thread-id"))
    app = GridOnly(topo)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        grid = app.query_one(CpuGrid)
        grid.focus()
        assert grid.virtual_size.height > 500  # it scrolls rather than cutting
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
        assert grid.topology.slot(topo.slots[-1].key).node_id == 3


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
            await pilot.press("end", "s", "1")
            await app.settled()
            await pilot.pause()
            nodes = await qemu.nodes()
            on_1 = [k for k, n in nodes.items() if n == 1]
            assert len(on_1) == 72 and all(k[0] == ("socket-id", 3) for k in on_1)
            assert app.query_one(CpuGrid).topology.mapping() == nodes
    finally:
        await session.close()


class RowsPainted:
    """Which grid rows (topology rows, not screen lines) the compositor repaints."""

    def __init__(self, grid: CpuGrid) -> None:
        self.rows: list[int] = []
        paint = grid.render_line

        def counted(y: int) -> Strip:
            self.rows.append(grid.scroll_offset.y + y)
            return paint(y)

        grid.render_line = counted  # type: ignore[method-assign]

    def take(self) -> set[int]:
        rows, self.rows = set(self.rows), []
        return rows


CORE_0 = (("socket-id", 0), ("core-id", 0))
LAST_CORE = (("socket-id", 15), ("core-id", 127))


async def test_an_assignment_repaints_only_the_rows_it_changed() -> None:
    topo = synthetic.topology(4096)
    async with grid_of(topo) as (grid, pilot):
        await pilot.press("right", "space")  # cursor and selection on slot 1
        await pilot.pause()
        painted = RowsPainted(grid)
        # QEMU's reply after set-numa-node, parsed afresh as the session does
        assigned = synthetic.with_group_on(topo, CORE_0, 1)
        grid.set_topology(assigned)
        await pilot.pause()
        assert painted.take() == {grid.grid_layout.row_of(0)}
        assert (grid.cursor, grid.selection) == (1, {1})
        assert grid.look(0)[0] == grid.look(1)[0] == 1
        # off screen: nothing to repaint until it scrolls into view
        grid.set_topology(synthetic.with_group_on(assigned, LAST_CORE, 2))
        await pilot.pause()
        assert painted.take() == set()
        await pilot.press("end")
        await pilot.pause()
        last = grid.grid_layout.row_of(4095)
        assert last in painted.take()
        line = grid.render_line(last - grid.scroll_offset.y).text
        assert line.count(f"2{colours.LOCK_MARK}") == 2  # both threads of the last core


async def test_boot_pending_and_new_shape_repaint_what_they_change() -> None:
    topo = synthetic.topology(4096)
    async with grid_of(topo) as (grid, pilot):
        await pilot.press("right")
        await pilot.pause()
        painted = RowsPainted(grid)
        grid.set_topology(topo, booted=True)  # every cell changes its text
        await pilot.pause()
        assert len(painted.take()) == 40
        grid.set_topology(topo, booted=True, pending=[topo.slots[2000].key])
        await pilot.pause()
        assert painted.take() == set()  # slot 2000 is far below the screen
        grid.set_topology(topo, booted=True, pending=[topo.slots[2].key])
        await pilot.pause()
        assert painted.take() == {grid.grid_layout.row_of(2)}  # (2000 left, off screen)
        small = synthetic.topology(16)  # another machine: laid out and drawn anew
        grid.set_topology(small, booted=True)
        await pilot.pause()
        assert grid.cursor == 1 and grid.topology is small  # kept by slot key
        assert len(painted.take()) == 40  # the whole screen


async def test_keys_repaint_the_rows_whose_marks_changed() -> None:
    topo = synthetic.topology(4096)
    async with grid_of(topo) as (grid, pilot):
        layout = grid.grid_layout
        painted = RowsPainted(grid)
        await pilot.press("right")  # within a row: that row only
        await pilot.pause()
        assert painted.take() == {layout.row_of(1)}
        await pilot.press("down")  # leaves one row for the next
        await pilot.pause()
        assert layout.row_of(grid.cursor) != layout.row_of(1)
        assert painted.take() == {layout.row_of(1), layout.row_of(grid.cursor)}
        await pilot.press("c")  # the cursor's core: both threads marked
        await pilot.pause()
        assert grid.selection == {grid.cursor - 1, grid.cursor}
        assert painted.take() == {layout.row_of(grid.cursor)}
        await pilot.press("escape")
        await pilot.pause()
        assert painted.take() == {layout.row_of(grid.cursor)}
        await pilot.press("s")  # socket 0: every row of it on screen
        await pilot.pause()
        assert len(grid.selection) == 256
        rows = {layout.row_of(i) for i in grid.selection}
        assert painted.take() == {r for r in rows if r < 40}


class LinesShown:
    """The last strip the compositor painted on each grid row (what a user sees)."""

    def __init__(self, grid: CpuGrid) -> None:
        self.lines: dict[int, list[tuple[str, Any]]] = {}
        paint = grid.render_line

        def kept(y: int) -> Strip:
            strip = paint(y)
            self.lines[grid.scroll_offset.y + y] = [(s.text, s.style) for s in strip]
            return strip

        grid.render_line = kept  # type: ignore[method-assign]


async def test_a_burst_of_moves_and_selections_leaves_every_row_as_drawn_afresh() -> None:
    """Keys without pauses (the cursor and selection reactives repaint only the
    rows they touch): every row on screen then shows what a full repaint draws."""
    topo = synthetic.topology(4096)
    async with grid_of(topo) as (grid, pilot):
        shown = LinesShown(grid)
        await pilot.press("right", "space", "shift+right", "shift+right", "down", "c", "shift+down",
                          "space", "left", "up", "s", "escape", "down", "down", "shift+left", "c", "right",
                          "space", "pagedown", "shift+down", "up", "space", "end", "home", "right", "s",
                          "escape", "c", "s", "space")
        await pilot.pause()
        assert grid.cursor == 1 and len(grid.selection) > 2
        top = grid.scroll_offset.y
        seen = {row: shown.lines[row] for row in range(top, top + grid.scrollable_content_region.height)}
        grid.action_cell_labels()  # twice: the same look, every strip drawn afresh
        grid.action_cell_labels()
        await pilot.pause()
        assert seen == {row: shown.lines[row] for row in seen}
        on_screen = [i for i in grid.selection if grid.grid_layout.row_of(i) in seen]
        marks = sum(colours.SELECTED_MARK in text for line in seen.values() for text, _ in line)
        assert marks == len(on_screen) > 1
