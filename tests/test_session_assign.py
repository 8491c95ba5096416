"""Mapping slots to nodes in preconfig, checked against QEMU's own view
(the test's second monitor), with the transcript proving the fewest commands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import TEST_QEMU, Qemu, numa_node_args

from numatui.model.topology import SlotKey, Topology
from numatui.session.errors import BadRequest, QemuRefused
from numatui.session.session import Session

TCG = ["-accel", "tcg", "-cpu", "max"]


def K(socket: int, core: int, thread: int) -> SlotKey:
    return (("socket-id", socket), ("core-id", core), ("thread-id", thread))


def sent_set_numa_node(s: Session, since: int) -> list[dict[str, Any]]:
    out = []
    for e in s.transcript.since(since):
        if e.kind == "cmd":
            msg = json.loads(e.text)
            if msg["execute"] == "set-numa-node":
                out.append(msg["arguments"])
    return out


@pytest.fixture
async def session(qemu: Qemu) -> Any:
    s = await Session.connect(qemu.sock)
    yield s
    await s.close()


async def test_assign_socket_and_core_with_fewest_commands(qemu: Qemu, session: Session) -> None:
    mark = session.transcript.count()
    sent = await session.assign([K(0, c, t) for c in (0, 1) for t in (0, 1)], 1)
    assert sent == [{"type": "cpu", "node-id": 1, "socket-id": 0}]
    sent = await session.assign([K(1, 1, 0), K(1, 1, 1)], 0)
    assert sent == [{"type": "cpu", "node-id": 0, "socket-id": 1, "core-id": 1}]
    # exactly these two set-numa-node went over the wire
    assert sent_set_numa_node(session, mark) == [
        {"type": "cpu", "node-id": 1, "socket-id": 0},
        {"type": "cpu", "node-id": 0, "socket-id": 1, "core-id": 1},
    ]
    expected = {K(0, c, t): 1 for c in (0, 1) for t in (0, 1)}
    expected |= {K(1, 0, 0): None, K(1, 0, 1): None, K(1, 1, 0): 0, K(1, 1, 1): 0}
    assert await qemu.nodes() == expected
    assert session.topology.mapping() == expected  # the session re-read QEMU
    # a partial mapping: socket 1 core 0 stays unassigned; the plan says so
    assert [dict(c) for c in session.plan().cpus] == [
        {"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1, "core-id": 1}]
    warnings = [f for f in session.preflight() if f.severity == "warning"]
    assert warnings and not [f for f in session.preflight() if f.severity == "blocking"]


async def test_assign_again_to_the_same_node_is_fine(qemu: Qemu, session: Session) -> None:
    await session.assign([K(0, 0, 0)], 1)
    sent = await session.assign([K(0, c, t) for c in (0, 1) for t in (0, 1)], 1)
    assert sent == [{"type": "cpu", "node-id": 1, "socket-id": 0}]  # may touch slots on node 1
    assert set((await qemu.nodes()).values()) == {1, None}


async def test_moving_an_assigned_slot_is_refused_verbatim(qemu: Qemu, session: Session) -> None:
    await session.assign([K(0, 0, 0)], 0)
    before = await qemu.nodes()
    with pytest.raises(QemuRefused) as err:
        await session.assign([K(0, 0, 0)], 1)
    assert err.value.qemu_message == "CPU is already assigned to node-id: 0"
    assert err.value.command == "set-numa-node"
    assert "\n" not in str(err.value)
    assert await qemu.nodes() == before == session.topology.mapping()
    assert session.transcript.entries[-1].kind in ("reply", "note")  # re-read after the error


async def test_half_applied_refusal_is_re_read(qemu: Qemu, session: Session) -> None:
    # socket 1: thread 1 of core 0 already on node 0; asking the whole socket for
    # node 1 sends one socket-wide command that QEMU applies until that slot.
    await session.assign([K(1, 0, 1)], 0)
    with pytest.raises(QemuRefused) as err:
        await session.assign([K(1, c, t) for c in (0, 1) for t in (0, 1)], 1)
    assert "already assigned to node-id: 0" in err.value.qemu_message
    view = await qemu.nodes()
    assert view[K(1, 0, 0)] == 1  # half-applied by QEMU before the conflict
    assert view[K(1, 0, 1)] == 0
    assert session.topology.mapping() == view


async def test_add_node_then_assign_to_it(qemu: Qemu, session: Session) -> None:
    assert [n.id for n in session.nodes] == [0, 1]
    node = await session.add_node()
    assert node.id == 2 and node.memdev is None
    assert [n.id for n in session.nodes] == [0, 1, 2]
    await session.assign([K(1, 1, 0), K(1, 1, 1)], 2)
    view = await qemu.nodes()
    assert view[K(1, 1, 0)] == view[K(1, 1, 1)] == 2
    with pytest.raises(QemuRefused) as err:
        await session.add_node(1)
    assert "Duplicate NUMA nodeid" in err.value.qemu_message


async def test_unknown_node_and_bad_requests(qemu: Qemu, session: Session) -> None:
    with pytest.raises(QemuRefused) as err:
        await session.assign([K(0, 0, 0)], 7)
    assert err.value.qemu_message.startswith("Invalid node-id=7")
    with pytest.raises(BadRequest):
        await session.assign([K(0, 0, 0)], 128)  # QEMU would not check it
    with pytest.raises(BadRequest):
        await session.assign([K(5, 0, 0)], 0)
    assert set((await qemu.nodes()).values()) == {None}


async def test_distances(qemu: Qemu, session: Session) -> None:
    await session.set_distance(0, 1, 21)
    assert [(d.src, d.dst, d.val) for d in session.distances] == [(0, 1, 21)]
    with pytest.raises(QemuRefused) as err:
        await session.set_distance(0, 0, 20)
    assert err.value.qemu_message == "Local distance of node 0 should be 10."
    assert [d.val for d in session.plan().distances] == [21]


async def test_ppc64_pseries_cores(qemu_factory: Any) -> None:
    q: Qemu = qemu_factory(["-machine", "pseries", "-accel", "tcg", "-smp", "4,maxcpus=8,cores=4",
                            "-m", "2G", *numa_node_args(2, 2048)], binary="qemu-system-ppc64")
    s = await Session.connect(q.sock)
    try:
        assert s.info.machine_type == f"pseries-{TEST_QEMU}-machine" and s.topology.levels == ("core-id",)
        assert len(s.topology) == 8 and s.nodes_source.startswith("command line of pid")
        sent = await s.assign([(("core-id", i),) for i in range(4, 8)], 1)
        assert len(sent) == 4  # core-id is the only level: one command per slot
        with pytest.raises(QemuRefused) as err:
            await s.execute("set-numa-node", {"type": "cpu", "node-id": 0, "thread-id": 0})
        assert err.value.qemu_message == "thread-id is not supported"
        assert Topology.from_hotpluggable(await q.qmp("query-hotpluggable-cpus")) == s.topology
    finally:
        await s.close()


async def test_arm_virt_slots_derived_from_smp(qemu_factory: Any) -> None:
    q: Qemu = qemu_factory(["-machine", "virt", "-accel", "tcg", "-cpu", "max",
                            "-smp", "8,sockets=2,clusters=2,cores=2", "-m", "2G",
                            *numa_node_args(2, 2048)], binary="qemu-system-aarch64")
    s = await Session.connect(q.sock)
    try:
        assert s.topology.derived and not s.info.hotpluggable_cpus
        # QEMU's refusal of query-hotpluggable-cpus, in its words of each version
        refusal = {"7.2": "not enabled", "10.0": "machine does not support hot-plugging CPUs"}[TEST_QEMU]
        assert any(refusal in e.text for e in s.transcript.entries if e.kind == "error")  # the QMP log
        assert s.topology.levels == ("socket-id", "cluster-id", "core-id", "thread-id")
        assert len(s.topology) == 8
        socket1 = [sl.key for sl in s.topology if sl.prop("socket-id") == 1]
        assert await s.assign(socket1, 1) == [{"type": "cpu", "node-id": 1, "socket-id": 1}]
        cluster = [sl.key for sl in s.topology if sl.key[:2] == (("socket-id", 0), ("cluster-id", 1))]
        assert await s.assign(cluster, 0) == [
            {"type": "cpu", "node-id": 0, "socket-id": 0, "cluster-id": 1}]
        # QEMU refuses a move here too, and the session keeps its model
        with pytest.raises(QemuRefused) as err:
            await s.assign(cluster, 1)
        assert "already assigned to node-id: 0" in err.value.qemu_message
        assert [sl.node_id for sl in s.topology] == [None, None, 0, 0, 1, 1, 1, 1]
        # QEMU's own view once booted: every CPU on the node numatui believes
        await s.assign([sl.key for sl in s.topology if sl.node_id is None], 0)
        await s.exit_preconfig()
        cpus = await q.qmp("query-cpus-fast")
        assert [c["props"]["node-id"] for c in sorted(cpus, key=lambda c: c["cpu-index"])] == \
            [0, 0, 0, 0, 1, 1, 1, 1]
        assert [sl.node_id for sl in s.topology] == [0, 0, 0, 0, 1, 1, 1, 1]
        assert all(sl.present for sl in s.topology)
    finally:
        await s.close()


async def test_arm_virt_mapping_seeded_from_the_command_line(qemu_factory: Any) -> None:
    q: Qemu = qemu_factory(["-machine", "virt", "-accel", "tcg", "-cpu", "max",
                            "-smp", "4,sockets=2,cores=2", "-m", "2G", *numa_node_args(2, 2048),
                            "-numa", "cpu,node-id=1,socket-id=1"], binary="qemu-system-aarch64")
    s = await Session.connect(q.sock)
    try:
        assert [sl.node_id for sl in s.topology] == [None, None, 1, 1]
        with pytest.raises(QemuRefused) as err:
            await s.assign([sl.key for sl in s.topology if sl.prop("socket-id") == 1], 0)
        assert err.value.qemu_message == "CPU is already assigned to node-id: 1"
        assert [sl.node_id for sl in s.topology] == [None, None, 1, 1]
    finally:
        await s.close()


async def test_big_machine_assign_is_socket_wide(qemu_factory: Any) -> None:
    q: Qemu = qemu_factory(["-machine", "q35", *TCG, "-smp", "240,sockets=8,cores=15,threads=2",
                            "-m", "2G", *numa_node_args(2, 2048)])
    s = await Session.connect(q.sock)
    try:
        assert len(s.topology) == 240
        mark = s.transcript.count()
        first_half = [sl.key for sl in s.topology if (sl.prop("socket-id") or 0) < 4]
        await s.assign(first_half, 0)
        await s.assign([sl.key for sl in s.topology if sl.node_id is None], 1)
        sent = sent_set_numa_node(s, mark)
        assert len(sent) == 8 and all(set(a) == {"type", "node-id", "socket-id"} for a in sent)
        view = await q.nodes()
        assert view == s.topology.mapping()
        assert sorted(set(view.values())) == [0, 1]
    finally:
        await s.close()


def executed(s: Session, since: int) -> list[str]:
    """The QMP commands sent since ``since``, by name."""
    return [json.loads(e.text)["execute"] for e in s.transcript.since(since) if e.kind == "cmd"]


async def test_apply_mapping_core_of_every_socket_in_fifteen_commands(qemu_factory: Any) -> None:
    q: Qemu = qemu_factory(["-machine", "q35", *TCG, "-smp", "240,sockets=8,cores=15,threads=2",
                            "-m", "2G", *numa_node_args(8, 2048)])
    s = await Session.connect(q.sock)
    changes: list[str] = []
    s.add_change_listener(changes.append)
    try:
        mapping = {sl.key: (sl.prop("core-id") or 0) % 8 for sl in s.topology}
        mark = s.transcript.count()
        sent = await s.apply_mapping(mapping)
        # {"node-id": c % 8, "core-id": c}: core c of every socket in one command
        assert sent == [{"type": "cpu", "node-id": c % 8, "core-id": c} for c in range(15)]
        assert sent_set_numa_node(s, mark) == sent
        # one re-read, and no query-status: QEMU accepting set-numa-node proved preconfig
        assert executed(s, mark) == ["set-numa-node"] * 15 + ["query-hotpluggable-cpus"]
        assert await q.nodes() == mapping == s.topology.mapping()
        assert changes == ["240 slots -> 8 nodes"]  # one change for the whole mapping
    finally:
        await s.close()


async def test_apply_mapping_checks_everything_before_sending(qemu: Qemu, session: Session) -> None:
    mark = session.transcript.count()
    with pytest.raises(BadRequest, match="no CPU slot socket-id=5"):
        await session.apply_mapping({K(0, 0, 0): 0, K(5, 0, 0): 1})
    with pytest.raises(BadRequest, match="out of range"):
        await session.apply_mapping({K(0, 0, 0): 0, K(1, 0, 0): 128})
    assert executed(session, mark) == []
    assert set((await qemu.nodes()).values()) == {None}


async def test_apply_mapping_refused_in_part_is_re_read_and_announced(qemu: Qemu, session: Session) -> None:
    await session.assign([K(1, 0, 0)], 0)
    changes: list[str] = []
    session.add_change_listener(changes.append)
    mapping = {**{K(0, c, t): 1 for c in (0, 1) for t in (0, 1)}, K(1, 0, 0): 1}
    mark = session.transcript.count()
    with pytest.raises(QemuRefused) as err:
        await session.apply_mapping(mapping, "the plan")
    assert err.value.qemu_message == "CPU is already assigned to node-id: 0"
    # socket 0 went through before the refusal; the re-read of the slots goes with the
    # commands, and a refusal (which proves no run state) adds query-status
    assert executed(session, mark) == ["set-numa-node", "set-numa-node", "query-hotpluggable-cpus",
                                       "query-status"]
    assert changes == ["the plan (in part)"]
    view = await qemu.nodes()
    assert view == session.topology.mapping()
    assert {k: v for k, v in view.items() if v is not None} == {
        **{K(0, c, t): 1 for c in (0, 1) for t in (0, 1)}, K(1, 0, 0): 0}


async def test_arm_virt_derived_mapping_follows_patterns(qemu_factory: Any) -> None:
    """A board that cannot list its slots: numatui follows QEMU's matching of a
    pattern leaving socket and cluster out; QEMU's own view after boot agrees."""
    q: Qemu = qemu_factory(["-machine", "virt", "-accel", "tcg", "-cpu", "max",
                            "-smp", "8,sockets=2,clusters=2,cores=2", "-m", "2G",
                            *numa_node_args(2, 2048)], binary="qemu-system-aarch64")
    s = await Session.connect(q.sock)
    try:
        assert s.topology.derived
        sent = await s.apply_mapping({sl.key: sl.prop("core-id") or 0 for sl in s.topology})
        assert sent == [{"type": "cpu", "node-id": 0, "core-id": 0},
                        {"type": "cpu", "node-id": 1, "core-id": 1}]
        assert [sl.node_id for sl in s.topology] == [0, 1] * 4
        await s.exit_preconfig()
        cpus = await q.qmp("query-cpus-fast")
        assert [c["props"]["node-id"] for c in sorted(cpus, key=lambda c: c["cpu-index"])] == [0, 1] * 4
    finally:
        await s.close()


@pytest.mark.parametrize("src, dst, val, words", [
    (0, 1, 256, "the largest distance is 255"),
    (0, 1, 9, "it shouldn't be less than 10"),
    (1, 1, 20, "Local distance of node 1 should be 10."),
])
async def test_a_plan_applied_live_keeps_the_distance_rules(qemu: Qemu, session: Session, src: int, dst: int,
                                                             val: int, words: str) -> None:
    """Vm.apply_plan takes numatui.model.distances' rules (the 255 limit too):
    refused before anything is sent, as QEMU refuses the same value."""
    from qemu.qmp import ExecuteError

    from numatui.core.vm import Vm
    from numatui.model.distances import refusal
    from numatui.model.plan import Distance, Plan

    since = len(session.transcript.entries)
    plan = Plan(distances=(Distance(src, dst, val),), cpus=({"node-id": 1, "socket-id": 0},))
    with pytest.raises(BadRequest, match=words):
        await Vm(session).apply_plan(plan, lambda args: None)
    assert sent_set_numa_node(session, since) == []
    assert set((await qemu.nodes()).values()) == {None}  # QEMU's own view: nothing changed
    with pytest.raises(ExecuteError) as qemu_says:  # QEMU's own monitor refuses the same value
        await qemu.qmp("set-numa-node", {"type": "dist", "src": src, "dst": dst, "val": val})
    broken = refusal(src, dst, val)
    assert broken is not None and broken[1] in str(qemu_says.value)  # the rule, in QEMU's own words
