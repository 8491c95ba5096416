"""Binding guest memory to host nodes in the pure model: the plan's host
section, the argv's host-nodes/policy, rewriting them, libvirt's numatune and
cputune, the host panel text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from numatui.model.errors import NumaError
from numatui.model.host import HostNode, HostTopology
from numatui.model.host_panel import host_panel_lines
from numatui.model.libvirt import libvirt_xml
from numatui.model.memory_split import argv_with_bindings, argv_with_split
from numatui.model.plan import Node, Plan
from numatui.model.presets import merge_nodes
from numatui.model.qemu_args import export_lines, full_command_line, parse_qemu_args
from numatui.model.topology import Topology

GIB = 1 << 30


def topo() -> Topology:
    return Topology.from_hotpluggable([
        {"type": "qemu64-x86_64-cpu", "vcpus-count": 1,
         "props": {"socket-id": s, "core-id": 0, "thread-id": 0}}
        for s in (0, 1)])


def test_plan_host_section_round_trips() -> None:
    data = {"version": 1, "pinning": "node",
            "nodes": [{"id": 0, "memdev": "m0", "size": GIB, "host-nodes": [1, 0], "policy": "interleave"},
                      {"id": 1, "memdev": "m1", "size": GIB, "host-nodes": [1]}],
            "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]}
    plan = Plan.from_dict(data)
    assert plan.nodes[0].host_nodes == (0, 1) and plan.nodes[0].policy == "interleave"
    assert plan.nodes[1].policy == "bind"  # QEMU needs a policy with host-nodes: bind by default
    assert plan.pinning == "node" and plan.binding() == {1: 1}
    assert Plan.from_json(plan.to_json()) == plan
    assert "pinning" not in Plan().to_dict()


@pytest.mark.parametrize(("node", "says"), [
    ({"id": 0, "size": GIB, "host-nodes": []}, "non-empty list"),
    ({"id": 0, "size": GIB, "host-nodes": [0], "policy": "default"}, "bind, preferred, interleave"),
    ({"id": 0, "policy": "bind"}, "needs \"host-nodes\""),
    ({"id": 0, "host-nodes": [0]}, "it has none"),
    ({"id": 0, "size": GIB, "host-nodes": ["0"]}, "whole number"),
])
def test_bad_host_sections_are_one_line(node: dict[str, object], says: str) -> None:
    with pytest.raises(NumaError, match=says):
        Plan.from_dict({"version": 1, "nodes": [node]})
    with pytest.raises(NumaError, match="pinning must be one of node, cpu"):
        Plan.from_dict({"version": 1, "pinning": "socket"})


def test_argv_bindings_are_read_in_both_forms() -> None:
    cfg = parse_qemu_args([
        "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0-1,host-nodes=3,policy=interleave",
        "-object", '{"qom-type":"memory-backend-ram","id":"m1","size":1073741824,"host-nodes":[2],'
                   '"policy":"preferred"}',
        "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1"], strict=False)
    assert [(n.host_nodes, n.policy) for n in cfg.nodes] == [((0, 1, 3), "interleave"), ((2,), "preferred")]


def test_argv_with_bindings_rewrites_only_the_named_backends() -> None:
    argv = ["qemu", "-object", "memory-backend-ram,id=m0,size=1G,policy=bind,host-nodes=1",
            "-object", '{"qom-type":"memory-backend-ram","id":"m1","size":1024}', "-m", "2G"]
    out = argv_with_bindings(argv, {"m0": ((0, 2), "preferred"), "m1": ((1,), None)})
    assert out[2] == "memory-backend-ram,id=m0,size=1G,host-nodes=0,host-nodes=2,policy=preferred"
    assert '"host-nodes":[1]' in out[4] and '"policy":"bind"' in out[4]
    assert argv_with_bindings(out, {"m0": ((), None)})[2] == "memory-backend-ram,id=m0,size=1G"
    with pytest.raises(NumaError, match="'m9' is not an -object"):
        argv_with_bindings(argv, {"m9": ((0,), "bind")})


def test_a_new_split_keeps_a_binding() -> None:
    argv = ["-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind",
            "-numa", "node,nodeid=0,memdev=m0"]
    out = argv_with_split(argv, {0: 2 * GIB})
    assert "host-nodes=0" in out[1] and "size=2G" in out[1]


def test_exports_carry_the_binding() -> None:
    node = Node(2, memdev="m2", size=GIB, created="live", memdev_created="live").with_binding([0], "bind")
    assert export_lines(Plan(nodes=(node,)))[0] == \
        "-object memory-backend-ram,id=m2,size=1G,host-nodes=0,policy=bind"
    argv = ["qemu", "-m", "1G", "-object", "memory-backend-ram,id=m0,size=1G",
            "-numa", "node,nodeid=0,memdev=m0"]
    rebound = Plan(nodes=(Node(0, memdev="m0", size=GIB).with_binding([1], "preferred"),))
    want = "memory-backend-ram,id=m0,size=1G,host-nodes=1,policy=preferred"
    assert want in full_command_line(argv, rebound)
    assert "memory-backend-ram,id=m0,size=1G" in full_command_line(argv, Plan(nodes=(Node(0, "m0", GIB),)))


def test_libvirt_numatune_and_cputune_follow_cpu() -> None:
    nodes = (Node(0, "m0", GIB).with_binding([0], "bind"), Node(1, "m1", GIB).with_binding([1], "interleave"))
    plan = Plan(nodes=nodes, cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}),
                pinning="node")
    xml = libvirt_xml(topo(), plan, host_cpus={0: (0, 1), 1: (2, 3)})
    root = ET.fromstring(f"<domain>{xml}</domain>")
    assert [e.tag for e in root] == ["cpu", "numatune", "cputune"]
    tune = root.find("numatune")
    assert tune is not None
    assert tune.find("memory").attrib == {"mode": "strict", "nodeset": "0-1"}  # type: ignore[union-attr]
    assert [m.attrib for m in tune.findall("memnode")] == [
        {"cellid": "0", "mode": "strict", "nodeset": "0"},
        {"cellid": "1", "mode": "interleave", "nodeset": "1"}]
    assert [(p.get("vcpu"), p.get("cpuset")) for p in root.iter("vcpupin")] == [("0", "0-1"), ("1", "2-3")]
    unbound = libvirt_xml(topo(), Plan(nodes=(Node(0, "m0", GIB),), cpus=({"node-id": 0},)))
    assert "numatune" not in unbound and "cputune" not in unbound


def test_merge_nodes_keeps_qemus_memory_and_takes_the_binding() -> None:
    have = [Node(0, "m0", GIB), Node(1)]
    wanted = [Node(0, "m0", 2 * GIB).with_binding([0], "bind"), Node(1, "m1", GIB).with_binding([1], "bind"),
              Node(2, "m0", GIB).with_binding([1], "bind")]
    merged = merge_nodes(have, wanted)
    assert merged[0] == Node(0, "m0", GIB).with_binding([0], "bind")
    assert merged[1] == Node(1)  # memoryless in QEMU: nothing to bind
    assert merged[2].memdev is None and merged[2].size == GIB  # m0 is taken: a fresh id


def test_host_panel_lines() -> None:
    host = HostTopology(nodes=(HostNode(0, (0, 1), 4 * GIB, GIB), HostNode(1, (), GIB, GIB)),
                        distances=((10, 20), (20, 10)), cpus=())
    lines = host_panel_lines(host, [Node(0, "m0", GIB).with_binding([0], "bind"), Node(1)],
                             pinning="node", pinned={0: (0, 1)}, unpinned={1: "unbound"})
    assert "node 0: cpus 0-1" in lines and "· guest 0 (bind)" in lines
    assert "unbound guest node(s): 1" in lines and "· 1 vCPU(s) pinned" in lines
    assert host_panel_lines(None, [], pinning=None, pinned={}, unpinned={}, error="no /sys")[1] == \
        "cannot read the host: no /sys"
