"""QEMU SIGKILLed idle, during an assignment, during x-exit-preconfig, or
exiting at x-exit-preconfig on its own: the session says disconnected with
QEMU's words, the plan is on disk, and a relaunch restores it (real QEMU)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_QEMU, launched_with_keeper, until

from numatui.core.autosave import Autosaver, load
from numatui.core.keeper import Keeper
from numatui.core.vm import Vm
from numatui.model.topology import SlotKey, Topology
from numatui.session.errors import Disconnected
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.session import Session
from numatui.session.transcript import Entry


class Rig:
    def __init__(self, session: Session, keeper: Keeper, saver: Autosaver) -> None:
        self.session = session
        self.keeper = keeper
        self.saver = saver
        self.events: list[dict[str, Any]] = []
        session.add_listener(self.events.append)

    def kill_on(self, needle: str) -> None:
        """SIGKILL QEMU the moment the session sends a command containing ``needle``."""
        def listener(entry: Entry) -> None:
            if entry.kind == "cmd" and needle in entry.text and self.session.peer:
                os.kill(self.session.peer.pid, signal.SIGKILL)
        self.session.transcript.add_listener(listener)

    def kill_now(self) -> None:
        assert self.session.peer is not None
        os.kill(self.session.peer.pid, signal.SIGKILL)

    async def wait_disconnected(self) -> dict[str, Any]:
        return await until(lambda: next((e for e in self.events
                                         if e.get("event") == "NUMATUI_DISCONNECTED"), None),
                           5, "a NUMATUI_DISCONNECTED event")

    def socket(self, n: int) -> list[SlotKey]:
        return [s.key for s in self.session.topology.slots if s.key[0] == ("socket-id", n)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with launched_with_keeper(tmp_path) as (session, keeper, saver):
        yield Rig(session, keeper, saver)


async def recovered(rig: Rig, expected: dict[SlotKey, int | None]) -> None:
    """The plan on disk is ``expected``; a relaunch brings it back in a new QEMU."""
    state = load(rig.saver.path)
    assert state.plan.resolve(rig.session.topology) == {k: v for k, v in expected.items() if v is not None}
    await rig.keeper.relaunch()
    assert rig.session.state is RunState.PRECONFIG
    reply = await rig.session.execute("query-hotpluggable-cpus")
    assert Topology.from_hotpluggable(reply).mapping() == expected
    assert rig.session.plan() == state.plan


async def test_killed_while_idle(rig: Rig) -> None:
    await rig.session.assign(rig.socket(0), 1)
    before = rig.session.topology.mapping()
    rig.kill_now()
    event = await rig.wait_disconnected()
    assert rig.session.state is RunState.DISCONNECTED
    assert event["data"]["reason"] == "QEMU closed the QMP connection"
    with pytest.raises(Disconnected):
        await rig.session.assign(rig.socket(1), 0)
    # the last known grid stays readable
    assert rig.session.topology.mapping() == before
    await recovered(rig, before)


async def test_killed_during_an_assignment(rig: Rig) -> None:
    await rig.session.assign(rig.socket(0), 0)
    before = rig.session.topology.mapping()
    rig.kill_on('"node-id":1')
    with pytest.raises(Disconnected, match="during set-numa-node"):
        await rig.session.assign(rig.socket(1), 1)
    assert rig.session.state is RunState.DISCONNECTED
    assert rig.session.topology.mapping() == before  # nothing of the failed step is believed
    await recovered(rig, before)


async def test_killed_during_exit_preconfig(rig: Rig) -> None:
    await rig.session.assign(rig.socket(0), 0)
    await rig.session.assign(rig.socket(1), 1)
    before = rig.session.topology.mapping()
    rig.kill_on("x-exit-preconfig")
    with pytest.raises(Disconnected, match="QEMU exited at x-exit-preconfig"):
        await rig.session.exit_preconfig()
    await recovered(rig, before)


async def test_qemu_exits_at_exit_preconfig_with_its_own_words(tmp_path: Path) -> None:
    """A board limit the preflight does not know: TCG pseries with threads > 1
    (QEMU 7.2), threads > 8 (QEMU 10.0, which has SMT under TCG)."""
    smp, said = {"7.2": ("4,sockets=1,cores=2,threads=2", "more than 1 thread/core"),
                 "10.0": ("16,sockets=1,cores=1,threads=16", "more than 8 threads/core")}[TEST_QEMU]
    launcher = Launcher(qemu="qemu-system-ppc64", extra_args=[
        "-machine", "pseries", "-accel", "tcg", "-smp", smp, "-m", "1G"])
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    saver = Autosaver(tmp_path / "ppc.json")
    keeper = Keeper(session, save=saver.save_session)
    try:
        await session.assign([session.topology.slots[0].key], 1)
        with pytest.raises(Disconnected) as info:
            await session.exit_preconfig(force=True)
        assert f"TCG cannot support {said} on a pseries machine" in str(info.value)
        assert info.value.stderr_tail is not None
        assert session.state is RunState.DISCONNECTED
        assert load(saver.path).plan == session.plan()
        assert Vm(session, keeper).can_relaunch  # the screen can offer it
    finally:
        await session.close()
        await launcher.stop()


async def test_a_failing_autosave_never_stops_the_mapping(rig: Rig, tmp_path: Path) -> None:
    assert rig.keeper.saved_path == str(rig.saver.path)
    rig.saver.path = tmp_path / "not-a-dir" / "x.json"
    (tmp_path / "not-a-dir").write_text("a file where the directory should be")
    await rig.session.assign(rig.socket(0), 1)  # no exception
    assert rig.keeper.last_save_error is not None and "autosave failed" in rig.keeper.last_save_error
    assert any("autosave failed" in e.text for e in rig.session.transcript.entries)
    rig.saver.path = tmp_path / "ok.json"
    await rig.session.assign(rig.socket(1), 0)
    assert rig.keeper.last_save_error is None and load(rig.saver.path).plan == rig.session.plan()
