"""Snapshot of the host panel (H) beside the grid, on a recorded 2-node host
(``--host-root``: the same picture on every machine).
Update with ``pytest tests/test_host_snapshots.py --snapshot-update``."""

from __future__ import annotations

from typing import Any

from host_trees import Trees, trees_fixture  # noqa: F401

from numatui.session.address import Address
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.host_panel import HostPanel

SIZE = (100, 34)


def test_host_panel_of_a_two_node_host(qemu: Any, trees: Trees, snap_compare: Any) -> None:
    session = Session(Address.parse(qemu.sock), nodes=2)
    app = NumaApp(session, mask={qemu.sock: "/run/numatui/vm.qmp", f"pid {qemu.proc.pid}": "pid 4242"},
                  host_root=str(trees.root("8ia64-2n2s2c")))
    shown: list[bool] = []

    async def run_before(pilot: Any) -> None:
        await app.session.reconnect()
        app.sync()
        await pilot.press("s", "0")
        await app.settled()
        await pilot.press("H")
        await pilot.pause()
        shown.append(app.query_one(HostPanel).has_class("shown"))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    assert shown == [True]
