"""libvirt <cpu> XML, parsed back with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import load_data

from numatui.model.libvirt import LibvirtUnsupported, libvirt_xml, topology_counts
from numatui.model.plan import Distance, Node, Plan
from numatui.model.ranges import format_ranges
from numatui.model.topology import Topology

G = 1 << 30


def q35_dies() -> Topology:
    return Topology.from_hotpluggable(load_data("q35-dies-threads.json")["query-hotpluggable-cpus"])


def test_format_ranges() -> None:
    assert format_ranges([8, 0, 1, 2, 3, 9, 10, 11, 5]) == "0-3,5,8-11"
    assert format_ranges([]) == "" and format_ranges([4]) == "4"


def test_cells_topology_and_distances() -> None:
    topo = q35_dies()
    plan = Plan(
        nodes=(Node(0, "m0", G), Node(1, "m1", G // 2), Node(2, "m2", G // 2)),
        distances=(Distance(0, 1, 20), Distance(0, 2, 30), Distance(2, 1, 25)),
        cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1, "die-id": 0},
              {"node-id": 2, "socket-id": 1, "die-id": 1}),
    )
    root = ET.fromstring(libvirt_xml(topo, plan, load_data("q35-dies-threads.json")["smp"]))
    assert root.tag == "cpu"
    assert root.find("topology").attrib == {  # type: ignore[union-attr]
        "sockets": "2", "dies": "2", "cores": "2", "threads": "2"}  # clusters=1: not written
    cells = root.findall("numa/cell")
    assert [c.attrib for c in cells] == [
        {"id": "0", "cpus": "0-7", "memory": str(G // 1024), "unit": "KiB"},
        {"id": "1", "cpus": "8-11", "memory": str(G // 2048), "unit": "KiB"},
        {"id": "2", "cpus": "12-15", "memory": str(G // 2048), "unit": "KiB"},
    ]
    table = {(c.get("id"), s.get("id")): s.get("value")
             for c in cells for s in c.findall("distances/sibling")}
    assert table == {("0", "0"): "10", ("0", "1"): "20", ("0", "2"): "30",
                     ("1", "0"): "20", ("1", "1"): "10", ("1", "2"): "25",
                     ("2", "0"): "30", ("2", "1"): "25", ("2", "2"): "10"}


def test_cpu_indexes_follow_topology_order_not_the_reply_order() -> None:
    topo = q35_dies()
    last = topo.slots[-1].key
    plan = Plan(nodes=(Node(0, "m0", G),), cpus=({"node-id": 0, **dict(last)},))
    root = ET.fromstring(libvirt_xml(topo, plan))
    assert root.find("numa/cell").get("cpus") == "15"  # type: ignore[union-attr]
    with pytest.raises(LibvirtUnsupported, match="node 0 has memory of unknown size"):
        libvirt_xml(topo, Plan(cpus=({"node-id": 0, **dict(last)},)))


def test_pseries_threads_and_index_ranges() -> None:
    topo = Topology.from_hotpluggable(load_data("pseries.json")["query-hotpluggable-cpus"])
    assert topology_counts(topo) == {"sockets": 1, "dies": 1, "clusters": 1, "cores": 4, "threads": 2}
    plan = Plan(nodes=(Node(0, size=G), Node(1, size=G)), cpus=({"node-id": 0, "core-id": 0},
                                                                {"node-id": 1, "core-id": 4}))
    cells = ET.fromstring(libvirt_xml(topo, plan)).findall("numa/cell")
    assert [(c.get("cpus"), c.get("memory")) for c in cells] == [("0-1", str(G // 1024)),
                                                                 ("4-5", str(G // 1024))]
    memoryless = Plan(nodes=(Node(0, size=G), Node(1)), cpus=plan.cpus)
    with pytest.raises(LibvirtUnsupported, match="node 1 has no memory: libvirt cannot express"):
        libvirt_xml(topo, memoryless)


def test_modules_are_refused_not_miscounted() -> None:
    topo = Topology.from_smp({"cpus": 16, "maxcpus": 16, "sockets": 2, "dies": 1, "modules": 2,
                              "cores": 2, "threads": 2}, ("socket-id", "module-id", "core-id", "thread-id"))
    smp = {"cpus": 16, "maxcpus": 16, "sockets": 2, "dies": 1, "clusters": 1, "modules": 2,
           "cores": 2, "threads": 2}
    with pytest.raises(LibvirtUnsupported, match="libvirt cannot express modules=2"):
        libvirt_xml(topo, Plan(nodes=(Node(0, "m0", G),)), smp)


def test_counts_from_slots_match_smp() -> None:
    for name in ("q35-dies-threads.json", "q35-default.json"):
        data = load_data(name)
        topo = Topology.from_hotpluggable(data["query-hotpluggable-cpus"])
        smp = data["smp"]
        levels = ("sockets", "dies", "clusters", "cores", "threads")
        assert topology_counts(topo) == {k: smp[k] for k in levels}


def test_names_are_escaped_and_nothing_to_say_is_valid_xml() -> None:
    topo = Topology.from_smp({"cpus": 2, "maxcpus": 2, "sockets": 2}, ("socket-id",))
    root = ET.fromstring(libvirt_xml(topo, Plan()))
    assert root.find("numa") is None and root.find("topology") is not None
    # a node holding a memdev of unknown size: refused in one line, naming the node
    with pytest.raises(LibvirtUnsupported, match="node 0 has memory of unknown size") as exc:
        libvirt_xml(topo, Plan(nodes=(Node(0, "a<&>'\"b"),), cpus=({"node-id": 0},)))
    assert "\n" not in str(exc.value)
