"""The TUI says what numatui cannot know (#14): a QEMU attached over TCP with
no record (QMP cannot read distances or nodes added live, and a TCP peer has
no identity to keep a record by) gets a ``?`` badge in the status bar, the
sentences at the head of the command-line views, and a warning per unknown on
stderr when ``q`` prints the options (options alone on stdout), which still
reproduce the mapping."""

from __future__ import annotations

from typing import Any

from test_truth_roundtrip import NO_NUMA, _free_port, _wait_tcp, boot
from tui_helpers import settle

from numatui.core.export import quit_notes
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import CommandPanel
from numatui.tui.status import StatusBar

NODES = ["-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,memdev=m0",
         "-object", "memory-backend-ram,id=m1,size=1G", "-numa", "node,nodeid=1,memdev=m1"]


async def test_tcp_peer_without_record_is_marked_and_q_warns_on_stderr(qemu_factory: Any) -> None:
    port = _free_port()
    q = qemu_factory([*NO_NUMA, *NODES, "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    _wait_tcp(port)
    session = await Session.connect(f"tcp:127.0.0.1:{port}", nodes=2)
    try:
        assert len(session.unknowns) == 1 and "--record FILE" in session.unknowns[0]
        app = NumaApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(app, pilot)
            status = str(app.query_one(StatusBar).render())
            assert "? 1 unknown" in status, status
            panel = app.query_one(CommandPanel)
            assert panel.text.splitlines()[0] == f"# warning: {session.unknowns[0]}"
            for view in ("full",):  # the full command line starts with it too
                await pilot.press("v")
                await settle(app, pilot)
                assert panel.view == view and panel.text.startswith("# warning: ")
            await pilot.press("s", "1", "j", "s", "0")  # socket 0 -> node 1, socket 1 -> node 0
            await settle(app, pilot)
            await pilot.press("q")
            await settle(app, pilot)
        printed = app.return_value
    finally:
        await session.close()
    assert printed is not None
    lines = printed.splitlines()
    assert not any(line.startswith("#") for line in lines)  # q prints options; the warning: stderr
    assert quit_notes(session) == [f"warning: {session.unknowns[0]}"]
    assert "-numa cpu,node-id=1,socket-id=0" in lines
    # what a user runs: the printed lines without the comment lines, as QEMU options
    options = [tok for line in lines if not line.startswith("#") for tok in line.split(" ", 1)]
    fresh = qemu_factory([*NO_NUMA, *NODES, *options])
    want = {0: ("4 5 6 7", 1024), 1: ("0 1 2 3", 1024)}
    assert await boot(fresh) == want
    assert await boot(q) == want
