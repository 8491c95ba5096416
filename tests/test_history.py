"""The undo/redo history of plan states (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numatui.model.errors import NumaError
from numatui.model.history import History, describe_assign, describe_mapping
from numatui.model.plan import Plan
from numatui.model.topology import Topology


def plan(n: int) -> Plan:
    return Plan(cpus=({"node-id": n},)) if n else Plan()


def test_push_undo_redo() -> None:
    h = History(plan(0))
    assert not h.can_undo() and not h.can_redo()
    assert h.describe() == "nothing to undo"
    with pytest.raises(NumaError, match="nothing to undo"):
        h.undo_target()
    assert h.push(plan(1), "socket 0 -> node 1")
    assert h.push(plan(2), "socket 0 -> node 2")
    assert h.describe() == "undo: socket 0 -> node 2"
    assert h.undo_target() == plan(1) and h.current == plan(2)  # peeking moves nothing
    assert h.undo() == plan(1)
    assert h.describe() == "undo: socket 0 -> node 1 · redo: socket 0 -> node 2"
    assert h.undo(redo=True) == plan(2)
    h.undo()
    h.undo()
    assert h.current == plan(0) and h.redo_description() == "socket 0 -> node 1"
    # a new change drops the redo states
    assert h.push(plan(3), "x")
    assert not h.can_redo() and [s.description for s in h.states] == ["start", "x"]


def test_same_plan_is_not_a_change() -> None:
    h = History(plan(1))
    assert not h.push(plan(1), "refused")
    assert len(h) == 1


def test_bounded() -> None:
    h = History(plan(0), limit=3)
    for n in range(1, 6):
        h.push(plan(n), f"{n}")
    assert [s.description for s in h.states] == ["3", "4", "5"]
    assert h.position == 2
    h.undo()
    h.undo()
    assert not h.can_undo() and h.current == plan(3)
    with pytest.raises(NumaError):
        History(plan(0), limit=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 5), st.sampled_from(["undo", "redo"])), max_size=40),
       st.integers(2, 6))
def test_behaves_like_a_list_with_a_cursor(ops: list[int | str], limit: int) -> None:
    h = History(plan(0), limit=limit)
    states, pos = [plan(0)], 0
    for op in ops:
        if op == "undo":
            if pos:
                pos -= 1
                assert h.undo() == states[pos]
            else:
                with pytest.raises(NumaError):
                    h.undo()
        elif op == "redo":
            if pos < len(states) - 1:
                pos += 1
                assert h.undo(redo=True) == states[pos]
            else:
                with pytest.raises(NumaError):
                    h.undo(redo=True)
        elif isinstance(op, int) and plan(op) != states[pos]:
            states = [*states[: pos + 1], plan(op)][-limit:]
            pos = len(states) - 1
            h.push(plan(op), str(op))
        assert h.current == states[pos] and h.position == pos and len(h) == len(states)


def test_describe_assign_names_whole_groups() -> None:
    topo = Topology.from_smp({"sockets": 2, "cores": 2, "threads": 2},
                             ("socket-id", "core-id", "thread-id"))
    keys = [s.key for s in topo.slots]
    assert describe_assign(topo, keys[4:], 1) == "socket 1 -> node 1"
    assert describe_assign(topo, keys[4:6], 0) == "socket 1 core 0 -> node 0"
    assert describe_assign(topo, [keys[0], keys[4]], 2) == (
        "socket 0 core 0 thread 0, socket 1 core 0 thread 0 -> node 2")
    assert describe_assign(topo, keys, 0) == "all CPUs -> node 0"
    assert describe_assign(topo, keys[::2], 3) == "4 slots -> node 3"


def test_describe_mapping_names_each_node_or_counts() -> None:
    topo = Topology.from_smp({"sockets": 4, "cores": 1, "threads": 2}, ("socket-id", "core-id", "thread-id"))
    keys = [s.key for s in topo.slots]
    assert describe_mapping(topo, dict.fromkeys(keys[2:4], 1)) == describe_assign(topo, keys[2:4], 1)
    two = {**dict.fromkeys(keys[:2], 0), **dict.fromkeys(keys[2:4], 1)}
    assert describe_mapping(topo, two) == "socket 0 -> node 0; socket 1 -> node 1"
    assert describe_mapping(topo, {k: i // 2 for i, k in enumerate(keys)}) == "8 slots -> 4 nodes"
    assert describe_mapping(topo, {}) == "nothing"
