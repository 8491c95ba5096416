"""The host panel (H) and pinning after boot through the app, on real QEMU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import until
from host_trees import Trees, trees_fixture  # noqa: F401
from oracles import read_affinity

from numatui.core.vm import Vm
from numatui.session.machine import RunState
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.host_panel import HostPanel
from numatui.tui.info_line import InfoLine

BASE = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "2,sockets=2,cores=1,threads=1",
        "-m", "1G"]


async def test_host_panel_toggle_and_pinning_after_boot(qemu_factory: Any) -> None:
    q = qemu_factory(BASE)
    session = await Session.connect(q.sock)
    try:
        await Vm(session).apply_preset("host")
        app = NumaApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            panel = app.query_one(HostPanel)
            assert not panel.display or not panel.has_class("shown")
            await pilot.press("H")
            await pilot.pause()
            assert panel.has_class("shown")
            text = str(panel.render())
            assert "node 0: cpus" in text and "guest 0 (bind)" in text
            await pilot.press("X")
            await until(lambda: isinstance(app.screen, ExitDialog), what="the exit dialog")
            await pilot.press("enter")
            await until(lambda: session.state is RunState.RUNNING and app.vm.pinned, what="boot + pin")
            await pilot.pause()
            assert "2 vCPU(s) pinned" in str(panel.render())
            app.on_cpu_grid_cursor_moved()
            assert "· pin " in app.query_one("#cursor-info", InfoLine).text
            await pilot.press("H")
            await pilot.pause()
            assert not panel.has_class("shown")
        node0 = Path("/sys/devices/system/node/node0/cpulist").read_text().strip()
        for cpu in await session.query_cpus_fast():
            got = read_affinity(cpu["thread-id"], q.proc.pid)
            assert app.vm.pinned[cpu["cpu-index"]] == got
            assert got and ",".join(map(str, got)) in (node0, node0.replace("-", ","))
    finally:
        await session.close()


async def test_host_panel_of_a_recorded_two_node_host(qemu: Any, session: Session, trees: Trees) -> None:
    app = NumaApp(session, host_root=str(trees.root("8ia64-2n2s2c")))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("H")
        await pilot.pause()
        text = str(app.query_one(HostPanel).render())
        assert "Host: 2 node(s)" in text and "node 1: cpus 4-7" in text
        assert "unbound guest node(s): 0, 1" in text


async def test_a_hot_plugged_cpu_is_pinned_as_it_appears(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                      "-smp", "1,maxcpus=2,sockets=2,cores=1,threads=1", "-m", "1G"])
    session = await Session.connect(q.sock)
    try:
        vm = Vm(session)
        await vm.apply_preset("host")
        assert session.pinning == "node"
        assert await vm.boot() is not None and len(vm.pinned) == 1
        empty = next(s.key for s in session.topology.slots if not s.present)
        await vm.plug(empty)
        assert vm.pin_error is None and len(vm.pinned) == 2
        for cpu in await session.query_cpus_fast():
            assert read_affinity(cpu["thread-id"], q.proc.pid) == vm.pinned[cpu["cpu-index"]]
    finally:
        await session.close()
