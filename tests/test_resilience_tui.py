"""The app never stuck, never lost (real QEMU): a move of an assigned slot and
ctrl+z / ctrl+y by relaunch, the disconnected state with relaunch, and
hostile strings from the QMP peer shown inertly."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import launched_with_keeper
from fake_qmp import HostileProxy
from tui_helpers import Notes, settle

from numatui.core.autosave import Autosaver, load
from numatui.core.keeper import Keeper
from numatui.model import sanitise
from numatui.model.topology import SlotKey, Topology
from numatui.session.machine import RunState
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import CommandPanel
from numatui.tui.log_panel import entry_text


async def qemu_mapping(session: Session) -> dict[SlotKey, int | None]:
    return Topology.from_hotpluggable(await session.execute("query-hotpluggable-cpus")).mapping()


@pytest.fixture
async def launched(tmp_path: Path) -> AsyncIterator[tuple[Session, Keeper, Autosaver]]:
    async with launched_with_keeper(tmp_path) as rig:
        yield rig


async def test_move_then_ctrl_z_and_ctrl_y(launched: tuple[Session, Keeper, Autosaver]) -> None:
    session, keeper, saver = launched
    app = NumaApp(session, keeper=keeper)
    notes = Notes(app, inert=True)
    slot0 = session.topology.slots[0].key
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "0")  # socket 0 -> node 0
        await settle(app, pilot)
        first_pid = session.peer.pid if session.peer else None
        await pilot.press("escape", "1")  # the cursor slot, assigned to 0, -> node 1: relaunch
        await settle(app, pilot)
        assert session.peer is not None and session.peer.pid != first_pid
        moved = await qemu_mapping(session)
        assert moved[slot0] == 1
        assert "relaunching" in notes.text()
        assert app.grid.topology.mapping() == moved  # the same screen, with the change made
        assert load(saver.path).plan == session.plan()
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert (await qemu_mapping(session))[slot0] == 0
        assert "Undone: socket 0 core 0 thread 0 -> node 1" in notes.text()
        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert await qemu_mapping(session) == moved
        assert app.grid.topology.mapping() == moved
        assert load(saver.path).plan == session.plan()
        assert not any(sev == "error" for sev, _ in notes.messages), notes.text()


async def test_disconnected_screen_then_relaunch(launched: tuple[Session, Keeper, Autosaver]) -> None:
    session, keeper, saver = launched
    app = NumaApp(session, keeper=keeper)
    notes = Notes(app, inert=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "1")
        await settle(app, pilot)
        before = session.topology.mapping()
        command_line = app.query_one(CommandPanel).text
        assert session.peer is not None
        os.kill(session.peer.pid, signal.SIGKILL)
        for _ in range(100):
            await pilot.pause(0.02)
            if session.state is RunState.DISCONNECTED and app.query_one("#disconnected").display:
                break
        banner = app.query_one("#disconnected")
        assert banner.display
        shown = str(banner.render())
        assert "Disconnected" in shown and str(saver.path) in shown and "Press R to relaunch" in shown
        assert str(saver.path) in notes.text()
        # the grid and the command line stay readable
        assert app.grid.topology.mapping() == before
        assert app.query_one(CommandPanel).text == command_line
        # a digit now: one clear message, the app keeps running
        await pilot.press("0")
        await settle(app, pilot)
        assert notes.messages[-1] == (
            "warning", "QEMU is disconnected: press R to relaunch it with the plan.")
        await pilot.press("R")
        await settle(app, pilot)
        assert session.state is RunState.PRECONFIG
        assert await qemu_mapping(session) == before
        assert not app.query_one("#disconnected").display


HOSTILE = "[bold red]x[/] \x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 [@click=app.quit]q[/]"


@pytest.mark.parametrize("text", [HOSTILE, "B" * (1 << 20) + HOSTILE], ids=["markup", "1MB"])
async def test_hostile_strings_are_shown_inertly(qemu: Any, text: str) -> None:
    path = Path(qemu.extra["dir"]) / "p.sock"
    async with HostileProxy(path, qemu.sock, text):
        session = await Session.connect(str(path), nodes=2)
        app = NumaApp(session)
        notes = Notes(app, inert=True)
        try:
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("0")
                await settle(app, pilot)
                await pilot.press("1")  # attached: QEMU refuses, the proxy makes it hostile
                await settle(app, pilot)
                assert app.is_running
                # the notification: controls visible (\x1b spelled out), never raw; bounded
                shown = notes.messages[-1][1]
                assert "\x1b" not in shown and "\x07" not in shown
                assert "\\x1b]52;c;ZXZpbA==\\x07" in shown or len(text) > 5000
                assert shown.startswith(sanitise.multi_line(text[:200]))
                if len(text) > 5000:
                    assert len(shown) < 5000 and "more characters" in shown
                # the QMP log panel's lines: literal, JSON-escaped (no raw ESC)
                lines = [entry_text(e.kind, e.text).plain for e in session.transcript.entries]
                assert any("[bold red]x[/]" in ln or "B" * 40 in ln for ln in lines)
                assert not any("\x1b" in ln for ln in lines)
        finally:
            await session.close()
