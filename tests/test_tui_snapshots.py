"""Snapshots of the main screens at 80x24, each beside a behavioural check.

snap_compare runs the app on its own event loop, so the session is created
unconnected and connects inside ``run_before`` (on that loop).  Socket paths
and pids are masked so the pictures are the same on every run.
Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from numatui.session.address import Address
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.grid import CpuGrid
from numatui.tui.help import HelpScreen

SIZE = (80, 24)


def make_app(qemu: Any) -> NumaApp:
    session = Session(Address.parse(qemu.sock), nodes=2)
    mask = {
        qemu.sock: "/run/numatui/vm.qmp",
        f"pid {qemu.proc.pid}": "pid 4242",
    }
    return NumaApp(session, mask=mask)


async def connect(pilot: Any) -> None:
    app: NumaApp = pilot.app
    await app.session.reconnect()
    app.sync()
    await pilot.pause()


async def press(pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.app.settled()
    await pilot.pause()


async def mixed(pilot: Any) -> None:
    """socket 0 on node 0, socket 1 core 0 on node 1, socket 1 core 1 unassigned."""
    await connect(pilot)
    await press(pilot, "s", "0")
    await press(pilot, "j", "c", "1")
    await press(pilot, "end", "space")


def test_preconfig_mixed_mapping(qemu: Any, snap_compare: Any) -> None:
    app = make_app(qemu)
    assert snap_compare(app, terminal_size=SIZE, run_before=mixed)
    nodes = asyncio.run(qemu.nodes())
    assert sorted(nodes.values(), key=str) == [0, 0, 0, 0, 1, 1, None, None]
    assert app.return_value is not None  # the snapshot's run ended normally


def test_exit_dialog_with_findings(qemu: Any, snap_compare: Any) -> None:
    app = make_app(qemu)
    seen: list[Any] = []

    async def run_before(pilot: Any) -> None:
        await mixed(pilot)
        await press(pilot, "n")  # node 2
        await app.session.set_distance(0, 1, 20)  # a distance for one pair only: blocking
        app.clear_notifications()
        await press(pilot, "X")
        seen.append(pilot.app.screen)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    dialog = seen[0]
    assert isinstance(dialog, ExitDialog)
    assert [f.code for f in dialog.findings][:1] == ["distance-missing"]
    assert "cpus-unassigned" in [f.code for f in dialog.findings]
    assert asyncio.run(qemu.qmp("query-status"))["status"] == "prelaunch"


def test_after_boot(qemu_factory: Any, snap_compare: Any) -> None:
    from conftest import numa_node_args

    qemu = qemu_factory([
        "-machine", "q35", "-accel", "tcg", "-cpu", "max",
        "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", "-m", "2G",
        *numa_node_args(2, 2048),
    ])
    app = make_app(qemu)
    grids: list[CpuGrid] = []

    async def run_before(pilot: Any) -> None:
        await mixed(pilot)
        await press(pilot, "escape", "X")
        await press(pilot, "enter")
        await press(pilot, "home")
        pilot.app.clear_notifications()
        grids.append(pilot.app.query_one(CpuGrid))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    assert asyncio.run(qemu.qmp("query-status"))["status"] == "running"
    cpus = asyncio.run(qemu.qmp("query-cpus-fast"))
    assert len(cpus) == 4 and {c["props"]["node-id"] for c in cpus} == {0}
    grid = grids[0]
    assert grid.booted and sum(s.present for s in grid.topology.slots) == 4


def test_qmp_log(qemu: Any, snap_compare: Any) -> None:
    app = make_app(qemu)

    async def run_before(pilot: Any) -> None:
        await connect(pilot)
        await press(pilot, "s", "1", "l")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    assert app.session.transcript.count("cmd") > 0
    assert asyncio.run(qemu.nodes())[(("socket-id", 0), ("core-id", 0), ("thread-id", 0))] == 1


def test_help(qemu: Any, snap_compare: Any) -> None:
    app = make_app(qemu)
    screens: list[Any] = []

    async def run_before(pilot: Any) -> None:
        await connect(pilot)
        await press(pilot, "question_mark")
        screens.append(pilot.app.screen)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    assert isinstance(screens[0], HelpScreen)


BIG_ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "240,sockets=8,cores=15,threads=2", "-m", "2G"]


def test_big_vm_at_80x24(qemu_factory: Any, snap_compare: Any) -> None:
    """80x24 first-class: two header lines, nodes and legend, socket 0 whole,
    the command-line panel with its Exit preconfig button."""
    from conftest import numa_node_args

    qemu = qemu_factory([*BIG_ARGS, *numa_node_args(8, 2048)])
    app = make_app(qemu)

    async def run_before(pilot: Any) -> None:
        await connect(pilot)
        await press(pilot, "s", "0")
        pilot.app.clear_notifications()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    nodes = asyncio.run(qemu.nodes())
    assert sum(1 for v in nodes.values() if v == 0) == 30


def test_wide_with_log_beside_the_panel(qemu: Any, snap_compare: Any) -> None:
    """200x60: the command-line panel takes two fifths, the QMP log beside it."""
    app = make_app(qemu)

    async def run_before(pilot: Any) -> None:
        await connect(pilot)
        await press(pilot, "s", "0", "j", "s", "1", "v", "v", "l")
        pilot.app.clear_notifications()

    assert snap_compare(app, terminal_size=(200, 60), run_before=run_before)
    assert set(asyncio.run(qemu.nodes()).values()) == {0, 1}
