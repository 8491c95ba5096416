"""Navigation for big VMs (issue 17, item 3): next/previous socket and die,
the socket header kept in view, the overview; and snapshots of the overview
and of the preset chooser."""

from __future__ import annotations

from typing import Any

from conftest import numa_node_args, until
from textual.app import App, ComposeResult
from tui_helpers import settle

from numatui.model.topology import Topology
from numatui.session.address import Address
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid
from numatui.tui.grid_layout import header_row_of
from numatui.tui.overview import Overview, overview_cells
from numatui.tui.preset_chooser import PresetChooser

BIG_ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "240,sockets=8,cores=15,threads=2", "-m", "2G", *numa_node_args(8, 2048)]
LEVELS = ("socket-id", "core-id", "thread-id")


class GridOnly(App[None]):
    def __init__(self, topology: Topology) -> None:
        super().__init__()
        self.topology = topology

    def compose(self) -> ComposeResult:
        yield CpuGrid(self.topology)


def header_on_screen(grid: CpuGrid) -> bool:
    """The cursor's socket header row is inside the visible rows."""
    layout = grid.grid_layout
    row = layout.row_of(grid.cursor)
    header = header_row_of(layout, row)
    top = grid.scroll_offset.y
    bottom = top + grid.scrollable_content_region.height
    return layout.rows[header].kind == "header" and top <= header < bottom


def socket_of(grid: CpuGrid) -> int:
    return dict(grid.topology.slots[grid.cursor].key)["socket-id"]


async def test_next_and_previous_socket_keep_the_header_in_view() -> None:
    topo = Topology.from_smp({"sockets": 16, "cores": 128, "threads": 2, "maxcpus": 4096}, LEVELS)
    app = GridOnly(topo)
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(CpuGrid)
        grid.focus()
        await pilot.press("]", "]", "]")
        assert socket_of(grid) == 3 and grid.cursor == 3 * 256
        assert header_on_screen(grid)
        await pilot.press("[")
        assert socket_of(grid) == 2 and grid.cursor == 2 * 256
        assert header_on_screen(grid)
        await pilot.press("end")
        assert grid.cursor == 4095
        await pilot.press("home")
        assert grid.cursor == 0 and grid.scroll_offset.y == 0 and header_on_screen(grid)
        await pilot.press("[")  # clamps at the first socket
        assert grid.cursor == 0
        for _ in range(20):
            await pilot.press("]")
        assert socket_of(grid) == 15 and grid.cursor == 15 * 256


async def test_page_down_moves_the_view_with_the_cursor() -> None:
    topo = Topology.from_smp({"sockets": 8, "cores": 15, "threads": 2, "maxcpus": 240}, LEVELS)
    app = GridOnly(topo)
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(CpuGrid)
        grid.focus()
        await pilot.press("pagedown")
        await pilot.pause()
        layout = grid.grid_layout
        row = layout.row_of(grid.cursor)
        assert grid.scroll_offset.y > 0
        # not stuck on the bottom row: the cursor keeps its place near the top
        assert row - grid.scroll_offset.y < grid.scrollable_content_region.height - 1
        await pilot.press("pageup")
        await pilot.pause()
        assert layout.row_of(grid.cursor) >= grid.scroll_offset.y


async def test_next_die_and_a_board_without_dies() -> None:
    topo = Topology.from_smp({"sockets": 2, "dies": 2, "cores": 2, "threads": 2, "maxcpus": 16},
                             ("socket-id", "die-id", "core-id", "thread-id"))
    app = GridOnly(topo)
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(CpuGrid)
        grid.focus()
        await pilot.press("}")
        assert grid.cursor == 4
        await pilot.press("}", "}")
        assert grid.cursor == 12
        await pilot.press("{")
        assert grid.cursor == 8
        await pilot.press("]")  # socket 1 starts at its die 0: slot 8 already; clamps
        assert grid.cursor == 8
    flat = GridOnly(Topology.from_smp({"sockets": 2, "cores": 2, "threads": 2, "maxcpus": 8}, LEVELS))
    async with flat.run_test(size=(80, 24)) as pilot:
        grid = flat.query_one(CpuGrid)
        grid.focus()
        await pilot.press("right", "}")
        assert grid.cursor == 1  # no dies: nothing moves (a notification says why)


def test_overview_cells_cover_every_slot_in_whole_cores() -> None:
    topo = Topology.from_smp({"sockets": 16, "cores": 128, "threads": 2, "maxcpus": 4096}, LEVELS)
    lines = overview_cells(topo.slot_keys, 28)
    assert [line.label for line in lines] == [f"s{i}" for i in range(16)]
    covered = [i for line in lines for cell in line.cells for i in cell]
    assert covered == list(range(4096))
    assert all(len(cell) % 2 == 0 for line in lines for cell in line.cells)  # threads stay together
    assert all(len(line.cells) <= 28 - 5 for line in lines)


async def test_overview_shows_when_the_grid_does_not_fit_and_jumps(qemu_factory: Any) -> None:
    q = qemu_factory(BIG_ARGS)
    session = await Session.connect(q.sock)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            overview = app.query_one(Overview)
            assert not app.grid.fits and overview.display
            await pilot.press("o")
            assert overview.has_focus
            await pilot.press("down", "down", "down", "enter")
            assert app.grid.has_focus
            assert dict(app.grid.topology.slots[app.grid.cursor].key)["socket-id"] == 3
            assert header_on_screen(app.grid)
            await pilot.click(Overview, offset=(1 + 5 + 2, 5))  # socket 5, its third core
            assert app.grid.cursor == 5 * 30 + 4
            await pilot.press("o", "up", "up", "enter")  # from socket 5 to 3
            assert app.grid.cursor == 3 * 30 + 4  # the same column, two sockets up
            await pilot.press("s", "3")
            await settle(app, pilot)
            await until(lambda: app.grid.topology.slots[3 * 30].node_id == 3, 10, "socket 3 on node 3")
            nodes = await q.nodes()
            assert {k for k, v in nodes.items() if v == 3} == {
                s.key for s in app.grid.topology.slots if s.key[0] == ("socket-id", 3)}
    finally:
        await session.close()


async def test_small_vm_has_no_overview(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert app.grid.fits and not app.query_one(Overview).display
    finally:
        await session.close()


# -- snapshots -------------------------------------------------------------------------
def _app(q: Any, nodes: int | None = None) -> NumaApp:
    session = Session(Address.parse(q.sock), nodes=nodes)
    return NumaApp(session, mask={q.sock: "/run/numatui/vm.qmp", f"pid {q.proc.pid}": "pid 4242"})


async def _connect(pilot: Any) -> None:
    app: NumaApp = pilot.app
    await app.session.reconnect()
    app.sync()
    await pilot.pause()


def test_overview_snapshot(qemu_factory: Any, snap_compare: Any) -> None:
    q = qemu_factory(BIG_ARGS)
    app = _app(q)

    async def run_before(pilot: Any) -> None:
        await _connect(pilot)
        for keys in (("s", "0"), ("]", "s", "1"), ("]", "c", "2")):
            await pilot.press(*keys)
            await pilot.app.settled()
        await pilot.press("o", "down", "down")
        await pilot.pause()
        seen.append(isinstance(pilot.app.focused, Overview))

    seen: list[bool] = []
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    assert seen == [True]


def test_preset_chooser_snapshot(qemu: Any, snap_compare: Any) -> None:
    app = _app(qemu, nodes=2)

    async def run_before(pilot: Any) -> None:
        await _connect(pilot)
        await pilot.press("P")
        await pilot.pause()
        seen.append(isinstance(pilot.app.screen, PresetChooser))

    seen: list[bool] = []
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    assert seen == [True]
