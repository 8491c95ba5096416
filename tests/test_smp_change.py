"""Topology from the TUI (issue 23, item 7): another -smp or CPU model by
relaunch-and-replay, the mapping carried over where the slots still exist
and the gone ones said.  Read from QEMU itself: query-hotpluggable-cpus on
the relaunched QEMU (a monitor socket in the command line cannot serve: the
old QEMU unlinks the path the new one bound when it exits), and a fresh
QEMU started from the ``cmdline`` export with the test's own monitors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import DEFAULT_ARGS
from test_backends import argv_of
from test_numa_nodes_tui import press

from numatui.core.errors import ActionRefused
from numatui.core.vm import Vm
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.qemu_args import argv_with_topology, exclusive_option, topology_options
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.smp_editor import SmpEditor


class Check:
    """What the QEMU numatui runs now reports (``qmp``: a fresh QEMU's own monitor)."""

    def __init__(self, qmp: Callable[[str], Awaitable[Any]]) -> None:
        self.qmp = qmp

    async def layout(self) -> dict[tuple[int, int], set[int | None]]:
        """(socket, core) -> node ids of its threads."""
        out: dict[tuple[int, int], set[int | None]] = {}
        for c in await self.qmp("query-hotpluggable-cpus"):
            p = c["props"]
            out.setdefault((p["socket-id"], p["core-id"]), set()).add(p.get("node-id"))
        return out

    async def cpu_types(self) -> set[str]:
        return {c["type"] for c in await self.qmp("query-hotpluggable-cpus")}


@asynccontextmanager
async def launched_with_check() -> AsyncIterator[tuple[Session, Check]]:
    launcher = Launcher(extra_args=DEFAULT_ARGS)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        yield session, Check(session.execute)
    finally:
        await session.close()
        for lch in {launcher, session.launcher}:
            if isinstance(lch, Launcher):
                await lch.stop()


PLAN = Plan.from_dict({"nodes": [{"id": 0}, {"id": 1}], "distances": [{"src": 0, "dst": 1, "val": 21}],
                       "cpus": [{"node-id": 0, "socket-id": 0, "core-id": 0},
                                {"node-id": 1, "socket-id": 0, "core-id": 1},
                                {"node-id": 1, "socket-id": 1}]})


async def test_smp_change_keeps_the_mapping_of_the_slots_that_remain(qemu_factory: Any) -> None:
    async with launched_with_check() as (session, check):
        vm = Vm(session)
        await vm.apply_plan(PLAN, lambda args: None)
        first = session.launcher
        assert vm.topology_options() == ("8,sockets=2,cores=2,threads=2", "max")
        gone = await vm.set_topology("12,sockets=3,cores=2,threads=2", "max")
        assert gone == [] and session.launcher is not first
        assert await check.layout() == {(0, 0): {0}, (0, 1): {1}, (1, 0): {1}, (1, 1): {1},
                                        (2, 0): {None}, (2, 1): {None}}
        gone = await vm.set_topology("4,sockets=1,cores=2,threads=2", "qemu64")
        assert sorted({dict(k)["socket-id"] for k in gone}) == [1] and len(gone) == 4
        assert await check.layout() == {(0, 0): {0}, (0, 1): {1}}
        assert {(d.src, d.dst, d.val) for d in session.distances} == {(0, 1, 21)}
        assert vm.topology_options() == ("4,sockets=1,cores=2,threads=2", "qemu64")
        assert await check.cpu_types() == {"qemu64-x86_64-cpu"}
        assert not vm.keeper.history.can_undo()  # the undo history starts at the new topology
        with pytest.raises(ActionRefused, match="product of the hierarchy"):
            await vm.set_topology("4,sockets=3", "")
        assert await check.layout() == {(0, 0): {0}, (0, 1): {1}}  # nothing changed
        cmdline = vm.export("cmdline")
    fresh = qemu_factory(argv_of(cmdline))
    assert await Check(fresh.qmp).layout() == {(0, 0): {0}, (0, 1): {1}}
    assert await Check(fresh.qmp).cpu_types() == {"qemu64-x86_64-cpu"}


async def test_smp_change_refused_on_an_attached_qemu(qemu: Any, session: Session) -> None:
    with pytest.raises(ActionRefused, match="fixed when QEMU starts"):
        await Vm(session).set_topology("4,sockets=1,cores=2,threads=2", "")
    assert len(await qemu.qmp("query-hotpluggable-cpus")) == 8


async def test_smp_dialog_from_the_keys() -> None:
    """S, the -smp typed over, enter: one socket; socket 1's slots are said to
    be gone, socket 0 keeps node 0; then two sockets again, nothing lost."""
    async with launched_with_check() as (session, check):
        app = NumaApp(session)
        async with app.run_test(size=(100, 32)) as pilot:
            await press(app, pilot, "s", "0", "j", "s", "1", "S")
            dialog = app.screen
            assert isinstance(dialog, SmpEditor)
            await press(app, pilot, "end", "ctrl+u", *"4,sockets=1,cores=2,threads=2", "enter")
            text = dialog.message.text
            assert "not carried over" in text and text.count("socket-id=1") == 4, text
            assert await check.layout() == {(0, 0): {0}, (0, 1): {0}}
            await press(app, pilot, "ctrl+u", *"8,sockets=2,cores=2,threads=2", "enter")
            assert "every assigned slot kept its node" in dialog.message.text, dialog.message.text
            await press(app, pilot, "escape")
            assert not isinstance(app.screen, SmpEditor)
        assert await check.layout() == {(0, 0): {0}, (0, 1): {0}, (1, 0): {None}, (1, 1): {None}}


def test_argv_with_topology_replaces_smp_and_cpu_once() -> None:
    argv = ["qemu-system-x86_64", "-machine", "q35", "-smp", "8,sockets=2", "-cpu", "max", "-m", "2G",
            "-smp", "maxcpus=8"]
    assert topology_options(argv) == ("8,sockets=2,maxcpus=8", "max")
    assert argv_with_topology(argv, "12,sockets=3,cores=2,threads=2", "") == [
        "qemu-system-x86_64", "-machine", "q35", "-smp", "12,sockets=3,cores=2,threads=2", "-m", "2G"]
    assert argv_with_topology(["-m", "1G"], "2", "qemu64") == ["-m", "1G", "-smp", "2", "-cpu", "qemu64"]
    for smp, cpu, words in [("8,sockets=3", "", "product of the hierarchy"),
                            ("4,clusters=2", "", "clusters not supported"),
                            ("", "", "give the CPU topology"),
                            ("4", "max -S", "no spaces or control characters")]:
        with pytest.raises(NumaError, match=words):
            argv_with_topology(argv, smp, cpu)


def test_which_options_make_a_relaunch_stop_the_old_qemu_first() -> None:
    shareable = [*DEFAULT_ARGS, "-object", "memory-backend-memfd,id=m0,size=1G", "-nodefaults",
                 "-device", "virtio-rng-pci", "-name", "vm1"]
    assert exclusive_option(["qemu-system-x86_64", *shareable]) is None
    for extra in (["-drive", "file=d.qcow2"], ["-chardev", "socket,id=c,path=/x,server=on"],
                  ["-vnc", ":1"], ["-device", "vfio-pci,host=01:00.0"],
                  ["-object", "memory-backend-file,id=f,size=1G,mem-path=/x,share=on"]):
        assert exclusive_option([*shareable, *extra]) == " ".join(extra)


async def test_closing_the_smp_editor_cancels_nothing_it_asked() -> None:
    """S, a new -smp, enter and escape in one burst: the relaunch is on the
    app's one work queue, not the editor's, so it goes on once the editor is
    gone; the digit typed after it acts on the new QEMU (its turn comes after)."""
    async with launched_with_check() as (session, check):
        first = session.launcher
        app = NumaApp(Vm(session))
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("S", "end", "ctrl+u", *"4,sockets=1,cores=2,threads=2", "enter", "escape",
                              "s", "0")
            await app.settled()
            assert not isinstance(app.screen, SmpEditor)
            assert session.launcher is not first
            assert await check.layout() == {(0, 0): {0}, (0, 1): {0}}
