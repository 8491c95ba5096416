"""Presets (numatui.model.presets) on every board shape numatui knows: pure,
on synthetic and recorded topologies."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import load_data
from hypothesis import given, settings
from hypothesis import strategies as st

from numatui.model import presets as presets_module
from numatui.model.compact import fewest_commands
from numatui.model.errors import NumaError
from numatui.model.plan import Distance, Node, Plan
from numatui.model.presets import NotEnoughNodes, PresetError, PresetInput, get, preset, preset_plan, presets
from numatui.model.topology import Slot, SlotKey, Topology

X86 = ("socket-id", "die-id", "module-id", "core-id", "thread-id")


def x86(sockets: int, cores: int, threads: int, dies: int = 1, modules: int = 1) -> Topology:
    """A q35 as QEMU reports it: die-id only when dies > 1, module-id when modules > 1."""
    slots = []
    for s in range(sockets):
        for d in range(dies):
            for m in range(modules):
                for c in range(cores):
                    for t in range(threads):
                        key: list[tuple[str, int]] = [("socket-id", s)]
                        if dies > 1:
                            key.append(("die-id", d))
                        if modules > 1:
                            key.append(("module-id", m))
                        key += [("core-id", c), ("thread-id", t)]
                        slots.append(Slot(key=tuple(key), type="max-x86_64-cpu"))
    return Topology.build(reversed(slots))  # QEMU lists x86 slots in reverse


def q240() -> Topology:
    return x86(8, 15, 2)


def pseries() -> Topology:
    """Recorded: 4 core slots (core-id 0, 2, 4, 6), 2 threads each."""
    return Topology.from_hotpluggable(load_data("pseries.json")["query-hotpluggable-cpus"])


def arm_virt() -> Topology:
    """Recorded smp: 2 sockets x 2 clusters x 2 cores, slots derived as numatui does."""
    return Topology.from_smp(load_data("arm-virt.json")["smp"],
                             ("socket-id", "cluster-id", "core-id", "thread-id"))


def riscv() -> Topology:
    return Topology.from_smp({"cpus": 8, "sockets": 2, "cores": 4, "threads": 1}, ("core-id",))


def q35_dies() -> Topology:
    return Topology.from_hotpluggable(load_data("q35-dies-threads.json")["query-hotpluggable-cpus"])


def by(topo: Topology, mapping: dict[SlotKey, int], *props: str) -> dict[tuple[int | None, ...], set[int]]:
    """group (the values of ``props``) -> the nodes its slots are on."""
    out: dict[tuple[int | None, ...], set[int]] = {}
    for s in topo.slots:
        out.setdefault(tuple(s.prop(p) for p in props), set()).add(mapping[s.key])
    return out


def preset_mapping(name: str, topo: Topology, nodes: int | None,
                   into: int | None = None) -> dict[SlotKey, int]:
    """The mapping in the plan of preset ``name`` when QEMU has ``nodes`` nodes
    (the plan adds the ones the preset needs beyond them)."""
    have = None if nodes is None else [Node(i) for i in range(nodes)]
    return preset_plan(name, topo, have, into=into, add_nodes=nodes is not None).resolve(topo)


def loads(topo: Topology, mapping: dict[SlotKey, int], n: int) -> list[int]:
    count = Counter[int]()
    for s in topo.slots:
        count[mapping[s.key]] += s.vcpus_count
    return [count[i] for i in range(n)]


# -- the registry ------------------------------------------------------------------------
def test_builtin_presets_are_registered_with_a_description_and_needs() -> None:
    names = [p.name for p in presets()]
    assert names[:6] == ["socket", "die", "module", "cluster", "split", "interleave"]
    for p in presets():
        assert p.description and "\n" not in p.description
        assert p.needs
    assert get("split").takes_into and not get("socket").takes_into


def test_unknown_preset_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(PresetError, match=r"unknown preset 'sockets'; choose socket, die, .*interleave"):
        preset_mapping("sockets", q240(), 8)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The presets a test registers are gone after it."""
    monkeypatch.setattr(presets_module, "_REGISTRY", dict(presets_module._REGISTRY))


@pytest.fixture
def custom(registry: None) -> str:
    @preset("evens", "even cores on node 0, odd on node 1", needs="2 nodes")
    def evens(inp: PresetInput) -> Plan:
        return Plan(distances=(Distance(0, 1, 21), Distance(1, 0, 21)),
                    cpus=({"node-id": 0, "core-id": 0}, {"node-id": 1, "core-id": 2},
                          {"node-id": 0, "core-id": 4}, {"node-id": 1, "core-id": 6}))
    return "evens"


def test_registering_a_preset_is_one_decorator(custom: str) -> None:
    assert get(custom).description == "even cores on node 0, odd on node 1"
    plan = preset_plan(custom, pseries(), [Node(0), Node(1)])
    assert plan.distances == (Distance(0, 1, 21), Distance(1, 0, 21))  # a Plan's distances are kept
    assert plan.resolve(pseries()) == {(("core-id", c),): (c // 2) % 2 for c in (0, 2, 4, 6)}
    with pytest.raises(ValueError, match="already registered"):
        preset(custom, "again", "x")(lambda inp: {})
    with pytest.raises(NotEnoughNodes, match=r"needs 2 NUMA node\(s\) \(2 nodes\); QEMU has 1 \(0\)"):
        preset_plan(custom, pseries(), [Node(0)])


def test_a_preset_naming_a_slot_the_board_lacks_is_an_error(registry: None) -> None:
    @preset("bogus", "a slot that is not there", "nothing")
    def bogus(inp: PresetInput) -> dict[SlotKey, int]:
        return {(("socket-id", 99),): 0}

    with pytest.raises(NumaError, match="no CPU slot socket-id=99"):
        preset_mapping("bogus", q240(), 8)


# -- level presets ----------------------------------------------------------------------
def test_socket_puts_socket_i_on_node_i_with_one_command_each() -> None:
    topo = q240()
    mapping = preset_mapping("socket", topo, 8)
    assert len(mapping) == 240
    assert by(topo, mapping, "socket-id") == {(s,): {s} for s in range(8)}
    assert fewest_commands(topo, mapping) == [{"node-id": s, "socket-id": s} for s in range(8)]


def test_die_is_numbered_across_the_machine() -> None:
    topo = q35_dies()
    mapping = preset_mapping("die", topo, 4)
    assert by(topo, mapping, "socket-id", "die-id") == {(0, 0): {0}, (0, 1): {1}, (1, 0): {2}, (1, 1): {3}}
    assert len(fewest_commands(topo, mapping)) == 4


def test_module_where_the_board_has_modules() -> None:
    topo = x86(2, 2, 2, modules=2)  # QEMU 9.1+: -smp ...,modules=2
    mapping = preset_mapping("module", topo, 4)
    assert by(topo, mapping, "socket-id", "module-id") == {(0, 0): {0}, (0, 1): {1}, (1, 0): {2}, (1, 1): {3}}


def test_cluster_on_arm_virt() -> None:
    topo = arm_virt()
    mapping = preset_mapping("cluster", topo, 4)
    assert by(topo, mapping, "socket-id", "cluster-id") == {
        (0, 0): {0}, (0, 1): {1}, (1, 0): {2}, (1, 1): {3}}
    assert preset_mapping("socket", topo, 2) == {s.key: s.prop("socket-id") for s in topo}


@pytest.mark.parametrize(("name", "topo", "words"), [
    ("die", q240, "no die level (its CPU slots are named by socket, core, thread)"),
    ("cluster", q240, "no cluster level"),
    ("module", arm_virt, "no module level"),
    ("socket", pseries, "no socket level (its CPU slots are named by core)"),
    ("socket", riscv, "no socket level (its CPU slots are named by core)"),
])
def test_a_level_the_board_lacks_is_one_line(name: str, topo: object, words: str) -> None:
    assert callable(topo)
    with pytest.raises(PresetError) as err:
        preset_mapping(name, topo(), 8)
    assert str(err.value).startswith(f"preset {name}: this board has {words}")


# -- split -------------------------------------------------------------------------------
def test_split_uses_whole_sockets_when_they_divide_evenly() -> None:
    topo = q240()
    mapping = preset_mapping("split", topo, 8, into=4)
    assert by(topo, mapping, "socket-id") == {(s,): {s // 2} for s in range(8)}
    assert len(fewest_commands(topo, mapping)) == 8  # no pattern spans two sockets of one node only
    assert preset_mapping("split", topo, 8) == preset_mapping("socket", topo, 8)  # all 8 nodes QEMU has


def test_split_falls_back_to_whole_cores() -> None:
    topo = q240()
    mapping = preset_mapping("split", topo, 8, into=3)
    assert loads(topo, mapping, 3) == [80, 80, 80]
    assert all(len(nodes) == 1 for nodes in by(topo, mapping, "socket-id", "core-id").values())
    seven = preset_mapping("split", topo, 8, into=7)  # 120 cores over 7: 18 or 17 cores
    assert loads(topo, seven, 7) == [36, 34, 34, 34, 34, 34, 34]


def test_split_uses_dies_before_cores() -> None:
    topo = x86(3, 2, 2, dies=2)  # 3 sockets do not split in 2; 6 dies do
    mapping = preset_mapping("split", topo, 2)
    assert all(len(nodes) == 1 for nodes in by(topo, mapping, "socket-id", "die-id").values())
    assert by(topo, mapping, "socket-id") == {(0,): {0}, (1,): {0, 1}, (2,): {1}}


def test_split_on_pseries_counts_each_core_slots_threads() -> None:
    topo = pseries()  # 4 cores x 2 threads
    mapping = preset_mapping("split", topo, 2, into=3)
    assert loads(topo, mapping, 3) == [4, 2, 2]
    assert [mapping[s.key] for s in topo.slots] == [0, 0, 1, 2]


def test_split_on_riscv_and_more_nodes_than_cores() -> None:
    topo = riscv()
    assert [v for _, v in sorted(preset_mapping("split", topo, 2).items())] == [0] * 4 + [1] * 4
    many = preset_mapping("split", topo, 2, into=12)  # 8 cores over 12 nodes: nodes 8-11 get none
    assert loads(topo, many, 12) == [1] * 8 + [0] * 4


SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3),
                   st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(SHAPES)
def test_split_balance_properties(shape: tuple[int, int, int, int, int]) -> None:
    sockets, dies, cores, threads, n = shape
    topo = x86(sockets, cores, threads, dies=dies)
    mapping = preset_mapping("split", topo, None, into=n)
    assert set(mapping) == {s.key for s in topo.slots}  # every slot
    node_loads = loads(topo, mapping, n)
    assert max(node_loads) - min(node_loads) <= threads  # within one core's threads
    core_props = [p for p in topo.levels if p != "thread-id"]
    assert all(len(v) == 1 for v in by(topo, mapping, *core_props).values())  # a core is never split
    in_order = [mapping[s.key] for s in topo.slots]
    assert in_order == sorted(in_order)  # contiguous runs, node 0 first
    # the coarsest unit that keeps the balance: a socket (die) is split only
    # when an even split of whole sockets (dies) would be off by more than a core
    whole_sockets = all(len(v) == 1 for v in by(topo, mapping, "socket-id").values())
    whole_dies = all(len(v) == 1 for v in by(topo, mapping, "socket-id", "die-id").values())
    if sockets % n == 0:
        assert whole_sockets
    if not whole_sockets:
        assert sockets % n and dies * cores > 1
        if (sockets * dies) % n == 0:
            assert whole_dies
    if not whole_dies:
        assert (sockets * dies) % n and cores > 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.sampled_from([1, 2, 4, 8]), st.integers(1, 9))
def test_split_balance_on_pseries_core_slots(cores: int, threads: int, n: int) -> None:
    topo = Topology.build(Slot(key=(("core-id", c * threads),), vcpus_count=threads) for c in range(cores))
    mapping = preset_mapping("split", topo, None, into=n)
    node_loads = loads(topo, mapping, n)
    assert max(node_loads) - min(node_loads) <= threads
    assert sum(node_loads) == cores * threads


# -- interleave --------------------------------------------------------------------------
def test_interleave_puts_core_k_of_the_machine_on_node_k_mod_n() -> None:
    topo = q240()
    mapping = preset_mapping("interleave", topo, 8)
    for s in topo.slots:
        k = (s.prop("socket-id") or 0) * 15 + (s.prop("core-id") or 0)
        assert mapping[s.key] == k % 8
    assert loads(topo, mapping, 8) == [30] * 8
    small = x86(2, 2, 2)  # core k = core-id here: one command per node, socket-id left out
    assert fewest_commands(small, preset_mapping("interleave", small, 2)) == [
        {"node-id": 0, "core-id": 0}, {"node-id": 1, "core-id": 1}]


def test_interleave_on_pseries_and_arm() -> None:
    assert [preset_mapping("interleave", pseries(), 2)[s.key] for s in pseries().slots] == [0, 1, 0, 1]
    topo = arm_virt()
    mapping = preset_mapping("interleave", topo, 3)
    assert [mapping[s.key] for s in topo.slots] == [k % 3 for k in range(8)]


# -- nodes ---------------------------------------------------------------------------------
def test_too_few_nodes_says_how_many_in_one_line() -> None:
    nodes = [Node(0, memdev="m0", size=1 << 30), Node(1, memdev="m1", size=1 << 30)]
    with pytest.raises(NotEnoughNodes) as err:
        preset_plan("socket", q240(), nodes, nodes_source="launch arguments")
    text = str(err.value)
    assert "\n" not in text
    assert text == ("preset socket needs 8 NUMA node(s) (one node per socket); QEMU has 2 (0-1, from "
                    "launch arguments): add node(s) 2-7 memoryless (--add-nodes), or start QEMU with 8 nodes")
    assert err.value.missing == (2, 3, 4, 5, 6, 7)
    with pytest.raises(NotEnoughNodes, match=r"needs 6 NUMA node\(s\) \(N nodes: all QEMU has, or --into"):
        preset_plan("split", q240(), nodes, into=6)


def test_add_nodes_declares_the_missing_ones_memoryless() -> None:
    nodes = [Node(0, memdev="m0", size=1 << 30), Node(1, memdev="m1", size=1 << 30)]
    plan = preset_plan("socket", q240(), nodes, add_nodes=True)
    assert plan.nodes == (*nodes, *(Node(i) for i in range(2, 8)))
    assert plan.cpus == tuple({"node-id": s, "socket-id": s} for s in range(8))
    assert plan.resolve(q240()) == preset_mapping("socket", q240(), 8)
    # enough nodes: the plan declares none, so applying it adds none
    assert preset_plan("split", q240(), nodes).nodes == ()


def test_unknown_nodes() -> None:
    with pytest.raises(PresetError, match=r"cannot tell how many it has: give --into N \(or --nodes N\)"):
        preset_plan("split", q240(), None)
    assert len(preset_plan("split", q240(), None, into=2).cpus) == 8
    assert len(preset_plan("socket", q240(), None).cpus) == 8  # QEMU will say if a node is missing
    with pytest.raises(PresetError, match="cannot add the missing ones: give --nodes N"):
        preset_plan("socket", q240(), None, add_nodes=True)
    with pytest.raises(PresetError, match="QEMU has none"):
        preset_plan("interleave", q240(), [])


def test_into_only_where_it_means_something() -> None:
    with pytest.raises(PresetError, match="preset socket takes no --into: it needs one node per socket"):
        preset_mapping("socket", q240(), 8, into=4)
    with pytest.raises(PresetError, match=r"--into 0 is out of range \(1\.\.128\)"):
        preset_mapping("split", q240(), 8, into=0)
