"""One user action, one round of bookkeeping (issue 26): a plan's commands go
out back to back (pipelined), then one re-read, one record write, one
autosave and one undo step; a refusal in the middle leaves exactly what QEMU
accepted in the mirror and the record, and the first refusal is raised.
Real QEMU (7.2, or 10.0 with NUMATUI_TEST_QEMU=10.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, launched_with_keeper, numa_node_args, socket

from numatui.core.autosave import load
from numatui.core.vm import Vm
from numatui.model.plan import Node, Plan
from numatui.model.topology import Topology
from numatui.session import record as records
from numatui.session.commands import Step, distance_step, mapping_steps
from numatui.session.errors import QemuRefused
from numatui.session.session import Session


def _qemu_mapping(reply: Any) -> dict[Any, int | None]:
    return Topology.from_hotpluggable(reply).mapping()


@pytest.mark.qemu  # launches its own QEMU
async def test_a_plan_is_one_step_of_bookkeeping_and_undo_restores_all_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[Path] = []
    real_save = records.save

    def counting_save(path: Path, rec: records.Record) -> None:
        writes.append(path)
        real_save(path, rec)

    monkeypatch.setattr(records, "save", counting_save)
    async with launched_with_keeper(tmp_path) as (session, keeper, saver):
        saves: list[object] = []
        hook = keeper.save
        assert hook is not None
        keeper.save = lambda s: saves.append(hook(s)) or saves[-1]
        before = session.plan()
        steps_before = len(keeper.history)
        plan = Plan.from_dict({
            "nodes": [{"id": 0}, {"id": 1}, {"id": 2}, {"id": 3}],
            "cpus": [{"node-id": 2, "socket-id": 0}, {"node-id": 3, "socket-id": 1}],
            "distances": [{"src": a, "dst": b, "val": 10 + 5 * (a + b)}
                          for a in range(4) for b in range(a + 1, 4)],
        })
        rereads = sum(1 for e in session.transcript.entries if '"query-hotpluggable-cpus"' in e.text)
        writes.clear()
        done = await Vm(session, keeper).apply_plan(plan, lambda args: None)

        assert done.commands == 2 + 2 + 6  # two nodes, two sockets, six distances
        # QEMU's own word on the mapping equals the mirror
        assert _qemu_mapping(await session.execute("query-hotpluggable-cpus")) == session.topology.mapping()
        assert {session.topology.slot(k).node_id for k in socket(session.topology, 0)} == {2}
        assert {session.topology.slot(k).node_id for k in socket(session.topology, 1)} == {3}
        assert [n.id for n in session.nodes] == [0, 1, 2, 3]
        assert [(d.src, d.dst, d.val) for d in session.distances] == [
            (d.src, d.dst, d.val) for d in plan.distances]
        # one re-read, one record write, one autosave, one undo step
        after = sum(1 for e in session.transcript.entries if '"query-hotpluggable-cpus"' in e.text)
        assert after - rereads == 2  # the re-read, and the test's own query above
        assert len(writes) == 1 and session.book.path is not None and writes[0] == session.book.path
        kept = records.load(session.book.path)
        assert kept is not None and set(kept.nodes) == {2, 3}
        assert kept.distances == {(d.src, d.dst): d.val for d in plan.distances}
        assert len(saves) == 1
        saved = load(saver.path)
        assert saved.plan == session.plan()
        assert keeper.history.undo_description() == "apply plan"
        assert len(keeper.history) == steps_before + 1

        # undo of the plan is one step and restores the whole of it (a new QEMU)
        assert await Vm(session, keeper).undo() == "apply plan"
        assert session.plan() == before
        fresh = _qemu_mapping(await session.execute("query-hotpluggable-cpus"))
        assert all(v is None for v in fresh.values())
        assert [n.id for n in session.nodes] == [0, 1] and session.distances == []
        assert load(saver.path).plan == before
        assert keeper.history.undo_description() is None


async def test_a_refusal_in_the_middle_keeps_what_qemu_accepted_and_reports_the_first(
        qemu_factory: Any) -> None:
    q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    s = await Session.connect(q.sock)
    heard: list[str] = []
    s.add_change_listener(heard.append)
    try:
        s0, s1 = socket(s.topology, 0), socket(s.topology, 1)
        steps = [
            *s.node_steps([Node(2)]),
            Step("set-numa-node", {"type": "node", "nodeid": 0}, Node(0)),  # Duplicate: refused first
            *s.node_steps([Node(3)]),
            *mapping_steps(s.topology, dict.fromkeys(s0, 2)),
            distance_step(0, 1, 5),  # below 10: refused second
            distance_step(0, 2, 30),
            *mapping_steps(s.topology, dict.fromkeys(s1, 3)),
        ]
        accepted: list[dict[str, Any]] = []
        with pytest.raises(QemuRefused) as refused:
            await s.send(steps, "the batch", sent=accepted.append)
        assert "Duplicate" in refused.value.qemu_message  # the first refusal, not the distance's
        # QEMU ran what came after the refusals: the mirror is QEMU's
        assert await q.nodes() == s.topology.mapping()
        assert {s.topology.slot(k).node_id for k in s0} == {2}
        assert {s.topology.slot(k).node_id for k in s1} == {3}
        assert [n.id for n in s.nodes] == [0, 1, 2, 3]
        assert [(d.src, d.dst, d.val) for d in s.distances] == [(0, 2, 30)]
        assert [a.get("nodeid", a.get("val")) for a in accepted if a.get("type") in ("node", "dist")] \
            == [2, 3, 30]
        assert heard == ["the batch (in part)"]
        assert s.book.path is not None
        kept = records.load(s.book.path)
        assert kept is not None and set(kept.nodes) == {2, 3} and kept.distances == {(0, 2): 30}
    finally:
        await s.close()
    other = await Session.connect(q.sock)  # another numatui later sees exactly that too
    try:
        assert [n.id for n in other.nodes] == [0, 1, 2, 3]
        assert [(d.src, d.dst, d.val) for d in other.distances] == [(0, 2, 30)]
    finally:
        await other.close()


async def test_a_batch_times_out_on_silence_not_on_its_length(qemu: Any) -> None:
    """A fake peer in front of real QEMU (named so: QEMU cannot be made slow on
    demand) delays every reply 0.1 s, as a loaded host does.  Twelve queries
    take 1.2 s, far over the 0.5 s timeout, and all come back: the timeout is
    time without a reply.  When the peer goes silent (2 s per reply), what is
    left times out one timeout after the last reply, as CommandTimeout."""
    from fake_qmp import HostileProxy

    from numatui.session.errors import CommandTimeout

    path = Path(qemu.extra["dir"]) / "slow.sock"
    async with HostileProxy(path, qemu.sock, "x", keep_errors=True) as proxy:
        session = await Session.connect(str(path), timeout=0.5, nodes=2)
        try:
            proxy.reply_delay = 0.1
            replies = await session.execute_all([("query-status", {})] * 12)
            assert [r.get("status") for r in replies] == ["prelaunch"] * 12
            proxy.reply_delay = 2.0
            replies = await session.execute_all([("query-status", {})] * 3)
            assert all(isinstance(r, CommandTimeout) for r in replies), replies
        finally:
            proxy.reply_delay = 0.0
            await session.close()
