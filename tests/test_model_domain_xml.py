"""numatui.model.domain_xml: reading a domain as data, and splicing numatui's
elements into its text with everything else left byte for byte.

The libvirt/QEMU oracles for the written XML are in test_domain.py; here the
text itself is checked: only the owned ranges change, whatever the shape of
the user's file (no <cpu>, <cpu/> self-closed, a <numa> to replace, tunes to
insert or merge)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from numatui.model.domain_xml import (
    Owned,
    read_domain,
    scan,
    scratch_args,
    splice,
    split_native,
)
from numatui.model.errors import NumaError
from numatui.model.libvirt import LibvirtUnsupported, libvirt_xml
from numatui.model.plan import Node, Plan
from numatui.model.topology import Topology

HEAD = """<?xml version='1.0'?>
<!-- <cpu> in a comment is not an element -->
<domain type='qemu'>
    <name>t</name>
    <vcpu placement="static">4</vcpu>
"""
TAIL = """    <devices>
        <emulator>/usr/bin/qemu-system-x86_64</emulator>
    </devices>
</domain>
"""


def _numa(cpus: str = "0-3") -> ET.Element:
    numa = ET.Element("numa")
    ET.SubElement(numa, "cell", {"id": "0", "cpus": cpus, "memory": "1024", "unit": "KiB"})
    return numa


def _pin() -> ET.Element:
    tune = ET.Element("cputune")
    ET.SubElement(tune, "vcpupin", {"vcpu": "0", "cpuset": "1"})
    return tune


def test_no_cpu_element_gets_one_before_devices_in_the_files_indent() -> None:
    text = HEAD + TAIL
    out = splice(read_domain(text, "t"), Owned(numa=_numa()))
    assert out == HEAD + (
        "    <cpu>\n"
        "        <numa>\n"
        "            <cell id=\"0\" cpus=\"0-3\" memory=\"1024\" unit=\"KiB\" />\n"
        "        </numa>\n"
        "    </cpu>\n") + TAIL


def test_a_self_closed_cpu_is_opened_and_its_attributes_kept() -> None:
    text = HEAD + "    <cpu mode='host-model' check='partial'/>\n" + TAIL
    out = splice(read_domain(text, "t"), Owned(numa=_numa()))
    assert "    <cpu mode='host-model' check='partial'>\n        <numa>\n" in out
    assert out.startswith(HEAD) and out.endswith("    </cpu>\n" + TAIL)
    ET.fromstring(out)


def test_an_existing_numa_is_replaced_and_nothing_else_moves() -> None:
    before = ("    <cpu mode=\"custom\">\n        <model>qemu64</model>\n        <numa>\n"
              "            <cell id='0' cpus='0-1' memory='1024' unit='KiB' memAccess='shared'/>\n"
              "        </numa>\n        <!-- keep me -->\n    </cpu>\n")
    text = HEAD + before + TAIL
    out = splice(read_domain(text, "t"), Owned(numa=_numa("0-3")))
    assert out.startswith(HEAD + "    <cpu mode=\"custom\">\n        <model>qemu64</model>\n        <numa>")
    assert out.endswith("</numa>\n        <!-- keep me -->\n    </cpu>\n" + TAIL)
    cell = ET.fromstring(out).find("cpu/numa/cell")
    assert cell is not None and cell.get("cpus") == "0-3" and cell.get("memAccess") == "shared"


def test_cputune_keeps_what_is_not_vcpupin_and_numatune_is_inserted_after_cpu() -> None:
    text = HEAD + "    <cpu/>\n    <cputune>\n        <shares>2048</shares>\n" \
        "        <vcpupin vcpu='3' cpuset='0'/>\n    </cputune>\n" + TAIL
    tune = ET.Element("numatune")
    ET.SubElement(tune, "memnode", {"cellid": "0", "mode": "strict", "nodeset": "0"})
    out = splice(read_domain(text, "t"), Owned(numa=_numa(), numatune=tune, cputune=_pin()))
    root = ET.fromstring(out)
    cputune = root.find("cputune")
    assert cputune is not None and [c.tag for c in cputune] == ["shares", "vcpupin"]
    assert [(p.get("vcpu"), p.get("cpuset")) for p in cputune] [1:] == [("0", "1")]
    assert [c.tag for c in root] == ["name", "vcpu", "cpu", "numatune", "cputune", "devices"]
    assert out.startswith(HEAD) and out.endswith(TAIL)


def test_scan_skips_comments_cdata_and_quoted_angle_brackets() -> None:
    text = "<domain a='x>y'><!-- <cpu> --><name><![CDATA[<cpu>]]></name><cpu/></domain>"
    assert [s.path for s in scan(text)] == [("domain",), ("domain", "name"), ("domain", "cpu")]


@pytest.mark.parametrize(("text", "words"), [
    ("<network/>", "not a libvirt domain"),
    ("<domain><name>x</name>", "not well-formed"),
    ("<domain/>", "has no <name>"),
    ("<!DOCTYPE d [<!ENTITY a 'b'>]><domain><name>&a;</name></domain>", "DOCTYPE or ENTITY"),
    ("<domain><name>x</name>" + " " * (1 << 20) + "</domain>", "more than a domain"),
])
def test_what_is_not_a_domain_is_one_line(text: str, words: str) -> None:
    with pytest.raises(NumaError, match=words) as info:
        read_domain(text, "f.xml")
    assert "\n" not in str(info.value) and str(info.value).startswith("f.xml: ")


def test_scratch_args_keep_the_machine_and_numa_and_take_cpus_out() -> None:
    native = split_native(
        "LC_ALL=C HOME=/x /usr/bin/qemu-system-x86_64 -name guest=t -S \\\n"
        "-machine pc-q35-7.2,usb=off,dump-guest-core=off,hmat=on,accel=kvm -accel kvm -cpu host,pmu=on \\\n"
        "-m 2048 \\\n"
        "-smp 4,sockets=2,cores=2,threads=1 \\\n"
        "-object '{\"qom-type\":\"memory-backend-file\",\"id\":\"ram-node0\",\"mem-path\":\"/h\","
        "\"size\":1073741824,\"host-nodes\":[1],\"policy\":\"bind\"}' \\\n"
        "-numa node,nodeid=0,cpus=0-1,cpus=3,memdev=ram-node0 \\\n"
        "-object '{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"file\":\"/k\"}' \\\n"
        "-numa dist,src=0,dst=0,val=10 -device '{\"driver\":\"virtio-balloon-pci\"}'\n")
    scratch = scratch_args(native)
    assert scratch.args == [
        "-object", "memory-backend-ram,id=ram-node0,size=1073741824", "-accel", "tcg",
        "-machine", "pc-q35-7.2,hmat=on", "-cpu", "max", "-m", "2048",
        "-smp", "4,sockets=2,cores=2,threads=1", "-numa", "node,nodeid=0,memdev=ram-node0",
        "-numa", "dist,src=0,dst=0,val=10"]
    assert scratch.cell_cpus == {0: (0, 1, 3)}


# -- per-cell backends (plan nodes' "backend"): what a libvirt cell can say ------------------
def _cells(*backends: dict[str, Any] | None) -> str:
    topo = Topology.from_smp({"cpus": 2, "maxcpus": 2, "sockets": 2}, ("socket-id",))
    nodes = tuple(Node(id=i, memdev=f"m{i}", size=1 << 30, backend=tuple((b or {}).items()))
                  for i, b in enumerate(backends))
    plan = Plan(nodes=nodes, cpus=tuple({"node-id": i, "socket-id": i} for i in range(len(nodes))))
    return libvirt_xml(topo, plan)


def test_a_shared_backend_is_mem_access_and_other_backends_are_refused() -> None:
    cells = ET.fromstring("<d>" + _cells(None, {"qom-type": "memory-backend-ram", "share": True})
                          + "</d>").findall("cpu/numa/cell")
    assert [c.get("memAccess") for c in cells] == [None, "shared"]
    memfd = {"qom-type": "memory-backend-memfd", "share": True}
    both = ET.fromstring("<d>" + _cells(memfd, memfd) + "</d>")
    assert both.find("memoryBacking/source").get("type") == "memfd"  # the whole domain's
    for backend, said in ((memfd, "one backend type for every cell"),
                          ({"qom-type": "memory-backend-file", "mem-path": "/dev/hugepages"},
                           "memory-backend-file")):
        with pytest.raises(LibvirtUnsupported, match=said) as info:
            _cells(None, backend)
        assert "\n" not in str(info.value)


def test_topology_and_vcpu_are_replaced_in_place_when_given() -> None:
    text = HEAD + "    <cpu mode='custom'>\n        <topology sockets='2' cores='2' threads='1'/>\n" \
        "    </cpu>\n" + TAIL
    topo = ET.Element("topology", {"sockets": "2", "cores": "4", "threads": "1"})
    vcpu = ET.Element("vcpu", {"placement": "static", "current": "4"})
    vcpu.text = "8"
    out = splice(read_domain(text, "t"), Owned(numa=None, topology=topo, vcpu=vcpu))
    assert out == HEAD.replace('<vcpu placement="static">4</vcpu>',
                               '<vcpu placement="static" current="4">8</vcpu>') + (
        "    <cpu mode='custom'>\n        <topology sockets=\"2\" cores=\"4\" threads=\"1\" />\n"
        "    </cpu>\n") + TAIL
