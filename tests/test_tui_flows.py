"""TUI flows against a real QEMU in preconfig: refusals, copy, boot, quit, log.

QEMU's own view is read through the test's second monitor.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import until
from textual.widgets import Static
from tui_helpers import Notes, settle, warned

from numatui.core.vm import Vm
from numatui.session.session import Session
from numatui.tui.app import NumaApp, run_async, run_tui
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.grid import CpuGrid
from numatui.tui.info_line import InfoLine
from numatui.tui.legend import Legend
from numatui.tui.log_panel import QmpLog
from numatui.tui.nodes import NodesPanel
from numatui.tui.overview import Overview
from numatui.tui.status import StatusBar

SOCKET0 = "-numa cpu,node-id=1,socket-id=0\n"


@pytest.fixture
async def session(qemu: Any) -> Any:
    s = await Session.connect(qemu.sock, nodes=2)
    yield s
    await s.close()


async def test_refused_move_shows_qemu_message_and_changes_nothing(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "0")  # socket 0 -> node 0
        await settle(app, pilot)
        before = await qemu.nodes()
        await pilot.press("s", "1")  # socket 0 again, now to node 1: QEMU has no undo
        await settle(app, pilot)
        assert await qemu.nodes() == before
        grid = app.query_one(CpuGrid)
        assert grid.topology.mapping() == before
        assert "CPU is already assigned to node-id: 0" in notes.text()
        assert "cannot move a CPU" in notes.text()
        assert ("error", notes.messages[-1][1]) == notes.messages[-1]
        assert session.transcript.count("error") >= 1


async def test_half_applied_refusal_shows_qemus_truth(qemu: Any, session: Session) -> None:
    """set-numa-node is not atomic: the grid must show what QEMU holds after a refusal."""
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right", "right", "c", "0")  # socket 0 core 1 -> node 0
        await settle(app, pilot)
        await pilot.press("home", "s", "1")  # whole socket 0 -> node 1: core 1 refuses
        await settle(app, pilot)
        grid = app.query_one(CpuGrid)
        assert grid.topology.mapping() == await qemu.nodes()


async def test_undeclared_node_gets_a_hint_and_no_command(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        sent = session.transcript.count("cmd")
        await pilot.press("9")  # node 9 is not declared
        await settle(app, pilot)
        assert "Node 9 does not exist" in notes.text()
        assert "Press n" in notes.text()
        assert session.transcript.count("cmd") == sent
        assert all(node is None for node in (await qemu.nodes()).values())


async def test_copy_puts_compact_options_in_clipboard(
    qemu: Any, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "1")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        # the copy is what q prints: the options alone (this QEMU was attached
        # to, with no record: the warning goes to stderr on quit)
        assert session.unknowns and app.clipboard == SOCKET0
        said = notes.text()
        assert "OSC 52" in said
        if "Copied with" not in said:  # no clipboard program here: a file instead
            saved = tmp_path / "numatui" / "copied.txt"
            assert str(saved) in said
            assert saved.read_text() == SOCKET0
        await pilot.press("v")  # the full command line; y copies what is shown
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert "-numa cpu,node-id=1,socket-id=0" in app.clipboard
        assert "qemu-system-x86_64" in app.clipboard


async def test_exit_dialog_lists_findings_and_enter_boots(qemu: Any, session: Session) -> None:
    """The dialog shows the one preflight, run after the keys typed before X
    (a burst), and the boot goes by it: not a second preflight."""
    app = NumaApp(session)
    preflight, runs = app.vm.preflight, []
    app.vm.preflight = lambda: runs.append(1) or preflight()  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "1", "X")  # socket 1 stays unassigned: a warning
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, ExitDialog)
        # CPU 0 on QEMU node 1: the guest will call it node0 (a note)
        assert [f.code for f in dialog.findings] == ["cpus-unassigned", "guest-numbering"]
        assert (await qemu.qmp("query-status"))["status"] == "prelaunch"
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, ExitDialog)
        assert (await qemu.qmp("query-status"))["status"] == "running"
        assert app.query_one(CpuGrid).booted
        assert len(runs) == 1
        # after boot the digits explain instead of sending
        await pilot.press("0")
        await settle(app, pilot)
        cpus = await qemu.qmp("query-cpus-fast")
        assert sorted(c["props"]["node-id"] for c in cpus) == [0] * 4 + [1] * 4


async def test_blocking_findings_disable_boot_until_forced(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")  # node 2
        await settle(app, pilot)
        await session.set_distance(0, 1, 20)  # now pairs 0-2 and 1-2 lack a distance
        await pilot.press("a", "1", "X")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, ExitDialog)
        assert dialog.blocking and dialog.blocking[0].code == "distance-missing"
        assert dialog.query_one("#confirm").disabled
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is dialog
        assert (await qemu.qmp("query-status"))["status"] == "prelaunch"
        await pilot.press("f")
        await pilot.pause()
        assert not dialog.query_one("#confirm").disabled
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExitDialog)


async def test_log_toggles_and_follows_the_transcript(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(QmpLog)
        assert not log.display or not log.has_class("shown")
        await pilot.press("l")
        assert log.has_class("shown")
        lines = len(log.lines)
        await pilot.press("s", "1")
        await settle(app, pilot)
        assert len(log.lines) > lines
        assert any("set-numa-node" in line.text for line in log.lines)
        await pilot.press("l")
        assert not log.has_class("shown")


async def test_quit_returns_the_options(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "1")
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == SOCKET0  # the warnings go to stderr (run_tui)


async def test_run_tui_prints_the_options_after_the_screen(
    qemu: Any, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    async def drive(pilot: Any) -> None:
        await pilot.press("s", "1")
        await pilot.app.settled()
        await pilot.press("q")

    code = await run_tui(Vm(session), headless=True, size=(80, 24), auto_pilot=drive)
    assert code == 0
    printed = capsys.readouterr()
    assert printed.out == SOCKET0  # options only: numatui connect ADDR > numa.args
    assert session.unknowns and printed.err == "".join(f"numatui: warning: {u}\n" for u in session.unknowns)
    assert await run_async(session, headless=True, auto_pilot=quit_at_once) == SOCKET0


async def quit_at_once(pilot: Any) -> None:
    await pilot.press("q")


async def test_qemu_going_away_is_shown(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        qemu.kill()
        await until(lambda: session.state.value == "disconnected" and notes.messages,
                    what="the app noticing QEMU went away")
        await pilot.pause()
        status = app.query_one("#status")
        assert "disconnected" in str(status.render())
        assert any(sev == "error" for sev, _ in notes.messages)
        await pilot.press("s", "1")  # no crash: the refusal is a notification
        await settle(app, pilot)
        assert len(notes.messages) >= 2


def _highlighted(app: NumaApp) -> str:
    """The command the palette's list highlights ("" when none)."""
    from textual.command import CommandList

    found = app.screen.query(CommandList)
    if not found or found.first().highlighted is None:
        return ""
    options = found.first()
    return str(options.get_option_at_index(options.highlighted).prompt)


async def test_command_palette_offers_every_action(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for words in ("Assign to node 0", "Assign to node 1", "Add a node", "socket", "core",
                      "unassigned", "Clear", "Copy", "view", "Exit preconfig", "QMP log",
                      "Help", "Quit"):
            assert any(words in t for t in titles), words
        await pilot.press("s", "ctrl+p")
        await pilot.pause()
        await pilot.press(*"Assign to node 1")
        await until(lambda: _highlighted(app).startswith("Assign to node 1"),
                    what="the palette highlighting the command")
        await pilot.press("enter")
        await settle(app, pilot)
        nodes = await qemu.nodes()
        assert [nodes[(("socket-id", 0), ("core-id", c), ("thread-id", t))]
                for c in (0, 1) for t in (0, 1)] == [1, 1, 1, 1]


async def test_every_command_line_view_renders(qemu: Any, session: Session) -> None:
    from numatui.tui.cmdline import CommandPanel

    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "0", "j", "s", "1")
        await settle(app, pilot)
        panel = app.query_one(CommandPanel)
        seen = {}
        for _ in range(5):
            seen[panel.view] = panel.text
            await pilot.press("v")
        assert panel.view == "compact"
        assert seen["compact"] == warned(session, "-numa cpu,node-id=0,socket-id=0\n"
                                                  "-numa cpu,node-id=1,socket-id=1\n")
        assert "-numa cpu,node-id=1,socket-id=1" in seen["full"]
        assert '"node-id": 1' in seen["json"] and '"version": 1' in seen["json"]
        assert "<numa>" in seen["libvirt"] and "<cell" in seen["libvirt"]
        assert "--property hw:numa_cpus.1=4-7" in seen["openstack"]


async def test_cursor_keys_repaint_no_panel_but_the_info_line(qemu: Any, session: Session) -> None:
    """A burst of cursor and selection keys repaints the grid rows and the line
    under the grid; the command line, nodes, legend and status bar show the same
    and are not repainted, nor the overview while the cursor stays in its cell.
    An assignment then repaints the command line (its text changed)."""
    app = NumaApp(session)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(app, pilot)
        overview = app.part(Overview)
        assert overview.display  # the grid does not fit: the overview marks the cursor
        refreshed: Counter[str] = Counter()
        for widget in (app.query_one("#cmd-text"), app.part(NodesPanel), app.part(Legend),
                       app.part(StatusBar), overview, app.part(InfoLine)):
            def counted(*args: Any, _refresh: Any = widget.refresh, _name: str = type(widget).__name__,
                        **kwargs: Any) -> Any:
                refreshed[_name] += 1
                return _refresh(*args, **kwargs)
            widget.refresh = counted  # type: ignore[method-assign]
        await pilot.press("right", "space", "left", "shift+right", "escape", "c", "escape")
        await settle(app, pilot)
        assert refreshed == {"InfoLine": refreshed["InfoLine"]} and refreshed["InfoLine"] >= 1
        await pilot.press("1")
        await settle(app, pilot)
        assert refreshed["Static"] == 1 and refreshed["Overview"] == 1
        assert "node-id=1" in str(app.query_one("#cmd-text", Static).content)
