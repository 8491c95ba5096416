"""Relaunch-and-replay against real QEMU: move an assigned slot, undo, redo.

The new QEMU has one monitor (the session's), so what QEMU holds is read with
a raw ``query-hotpluggable-cpus`` through ``session.execute`` and parsed
here, not taken from the session's own idea of the topology.
"""

from __future__ import annotations

import os
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
from conftest import socket, until

from numatui.core.keeper import Keeper
from numatui.model.plan import Node, Plan
from numatui.model.topology import SlotKey, Topology
from numatui.session.errors import QemuRefused
from numatui.session.launcher import Launcher
from numatui.session.replay import (
    MOVE_REASON,
    ReplayFailed,
    ReplayRefused,
    can_relaunch,
    launch_with_plan,
    relaunch,
    without_numa_cpu_dist,
)
from numatui.session.session import Session

S0 = (("socket-id", 0),)
S1 = (("socket-id", 1),)


async def qemu_mapping(session: Session) -> dict[SlotKey, int | None]:
    """What QEMU itself reports now."""
    return Topology.from_hotpluggable(await session.execute("query-hotpluggable-cpus")).mapping()


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


async def test_move_undo_redo_through_relaunch(launched: Session) -> None:
    session = launched
    keeper = Keeper(session)
    events: list[dict[str, Any]] = []
    session.add_listener(events.append)
    topo = session.topology
    await session.assign(socket(topo, 0), 0)
    await session.assign(socket(topo, 1), 1)
    after_assign = await qemu_mapping(session)
    assert keeper.history.undo_description() == "socket 1 -> node 1"

    # QEMU refuses the move itself ...
    first = socket(topo, 1)[0]
    with pytest.raises(QemuRefused, match="already assigned"):
        await session.assign([first], 0)
    # ... the keeper moves it by relaunching
    old_pid = session.peer.pid if session.peer else None
    old_launcher = session.launcher
    assert isinstance(old_launcher, Launcher) and old_launcher.directory is not None
    await keeper.move([first], 0)
    new_pid = session.peer.pid if session.peer else None
    assert new_pid != old_pid
    # the old QEMU is stopped in the background (Session.retire): the move does not wait for its exit
    await until(lambda: not pid_alive(old_pid) and not old_launcher.directory.exists(), 10,
                "the old QEMU gone, its private socket directory too")
    assert isinstance(session.launcher, Launcher) and session.launcher is not old_launcher
    moved = await qemu_mapping(session)
    assert moved[first] == 0
    assert {k: v for k, v in moved.items() if k != first} == {
        k: v for k, v in after_assign.items() if k != first}
    assert session.state.value == "preconfig"
    assert not any(e.get("event") == "NUMATUI_DISCONNECTED" for e in events)
    notes = [e.text for e in session.transcript.entries if e.kind == "note"]
    assert any(n.startswith("relaunching QEMU for socket 1 core 0 thread 0 -> node 0") for n in notes)

    # undo: back to both sockets whole, in yet another QEMU
    assert await keeper.undo() == "socket 1 core 0 thread 0 -> node 0"
    assert await qemu_mapping(session) == after_assign
    # undo again: socket 1 unassigned
    await keeper.undo()
    undone = await qemu_mapping(session)
    assert all(undone[k] is None for k in socket(topo, 1))
    assert all(undone[k] == 0 for k in socket(topo, 0))
    # redo twice: the move is back
    await keeper.undo(redo=True)
    await keeper.undo(redo=True)
    assert await qemu_mapping(session) == moved
    assert not keeper.history.can_redo()
    # the relaunched QEMU is still a working preconfig QEMU: it boots
    await session.exit_preconfig(force=True)
    assert session.state.value == "running"


async def test_the_save_after_a_move_or_an_undo_carries_that_step(launched: Session) -> None:
    """The autosave after a relaunch holds the history with the step it made:
    a resumed numatui can undo the move (the step is taken before the save)."""
    session = launched
    saved: list[str | None] = []
    keeper = Keeper(session, save=lambda s: saved.append(keeper.history.undo_description()))
    topo = session.topology
    await session.assign(socket(topo, 0), 0)
    assert saved == ["socket 0 -> node 0"]
    await keeper.move(socket(topo, 0), 1)
    assert saved[-1] == "socket 0 -> node 1"
    await keeper.undo()
    assert saved[-1] == "socket 0 -> node 0"


async def test_a_relaunch_starts_qemu_with_the_fewest_cpu_options(launched: Session) -> None:
    """The new QEMU gets the mapping as its own ``-numa cpu`` options (the
    fewest: one per socket), as a person starts QEMU: nothing is replayed over
    QMP, and QEMU reports the plan."""
    session = launched
    plan = Plan.from_dict({"cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]})
    new = await relaunch(session, plan, "test", MOVE_REASON)
    sent = [e.text for e in session.transcript.entries if e.kind == "cmd" and "set-numa-node" in e.text]
    assert sent == []
    argv = new.argv
    assert [v for o, v in pairwise(argv) if o == "-numa" and v.startswith("cpu,")] == [
        "cpu,node-id=1,socket-id=0", "cpu,node-id=0,socket-id=1"]
    mapping = await qemu_mapping(session)
    assert {mapping[k] for k in socket(session.topology, 0)} == {1}
    assert {mapping[k] for k in socket(session.topology, 1)} == {0}


async def test_replay_uses_the_fewest_commands_for_a_node_added_live(launched: Session) -> None:
    """A node the arguments do not declare is added live after QEMU starts, so
    the CPUs on it cannot be options: they are replayed, with the fewest
    set-numa-node commands (and the others still go on the command line)."""
    session = launched
    assert {n.id for n in session.nodes} == {0, 1}
    plan = replace(session.plan(), nodes=(*session.plan().nodes, Node(2)),  # memoryless: added live
                   cpus=({"node-id": 2, "socket-id": 0}, {"node-id": 0, "socket-id": 1}))
    new = await relaunch(session, plan, "test", MOVE_REASON)
    sent = [e.text for e in session.transcript.entries if e.kind == "cmd" and "set-numa-node" in e.text]
    assert [s for s in sent if '"cpu"' in s] == [
        '{"execute":"set-numa-node","arguments":{"type":"cpu","node-id":2,"socket-id":0}}',
        '{"execute":"set-numa-node","arguments":{"type":"cpu","node-id":0,"socket-id":1}}']
    assert not [v for v in new.argv if v.startswith("cpu,")]
    mapping = await qemu_mapping(session)
    assert {mapping[k] for k in socket(session.topology, 0)} == {2}
    assert {mapping[k] for k in socket(session.topology, 1)} == {0}


async def test_a_plan_qemu_refuses_leaves_the_old_qemu_untouched(launched: Session) -> None:
    session = launched
    await session.assign(socket(session.topology, 0), 1)
    before = await qemu_mapping(session)
    old_pid = session.peer.pid if session.peer else None
    bad = Plan.from_dict({"distances": [{"src": 0, "dst": 0, "val": 20}],
                          "cpus": [{"node-id": 0, "socket-id": 0}]})
    with pytest.raises(ReplayFailed, match="Local distance of node 0 should be 10") as info:
        await relaunch(session, bad, "test", MOVE_REASON)
    assert info.value.restored
    assert session.peer is not None and session.peer.pid == old_pid
    assert await qemu_mapping(session) == before
    # and a plan that does not fit is refused before any QEMU is touched
    with pytest.raises(ReplayRefused, match="die-id"):
        await relaunch(session, Plan.from_dict({"cpus": [{"node-id": 0, "die-id": 0}]}), "test", MOVE_REASON)
    assert session.peer is not None and session.peer.pid == old_pid


async def test_attached_sessions_are_refused_with_an_explanation(qemu: Any) -> None:
    session = await Session.connect(qemu.sock)
    try:
        keeper = Keeper(session)
        assert not can_relaunch(session)
        with pytest.raises(ReplayRefused, match="restart QEMU with --preconfig and apply it"):
            await keeper.move([session.topology.slots[0].key], 1)
        with pytest.raises(ReplayRefused, match="numatui did not start this QEMU"):
            await relaunch(session, session.plan(), "test", MOVE_REASON)
    finally:
        await session.close()


def test_relaunch_args_drop_numa_cpu_and_dist_only() -> None:
    argv = ["-m", "2G", "-numa", "node,nodeid=0,memdev=m0", "-numa", "cpu,node-id=0,socket-id=0",
            "--numa=dist,src=0,dst=0,val=10", "-numa", "type=cpu,node-id=0", "-name", "vm"]
    assert without_numa_cpu_dist(argv) == ["-m", "2G", "-numa", "node,nodeid=0,memdev=m0", "-name", "vm"]


async def test_a_saved_state_without_argv_starts_nothing() -> None:
    with pytest.raises(ReplayRefused, match="no QEMU command line to start"):
        await launch_with_plan([], Plan())


async def test_move_on_a_board_without_query_hotpluggable_cpus() -> None:
    """aarch64 virt refuses query-hotpluggable-cpus: after the move and a boot,
    QEMU's own query-cpus-fast shows the moved vCPU on its new node."""
    launcher = Launcher(qemu="qemu-system-aarch64")
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        assert session.topology.derived
        keeper = Keeper(session)
        keys = [s.key for s in session.topology.slots]
        await session.assign(keys[:4], 0)
        await session.assign(keys[4:], 1)
        await keeper.move(keys[:1], 1)
        await session.exit_preconfig(force=True)
        cpus = sorted(await session.query_cpus_fast(), key=lambda c: c["cpu-index"])
        assert [c["props"]["node-id"] for c in cpus] == [1, 0, 0, 0, 1, 1, 1, 1]
    finally:
        await session.close()
        if isinstance(session.launcher, Launcher):
            await session.launcher.stop()
        await launcher.stop()


async def test_a_new_qemu_that_does_not_start_changes_nothing(
        launched: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    session = launched
    await session.assign(socket(session.topology, 0), 1)
    before = await qemu_mapping(session)
    old_pid = session.peer.pid if session.peer else None
    old = session.launcher
    assert isinstance(old, Launcher)  # the new QEMU starts from its argv
    monkeypatch.setattr(old, "user_argv", ["/nonexistent/qemu-system-x86_64", *old.user_argv[1:]])
    keeper = Keeper(session)
    with pytest.raises(ReplayFailed, match=r"did not start.*nothing changed") as info:
        await keeper.move(socket(session.topology, 0)[:1], 0)
    assert info.value.restored
    assert session.peer is not None and session.peer.pid == old_pid
    assert await qemu_mapping(session) == before
    assert not keeper.history.can_undo()  # a failed move is not in the history
