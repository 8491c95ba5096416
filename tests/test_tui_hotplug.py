"""After boot: hot-plug and unplug CPUs from the grid, against a real QEMU.

The VM has 4 of 8 CPUs at boot (socket 0); socket 1 core 0 is on node 1 and
socket 1 core 1 on node 0, so its empty slots belong to both nodes.  QEMU's
own view is read through the test's second monitor.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

import pytest
from conftest import numa_node_args
from tui_helpers import nodes_text, settle

from numatui.core import export as exports
from numatui.model.topology import SlotKey
from numatui.session.address import Address
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import CommandPanel
from numatui.tui.grid import CpuGrid
from numatui.tui.messages import SessionChanged

ARGS = [
    "-machine", "q35", "-accel", "tcg", "-cpu", "max",
    "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", "-m", "2G",
    *numa_node_args(2, 2048),
    "-numa", "cpu,node-id=0,socket-id=0",
    "-numa", "cpu,node-id=1,socket-id=1,core-id=0",
    "-numa", "cpu,node-id=0,socket-id=1,core-id=1",
]
S1C0: SlotKey = (("socket-id", 1), ("core-id", 0), ("thread-id", 0))  # slot 4, node 1
S1C1: SlotKey = (("socket-id", 1), ("core-id", 1), ("thread-id", 0))  # slot 6, node 0
BOOT0: SlotKey = (("socket-id", 0), ("core-id", 0), ("thread-id", 0))
DEVICE = "-device max-x86_64-cpu,id=numatui-cpu-1-0-0,socket-id=1,core-id=0,thread-id=0,node-id=1"


class Notes:
    """Records what the app notifies (and still shows it)."""

    def __init__(self, app: NumaApp) -> None:
        self.messages: list[tuple[str, str, str]] = []
        self.markup: list[bool] = []
        original = app.notify

        def notify(message: str, *, title: str = "", severity: Any = "information",
                   timeout: float | None = None, markup: bool = True) -> None:
            self.messages.append((str(severity), title, message))
            self.markup.append(markup)
            original(message, title=title, severity=severity, timeout=timeout, markup=markup)

        app.notify = notify  # type: ignore[method-assign]

    def text(self) -> str:
        return "\n".join(f"{t}: {m}" for _, t, m in self.messages)

    def last(self) -> tuple[str, str, str]:
        assert self.markup[-1] is False  # QEMU's words are never parsed as markup
        return self.messages[-1]


async def boot(app: NumaApp, pilot: Any) -> None:
    """Through the exit dialog, as a user: X then enter."""
    await pilot.press("X")
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)
    await pilot.press("home")


async def cpus(qemu: Any) -> dict[SlotKey, int]:
    """slot -> node-id of every present CPU, as QEMU's query-cpus-fast says."""
    out = {}
    for cpu in await qemu.qmp("query-cpus-fast"):
        props = dict(cpu["props"])
        node = props.pop("node-id")
        out[tuple((p, props[p]) for p in ("socket-id", "core-id", "thread-id"))] = node
    return out


@pytest.fixture
def vm(qemu_factory: Any) -> Any:
    return qemu_factory(ARGS)


@pytest.fixture
async def session(vm: Any) -> Any:
    s = await Session.connect(vm.sock)
    yield s
    await s.close()


async def test_plug_two_slots_on_two_nodes_and_refuse_a_present_one(vm: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await boot(app, pilot)
        assert (await vm.qmp("query-status"))["status"] == "running"
        assert "running" in str(app.query_one("#status").render())
        grid = app.query_one(CpuGrid)
        assert grid.booted and sum(s.present for s in grid.topology.slots) == 4
        # the digits explain instead of sending
        await pilot.press("1")
        await settle(app, pilot)
        assert "fixed every CPU's node at boot" in notes.text()

        progress: list[str | None] = []
        hotplug = session.hotplug

        async def recording(key: SlotKey) -> str:
            progress.append(app.ctl.busy)
            return await hotplug(key)

        session.hotplug = recording  # type: ignore[method-assign]
        await pilot.press(*["right"] * 4, "space", "right", "right", "space", "p")
        await settle(app, pilot)
        assert progress == ["plugging CPU 1/2: socket-id=1,core-id=0,thread-id=0",
                            "plugging CPU 2/2: socket-id=1,core-id=1,thread-id=0"]
        plugged = await cpus(vm)
        assert len(plugged) == 6
        assert plugged[S1C0] == 1 and plugged[S1C1] == 0  # the node each slot was planned on
        assert grid.topology.slot(S1C0).present and grid.topology.slot(S1C1).present
        assert not grid.selection
        severity, title, said = notes.last()
        assert (severity, title) == ("information", "Plugged 2 CPU(s)")
        assert "socket-id=1,core-id=0,thread-id=0 (cpu-index 4, node 1)" in said
        assert "socket-id=1,core-id=1,thread-id=0 (cpu-index 6, node 0)" in said
        text = nodes_text(session, True)
        assert "0  5/6 present" in text and "1  1/2 present" in text
        panel = app.query_one(CommandPanel)
        assert DEVICE in panel.text
        assert "numatui-cpu-1-1-0,socket-id=1,core-id=1,thread-id=0,node-id=0" in panel.text

        # a slot that already holds a CPU: refused before QEMU, nothing changes
        sent = session.transcript.count("cmd")
        await pilot.press("home", "p")
        await settle(app, pilot)
        severity, title, said = notes.last()
        assert severity == "warning" and title == "Refused: slot holds a CPU"
        assert "socket-id=0,core-id=0,thread-id=0 (cpu-index 0, node 0)" in said
        assert session.transcript.count("cmd") == sent
        assert await cpus(vm) == plugged

        await vm.qmp("stop")  # on the other monitor: the status follows QEMU's events
        for _ in range(50):
            await pilot.pause(0.05)
            if "paused" in str(app.query_one("#status").render()):
                break
        assert " paused " in str(app.query_one("#status").render())


async def test_plug_failure_is_reported_by_slot(vm: Any, session: Session) -> None:
    """Someone else plugs a slot behind numatui's back: QEMU's refusal, per slot."""
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await boot(app, pilot)
        await vm.qmp("device_add", {"driver": "max-x86_64-cpu", "id": "numatui-cpu-1-1-0",
                                    "socket-id": 1, "core-id": 1, "thread-id": 1})
        await pilot.press(*["right"] * 4, "space", "right", "right", "space", "p")
        await settle(app, pilot)
        severity, title, said = notes.last()
        assert (severity, title) == ("error", "Hot-plug refused")
        assert said.startswith("1 of 2 slot(s) refused by QEMU:\nsocket-id=1,core-id=1,thread-id=0: ")
        assert "Duplicate device ID 'numatui-cpu-1-1-0'" in said
        assert any(t == "Plugged 1 CPU(s)" for _, t, _ in notes.messages)
        assert len(await cpus(vm)) == 6
        grid = app.query_one(CpuGrid)
        assert grid.topology.slot((("socket-id", 1), ("core-id", 1), ("thread-id", 1))).present


async def test_unplug_refused_by_qemu_verbatim(vm: Any, session: Session) -> None:
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await boot(app, pilot)
        await pilot.press(*["right"] * 4, "p")
        await settle(app, pilot)
        # a boot CPU: numatui says why and sends nothing
        sent = session.transcript.count("cmd")
        await pilot.press("home", "u")
        await settle(app, pilot)
        severity, title, said = notes.last()
        assert severity == "warning" and "a boot CPU (from -smp)" in said
        assert session.transcript.count("cmd") == sent
        # the hot-plugged one: no guest OS handles the eject, QEMU 7.2 says so
        await pilot.press(*["right"] * 4, "u")
        await settle(app, pilot)
        severity, title, said = notes.last()
        assert (severity, title) == ("error", "Unplug refused")
        assert ("QEMU said: acpi: device unplug request for not supported device type: "
                "max-x86_64-cpu\n") in said
        assert "no guest OS has taken over CPU hot-plug" in said
        assert session.pending_unplug == set()
        assert not app.query_one(CpuGrid).pending
        assert S1C0 in await cpus(vm)


async def lpc_path(vm: Any) -> str:
    for entry in await vm.qmp("qom-list", {"path": "/machine/unattached"}):
        if entry["type"] == "child<ICH9-LPC>":
            return f"/machine/unattached/{entry['name']}"
    raise AssertionError("no ICH9-LPC")


async def test_unplug_pending_until_the_guest_answers(vm: Any, session: Session) -> None:
    """A guest that took over CPU hot-plug (as Linux does, simulated by flipping
    cpu-hotplug-legacy off) but never ejects: pending, then back to present."""
    app = NumaApp(session)
    app.vm.unplugs.timeout = 1.0
    notes = Notes(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await boot(app, pilot)
        await pilot.press(*["right"] * 4, "p")
        await settle(app, pilot)
        await vm.qmp("qom-set", {"path": await lpc_path(vm), "property": "cpu-hotplug-legacy",
                                 "value": False})
        await pilot.press("u")
        await settle(app, pilot)
        grid = app.query_one(CpuGrid)
        assert notes.last()[1] == "Unplug requested"
        assert grid.pending == {S1C0} and session.pending_unplug == {S1C0}
        assert grid.look(4)[4]  # drawn with the pending mark
        await pilot.press("u")  # asking twice is refused
        await settle(app, pilot)
        assert "unplug already requested" in notes.last()[2]
        for _ in range(40):
            await pilot.pause(0.1)
            if not session.pending_unplug:
                break
        severity, title, said = notes.last()
        assert (severity, title) == ("warning", "Unplug not done")
        assert "did not answer the eject request within 1 s" in said
        assert not grid.pending and grid.topology.slot(S1C0).present
        assert S1C0 in await cpus(vm)

        # the guest says no: ACPI _OST for the eject with a failure status
        await pilot.press("u")
        await settle(app, pilot)
        assert grid.pending == {S1C0}
        app.post_message(SessionChanged({"event": "ACPI_DEVICE_OST", "data": {"info": {
            "device": "numatui-cpu-1-0-0", "slot": "4", "slot-type": "CPU",
            "source": 3, "status": 0x81}}}))
        await settle(app, pilot)
        severity, title, said = notes.last()
        assert (severity, title) == ("error", "Unplug refused by the guest")
        assert "status 0x81: the device is in use" in said
        assert not grid.pending and not session.pending_unplug

        # the guest ejects it: DEVICE_DELETED ends the request; the grid re-reads QEMU
        await pilot.press("u")
        await settle(app, pilot)
        app.post_message(SessionChanged({"event": "DEVICE_DELETED", "data": {
            "device": "numatui-cpu-1-0-0", "path": "/machine/peripheral/numatui-cpu-1-0-0"}}))
        await settle(app, pilot)
        assert notes.last()[1] == "CPU unplugged"
        assert not grid.pending and not app.vm.unplugs.requests


async def test_command_line_after_boot_recreates_the_hot_plugged_cpus(
    vm: Any, session: Session, qemu_factory: Any
) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await boot(app, pilot)
        await pilot.press(*["right"] * 4, "p")
        await settle(app, pilot)
        full = exports.render("full", session)
    assert full.endswith(" \\\n  " + DEVICE)
    argv = shlex.split(full.replace("\\\n", " "), comments=True)[1:]  # without the # warning: lines
    keep: list[str] = []
    skip = False
    for token in argv:  # the fixture adds its own monitors and --preconfig
        if skip:
            skip = False
        elif token == "-qmp" or token == "-display":
            skip = True
        elif token != "-nodefaults":
            keep.append(token)
    again = qemu_factory(keep)
    await again.qmp("x-exit-preconfig")
    restarted = await cpus(again)
    assert restarted == await cpus(vm)
    assert len(restarted) == 5 and restarted[S1C0] == 1


def test_snapshot_running_with_present_empty_and_plugged(vm: Any, snap_compare: Any) -> None:
    session = Session(Address.parse(vm.sock))
    app = NumaApp(session, mask={vm.sock: "/run/numatui/vm.qmp",
                                 f"pid {vm.proc.pid}": "pid 4242"})
    grids: list[CpuGrid] = []

    async def run_before(pilot: Any) -> None:
        await session.reconnect()
        app.sync()
        await pilot.pause()
        await boot(app, pilot)
        await pilot.press(*["right"] * 4, "p")
        await settle(app, pilot)
        await pilot.press("right", "right")
        app.clear_notifications()
        await pilot.pause()
        grids.append(app.query_one(CpuGrid))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    grid = grids[0]
    assert [s.present for s in grid.topology.slots] == [True] * 5 + [False] * 3
    assert len(asyncio.run(cpus(vm))) == 5
