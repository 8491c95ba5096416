"""Nodes, memory and distances through the whole app, keys only, on real QEMU;
and a snapshot of the distance editor beside what QEMU and the session hold.
Update the snapshot with ``pytest tests/test_numa_nodes_tui.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import info_numa, until
from tui_helpers import nodes_text

from numatui.core import export as exports
from numatui.model.memory_split import MIB
from numatui.session.address import Address
from numatui.session.machine import RunState
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.distance_editor import DistanceEditor
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.memory_editor import MemoryEditor


class Notes:
    """What the app notifies (still shown)."""

    def __init__(self, app: NumaApp) -> None:
        self.messages: list[tuple[str, str, str]] = []
        original = app.notify

        def notify(message: str, *, title: str = "", severity: Any = "information",
                   timeout: float | None = None, markup: bool = True) -> None:
            self.messages.append((str(severity), title, message))
            original(message, title=title, severity=severity, timeout=timeout, markup=markup)

        app.notify = notify  # type: ignore[method-assign]

    def text(self) -> str:
        return "\n".join(f"{t}: {m}" for _, t, m in self.messages)


async def press(app: NumaApp, pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()
    await app.settled()
    await pilot.pause()


async def test_node_socket_distances_boot_through_the_app(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(app, pilot, "n")  # node 2, memoryless
        await press(app, pilot, "j", "s", "2")  # socket 1 -> node 2
        assert {v for k, v in (await qemu.nodes()).items() if k[0] == ("socket-id", 1)} == {2}
        await press(app, pilot, "d")
        assert isinstance(app.screen, DistanceEditor)
        await press(app, pilot, "right", "1", "5", "enter", "f", "escape")
        assert not isinstance(app.screen, DistanceEditor)
        full = exports.render("full", session)
        for pair in ("src=0,dst=1,val=15", "src=1,dst=0,val=15", "src=0,dst=2,val=20", "src=1,dst=2,val=20"):
            assert f"-numa dist,{pair}" in full
        assert "2      0 CPUs  1 GiB" not in str(nodes_text(session, False))
        await press(app, pilot, "X")
        assert isinstance(app.screen, ExitDialog) and not app.screen.blocking
        await press(app, pilot, "enter")
        assert session.state is RunState.RUNNING
    text = await qemu.qmp("human-monitor-command", {"command-line": "info numa"})
    assert info_numa(text) == {0: ("0 1 2 3", 1024), 1: ("", 1024), 2: ("4 5 6 7", 0)}


async def test_forced_incomplete_matrix_reports_qemus_exit_and_the_app_stays(launched: Session) -> None:
    app = NumaApp(launched)
    notes = Notes(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(app, pilot, "n", "d", "right", "2", "0", "enter", "escape", "X")
        dialog = app.screen
        assert isinstance(dialog, ExitDialog)
        assert [f.code for f in dialog.blocking] == ["distance-missing"]
        await press(app, pilot, "enter")  # blocked: nothing is sent
        assert launched.state is RunState.PRECONFIG
        await press(app, pilot, "f", "enter")  # forced
        await until(lambda: launched.state is RunState.DISCONNECTED and "missing" in notes.text(),
                    what="QEMU exiting at the forced boot")
        assert "The distance between node 0 and 2 is missing" in notes.text()
        assert any(sev == "error" and title == "QEMU went away" for sev, title, _ in notes.messages)
        assert app.is_running
        await press(app, pilot, "d")  # the editor still opens, read-only
        assert isinstance(app.screen, DistanceEditor) and "gone" in app.screen.message.text


async def test_memory_split_through_the_app_survives_relaunch(launched: Session) -> None:
    app = NumaApp(launched)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(app, pilot, "s", "1")  # socket 0 -> node 1
        await press(app, pilot, "m")
        editor = app.screen
        assert isinstance(editor, MemoryEditor)
        await press(app, pilot, "enter", "ctrl+u", *"1536M", "enter", "down", "enter", "ctrl+u",
                    *"512M", "enter", "a")
        assert editor.message.has_class("ok"), editor.message.text
        await press(app, pilot, "escape")
        panel = str(nodes_text(launched, False))
        assert "1.5 GiB" in panel and "512 MiB" in panel
        memdevs = {m["id"]: m["size"] for m in await launched.execute("query-memdev")}
        assert memdevs == {"m0": 1536 * MIB, "m1": 512 * MIB}
        assert {s.node_id for s in launched.topology.slots if s.key[0] == ("socket-id", 0)} == {1}
        assert "memory-backend-ram,id=m0,size=1536M" in exports.render("full", launched)


async def test_attached_memory_editor_is_read_only_in_the_app(session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(app, pilot, "m", "a")
        assert isinstance(app.screen, MemoryEditor)
        assert "did not start this QEMU" in app.screen.message.text


# -- snapshot ------------------------------------------------------------------------
def test_distance_editor_snapshot(qemu: Any, snap_compare: Any) -> None:
    session = Session(Address.parse(qemu.sock), nodes=2)
    app = NumaApp(session, mask={qemu.sock: "/run/numatui/vm.qmp", f"pid {qemu.proc.pid}": "pid 4242"})
    seen: dict[str, Any] = {}

    async def run_before(pilot: Any) -> None:
        await session.reconnect()
        app.sync()
        await press(app, pilot, "s", "0")  # socket 0 on node 0
        await session.add_node()  # node 2 (n would leave a toast in the picture)
        app.sync()
        app.clear_notifications()
        await press(app, pilot, "d", "right", "1", "5", "enter")  # 0 <-> 1 = 15
        # close and open again: the screen below repaints without the busy text of the step
        # (a screen under a modal repaints on its own timer: a race with the picture)
        await press(app, pilot, "escape", "d")
        await press(app, pilot, "down", "right", "right", "u", "left", "left")  # unlink 1-2; on 1 -> 0
        app.clear_notifications()
        editor = app.screen
        assert isinstance(editor, DistanceEditor)
        seen.update(unset=editor.matrix.unset_pairs(), unlinked=set(editor.unlinked),
                    cursor=editor.cursor_pair(), status=editor.status_text(editor.matrix))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert {(d.src, d.dst, d.val) for d in session.distances} == {(0, 1, 15), (1, 0, 15)}
    assert seen["unset"] == [(0, 2), (1, 2)] and seen["unlinked"] == {(1, 2)}
    assert seen["cursor"] == (1, 0) and seen["status"].startswith("Incomplete")
    assert asyncio.run(qemu.qmp("query-status"))["status"] == "prelaunch"


async def test_nodes_panel_and_exit_dialog_show_the_guests_own_numbering(session: Session) -> None:
    """Socket 0 on QEMU node 1: the guest will call node 1 node0 (its CPU 0's
    node; tests/test_guest.py checks it in a real guest): the nodes panel marks
    each node with the guest's id and the exit dialog has the note."""
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = str(nodes_text(session, False))
        assert "guest node" not in panel  # QEMU's order is the guest's: nothing to say
        await press(app, pilot, "s", "1", "j", "s", "0")
        lines = {line.split()[1]: line for line in str(nodes_text(session, False)).splitlines()[1:3]}
        assert lines["0"].endswith("guest node1") and lines["1"].endswith("guest node0"), lines
        await press(app, pilot, "X")
        dialog = app.screen
        assert isinstance(dialog, ExitDialog) and not dialog.blocking
        note = next(f for f in dialog.findings if f.code == "guest-numbering")
        assert note.message.startswith("QEMU node 1 will be the guest's node0")
        await press(app, pilot, "escape")


async def test_memory_editor_gives_a_new_node_memory_live_without_a_relaunch() -> None:
    """-m 3G with two 1 GiB nodes on QEMU's command line: in the memory editor
    ``n`` adds node 2, 1G, ``a``: object-add + set-numa-node type node with
    memdev on the same QEMU (same pid, no relaunch); it boots with 3 nodes."""
    from numatui.session.launcher import Launcher

    launcher = Launcher(extra_args=[
        "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "8,sockets=2,cores=2,threads=2",
        "-m", "3G", "-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,memdev=m0",
        "-object", "memory-backend-ram,id=m1,size=1G", "-numa", "node,nodeid=1,memdev=m1"])
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        pid = launcher.pid
        app = NumaApp(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await press(app, pilot, "s", "0", "j", "s", "1", "m")
            editor = app.screen
            assert isinstance(editor, MemoryEditor)
            await press(app, pilot, "n", "ctrl+u", *"1G", "enter", "a")
            assert editor.message.has_class("ok"), editor.message.text
            assert "no relaunch" in editor.message.text and "node 2 1 GiB" in editor.message.text
            await press(app, pilot, "escape")
            assert session.launcher is launcher and launcher.pid == pid  # the same QEMU
            memdevs = {m["id"]: m["size"] for m in await session.execute("query-memdev")}
            assert memdevs == {"m0": 1 << 30, "m1": 1 << 30, "m2": 1 << 30}
            assert "1 GiB" in str(nodes_text(session, False)).splitlines()[3]
            await press(app, pilot, "X", "enter")
            assert session.state is RunState.RUNNING
        text = await session.execute("human-monitor-command", {"command-line": "info numa"})
        assert info_numa(text) == {0: ("0 1 2 3", 1024), 1: ("4 5 6 7", 1024), 2: ("", 1024)}
    finally:
        await session.close()
        await launcher.stop()
