"""Compaction: the fewest whole-group -numa cpu options / set-numa-node commands,
and the fewest commands with any prop pattern (what the session sends)."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence

import pytest
from conftest import load_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import assign_commands

from numatui.model.compact import CpuOption, compact, cover, fewest_commands
from numatui.model.errors import NumaError
from numatui.model.topology import PROP_ORDER, Slot, SlotKey, Topology

Mapping_ = dict[SlotKey, int | None]


def q35_dies() -> Topology:
    return Topology.from_hotpluggable(load_data("q35-dies-threads.json")["query-hotpluggable-cpus"])


def apply(topo: Topology, options: Iterable[CpuOption], start: Mapping_ | None = None) -> Mapping_:
    """What QEMU does with these set-numa-node / -numa cpu options, or NumaError as QEMU would."""
    state: Mapping_ = dict(start) if start is not None else {s.key: None for s in topo}
    for opt in options:
        hits = topo.matching(opt)
        if not hits:
            raise NumaError("no match found")
        for s in hits:
            old = state[s.key]
            if old is not None and old != opt["node-id"]:
                raise NumaError(f"CPU is already assigned to node-id: {old}")
            state[s.key] = opt["node-id"]
    return state


# -- levels -----------------------------------------------------------------------
def test_socket_level() -> None:
    topo = q35_dies()
    mapping = {s.key: s.prop("socket-id") for s in topo}
    assert compact(topo, mapping) == [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]


def test_die_level() -> None:
    topo = q35_dies()
    mapping = {s.key: (s.prop("socket-id") or 0) * 2 + (s.prop("die-id") or 0) for s in topo}
    opts = compact(topo, mapping)
    assert opts == [{"node-id": n, "socket-id": n // 2, "die-id": n % 2} for n in range(4)]


def test_core_level_mixed_with_a_socket() -> None:
    topo = q35_dies()
    mapping: Mapping_ = {s.key: 0 if s.prop("socket-id") == 0 else s.prop("core-id") for s in topo}
    assert compact(topo, mapping) == [
        {"node-id": 0, "socket-id": 0},
        {"node-id": 0, "socket-id": 1, "die-id": 0, "core-id": 0},
        {"node-id": 1, "socket-id": 1, "die-id": 0, "core-id": 1},
        {"node-id": 0, "socket-id": 1, "die-id": 1, "core-id": 0},
        {"node-id": 1, "socket-id": 1, "die-id": 1, "core-id": 1},
    ]


def test_thread_level_and_unassigned_slots_untouched() -> None:
    topo = q35_dies()
    first = topo.slots[0].key
    mapping: Mapping_ = {s.key: None for s in topo}
    mapping[first] = 1
    assert compact(topo, mapping) == [{"node-id": 1, **dict(first)}]


def test_whole_machine_is_one_option_and_nothing_is_nothing() -> None:
    topo = q35_dies()
    assert compact(topo, {s.key: 3 for s in topo}) == [{"node-id": 3}]
    assert compact(topo, {}) == [] == compact(topo)


def test_pseries_cores() -> None:
    topo = Topology.from_hotpluggable(load_data("pseries.json")["query-hotpluggable-cpus"])
    mapping = {s.key: (s.prop("core-id") or 0) // 4 for s in topo}
    assert compact(topo, mapping) == [
        {"node-id": 0, "core-id": 0}, {"node-id": 0, "core-id": 2},
        {"node-id": 1, "core-id": 4}, {"node-id": 1, "core-id": 6},
    ]


def test_compact_defaults_to_the_nodes_slots_carry() -> None:
    topo = q35_dies()
    mapping = {s.key: s.prop("socket-id") for s in topo}
    assert compact(topo.with_mapping(mapping)) == compact(topo, mapping)


def test_cover_reuses_slots_already_on_the_node() -> None:
    topo = q35_dies()
    socket0 = [s.key for s in topo if s.prop("socket-id") == 0]
    half = socket0[:4]  # die 0 of socket 0 already on node 1
    assert cover(topo, socket0[4:], half) == [(("socket-id", 0),)]
    # on another node: only the die itself
    assert cover(topo, socket0[4:], ()) == [(("socket-id", 0), ("die-id", 1))]


# -- properties over random topologies --------------------------------------------------
@st.composite
def topologies(draw: st.DrawFn, max_slots: int = 16) -> Topology:
    levels = draw(st.lists(st.sampled_from(PROP_ORDER), min_size=1, max_size=4, unique=True))
    levels = [p for p in PROP_ORDER if p in levels]
    sizes: list[int] = []
    total = 1
    for _ in levels:
        n = draw(st.integers(1, 3))
        if total * n > max_slots:
            n = 1
        sizes.append(n)
        total *= n
    step = draw(st.sampled_from([1, 1, 2]))  # pseries numbers core-id by threads
    vcpus = draw(st.sampled_from([1, 1, 2]))
    slots = [
        Slot(key=tuple(zip(levels, [i * step for i in ids], strict=True)), vcpus_count=vcpus)
        for ids in itertools.product(*(range(n) for n in sizes))
    ]
    # QEMU lists in reverse: build() must sort
    return Topology.build(list(reversed(slots)))


@st.composite
def topo_and_mapping(draw: st.DrawFn, max_slots: int = 16) -> tuple[Topology, Mapping_]:
    topo = draw(topologies(max_slots))
    # mostly group-shaped mappings (they compact), sometimes noise
    depth = draw(st.integers(0, len(topo.levels)))
    group_node = {g: draw(st.sampled_from([None, 0, 1, 2])) for g in topo.groups(depth)}
    mapping: Mapping_ = {}
    for s in topo:
        node = group_node[s.key[:depth]]
        if draw(st.integers(0, 5)) == 0:
            node = draw(st.sampled_from([None, 0, 1, 2]))
        mapping[s.key] = node
    return topo, mapping


def all_groups(topo: Topology) -> list[SlotKey]:
    return [g for d in range(len(topo.levels) + 1) for g in topo.groups(d)]


def brute_force_cover(topo: Topology, wanted: Collection[SlotKey], allowed: Collection[SlotKey]) -> int:
    """The size of the smallest set of groups covering ``wanted`` inside ``allowed``: by search."""
    want, ok = set(wanted), set(allowed) | set(wanted)
    if not want:
        return 0
    members = topo.groups  # depth -> groups
    usable = []
    every = {s.key for s in topo}
    for d in range(len(topo.levels) + 1):
        for slots in members(d).values():
            keys = {s.key for s in slots}
            if d == 0 and want != every:
                continue  # no command naming no prop unless every slot is wanted (#17)
            if keys <= ok and keys & want:
                usable.append(keys)
    for size in range(1, len(want) + 1):
        for combo in itertools.combinations(usable, size):
            if want <= set().union(*combo):
                return size
    raise AssertionError("single slots always cover")


def options_are_whole_groups(topo: Topology, options: Sequence[CpuOption]) -> None:
    groups = set(all_groups(topo))
    for opt in options:
        key = tuple((k, v) for k, v in opt.items() if k != "node-id")
        assert key in groups, f"{opt} does not name a prefix of the hierarchy"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo_and_mapping())
def test_compact_reproduces_the_mapping_exactly(case: tuple[Topology, Mapping_]) -> None:
    topo, mapping = case
    options = compact(topo, mapping)
    options_are_whole_groups(topo, options)
    # every slot ends where the mapping says; unassigned slots stay unassigned
    assert apply(topo, options) == mapping
    # and in any order (QEMU applies -numa cpu in order; no option overlaps another node's)
    assert apply(topo, list(reversed(options))) == mapping


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo_and_mapping(max_slots=8))
def test_compact_is_minimal(case: tuple[Topology, Mapping_]) -> None:
    topo, mapping = case
    options = compact(topo, mapping)
    best = 0
    for node in {n for n in mapping.values() if n is not None}:
        keys = {k for k, n in mapping.items() if n == node}
        best += brute_force_cover(topo, keys, keys)
    assert len(options) == best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo_and_mapping(max_slots=8), st.data())
def test_cover_for_assignment_properties(case: tuple[Topology, Mapping_], data: st.DataObject) -> None:
    topo, current = case
    topo = topo.with_mapping(current)
    node = data.draw(st.sampled_from([0, 1, 2, 3]))
    free = [s.key for s in topo if s.node_id in (None, node)]
    keys = data.draw(st.lists(st.sampled_from(free), unique=True) if free else st.just([]))
    already = {s.key for s in topo if s.node_id == node}
    commands = [{"node-id": node, **dict(p)}
                for p in cover(topo, keys, already, bare=len(set(keys)) == len(topo.slots))]
    assert commands == assign_commands(topo, keys, node)  # the independent oracle agrees
    options_are_whole_groups(topo, commands)
    after = apply(topo, commands, topo.mapping())  # never "already assigned"
    for s in topo:
        if s.key in keys:
            assert after[s.key] == node
        else:
            assert after[s.key] == s.node_id, f"{s.key} was touched"
    assert len(commands) == brute_force_cover(topo, keys, already)


def test_cover_returns_topology_order() -> None:
    topo = q35_dies()
    keys = [topo.slots[i].key for i in (15, 0, 7)]
    assert [topo.index(k) for k in cover(topo, keys, keys)] == [0, 7, 15]


# -- fewest_commands: any prop pattern, what the session sends ---------------------------
def x86(sockets: int, cores: int, threads: int) -> Topology:
    """An x86 machine as QEMU lists it (every slot unassigned)."""
    return Topology.build(
        Slot(key=(("socket-id", s), ("core-id", c), ("thread-id", t)))
        for s in range(sockets) for c in range(cores) for t in range(threads)
    )


def core(topo: Topology, socket: int, core_id: int) -> list[SlotKey]:
    return [s.key for s in topo if s.key[:2] == (("socket-id", socket), ("core-id", core_id))]


def first_touched(topo: Topology, command: CpuOption) -> int:
    return min(topo.index(s.key) for s in topo.matching(command))


def test_fewest_commands_maps_core_c_of_every_socket_at_once() -> None:
    topo = x86(8, 15, 2)  # the benchmark's -smp 240,sockets=8,cores=15,threads=2
    mapping = {s.key: (s.prop("core-id") or 0) % 8 for s in topo}
    commands = fewest_commands(topo, mapping)
    assert commands == [{"node-id": c % 8, "core-id": c} for c in range(15)]
    assert apply(topo, commands) == mapping
    # the displayed -numa cpu options stay whole groups: one per core
    assert len(compact(topo, mapping)) == 120


def test_fewest_commands_is_the_prefix_cover_when_that_is_one_per_node() -> None:
    topo = x86(8, 15, 2)
    mapping = {s.key: s.prop("socket-id") or 0 for s in topo}
    assert fewest_commands(topo, mapping) == [{"node-id": n, "socket-id": n} for n in range(8)]
    assert fewest_commands(topo, {}) == []


def test_fewest_commands_may_touch_slots_already_on_the_same_node() -> None:
    topo = x86(2, 2, 2)
    topo = topo.with_mapping(dict.fromkeys(core(topo, 0, 0), 0))  # socket 0 core 0 on node 0
    mapping = {**dict.fromkeys(core(topo, 1, 0), 0),
               **dict.fromkeys(core(topo, 0, 1) + core(topo, 1, 1), 1)}
    commands = fewest_commands(topo, mapping)
    # core 0 of every socket re-assigns socket 0's to node 0: QEMU accepts that
    assert commands == [{"node-id": 0, "core-id": 0}, {"node-id": 1, "core-id": 1}]
    assert apply(topo, commands, topo.mapping()) == {**topo.mapping(), **mapping}


def test_fewest_commands_never_touches_a_slot_on_another_node_or_unassigned() -> None:
    topo = x86(2, 2, 2)
    topo = topo.with_mapping(dict.fromkeys(core(topo, 0, 0), 2))  # socket 0 core 0 on node 2
    mapping = {**dict.fromkeys(core(topo, 1, 0), 0),
               **dict.fromkeys(core(topo, 0, 1) + core(topo, 1, 1), 1)}
    commands = fewest_commands(topo, mapping)
    assert commands == [{"node-id": 1, "core-id": 1}, {"node-id": 0, "socket-id": 1, "core-id": 0}]
    assert apply(topo, commands, topo.mapping()) == {**topo.mapping(), **mapping}
    # socket 1 core 1 left out of the mapping (unassigned): core-id 1 alone may not be said
    del mapping[core(topo, 1, 1)[0]]
    commands = fewest_commands(topo, mapping)
    assert {"node-id": 1, "core-id": 1} not in commands
    assert apply(topo, commands, topo.mapping()) == {**topo.mapping(), **mapping}


def test_fewest_commands_still_sends_a_slot_qemu_has_on_another_node() -> None:
    topo = x86(2, 2, 2)
    first = topo.slots[0].key
    topo = topo.with_mapping({first: 0})
    mapping = dict.fromkeys(core(topo, 0, 0) + core(topo, 1, 0), 1)
    commands = fewest_commands(topo, mapping)
    assert commands == [{"node-id": 1, "core-id": 0}]  # QEMU refuses it in its own words
    with pytest.raises(NumaError, match="already assigned to node-id: 0"):
        apply(topo, commands, topo.mapping())
    assert assign_commands(topo, mapping, 1)[0] == {"node-id": 1, **dict(first[:2])}  # as before


def test_fewest_commands_refuses_a_slot_the_machine_lacks() -> None:
    with pytest.raises(NumaError, match="no CPU slot socket-id=9"):
        fewest_commands(x86(2, 2, 2), {(("socket-id", 9), ("core-id", 0), ("thread-id", 0)): 0})


@st.composite
def topo_now_and_wanted(draw: st.DrawFn, max_slots: int = 16) -> tuple[Topology, dict[SlotKey, int]]:
    """A topology with some slots assigned, and a mapping QEMU can take: each
    slot's node follows a random subset of the levels (so patterns that leave
    a prop out can pay off), sometimes noise; slots on another node, and some
    others, left out."""
    topo, now = draw(topo_and_mapping(max_slots))
    topo = topo.with_mapping(now)
    levels = draw(st.lists(st.sampled_from(range(len(topo.levels))), unique=True))
    by_values: dict[tuple[int, ...], int | None] = {}
    wanted: dict[SlotKey, int] = {}
    for s in topo:
        values = tuple(s.key[i][1] for i in sorted(levels))
        if values not in by_values:
            by_values[values] = draw(st.sampled_from([None, 0, 1, 2]))
        node = by_values[values]
        if draw(st.integers(0, 7)) == 0:
            node = draw(st.sampled_from([None, 0, 1, 2]))
        if node is not None and s.node_id in (None, node):
            wanted[s.key] = node
    return topo, wanted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo_now_and_wanted())
def test_fewest_commands_is_an_exact_cover(case: tuple[Topology, dict[SlotKey, int]]) -> None:
    topo, wanted = case
    commands = fewest_commands(topo, wanted)
    # QEMU's matching: every wanted slot ends on its node, no other slot changes,
    # nothing is refused, in any order
    expected = {**topo.mapping(), **wanted}
    assert apply(topo, commands, topo.mapping()) == expected
    assert apply(topo, list(reversed(commands)), topo.mapping()) == expected
    # never more than the prefix cover, never fewer than one per node
    by_node: dict[int, list[SlotKey]] = {}
    for key, node in wanted.items():
        by_node.setdefault(node, []).append(key)
    prefix = sum(len(assign_commands(topo, keys, node)) for node, keys in by_node.items())
    assert len(by_node) <= len(commands) <= prefix
    # in topology order of the first slot each touches
    firsts = [first_touched(topo, c) for c in commands]
    assert firsts == sorted(firsts)
