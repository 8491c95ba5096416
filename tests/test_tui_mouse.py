"""The mouse in the CPU grid, driven by Textual's Pilot against a real QEMU.

Every gesture ends with QEMU's own query-hotpluggable-cpus, read through the
test's second monitor (``qemu.nodes()``), and with the commands the session
sent (``session.transcript``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import numa_node_args
from textual import events
from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.drag import DragGhost
from numatui.tui.gestures import NEW_NODE, DropTarget
from numatui.tui.grid import CpuGrid
from numatui.tui.info_line import InfoLine
from numatui.tui.nodes import NodesPanel

SIZE = (100, 30)
S0 = [(("socket-id", 0), ("core-id", c), ("thread-id", t)) for c in (0, 1) for t in (0, 1)]
S1 = [(("socket-id", 1), ("core-id", c), ("thread-id", t)) for c in (0, 1) for t in (0, 1)]


class Notes:
    """Records what the app notifies (and still shows it)."""

    def __init__(self, app: NumaApp) -> None:
        self.messages: list[str] = []
        original = app.notify

        def notify(message: str, **kwargs: Any) -> None:
            self.messages.append(message)
            original(message, **kwargs)

        app.notify = notify  # type: ignore[method-assign]

    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
async def session(qemu: Any) -> Any:
    s = await Session.connect(qemu.sock, nodes=2)
    yield s
    await s.close()


def numa_commands(session: Session) -> int:
    return sum("set-numa-node" in e.text for e in session.transcript.entries if e.kind == "cmd")


def cell(grid: CpuGrid, slot: int) -> tuple[int, int]:
    """Offset (relative to the grid) of the middle of ``slot``'s cell."""
    row, x = grid.grid_layout.position[slot]
    return (x + 1 - grid.scroll_offset.x, row - grid.scroll_offset.y)


def drop_targets(nodes: NodesPanel) -> list[DropTarget | None]:
    """The drop target of each line of the nodes panel, as a drop there finds it."""
    region = nodes.region
    return [nodes.drop_target_at(region.x + 4, region.y + y) for y in range(region.height)]


def node_line(app: NumaApp, target: DropTarget) -> tuple[int, int]:
    """Offset (relative to the nodes panel) of ``target``'s line."""
    targets = drop_targets(app.query_one(NodesPanel))
    assert target in targets, f"no drop target {target!r} in the nodes panel"
    return (4, targets.index(target))


async def drag_to_node(app: NumaApp, pilot: Any, slot: int, target: DropTarget) -> None:
    grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)
    await pilot.mouse_down(grid, offset=cell(grid, slot))
    x, y = cell(grid, slot)
    await pilot.hover(grid, offset=(x + 2, y + 1))  # the drag starts
    await pilot.hover(nodes, offset=node_line(app, target))
    await pilot.mouse_up(nodes, offset=node_line(app, target))
    await settle(app, pilot)


async def test_drag_one_slot_onto_node_1(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)
        await pilot.mouse_down(grid, offset=cell(grid, 2))
        await pilot.hover(grid, offset=(30, 3))
        await pilot.hover(nodes, offset=node_line(app, 1))
        # in flight: a ghost with count and target, node 1 highlighted, nothing sent
        ghost = app.screen.query_one(DragGhost)
        assert "1 slot → node 1" in str(ghost.render())
        assert "◀" in nodes.text()
        assert grid.selection == {2}
        assert numa_commands(session) == 0
        await pilot.mouse_up(nodes, offset=node_line(app, 1))
        await settle(app, pilot)
        assert not app.screen.query(DragGhost)
        assert "◀" not in nodes.text()
        nodes_now = await qemu.nodes()
        assert nodes_now[S0[2]] == 1
        assert [v for k, v in nodes_now.items() if k != S0[2]] == [None] * 7
        assert grid.topology.mapping() == nodes_now
        assert numa_commands(session) == 1


async def test_rubber_band_then_drop_on_node_0(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.query_one(CpuGrid)
        layout = grid.grid_layout
        # press on empty space right of "socket 0", drag down-left over socket 0's cells
        right = layout.width + 2
        await pilot.mouse_down(grid, offset=(right, 0))
        await pilot.hover(grid, offset=(right - 3, 1))
        await pilot.hover(grid, offset=(1, 1))
        assert grid.mouse.band is not None  # the rectangle is drawn meanwhile
        assert grid.selection == {0, 1, 2, 3}
        await pilot.mouse_up(grid, offset=(1, 1))
        assert grid.mouse.band is None
        assert grid.selection == {0, 1, 2, 3}
        assert numa_commands(session) == 0
        # drag the selection by one of its slots
        await drag_to_node(app, pilot, 3, 0)
        nodes_now = await qemu.nodes()
        assert [nodes_now[k] for k in S0] == [0] * 4
        assert [nodes_now[k] for k in S1] == [None] * 4
        assert numa_commands(session) == 1  # one socket-wide set-numa-node, as the digit sends
        assert grid.selection == set()


async def test_cancelled_drags_send_nothing(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)
        before = await qemu.nodes()
        # released over the grid's empty space
        await pilot.mouse_down(grid, offset=cell(grid, 0))
        await pilot.hover(grid, offset=(60, 10))
        await pilot.mouse_up(grid, offset=(60, 10))
        await settle(app, pilot)
        assert "drop the slots on a node" in notes.text()
        # released over another panel
        await pilot.mouse_down(grid, offset=cell(grid, 5))
        await pilot.hover("#cmdline", offset=(5, 1))
        await pilot.mouse_up("#cmdline", offset=(5, 1))
        await settle(app, pilot)
        # escape while over node 1, then released there
        await pilot.mouse_down(grid, offset=cell(grid, 6))
        await pilot.hover(nodes, offset=node_line(app, 1))
        assert app.screen.query(DragGhost)
        await pilot.press("escape")
        assert not app.screen.query(DragGhost)
        await pilot.mouse_up(nodes, offset=node_line(app, 1))
        await settle(app, pilot)
        assert await qemu.nodes() == before
        assert numa_commands(session) == 0
        assert not app.screen.query(DragGhost)
        assert app.mouse_captured is None


async def test_drop_fixed_slot_on_another_node_is_refused(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await drag_to_node(app, pilot, 0, 0)
        before = await qemu.nodes()
        assert before[S0[0]] == 0
        await drag_to_node(app, pilot, 0, 1)  # QEMU has no undo
        assert await qemu.nodes() == before
        assert "CPU is already assigned to node-id: 0" in notes.text()
        assert "cannot move a CPU" in notes.text()
        assert app.query_one(CpuGrid).topology.mapping() == before


async def test_drop_on_new_node_adds_it_then_assigns(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)
        assert NEW_NODE not in drop_targets(nodes)  # shown only during a drag
        await pilot.mouse_down(grid, offset=cell(grid, 7))
        await pilot.hover(grid, offset=(40, 8))
        await pilot.hover(nodes, offset=node_line(app, NEW_NODE))
        assert "→ new node" in str(app.screen.query_one(DragGhost).render())
        await pilot.mouse_up(nodes, offset=node_line(app, NEW_NODE))
        await settle(app, pilot)
        assert (await qemu.nodes())[S1[3]] == 2
        assert [n.id for n in session.nodes] == [0, 1, 2]


async def test_clicks_select_like_the_keys(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.query_one(CpuGrid)
        await pilot.click(grid, offset=cell(grid, 5))
        assert (grid.cursor, grid.selection) == (5, {5})
        await pilot.click(grid, offset=cell(grid, 1), control=True)
        assert (grid.cursor, grid.selection) == (1, {1, 5})
        await pilot.click(grid, offset=cell(grid, 5), control=True)
        assert grid.selection == {1}
        # shift: the range from the cursor (the last clicked slot), over the selection
        await pilot.click(grid, offset=cell(grid, 3), shift=True)
        assert (grid.cursor, grid.selection) == (3, {1, 3, 4, 5})
        await pilot.click(grid, offset=cell(grid, 1))
        await pilot.click(grid, offset=cell(grid, 3), shift=True)
        assert (grid.cursor, grid.selection) == (3, {1, 2, 3})
        await pilot.click(grid, offset=cell(grid, 0), shift=True)  # re-ranged from the same anchor
        assert grid.selection == {0, 1}
        header = grid.grid_layout.rows.index(
            next(r for r in grid.grid_layout.rows if r.text == "socket 1"))
        await pilot.click(grid, offset=(2, header))  # a group header
        assert grid.selection == {4, 5, 6, 7}
        label_row, label_x = grid.grid_layout.position[2]
        await pilot.click(grid, offset=(label_x - 2, label_row), control=True)  # the "c1" label
        assert grid.selection == {2, 3, 4, 5, 6, 7}
        await pilot.click(grid, offset=(60, 10))  # empty space clears
        assert grid.selection == set()
        # hovering a slot shows its props in the status line
        await pilot.hover(grid, offset=cell(grid, 6))
        info = app.query_one("#cursor-info", InfoLine).text
        assert "socket-id=1,core-id=1,thread-id=0" in info and "unassigned" in info
        assert numa_commands(session) == 0


async def test_wheel_scrolls_and_band_after_boot_selects_only(qemu_factory: Any) -> None:
    qemu = qemu_factory([
        "-machine", "q35", "-accel", "tcg", "-cpu", "max",
        "-smp", "4,maxcpus=64,sockets=4,cores=8,threads=2", "-m", "2G",
        *numa_node_args(2, 2048),
    ])
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            grid = app.query_one(CpuGrid)
            assert grid.max_scroll_y > 0
            x, y = grid.region.x + 10, grid.region.y + 2
            for _ in range(3):
                app.post_message(events.MouseScrollDown(
                    None, x, y, 0, 1, 0, False, False, False, screen_x=x, screen_y=y))
            await pilot.pause()
            assert grid.scroll_offset.y > 0
            grid.scroll_home(animate=False)
            await pilot.pause()
            # a band dragged past the grid's bottom edge scrolls along
            await pilot.mouse_down(grid, offset=(grid.grid_layout.width + 1, 0))
            for _ in range(4):
                await pilot.hover("#cursor-info", offset=(2, 0))
            assert grid.scroll_offset.y > 0
            await pilot.mouse_up("#cursor-info", offset=(2, 0))
            visible = grid.scroll_offset.y + grid.scrollable_content_region.height
            assert {i for i, (row, _) in enumerate(grid.grid_layout.position) if row < visible
                    } <= grid.selection
            await pilot.press("escape")
            grid.scroll_home(animate=False)
            await pilot.pause()
            await pilot.press("a", "0")  # everything on node 0, then boot
            await settle(app, pilot)
            await session.exit_preconfig(force=True)
            app.sync()
            await pilot.pause()
            assert grid.booted
            sent = session.transcript.count("cmd")
            empty = [i for i, s in enumerate(grid.topology.slots) if not s.present]
            target = empty[0]
            x0, y0 = cell(grid, target)
            # a press on a slot and a drag: a band (selection only), never a move
            await pilot.mouse_down(grid, offset=(x0, y0))
            await pilot.hover(grid, offset=(x0 + 1, y0))
            assert not app.screen.query(DragGhost)
            await pilot.hover(app.query_one(NodesPanel), offset=(4, 1))
            await pilot.mouse_up(app.query_one(NodesPanel), offset=(4, 1))
            await settle(app, pilot)
            assert target in grid.selection
            assert session.transcript.count("cmd") == sent
            await pilot.click(grid, offset=(x0, y0))
            assert grid.selection == {target}
            assert session.transcript.count("cmd") == sent
            cpus = await qemu.qmp("query-cpus-fast")
            assert len(cpus) == 4
    finally:
        await session.close()


def test_snapshot_of_a_drag_in_progress(qemu: Any, snap_compare: Any) -> None:
    """Two slots over node 1: ghost, highlighted target, "+ new node"; nothing sent yet."""
    from numatui.session.address import Address

    session = Session(Address.parse(qemu.sock), nodes=2)
    app = NumaApp(session, mask={qemu.sock: "/run/numatui/vm.qmp",
                                 f"pid {qemu.proc.pid}": "pid 4242"})
    seen: list[str] = []

    async def run_before(pilot: Any) -> None:
        await session.reconnect()
        app.sync()
        await pilot.pause()
        grid, nodes = app.query_one(CpuGrid), app.query_one(NodesPanel)
        await pilot.click(grid, offset=cell(grid, 4))
        await pilot.click(grid, offset=cell(grid, 5), control=True)
        await pilot.mouse_down(grid, offset=cell(grid, 5))
        await pilot.hover(grid, offset=(20, 8))
        await pilot.hover(nodes, offset=node_line(app, 1))
        seen.append(str(app.screen.query_one(DragGhost).render()))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert "2 slots → node 1" in seen[0]
    assert all(v is None for v in asyncio.run(qemu.nodes()).values())
