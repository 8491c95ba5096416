"""Keyboard contract of the TUI, against a real QEMU in preconfig.

Every assertion about the mapping reads QEMU's own query-hotpluggable-cpus
through the test's second monitor (``qemu.nodes()``), not the app.
"""

from __future__ import annotations

from typing import Any

from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.grid import CpuGrid

S0 = [(("socket-id", 0), ("core-id", c), ("thread-id", t)) for c in (0, 1) for t in (0, 1)]
S1 = [(("socket-id", 1), ("core-id", c), ("thread-id", t)) for c in (0, 1) for t in (0, 1)]


async def test_cursor_moves_and_selects(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            grid = app.query_one(CpuGrid)
            assert grid.cursor == 0 and grid.has_focus
            await pilot.press("right")
            assert grid.cursor == 1
            await pilot.press("j")  # down: socket 1, same column
            assert grid.cursor == 5
            await pilot.press("k", "h")
            assert grid.cursor == 0
            await pilot.press("end")
            assert grid.cursor == 7
            await pilot.press("home", "space", "right", "space")
            assert grid.selection == {0, 1}
            await pilot.press("shift+right", "shift+right")
            assert grid.selection == {0, 1, 2, 3}
            await pilot.press("escape")
            assert grid.selection == set()
            await pilot.press("pagedown")  # from slot 3: same column, socket 1
            assert grid.cursor == 7
            await pilot.press("c")
            assert grid.selection == {6, 7}
            await pilot.press("pageup")
            assert grid.cursor == 3
            await pilot.press("escape", "a")
            assert grid.selection == set(range(8))
    finally:
        await session.close()


async def test_select_socket_then_digit_assigns_in_qemu(qemu: Any) -> None:
    session = await Session.connect(qemu.sock, nodes=2)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s", "1")
            await settle(app, pilot)
            nodes = await qemu.nodes()
            assert [nodes[k] for k in S0] == [1, 1, 1, 1]
            assert [nodes[k] for k in S1] == [None] * 4
            grid = app.query_one(CpuGrid)
            assert [s.node_id for s in grid.topology.slots] == [1] * 4 + [None] * 4
            assert grid.selection == set()
    finally:
        await session.close()
