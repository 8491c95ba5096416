"""Editors keep every key of a burst (#25 item 3): the key that opens a cell
goes into it and every key after it goes to the cell until it closes, typed
as ONE Pilot burst (no pause between keys)."""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, until
from test_faces_relaunch_export import command_line, facts
from tui_helpers import Notes

from numatui.core import export
from numatui.model.hmat import HmatLb
from numatui.model.memory_split import MIB
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.hmat_editor import HmatEditor
from numatui.tui.memory_editor import MemoryEditor
from numatui.tui.status import StatusBar


async def test_memory_editor_burst_adds_a_node_and_relaunches(qemu_factory: Any) -> None:
    """``m n 512M enter up 512M enter a escape`` in one burst: node 2 with
    512 MiB, node 1 down to 512 MiB, by a relaunch that escape does not stop.
    A QEMU numatui starts has no monitor for the test: what ``q`` then prints
    starts a fresh QEMU, and that one's own monitor shows the sizes."""
    launcher = Launcher(extra_args=DEFAULT_ARGS)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        app = NumaApp(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("m", "n", *"512M", "enter", "up", *"512M", "enter", "a", "escape")
            await until(lambda: session.launcher is not launcher and not isinstance(app.screen, MemoryEditor),
                        60, "the relaunch with the new split")
            await app.settled()
            assert {n.id: n.size for n in session.nodes} == {0: 1024 * MIB, 1: 512 * MIB, 2: 512 * MIB}
            await pilot.press("q")
        assert export.rewritten(session) is not None
        program, options = command_line(app.return_value or "")
        fresh = qemu_factory(options, binary=program)
        sizes = {m["id"]: m["size"] for m in await fresh.qmp("query-memdev")}
        assert sorted(sizes.values()) == [512 * MIB, 512 * MIB, 1024 * MIB]
        assert await facts(fresh.qmp) == await facts(session.execute)
    finally:
        await session.close()
        for x in {id(x): x for x in (session.launcher, launcher)}.values():
            if isinstance(x, Launcher):
                await x.stop()


def test_command_line_helper_keeps_options() -> None:
    assert command_line("qemu -m 2G \\\n  --preconfig") == ("qemu", ["-m", "2G"])
    assert shlex.split("-m 2G") == ["-m", "2G"]


@pytest.fixture
async def hmat_session() -> Any:
    launcher = Launcher(extra_args=DEFAULT_ARGS, hmat=True)
    await launcher.start()
    s = await Session.connect(launcher.address, launcher=launcher)
    yield s
    await s.close()
    await launcher.stop()


async def test_hmat_editor_burst_keeps_suffixes_and_letters(hmat_session: Session) -> None:
    """``t`` to access-bandwidth... typed fast: ``20G`` is 20 GiB/s, and a
    ``t`` inside a typed value goes into the cell (QEMU's words refuse it)
    instead of switching the data type."""
    session = hmat_session
    app = NumaApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "0", "j", "s", "1", "t", *"ttt", *"20G", "enter")
        await until(lambda: session.hmat_lb, 20, "the bandwidth sent")
        assert session.hmat_lb == [HmatLb(0, 0, "memory", "access-bandwidth", 20 << 30)]
        editor = app.screen
        assert isinstance(editor, HmatEditor)
        await pilot.press("right", *"10240t", "enter")
        await until(lambda: editor.message.has_class("error"), 20, "the refusal")
        assert editor.data_type == "access-bandwidth", "the t went to the cell, not to the data type"
        assert editor.field.value == "10240t" and editor.editing is not None, editor.message.text
        await pilot.press("escape", "escape")
        await until(lambda: not isinstance(app.screen, HmatEditor), 10, "two escapes close the editor")
    assert len(session.hmat_lb) == 1


async def test_long_work_shows_in_the_state_badge_and_a_second_boot_is_refused(qemu: Any,
                                                                              session: Session) -> None:
    """While a step runs the badge says what numatui does and counts seconds
    (not `` preconfig ``); X typed while a boot waits its turn is refused, the
    keys after it still queue, the dialog comes after the work asked before it
    and the keys after X wait for its answer; QEMU gets one x-exit-preconfig."""
    app = NumaApp(session)
    notes = Notes(app)
    gate = asyncio.Event()

    async def socket_0_nodes() -> set[int | None]:
        slots = await qemu.qmp("query-hotpluggable-cpus")
        return {x["props"].get("node-id") for x in slots if x["props"]["socket-id"] == 0}

    async def slow_step() -> None:  # holds the queue, as a long boot or relaunch does
        async with app.ctl.step("relaunching QEMU with the plan"):
            await gate.wait()

    async with app.run_test(size=(120, 40)) as pilot:
        def badge() -> str:
            return str(app.query_one(StatusBar).content).splitlines()[0]

        app.start(slow_step())
        await until(lambda: "relaunching 1 s" in badge(), 10, "the badge counting seconds")
        assert " preconfig " not in badge()
        await pilot.press("s", "1", "X", "X", "s", "0")  # the cursor's socket to node 1, boot, X, then to 0
        await until(lambda: "The VM is booting" in notes.text(), 10, "the second boot refused")
        assert not isinstance(app.screen, ExitDialog)  # the boot waits its turn
        gate.set()
        await until(lambda: isinstance(app.screen, ExitDialog), 10, "the dialog, after the step")
        assert await socket_0_nodes() == {1}  # the key before X acted before the dialog
        await pilot.press("enter")
        await until(lambda: app.ctl.busy is None and app.ctl.boot_requested is None and app.ctl.queued == 0,
                    30, "the queue drained")
        await app.settled()
        assert " running " in badge()
        assert "fixed every CPU's node at boot" in notes.text().split("QEMU is running")[1]  # s 0: refused
    assert (await qemu.qmp("query-status"))["status"] == "running"
    assert await socket_0_nodes() == {1}
    sent = [e for e in session.transcript.entries if e.kind == "cmd" and "x-exit-preconfig" in e.text]
    assert len(sent) == 1, sent


async def test_a_refused_cache_says_what_to_fill_first_and_one_escape_leaves(hmat_session: Session) -> None:
    session = hmat_session
    app = NumaApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "0", "j", "s", "1", "t", "c", *"1 256M direct write-back 64", "enter")
        editor = app.screen
        assert isinstance(editor, HmatEditor)
        await until(lambda: editor.message.has_class("error"), 10, "the refusal")
        said = editor.message.text
        assert "should be provided before memory side cache attributes" in said
        assert "Fill first a latency (t: access-latency) and a bandwidth (t: access-bandwidth) " \
               "from an initiator to node 0" in said, said
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, HmatEditor), 10, "one escape leaves")
    assert session.hmat_cache == []
