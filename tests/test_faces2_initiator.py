"""A memory-only node's HMAT ``initiator`` set in the TUI (#25 item 5): the
memory editor's ``i`` on a new node, sent with the node's ``set-numa-node``
type node; an existing node's initiator is shown, not changed (QEMU takes it
only when a node is declared)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DEFAULT_ARGS, numa_node_args
from test_backends import argv_of
from test_numa_nodes_tui import press

from numatui.core.vm import Vm
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.memory_editor import MemoryEditor

GIB = 1 << 30
#: 3G of RAM with nodes 0 and 1 (1G each) declared: a third 1G node is added live
BASE = [*[a if a != "2G" else "3G" for a in DEFAULT_ARGS], *numa_node_args(2, 2048)]


@pytest.mark.qemu
async def test_initiator_of_a_new_memory_node_in_one_burst(qemu_factory: Any) -> None:
    launcher = Launcher(extra_args=BASE, hmat=True)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            # socket 0 -> node 0, socket 1 -> node 1; m; i on node 0 (exists: refused);
            # n 1G enter (new node 2), i (initiator 0), a (applied live)
            await press(app, pilot, "s", "0", "j", "s", "1", "m", "i")
            editor = app.screen
            assert isinstance(editor, MemoryEditor)
            assert "only when a node is declared" in editor.message.text
            await press(app, pilot, "n", *"1G", "enter", "i", "a")
            assert editor.message.has_class("ok"), editor.message.text
            await press(app, pilot, "escape", "t")  # the HMAT editor asks for no initiator now
            assert "no initiator" not in app.screen.status_text()  # type: ignore[attr-defined]
            await press(app, pilot, "escape")
        node2 = {n.id: n for n in session.nodes}[2]
        assert (node2.size, node2.initiator) == (GIB, 0)
        memdevs = {m["id"]: m["size"] for m in await session.execute("query-memdev")}
        assert memdevs["m2"] == GIB  # the same QEMU: added live
        assert session.launcher is launcher
        cmdline = Vm(session).export("cmdline")
        assert "node,nodeid=2,memdev=m2,initiator=0" in cmdline
        await session.exit_preconfig(force=True)
        assert (await session.execute("query-status"))["status"] == "running"
    finally:
        await session.close()
        await launcher.stop()
    fresh = qemu_factory(argv_of(cmdline))
    assert {m["id"]: m["size"] for m in await fresh.qmp("query-memdev")}["m2"] == GIB
    await fresh.qmp("x-exit-preconfig")
    assert (await fresh.qmp("query-status"))["status"] == "running"


async def test_no_initiator_without_hmat(launched: Session) -> None:
    app = NumaApp(launched)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(app, pilot, "m", "n", *"512M", "enter", "i")
        editor = app.screen
        assert isinstance(editor, MemoryEditor)
        assert "without hmat=on" in editor.message.text


async def test_hmat_editor_names_memory_only_nodes_without_initiator(qemu_factory: Any) -> None:
    from test_hmat_tui import TIERS

    from numatui.tui.hmat_editor import HmatEditor

    q = qemu_factory([a.replace(",initiator=0", "") for a in TIERS])
    session = await Session.connect(q.sock)
    try:
        app = NumaApp(session)
        async with app.run_test(size=(100, 34)) as pilot:
            await press(app, pilot, "t")
            assert isinstance(app.screen, HmatEditor)
            assert "Memory-only node 2 has no initiator" in app.screen.status_text()
            await press(app, pilot, "escape")
    finally:
        await session.close()
