"""The HMAT editor (t) through the whole app on real QEMU, and its snapshot.
Update the snapshot with ``pytest tests/test_hmat_tui.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import until_sync

from numatui.session.address import Address
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.hmat_editor import HmatEditor

TIERS = ["-machine", "q35,hmat=on", "-accel", "tcg", "-cpu", "max", "-smp", "4,sockets=2,cores=2",
         "-m", "3G",
         "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
         "-object", "memory-backend-ram,id=m2,size=1G",
         "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1",
         "-numa", "node,nodeid=2,memdev=m2,initiator=0",
         "-numa", "cpu,node-id=0,socket-id=0", "-numa", "cpu,node-id=1,socket-id=1"]


async def press(app: NumaApp, pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()
    await app.settled()
    await pilot.pause()


async def fill(app: NumaApp, pilot: Any) -> HmatEditor:
    """Latency 0->0, 0->2; bandwidth 0->0 (20G), 0->2 (5G); a cache on node 2."""
    await press(app, pilot, "t")
    editor = app.screen
    assert isinstance(editor, HmatEditor)
    await press(app, pilot, "8", "0", "enter", "right", "right", "3", "0", "0", "enter")
    await press(app, pilot, "t", "t", "t")  # access-bandwidth
    assert editor.data_type == "access-bandwidth"
    await press(app, pilot, "left", "left", *"20G", "enter", "right", "right", *"5G", "enter")
    await press(app, pilot, "c", *"1 256M direct write-back 64", "enter")
    return editor


async def test_hmat_editor_sends_live_and_the_vm_boots(qemu_factory: Any) -> None:
    q = qemu_factory(TIERS)
    session = await Session.connect(q.sock)
    try:
        assert session.info.hmat is True
        app = NumaApp(session)
        async with app.run_test(size=(100, 34)) as pilot:
            editor = await fill(app, pilot)
            assert [(lb.data_type, lb.initiator, lb.target, lb.value) for lb in session.hmat_lb] == [
                ("access-latency", 0, 0, 80), ("access-latency", 0, 2, 300),
                ("access-bandwidth", 0, 0, 20 << 30), ("access-bandwidth", 0, 2, 5 << 30)]
            assert [c.option() for c in session.hmat_cache] == [
                "hmat-cache,node-id=2,size=268435456,level=1,associativity=direct,"
                "policy=write-back,line=64"]
            # a set cell cannot change (QEMU: Duplicate configuration)
            await press(app, pilot, "enter")
            assert "QEMU cannot change it" in editor.message.text
            # numatui's own check, in QEMU's words, before anything is sent
            await press(app, pilot, "down", "1", "0", "4", "8", "5", "7", "5", "enter")
            assert "should be 1MB aligned" in editor.message.text
            assert len(session.hmat_lb) == 4
            await press(app, pilot, "escape", "escape")
            assert not isinstance(app.screen, HmatEditor)
        await session.exit_preconfig()
        assert (await q.qmp("query-status"))["status"] == "running"
    finally:
        await session.close()


def test_hmat_editor_snapshot(qemu_factory: Any, snap_compare: Any) -> None:
    q = qemu_factory(TIERS)
    session = Session(Address.parse(q.sock))
    app = NumaApp(session, mask={q.sock: "/run/numatui/vm.qmp", f"pid {q.proc.pid}": "pid 4242"})

    async def run_before(pilot: Any) -> None:
        await session.reconnect()
        app.sync()
        editor = await fill(app, pilot)
        await press(app, pilot, "t", "t")  # back to access-latency
        await press(app, pilot, "escape", "t")  # reopen: the screen below repaints clean
        app.clear_notifications()
        assert isinstance(app.screen, HmatEditor) and editor.session is session

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert len(session.hmat_lb) == 4
    until_sync(lambda: q.proc.poll() is None, 1, "QEMU still running")
    assert asyncio.run(q.qmp("query-status"))["status"] == "prelaunch"
