"""The host reader against every recorded tree in shared/hosts, with hwloc's
own reading (``NAME.lstopo.txt``) as the expected answer.  Pure: no QEMU."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from host_trees import HOSTS, Trees, hwloc_size, names, parse_lstopo, restricted, trees_fixture  # noqa: F401

from numatui.model.host import HostTopology
from numatui.session.host_reader import read_host

pytestmark = pytest.mark.pure

ALL = names()
#: Trees whose physical_package_id is shared by several of hwloc's packages.
PACKAGES_BY_SIBLINGS = {"16ia64-8n2s", "20s390-2g6s4c"}
#: Where hwloc corrects the kernel and numatui reports what the kernel says.
HWLOC_CORRECTS = {
    "64amd64-4s2n4ca2co": "packages and cores: AMD family 15h compute units, hwloc's Bulldozer quirk "
                          "regroups the kernel's thread siblings and packages",
    "40intel64-4n10c+pci-conflicts": "packages: hwloc merges two packages whose PCI locality conflicts",
}
#: hwloc ignores the kernel's NUMA nodes as inconsistent and shows one node.
NUMA_IGNORED_BY_HWLOC = {"8em64t-2s2ca2c-buggynuma"}
WITH_LSTOPO = [n for n in ALL if (HOSTS / f"{n}.lstopo.txt").exists()]


_READ: dict[str, HostTopology] = {}


def host(trees: Trees, name: str) -> HostTopology:
    if name not in _READ:
        _READ[name] = read_host(trees.root(name))
    return _READ[name]


def test_the_recorded_trees_are_there() -> None:
    assert len(ALL) >= 30, HOSTS
    assert len(WITH_LSTOPO) >= 25


@pytest.mark.parametrize("name", ALL)
def test_every_tree_reads(trees: Trees, name: str) -> None:
    h = host(trees, name)
    assert h.nodes and h.cpus
    assert "whole machine" in h.note
    online = {c.cpu for c in h.cpus}
    for n in h.nodes:
        assert set(n.cpus) <= online
        assert n.free <= n.memory or n.memory == 0
    ids = h.node_ids()
    assert ids == sorted(ids)
    if h.distances:
        assert len(h.distances) == len(ids) and all(len(r) == len(ids) for r in h.distances)
    d = h.to_dict()
    assert [n["id"] for n in d["nodes"]] == ids


def _blocks(host_: HostTopology, key: str) -> dict[object, set[int]]:
    """CPUs grouped by package id, by thread siblings (a core), or by (package, core id)."""
    out: dict[object, set[int]] = defaultdict(set)
    for c in host_.cpus:
        if key == "package":
            if c.package is None:  # hwloc makes no package where the kernel gives no id
                continue
            ident: object = c.package
        elif c.core is None and len(c.siblings) < 2:  # nor a core, unless siblings say so
            continue
        else:
            ident = tuple(sorted(c.siblings))
        out[ident].add(c.cpu)
    return out


@pytest.mark.parametrize("name", WITH_LSTOPO)
def test_agrees_with_hwloc(trees: Trees, name: str) -> None:
    ours = host(trees, name)
    hw = parse_lstopo((HOSTS / f"{name}.lstopo.txt").read_text())
    online = {c.cpu for c in ours.cpus}
    cut = restricted(name, hw)
    # PUs: the whole machine's online CPUs; under a cgroup/cpuset hwloc shows the allowed part
    if cut:
        assert hw.pus <= online, "hwloc should show only the cpuset's part of this tree"
    else:
        assert hw.pus == online
    # NUMA nodes: P#, local= memory, PUs
    ours_nodes = {n.id: n for n in ours.nodes}
    if name in NUMA_IGNORED_BY_HWLOC:
        assert list(hw.nodes) == [0] and len(ours_nodes) > 1
        return
    # hwloc leaves memoryless nodes out (their CPUs join a node near them); numatui
    # keeps them: a guest node bound there has no memory to get
    with_memory = {i for i, n in ours_nodes.items() if n.memory}
    if len(ours_nodes) == 1:  # hwloc always shows the one node, with or without a meminfo
        with_memory = set(ours_nodes)
    cpus_without_memory = any(n.cpus and not n.memory for n in ours.nodes)
    if cut:
        assert set(hw.nodes) <= with_memory
    else:
        assert set(hw.nodes) == with_memory
    for pid, (local, pus) in hw.nodes.items():
        n = ours_nodes[pid]
        if local is not None:  # hwloc prints no local= when the tree gives no meminfo
            assert hwloc_size(n.memory) == local, f"node {pid}"
        mine = set(n.cpus) & hw.pus if cut else set(n.cpus)
        if cpus_without_memory:
            assert mine <= pus, f"node {pid}"
        elif n.cpus:  # hwloc gives a CPU-less node its parent's locality; Linux gives it no CPU
            assert pus == mine, f"node {pid}"
    # packages and cores, as PU sets (with their P# where hwloc prints one).  hwloc
    # groups a package by core_siblings, so where the kernel gives several packages
    # one physical_package_id (ia64's 512, s390's books) hwloc's packages are finer.
    for level, hw_blocks in (("package", hw.packages), ("core", hw.cores)):
        if name in HWLOC_CORRECTS:
            continue
        mine = _blocks(ours, level)
        expected = {frozenset(b & hw.pus) if cut else frozenset(b) for b in mine.values()} - {frozenset()}
        got = {b for _, b in hw_blocks} - {frozenset()}  # a cpuset can leave a package only memory
        if level == "package" and name in PACKAGES_BY_SIBLINGS:
            if not expected:  # the kernel says -1 (no package id): numatui reports none
                assert all(c.package is None for c in ours.cpus)
            else:
                assert all(any(b <= e for e in expected) for b in got), level
                assert len(got) > len(expected)
        else:
            assert got == expected, level
    by_cpu = {c.cpu: c for c in ours.cpus}
    for pid, pus in hw.packages:
        if pid is not None and pus and name not in HWLOC_CORRECTS | dict.fromkeys(PACKAGES_BY_SIBLINGS):
            assert {by_cpu[p].package for p in pus} == {pid}
    for pid, pus in hw.cores:
        if pid is not None and name not in HWLOC_CORRECTS:
            assert {by_cpu[p].core for p in pus} == {pid}


def test_the_cgroup_trees_are_compared_on_what_both_describe() -> None:
    cut = [n for n in WITH_LSTOPO
           if restricted(n, parse_lstopo((HOSTS / f"{n}.lstopo.txt").read_text()))]
    assert {"16amd64-8n2c-cpusets", "4fake-4gr1nu1pu", "nvidiagpunumanodes"} <= set(cut)


def test_sparse_node_ids(trees: Trees) -> None:
    h = host(trees, "nvidiagpunumanodes")
    assert h.node_ids() == [0, 8, 250, 251, 252, 253, 254, 255]
    assert h.distance(0, 0) == 10 and h.distance(0, 8) == h.distances[0][1]


def test_no_node_directory_is_one_node(trees: Trees) -> None:
    h = host(trees, "2arm-2c")
    assert [n.id for n in h.nodes] == [0]
    assert h.nodes[0].cpus == (0, 1)
    assert h.distances == ((10,),)
    assert "one node 0 holding every CPU" in h.note


def test_offline_cpus_are_left_out(trees: Trees, tmp_path: Path) -> None:
    h = host(trees, "16em64t-4s2c2t-offlines")
    online = [c.cpu for c in h.cpus]
    assert len(online) < 16
    assert set(h.nodes[0].cpus) == set(online)
