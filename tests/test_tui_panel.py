"""The command-line panel (Exit preconfig button, size, keyboard scroll, log
beside it), 80x24, and the small on-screen fixes of issue #17 point 5, on a
real QEMU (its own view read through the test's second monitor)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, launched_session, numa_node_args, start_qemu, until
from tui_helpers import Notes, settle

from numatui.core.keeper import Keeper
from numatui.session.address import Address
from numatui.session.replay import GONE_REASON, MEMORY_REASON, MOVE_REASON, UNDO_REASON
from numatui.session.session import Session
from numatui.tui import colours
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import SMALL_HEIGHT, CommandPanel, CommandScroll
from numatui.tui.confirm import ConfirmDialog
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.gestures import NEW_NODE
from numatui.tui.grid import CpuGrid
from numatui.tui.help import HELP, HelpScreen
from numatui.tui.legend import Legend, legend_text
from numatui.tui.log_panel import QmpLog
from numatui.tui.memory_editor import MemoryEditor
from numatui.tui.overview import Overview
from numatui.tui.status import StatusBar, cursor_text, status_text

BIG = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
       "-smp", "240,sockets=8,cores=15,threads=2", "-m", "2G", *numa_node_args(8, 2048)]
EIGHT = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
         "-smp", "8,sockets=8,cores=1,threads=1", "-m", "2G", *numa_node_args(8, 2048)]

#: The smallest panel: its border, the button bar and four lines of text.
MIN_ROWS = 6


def panel_rows(width: int, height: int) -> int:
    """Rows the app's CSS gives the panel (and the log beside it) in a ``width``
    x ``height`` terminal: the smallest below SMALL_HEIGHT rows, else 40% of
    all but the footer."""
    if height < SMALL_HEIGHT:
        return MIN_ROWS
    return max(MIN_ROWS, (height - 1) * 2 // 5)


def footer_keys(screen: Any) -> list[str]:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = screen.query_one(Footer)
    return [k.description for k in footer.query(FooterKey)]


@pytest.fixture
async def session(qemu: Any) -> Any:
    s = await Session.connect(qemu.sock, nodes=2)
    yield s
    await s.close()


@pytest.fixture
async def launched_app(tmp_path: Path) -> Any:
    async with launched_session(extra_args=[*DEFAULT_ARGS, *numa_node_args(2, 2048)]) as s:
        yield s


# -- the panel -------------------------------------------------------------------------------
async def test_exit_preconfig_button_boots_then_goes(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert await pilot.click("#cmd-boot")
        await pilot.pause()
        await settle(app, pilot)
        assert isinstance(app.screen, ExitDialog)
        await pilot.press("enter")
        await settle(app, pilot)
        await until(lambda: session.state.value == "running", 10, "the boot")
        await settle(app, pilot)
        assert (await qemu.qmp("query-status"))["status"] == "running"
        assert not app.query_one("#cmd-boot").display


async def test_panel_grows_with_the_terminal(qemu_factory: Any) -> None:
    q = qemu_factory(EIGHT)
    s = await Session.connect(q.sock)
    try:
        app = NumaApp(s)
        async with app.run_test(size=(120, 40)) as pilot:
            for n in range(8):  # socket n on node n
                await pilot.press("s", str(n), "j")
                await settle(app, pilot)
            assert await q.nodes() == {k: k[0][1] for k in await q.nodes()}
            panel = app.query_one(CommandPanel)
            lines = [x for x in panel.text.splitlines() if x.startswith("-numa cpu")]
            assert len(lines) == 8
            scroll = app.query_one(CommandScroll)
            assert scroll.max_scroll_y == 0 and scroll.content_region.height >= 8  # all 8 visible
            assert app.query_one("#bottom").region.height == panel_rows(120, 40)
            await pilot.resize_terminal(200, 60)
            await settle(app, pilot)
            assert app.query_one("#bottom").region.height == panel_rows(200, 60) >= 20
            await pilot.resize_terminal(80, 24)
            await settle(app, pilot)
            assert app.query_one("#bottom").region.height == panel_rows(80, 24) == 6
            # the keyboard scrolls it: tab until it has the focus, then PageDown
            for _ in range(8):
                if app.focused is scroll:
                    break
                await pilot.press("tab")
            assert app.focused is scroll
            assert scroll.max_scroll_y > 0
            await pilot.press("pagedown")
            await pilot.pause()
            assert scroll.scroll_y > 0
            await pilot.press("home")
            await pilot.pause()
            assert scroll.scroll_y == 0
    finally:
        await s.close()


async def test_log_beside_the_panel_when_wide(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(200, 50)) as pilot:
        cursor = app.query_one(CpuGrid).cursor
        await pilot.press("l")
        await pilot.pause()
        log, panel = app.query_one(QmpLog), app.query_one(CommandPanel)
        assert log.display and panel.display
        assert log.region.y == panel.region.y and log.region.x > panel.region.x  # side by side
        assert app.query_one(CpuGrid).cursor == cursor  # l is the log, not vi's right
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert log.display and not panel.display  # narrow: the log takes the panel's place
        await pilot.press("l")
        await pilot.pause()
        assert panel.display and not log.display


# -- 80x24 -----------------------------------------------------------------------------------
async def test_80x24_shows_header_nodes_legend_and_a_whole_socket(qemu_factory: Any) -> None:
    q = qemu_factory(BIG)
    s = await Session.connect(q.sock)
    try:
        app = NumaApp(s)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.query_one(StatusBar).region.height <= 2
            side = app.query_one("#side").region
            legend = app.query_one(Legend).region
            assert legend.height >= 5  # below the overview: the side panel scrolls to it
            overview = app.query_one(Overview)  # right under the nodes (#25 item 8)
            assert overview.display and overview.region.y < side.bottom
            assert "7•" in app.query_one(Legend).content.plain  # every node's sample
            grid = app.query_one(CpuGrid)
            rows = grid.grid_layout.rows
            socket1 = next(i for i, r in enumerate(rows) if r.kind == "header" and r.text == "socket 1")
            assert grid.scrollable_content_region.height >= socket1  # socket 0 whole
    finally:
        await s.close()


# -- dialogs and footers ---------------------------------------------------------------------
async def test_exit_dialog_footer_shows_its_own_keys(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ExitDialog)
        keys = footer_keys(app.screen)
        assert "Boot" in keys and "Cancel" in keys
        assert not {"Select", "Socket", "Help", "Quit"} & set(keys)


async def test_footer_after_boot_has_no_assign(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "Node" in footer_keys(app.screen)
        await pilot.press("X", "enter")
        await until(lambda: session.state.value == "running", 10, "the boot")
        await settle(app, pilot)
        await pilot.pause()
        assert "Node" not in footer_keys(app.screen)
        assert "Plug" in footer_keys(app.screen)
        await pilot.press("1")  # still explains why
        await settle(app, pilot)
        assert "QEMU fixed every CPU's node at boot" in notes.text()


async def test_quit_on_a_running_launched_vm_asks(launched_app: Session) -> None:
    session = launched_app
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("X", "enter")
        await until(lambda: session.state.value == "running", 20, "the boot")
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "--keep-running" in app.screen.question
        assert "Stay" in footer_keys(app.screen) or "No" in footer_keys(app.screen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and app.is_running
        assert session.launcher is not None and session.launcher.alive()
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_value is not None


async def test_drop_on_new_node_does_not_say_press(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")  # socket 0 selected, then dropped on "+ new node"
        grid = app.query_one(CpuGrid)
        app.post_message(CpuGrid.Dropped(grid, NEW_NODE))
        await pilot.pause()
        await settle(app, pilot)
        assert set((await qemu.nodes()).values()) == {2, None}
        assert "Node 2 added" in notes.text() and "Press 2" not in notes.text()


async def test_error_toasts_go_when_the_next_action_succeeds(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "0")
        await settle(app, pilot)
        await pilot.press("s", "1")  # refused: socket 0 is on node 0 (attached: no relaunch)
        await settle(app, pilot)
        await pilot.pause()
        assert any(n.severity == "error" for n in app.notices.shown)
        await pilot.press("escape", "j", "s", "1")  # socket 1 -> node 1: accepted
        await settle(app, pilot)
        await pilot.pause()
        assert set((await qemu.nodes()).values()) == {0, 1}
        assert not any(n.severity == "error" for n in app.notices.shown)


async def test_memory_editor_does_not_offer_a_refused_split(launched_app: Session) -> None:
    app = NumaApp(launched_app)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, MemoryEditor)
        await pilot.press("enter", "ctrl+u", *"512M", "enter")  # 512M + 1G != 2G
        await pilot.pause()
        said = editor.message.text
        assert "Press a" not in said and "Not applicable yet" in said, said


# -- the reasons the QMP log gives ------------------------------------------------------------
async def test_qmp_log_names_each_relaunch_reason(launched_app: Session) -> None:
    from numatui.core.vm import Vm

    session = launched_app
    vm = Vm(session, Keeper(session))
    socket0 = [s.key for s in session.topology.slots if s.key[0] == ("socket-id", 0)]

    def notes() -> str:
        return "\n".join(e.text for e in session.transcript.since(0) if e.kind == "note")

    await vm.assign(socket0, 0)
    await vm.assign(socket0, 1)  # a move
    assert MOVE_REASON in notes()
    await vm.undo(False)
    assert UNDO_REASON in notes()
    await vm.set_memory({0: 512 << 20, 1: 1536 << 20})
    assert MEMORY_REASON in notes()
    assert session.launcher is not None
    assert session.launcher.pid is not None
    os.kill(session.launcher.pid, signal.SIGKILL)
    await until(lambda: session.state.value == "disconnected", 20, "QEMU going away")
    await vm.relaunch_or_reconnect()
    assert GONE_REASON in notes()
    relaunches = [line for line in notes().splitlines() if line.startswith("relaunching QEMU")]
    assert len(relaunches) == 4 and sum(MOVE_REASON in r for r in relaunches) == 1


# -- attached R: reconnect, then offer the saved plan ----------------------------------------
async def test_attached_r_offers_the_saved_plan(tmp_path: Path) -> None:
    args = [*DEFAULT_ARGS, *numa_node_args(2, 2048)]
    first = start_qemu(tmp_path, args)
    s = await Session.connect(first.sock, nodes=2)
    second = None
    try:
        app = NumaApp(s)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("s", "0")
            await settle(app, pilot)
            first.kill()
            await until(lambda: s.state.value == "disconnected", 20, "QEMU going away")
            await settle(app, pilot)
            await until(lambda: any(n.title == "Disconnected" for n in app.notices.shown)
                        or app.ctl.told_disconnected, 10, "the disconnected toast")
            second = start_qemu(tmp_path, args)  # the same socket path
            await pilot.press("R")
            await settle(app, pilot)
            await until(lambda: isinstance(app.screen, ConfirmDialog), 10, "the offer")
            assert not any(n.severity == "error" for n in app.notices.shown)  # stale toasts gone
            assert "saved plan" in app.screen.question
            await pilot.press("enter")
            await settle(app, pilot)
            nodes = await second.nodes()
            assert {k: v for k, v in nodes.items() if v is not None} == {
                k: 0 for k in nodes if k[0] == ("socket-id", 0)}
    finally:
        await s.close()
        first.kill()
        if second is not None:
            second.kill()


# -- maxcpus > cpus --------------------------------------------------------------------------
async def test_maxcpus_shows_boot_cpus_and_preflight_warns(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                      "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", "-m", "2G",
                      *numa_node_args(2, 2048)])
    s = await Session.connect(q.sock)
    try:
        app = NumaApp(s)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("s", "0", "j", "s", "1")
            await settle(app, pilot)
            text = app.query_one("#nodes").text()
            assert "4/4 at boot" in text and "0/4 at boot" in text
            assert "empty at boot" in app.query_one("#cursor-info").text
            await pilot.press("X")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ExitDialog)
            assert "node-no-boot-cpus" in [f.code for f in dialog.findings]
            assert any("Node 1 will boot with no CPUs" in f.message for f in dialog.findings)
            await pilot.press("enter")
            await until(lambda: s.state.value == "running", 20, "the boot")
        # QEMU agrees: node 1's slots are empty after boot
        cpus = await q.qmp("query-hotpluggable-cpus")
        on1 = [c for c in cpus if c["props"].get("node-id") == 1]
        assert on1 and all("qom-path" not in c for c in on1)
    finally:
        await s.close()


# -- words, colours, legend, help, status ----------------------------------------------------
def test_sixteen_distinct_node_colours() -> None:
    assert len({colours.node_colour(n) for n in range(16)}) == 16


def test_legend_samples_every_node_and_the_cursor_looks_like_the_grid() -> None:
    from rich.style import Style

    text = legend_text(False, list(range(8)), launched=True, width=26)
    assert all(f"{n}{colours.LOCK_MARK}" in text.plain for n in range(8))
    assert "set on node N (a move relaunches QEMU)" in text.plain
    assert "fixed" not in text.plain
    cursor_at = text.plain.index(" cursor") - 3
    grid_cursor = colours.node_style(0) + Style(reverse=True)  # CpuGrid._cell, focused
    assert text.get_style_at_offset(_console(), cursor_at) == grid_cursor


def _console() -> Any:
    from rich.console import Console

    return Console()


def test_help_lists_every_key_of_the_action_table() -> None:
    from rich.text import Text

    from numatui.core.actions import ACTIONS, key_of

    shown = Text.from_markup(HELP).plain
    keyed = [a for a in ACTIONS if a.keys and a.label]  # assign_refused: the digits again, after boot
    assert len(keyed) >= 25
    rows = {line[12:].strip() for line in shown.splitlines()}
    for action in keyed:
        assert action.help, action.id
        row = next((r for r in rows if r.endswith(f" {action.help}")), None)
        assert row is not None, action.id
        assert row.startswith(f"{key_of(action.id)} ") or f" {key_of(action.id)} " in row, action.id


def test_help_keeps_its_indentation_at_80_columns() -> None:
    from rich.text import Text

    widest = max(Text.from_markup(line).cell_len for line in HELP.splitlines())
    assert widest <= 76  # 80 columns less the help's border and padding


async def test_help_at_80_columns_does_not_wrap(qemu: Any, session: Session) -> None:
    from textual.widgets import Static

    app = NumaApp(session)
    async with app.run_test(size=(80, 60)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        static = app.screen.query_one(Static)
        assert static.region.height == len(HELP.splitlines())


async def test_words_singular_and_set(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-smp", "6,sockets=3,cores=2,threads=1",
                      "-m", "1G", *numa_node_args(2, 1024)])
    s = await Session.connect(q.sock, nodes=2)
    try:
        line = status_text(s, None).plain
        assert "3 sockets × 2 cores × 1 thread" in line and "1 threads" not in line
        await s.assign([s.topology.slots[0].key], 0)
        assert "(set)" in cursor_text(s.topology, 0, 0, False)
    finally:
        await s.close()


def test_status_between_two_qemus_says_so() -> None:
    s = Session(Address.parse("unix:/nonexistent.qmp"))
    line = status_text(s, "relaunching QEMU with the plan").plain
    assert "unknown" not in line and "0 slots" not in line
    assert "relaunching QEMU" in line


# -- the palette ------------------------------------------------------------------------------
async def test_palette_one_quit_and_screenshot_without_downloads(
        qemu: Any, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Downloads
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(100, 30)) as pilot:
        commands = list(app.get_system_commands(app.screen))
        titles = [c.title for c in commands]
        assert titles.count("Quit") == 1 and titles.count("Screenshot") == 1
        next(c for c in commands if c.title == "Screenshot").callback()
        await pilot.pause()
        assert "Screenshot saved to" in notes.text()
        path = Path(notes.text().split("Screenshot saved to ")[1].split()[0])
        assert path.exists() and path.suffix == ".svg"
        assert not (tmp_path / "Downloads").exists()
