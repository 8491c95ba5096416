"""Compaction: the fewest whole-group -numa cpu options / set-numa-node commands."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence

from conftest import load_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numatui.model.compact import CpuOption, assign_commands, compact, cover
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


def test_assign_commands_reuses_slots_already_on_the_node() -> None:
    topo = q35_dies()
    socket0 = [s.key for s in topo if s.prop("socket-id") == 0]
    half = socket0[:4]  # die 0 of socket 0 already on node 1
    topo = topo.with_mapping(dict.fromkeys(half, 1))
    assert assign_commands(topo, socket0[4:], 1) == [{"node-id": 1, "socket-id": 0}]
    # on another node: only the die itself
    assert assign_commands(topo, socket0[4:], 2) == [{"node-id": 2, "socket-id": 0, "die-id": 1}]


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
    for d in range(len(topo.levels) + 1):
        for slots in members(d).values():
            keys = {s.key for s in slots}
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
def test_assign_commands_properties(case: tuple[Topology, Mapping_], data: st.DataObject) -> None:
    topo, current = case
    topo = topo.with_mapping(current)
    node = data.draw(st.sampled_from([0, 1, 2, 3]))
    free = [s.key for s in topo if s.node_id in (None, node)]
    keys = data.draw(st.lists(st.sampled_from(free), unique=True) if free else st.just([]))
    commands = assign_commands(topo, keys, node)
    options_are_whole_groups(topo, commands)
    after = apply(topo, commands, topo.mapping())  # never "already assigned"
    for s in topo:
        if s.key in keys:
            assert after[s.key] == node
        else:
            assert after[s.key] == s.node_id, f"{s.key} was touched"
    already = {s.key for s in topo if s.node_id == node}
    assert len(commands) == brute_force_cover(topo, keys, already)


def test_cover_returns_topology_order() -> None:
    topo = q35_dies()
    keys = [topo.slots[i].key for i in (15, 0, 7)]
    assert [topo.index(k) for k in cover(topo, keys, keys)] == [0, 7, 15]
