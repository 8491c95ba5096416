"""Nodes, memory and distances against real QEMU (session layer).

What QEMU holds is read through the test's own monitor (``qemu.qmp``) or,
for QEMUs numatui launched (one monitor), with raw commands through
``session.execute`` parsed here.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import info_numa, socket

from numatui.core.keeper import Keeper
from numatui.model.distances import DistanceMatrix
from numatui.model.memory_split import MIB
from numatui.model.qemu_args import full_command_line
from numatui.model.topology import Topology
from numatui.session.errors import Disconnected, PreflightBlocked
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.memory import ATTACHED_READ_ONLY, read_only_reason
from numatui.session.replay import ReplayRefused
from numatui.session.session import Session


async def hmp(qemu: Any, line: str) -> str:
    return str(await qemu.qmp("human-monitor-command", {"command-line": line}))


async def fill_distances(session: Session) -> None:
    matrix = DistanceMatrix.of([n.id for n in session.nodes], session.distances)
    for d in matrix.fill():
        await session.set_distance(d.src, d.dst, d.val)


async def test_add_node_and_put_a_socket_on_it(qemu: Any, session: Session) -> None:
    assert [n.id for n in session.nodes] == [0, 1]
    node = await session.add_node()
    assert node.id == 2 and node.size is None
    await session.assign(socket(session.topology, 1), 2)
    qemu_view = await qemu.nodes()
    assert {qemu_view[k] for k in socket(session.topology, 1)} == {2}
    assert [n.id for n in session.nodes] == [0, 1, 2]


async def test_full_matrix_boots_and_a_fresh_qemu_from_the_export_matches(
        qemu: Any, qemu_factory: Any, session: Session) -> None:
    await session.add_node()
    await session.assign(socket(session.topology, 0), 0)
    await session.assign(socket(session.topology, 1), 2)
    await session.set_distance(0, 1, 15)
    await session.set_distance(1, 0, 15)
    await fill_distances(session)
    assert not DistanceMatrix.of([0, 1, 2], session.distances).problems()
    assert not [f for f in session.preflight() if f.severity == "blocking"]
    exported = full_command_line(session.qemu_argv or [], session.plan(), monitors=[qemu.sock, qemu.check])
    await session.exit_preconfig()
    assert session.state is RunState.RUNNING
    booted = info_numa(await hmp(qemu, "info numa"))
    assert booted == {0: ("0 1 2 3", 1024), 1: ("", 1024), 2: ("4 5 6 7", 0)}

    text = " ".join(exported)
    assert "-numa dist,src=0,dst=1,val=15" in text and "-numa dist,src=1,dst=2,val=20" in text
    assert "--preconfig" not in exported and qemu.sock not in text
    fresh = qemu_factory(exported[1:], preconfig=False)
    assert info_numa(await hmp(fresh, "info numa")) == booted


async def test_incomplete_matrix_is_blocked_then_forced_exit_reports_qemus_words(launched: Session) -> None:
    session = launched
    await session.add_node()
    await session.set_distance(0, 1, 20)
    with pytest.raises(PreflightBlocked) as blocked:
        await session.exit_preconfig()
    assert any(f.code == "distance-missing" for f in blocked.value.findings)
    assert session.state is RunState.PRECONFIG  # nothing was sent
    with pytest.raises(Disconnected) as gone:
        await session.exit_preconfig(force=True)
    assert "The distance between node 0 and 2 is missing" in str(gone.value)
    assert session.state is RunState.DISCONNECTED


async def test_memory_split_survives_relaunch(launched: Session) -> None:
    session = launched
    assert read_only_reason(session, session.launcher) is None
    await session.assign(socket(session.topology, 0), 1)
    await session.set_distance(0, 1, 30)
    old_pid = session.launcher.pid if isinstance(session.launcher, Launcher) else None
    new = await Keeper(session).set_memory({0: 1536 * MIB, 1: 512 * MIB})
    assert new.pid != old_pid and session.launcher is new
    memdevs = {m["id"]: m["size"] for m in await session.execute("query-memdev")}
    assert memdevs == {"m0": 1536 * MIB, "m1": 512 * MIB}
    assert [(n.id, n.size) for n in session.nodes] == [(0, 1536 * MIB), (1, 512 * MIB)]
    live = Topology.from_hotpluggable(await session.execute("query-hotpluggable-cpus")).mapping()
    assert {live[k] for k in socket(session.topology, 0)} == {1}
    assert [(d.src, d.dst, d.val) for d in session.distances] == [(0, 1, 30)]
    # a memoryless node 2 and a third of the RAM on it, in a second relaunch
    await Keeper(session).set_memory({0: 1024 * MIB, 1: 0, 2: 1024 * MIB})
    memdevs = {m["id"]: m["size"] for m in await session.execute("query-memdev")}
    assert memdevs == {"m0": 1024 * MIB, "m2": 1024 * MIB}
    await fill_distances(session)
    await session.exit_preconfig()
    text = await session.execute("human-monitor-command", {"command-line": "info numa"})
    assert {n: s for n, (_, s) in info_numa(text).items()} == {0: 1024, 1: 0, 2: 1024}


async def test_split_that_does_not_add_up_is_refused_before_any_qemu(launched: Session) -> None:
    pid = session_pid = launched.launcher.pid if isinstance(launched.launcher, Launcher) else None
    with pytest.raises(ReplayRefused, match="should equal RAM size"):
        await Keeper(launched).set_memory({0: 1536 * MIB})
    assert isinstance(launched.launcher, Launcher) and launched.launcher.pid == pid == session_pid


async def test_attached_memory_is_read_only(session: Session) -> None:
    assert read_only_reason(session, None) == ATTACHED_READ_ONLY
    with pytest.raises(ReplayRefused, match="did not start this QEMU"):
        await Keeper(session).set_memory({0: 512 * MIB, 1: 1536 * MIB})


async def test_memory_relaunch_keeps_the_undo_keeper_on_the_new_qemu(launched: Session) -> None:
    """The Keeper learns the new launcher and saves; undo of the memory change
    relaunches QEMU with the split as it was (and the mapping of then), redo
    brings the new split back; the session's node sizes are what QEMU has."""
    async def memdevs() -> dict[str, int]:
        return {m["id"]: m["size"] for m in await launched.execute("query-memdev")}

    keeper = Keeper(launched)
    saves: list[int] = []
    keeper.save = lambda s: saves.append(1)
    before = await memdevs()
    assert before == {"m0": 1024 * MIB, "m1": 1024 * MIB}
    await launched.assign(socket(launched.topology, 0), 1)
    new = await keeper.set_memory({0: 512 * MIB, 1: 1536 * MIB})
    assert new is launched.launcher and saves
    assert await memdevs() == {"m0": 512 * MIB, "m1": 1536 * MIB}
    assert keeper.history.undo_description() == "memory node 0 512 MiB, node 1 1.5 GiB"

    await keeper.undo()  # the memory change: a QEMU with the old split, socket 0 still on node 1
    assert await memdevs() == before
    assert {n.memdev: n.size for n in launched.nodes} == before
    live = Topology.from_hotpluggable(await launched.execute("query-hotpluggable-cpus")).mapping()
    assert {live[k] for k in socket(launched.topology, 0)} == {1}
    assert isinstance(launched.launcher, Launcher)
    assert "-object memory-backend-ram,id=m0,size=1G" in " ".join(launched.launcher.user_argv)

    await keeper.undo()  # and before the assignment
    live = Topology.from_hotpluggable(await launched.execute("query-hotpluggable-cpus")).mapping()
    assert set(live.values()) == {None}
    assert await memdevs() == before

    await keeper.undo(redo=True)
    await keeper.undo(redo=True)  # the new split again
    assert await memdevs() == {"m0": 512 * MIB, "m1": 1536 * MIB}
    assert {n.memdev: n.size for n in launched.nodes} == await memdevs()
    keeper.close()


async def test_failed_memory_relaunch_leaves_everything_as_it_was(launched: Session) -> None:
    """The new QEMU does not start: the session stays on the old one, whose
    launch arguments (what the next relaunch starts from) are unchanged."""
    from numatui.session.replay import ReplayFailed

    old = launched.launcher
    assert isinstance(old, Launcher)
    await launched.assign(socket(launched.topology, 1), 0)
    before = (list(old.user_argv), list(old.nodes))
    binary, old.user_argv[0] = old.user_argv[0], "/nonexistent/qemu-system-x86_64"
    try:
        with pytest.raises(ReplayFailed) as failed:
            await Keeper(launched).set_memory({0: 512 * MIB, 1: 1536 * MIB})
    finally:
        old.user_argv[0] = binary
    assert failed.value.restored
    assert launched.launcher is old and old.alive()
    assert (old.user_argv, old.nodes) == before
    memdevs = {m["id"]: m["size"] for m in await launched.execute("query-memdev")}
    assert memdevs == {"m0": 1024 * MIB, "m1": 1024 * MIB}
    live = Topology.from_hotpluggable(await launched.execute("query-hotpluggable-cpus")).mapping()
    assert {live[k] for k in socket(launched.topology, 1)} == {0}


async def test_memory_is_read_only_after_boot(launched: Session) -> None:
    from numatui.session.memory import BOOTED_READ_ONLY

    await launched.exit_preconfig()
    assert read_only_reason(launched, launched.launcher) == BOOTED_READ_ONLY
    with pytest.raises(ReplayRefused, match="running"):
        await Keeper(launched).set_memory({0: 512 * MIB, 1: 1536 * MIB})
