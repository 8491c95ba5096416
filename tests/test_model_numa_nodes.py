"""Pure model of nodes, memory and distances: the distance matrix, the memory
split and the argv that carries it, and every export of them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numatui.model.distances import (
    CellKind,
    DistanceMatrix,
    check_distance,
    parse_distance,
)
from numatui.model.errors import NumaError
from numatui.model.libvirt import libvirt_xml
from numatui.model.memory_split import (
    MIB,
    MemorySplit,
    argv_with_split,
    even_split,
    parse_node_size,
    split_nodes,
)
from numatui.model.plan import Distance, Node, Plan
from numatui.model.preflight import check
from numatui.model.qemu_args import full_command_line, parse_qemu_args, plan_from_numa_text
from numatui.model.topology import Topology

G = 1 << 30
ARGV = ["qemu-system-x86_64", "-machine", "q35", "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G",
        "-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,memdev=m0",
        "-object", "memory-backend-ram,id=m1,size=1G", "-numa", "node,nodeid=1,memdev=m1"]


def q35() -> Topology:
    return Topology.from_smp({"sockets": 2, "cores": 2, "threads": 2, "cpus": 8, "maxcpus": 8},
                             ("socket-id", "core-id", "thread-id"))


# -- distances ---------------------------------------------------------------------
def test_cells_local_given_mirror_unset() -> None:
    m = DistanceMatrix.of([0, 1, 2], [Distance(0, 1, 21)])
    assert m.kind(0, 0) is CellKind.LOCAL and m.value(0, 0) == 10
    assert m.kind(0, 1) is CellKind.GIVEN and m.value(0, 1) == 21
    assert m.kind(1, 0) is CellKind.MIRROR and m.value(1, 0) == 21
    assert m.kind(0, 2) is CellKind.UNSET and m.value(0, 2) is None
    assert m.unset_pairs() == [(0, 2), (1, 2)]
    assert "2 pair(s) have no distance: 0\u20132, 1\u20132" in m.problems()[0]


def test_no_distance_at_all_is_complete() -> None:
    m = DistanceMatrix.of([0, 1], [])
    assert not m.problems() and not m.used


def test_linked_edit_sets_the_mirror_unlinked_does_not() -> None:
    m = DistanceMatrix.of([0, 1], [])
    assert m.edits(0, 1, 30) == [Distance(0, 1, 30), Distance(1, 0, 30)]
    assert m.edits(0, 1, 30, linked=False) == [Distance(0, 1, 30)]


@pytest.mark.parametrize(("src", "dst", "val", "words"), [
    (0, 1, 9, "distances start at 10"),
    (0, 1, 0, "it shouldn't be less than 10"),
    (0, 1, 256, "the largest distance is 255"),
    (0, 0, 20, "fixed at 10"),
    (0, 0, 10, "fixed at 10"),  # an edit of the diagonal is refused even when it is 10
    (0, 7, 20, "node 7 does not exist"),
])
def test_edits_refused(src: int, dst: int, val: int, words: str) -> None:
    with pytest.raises(NumaError, match=words):
        DistanceMatrix.of([0, 1], []).edits(src, dst, val)


def test_check_distance_and_parse() -> None:
    check_distance(1, 1, 10)
    check_distance(0, 1, 255)
    with pytest.raises(NumaError, match="out of range"):
        check_distance(0, 128, 20)
    assert parse_distance(" 20 ") == 20
    for bad in ("", "abc", "-5", "2.5", "\u0662\u0660"):
        with pytest.raises(NumaError, match=r"from 10 to 255|no distance"):
            parse_distance(bad)
    with pytest.raises(NumaError, match="largest"):
        parse_distance("99999999")


def test_fill_completes_unset_pairs_one_way() -> None:
    given = [Distance(0, 1, 15)]
    m = DistanceMatrix.of([0, 1, 2], given)
    added = m.fill()
    assert added == [Distance(0, 2, 20), Distance(1, 2, 20)]  # QEMU mirrors them
    full = DistanceMatrix.of([0, 1, 2], [*given, *added])
    assert not full.problems() and not full.unset_pairs() and full.value(2, 1) == 20
    assert full.fill() == []
    with pytest.raises(NumaError):
        m.fill(default=5)


def test_fill_when_asymmetric_gives_every_direction() -> None:
    given = [Distance(0, 1, 15), Distance(1, 0, 25), Distance(0, 2, 30)]
    m = DistanceMatrix.of([0, 1, 2], given)
    assert m.fill() == [Distance(2, 0, 30), Distance(1, 2, 20), Distance(2, 1, 20)]
    assert not DistanceMatrix.of([0, 1, 2], [*given, *m.fill()]).problems()


def test_asymmetric_needs_every_direction() -> None:
    given = [Distance(0, 1, 20), Distance(1, 0, 30), Distance(0, 2, 20), Distance(1, 2, 20)]
    m = DistanceMatrix.of([0, 1, 2], given)
    assert m.asymmetric and not m.unset_pairs()
    assert any("every direction" in p for p in m.problems())
    assert not DistanceMatrix.of([0, 1, 2], [*given, *m.fill()]).problems()


@given(st.sets(st.integers(0, 6), min_size=1, max_size=6),
       st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(10, 255)), max_size=12))
def test_fill_always_gives_what_preflight_accepts(ids: set[int], raw: list[tuple[int, int, int]]) -> None:
    """Whatever was given, fill() leaves no distance finding for preflight."""
    nodes = sorted(ids)
    dists = [Distance(a, b, v if a != b else 10) for a, b, v in raw if a in ids and b in ids]
    m = DistanceMatrix.of(nodes, dists)
    full = DistanceMatrix.of(nodes, [*dists, *m.fill()])
    assert not full.problems()
    plan = Plan(nodes=tuple(Node(i) for i in range(max(nodes) + 1)),
                distances=tuple(Distance(a, b, v) for (a, b), v in full.given.items()))
    dense = DistanceMatrix.of(range(max(nodes) + 1), plan.distances)
    plan = Plan(nodes=plan.nodes, distances=(*plan.distances, *dense.fill()))
    codes = {f.code for f in check(q35(), plan)}
    assert not codes & {"distance-missing", "distance-asymmetric", "distance-too-small", "distance-local"}


def test_incomplete_matrix_is_blocked_by_preflight() -> None:
    plan = Plan(nodes=(Node(0, "m0", G), Node(1, "m1", G), Node(2)), distances=(Distance(0, 1, 20),))
    blocking = [f for f in check(q35(), plan, 2 * G) if f.severity == "blocking"]
    assert [f.code for f in blocking] == ["distance-missing"]
    assert "between node 0 and 2 is missing" in blocking[0].message


# -- memory -------------------------------------------------------------------------
def test_parse_node_size() -> None:
    assert parse_node_size("1G") == G and parse_node_size("512") == 512 * MIB
    assert parse_node_size("1.5G") == 1536 * MIB and parse_node_size("0") == 0
    for bad in ("lots", "-1G", "1000K"):
        with pytest.raises(NumaError):
            parse_node_size(bad)


def test_split_remainder_and_problems() -> None:
    split = MemorySplit(2 * G, {0: G, 1: 512 * MIB})
    assert split.remainder == 512 * MIB and not split.ok
    assert split.remainder_text() == "512 MiB of 2 GiB on no node yet"
    words = "total memory for NUMA nodes (0x60000000) should equal RAM size (0x80000000)"
    assert words in split.problems()[0]
    over = MemorySplit(2 * G, {0: 2 * G, 1: G})
    assert over.remainder == -G and over.remainder_text() == "1 GiB more than the 2 GiB of RAM"
    assert MemorySplit(2 * G, {0: 1536 * MIB, 1: 512 * MIB, 2: 0}).ok
    assert any("negative" in p for p in MemorySplit(0, {0: -MIB, 1: MIB}).problems())


def test_even_split() -> None:
    assert even_split(2 * G, [0, 1, 2]) == {0: 682 * MIB, 1: 682 * MIB, 2: 2 * G - 1364 * MIB}
    with pytest.raises(NumaError):
        even_split(G, [])


def test_split_nodes_keeps_memdevs_and_names_new_ones() -> None:
    nodes = split_nodes([Node(0, "m0", G), Node(1, "m1", G), Node(2)], {0: 1536 * MIB, 1: 0, 2: 512 * MIB},
                        taken=["m2"])
    assert nodes == [Node(0, "m0", 1536 * MIB), Node(1), Node(2, "numatui-m2", 512 * MIB)]


def test_argv_with_split_resizes_drops_and_adds() -> None:
    out = argv_with_split([*ARGV, "-numa", "dist,src=0,dst=1,val=20"], {0: 1536 * MIB, 1: 0, 2: 512 * MIB})
    assert out[0] == "qemu-system-x86_64"
    cfg = parse_qemu_args(out[1:])  # strict: what QEMU checks while reading options
    assert cfg.nodes == [Node(0, "m0", 1536 * MIB), Node(1), Node(2, "m2", 512 * MIB)]
    assert "memory-backend-ram,id=m1,size=1G" not in out
    assert cfg.distances == [Distance(0, 1, 20)] and cfg.ram_size == 2 * G


def test_argv_with_split_keeps_backend_type_and_json_form() -> None:
    argv = ["-m", "2G", "-object", "memory-backend-file,id=h0,mem-path=/dev/hugepages,,x,share=on,size=1G",
            "-numa", "node,nodeid=0,memdev=h0",
            "-object", '{"qom-type":"memory-backend-ram","id":"m1","size":1073741824}',
            "-numa", "node,memdev=m1"]
    out = argv_with_split(argv, {0: 512 * MIB, 1: 1536 * MIB})
    assert out[3] == "memory-backend-file,id=h0,mem-path=/dev/hugepages,,x,share=on,size=512M"
    assert out[7] == '{"qom-type":"memory-backend-ram","id":"m1","size":1610612736}'
    assert out[9] == "node,nodeid=1,memdev=m1"
    assert parse_qemu_args(out).memdevs == {"h0": 512 * MIB, "m1": 1536 * MIB}


def test_memoryless_node_gets_memory() -> None:
    out = argv_with_split(["-m", "2G", "-object", "memory-backend-ram,id=m0,size=2G",
                           "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1"], {0: G, 1: G})
    cfg = parse_qemu_args(out)
    assert cfg.nodes == [Node(0, "m0", G), Node(1, "m1", G)]


# -- exports of nodes, memory and distances ------------------------------------------
def full_plan() -> Plan:
    return Plan(nodes=(Node(0, "m0", G), Node(1, "m1", G), Node(2, None, 512 * MIB)),
                distances=(*DistanceMatrix.of([0, 1, 2], [Distance(0, 1, 15)]).fill(), Distance(0, 1, 15)),
                cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 2, "socket-id": 1}))


def test_full_command_line_carries_nodes_memory_and_every_distance() -> None:
    argv = [*ARGV[:7], "-m", "2560M", *ARGV[7:]]
    out = full_command_line(argv, full_plan())
    text = " ".join(out)
    assert "-object memory-backend-ram,id=m2,size=512M -numa node,nodeid=2,memdev=m2" in text
    cfg = parse_qemu_args(out[1:])  # strict: QEMU would read it
    assert sorted(cfg.distances, key=lambda d: (d.src, d.dst)) == sorted(
        full_plan().distances, key=lambda d: (d.src, d.dst))
    assert [n.size for n in cfg.nodes] == [G, G, 512 * MIB]
    assert not DistanceMatrix.of([0, 1, 2], cfg.distances).problems()


def test_numa_text_and_json_round_trip_nodes_and_distances() -> None:
    from oracles import numa_text

    plan = full_plan()
    back = plan_from_numa_text(numa_text(plan))
    assert set(back.distances) == set(plan.distances)
    assert [(n.id, n.size) for n in back.nodes] == [(0, G), (1, G), (2, 512 * MIB)]
    assert Plan.from_json(plan.to_json()) == plan


def test_libvirt_cells_have_memory_and_complete_distances() -> None:
    root = ET.fromstring(libvirt_xml(q35(), full_plan()))
    cells = root.findall("numa/cell")
    assert [c.get("memory") for c in cells] == [str(G // 1024), str(G // 1024), str(512 * 1024)]
    table = {(c.get("id"), s.get("id")): s.get("value")
             for c in cells for s in c.findall("distances/sibling")}
    assert table[("0", "0")] == "10" and table[("0", "1")] == "15" and table[("1", "0")] == "15"
    assert table[("2", "1")] == "20" and len(table) == 9
