"""OpenStack flavors, pure: the export (numatui.model.openstack), the reader and
nova's cell rules (numatui.model.flavor), each checked against nova's own code
(tests/nova_oracle.py: skipped without .cache/nova-venv)."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

import pytest
from conftest import load_data
from hypothesis import given, settings
from hypothesis import strategies as st
from nova_oracle import Nova, cells_of, nova_fixture  # noqa: F401  (the fixture)
from test_model_presets import x86

from numatui.model.errors import NumaError
from numatui.model.flavor import Flavor, FlavorError, FlavorPlan, nova_cells, read_flavor
from numatui.model.hmat import HmatLb
from numatui.model.openstack import FlavorUnsupported, flavor_command, flavor_specs
from numatui.model.plan import Distance, Node, Plan
from numatui.model.qemu_args import load_plan
from numatui.model.topology import SlotKey, Topology

M = 1 << 20
G = 1 << 30


def mixed() -> tuple[Topology, Plan]:
    """2 sockets x 2 cores x 2 threads; CPU 0 on node 1, node 0 scattered."""
    topo = x86(2, 2, 2)
    plan = Plan(nodes=(Node(0, "m0", G), Node(1, "m1", G)),
                cpus=({"node-id": 1, "socket-id": 0, "core-id": 0},
                      {"node-id": 0, "socket-id": 0, "core-id": 1},
                      {"node-id": 0, "socket-id": 1, "core-id": 0, "thread-id": 0},
                      {"node-id": 1, "socket-id": 1, "core-id": 0, "thread-id": 1},
                      {"node-id": 1, "socket-id": 1, "core-id": 1}))
    return topo, plan


def specs_of(text: str) -> dict[str, str]:
    """The --property pairs of an exported command, read with shlex (not numatui's reader)."""
    words = shlex.split(text, comments=True)
    assert words[:3] == ["openstack", "flavor", "set"]
    pairs = [words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--property"]
    return {k: v for k, v in pairs}


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def by_cell(topo: Topology, plan: Plan) -> list[tuple[int, list[int], int]]:
    """numatui's nodes as nova cells: (position, vCPU indexes, MiB), by the index rule."""
    mapping = plan.resolve(topo)
    indexes = topo.cpu_indexes()
    ids = sorted({n.id for n in plan.nodes} | set(mapping.values()))
    out = []
    for cell, node_id in enumerate(ids):
        cpus = sorted(i for k, n in mapping.items() if n == node_id for i in indexes[k])
        size = plan.node(node_id).size  # type: ignore[union-attr]
        out.append((cell, cpus, (size or 0) // M))
    return out


def test_mixed_mapping_is_what_nova_derives(nova: Nova) -> None:
    topo, plan = mixed()
    text = flavor_command(topo, plan)
    assert text.splitlines()[1:] == [
        "openstack flavor set FLAVOR \\", "  --property hw:numa_nodes=2 \\",
        "  --property hw:numa_cpus.0=2-4 \\", "  --property hw:numa_mem.0=1024 \\",
        "  --property hw:numa_cpus.1=0-1,5-7 \\", "  --property hw:numa_mem.1=1024 \\",
        "  --property hw:cpu_sockets=2 \\", "  --property hw:cpu_cores=2 \\",
        "  --property hw:cpu_threads=2"]
    answer = nova.check(specs_of(text), 8, 2048)
    assert cells_of(answer) == by_cell(topo, plan) == [(0, [2, 3, 4], 1024), (1, [0, 1, 5, 6, 7], 1024)]
    assert answer["topology"] == [2, 2, 2]
    assert comments(text) == ["# nova checks the cells against the flavor's own vCPUs and RAM: "
                              "openstack flavor create FLAVOR --vcpus 8 --ram 2048"]


def test_flavor_name_is_shell_quoted() -> None:
    topo, plan = mixed()
    text = flavor_command(topo, plan, name="m1 numa's\x1b")
    assert "openstack flavor set $'m1 numa\\'s\\x1b' \\" in text
    said = subprocess.run(["bash", "-c", "printf %s " + text.splitlines()[1][21:-2]],
                          capture_output=True, check=True).stdout
    assert said == b"m1 numa's\x1b"  # what bash makes of the quoted name


@pytest.mark.parametrize(("nodes", "cpus", "why"), [
    ((Node(0, "m0", G), Node(1)), "all", "node 1 has no memory: nova needs at least 1 MiB"),
    ((Node(0, "m0", G), Node(1, "m1", None)), "all", "node 1 has memory of unknown size"),
    ((Node(0, "m0", G), Node(1, "m1", G + 1)), "all", "not a whole number of MiB"),
    ((Node(0, "m0", G), Node(1, "m1", G), Node(2, "m2", G)), "all", "node 2: it has no vCPUs"),
    ((Node(0, "m0", G), Node(1, "m1", G)), "socket 0", "vCPUs 4-7 are on no node"),
])
def test_refused_in_one_line(nodes: tuple[Node, ...], cpus: str, why: str) -> None:
    topo = x86(2, 2, 2)
    opts: tuple[Any, ...] = ({"node-id": 0, "socket-id": 0},)
    if cpus == "all":
        opts += ({"node-id": 1, "socket-id": 1},)
    with pytest.raises(FlavorUnsupported, match=why) as exc:
        flavor_command(topo, Plan(nodes=nodes, cpus=opts))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(("specs", "error"), [
    ({"hw:numa_cpus.1": "4-7", "hw:numa_mem.1": "0"}, "ValidationError"),   # a memoryless cell
    ({"hw:numa_cpus.1": "", "hw:numa_mem.1": "1024"}, "ValidationError"),   # a cell without vCPUs
])
def test_nova_refuses_what_numatui_refuses(nova: Nova, specs: dict[str, str], error: str) -> None:
    base = {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "1024"}
    assert nova.check(base | specs, 8, 2048).get("error", "").startswith(error)


def test_what_the_layout_survives_without_is_a_comment(nova: Nova) -> None:
    topo = x86(2, 2, 2, dies=2)  # 16 slots; -smp 8 of them present at boot
    smp = {"cpus": 8, "maxcpus": 16, "sockets": 2, "dies": 2, "cores": 2, "threads": 2}
    plan = Plan(nodes=(Node(0, "m0", G, host_nodes=(0,), policy="bind"), Node(2, "m2", G)),
                distances=(Distance(0, 2, 31),),
                cpus=({"node-id": 2, "socket-id": 0, "die-id": 0},
                      {"node-id": 0, "socket-id": 0, "die-id": 1},
                      {"node-id": 2, "socket-id": 1}),
                pinning="node", hmat_lb=(HmatLb(0, 2, "memory", "access-latency", 10),))
    text = flavor_command(topo, plan, boot_cpus=8, smp=smp)
    said = comments(text)
    assert said[1:] == [
        "# nova numbers cells 0..1: node 2 is cell 1",
        "# nova has only sockets, cores and threads: the guest gets 2 sockets x 2 cores x 2 threads, "
        "where QEMU has 2 sockets x 2 dies x 2 cores x 2 threads",
        "# left out: the distances (a flavor has no key for them: the guest sees 10 local, 20 remote)",
        "# left out: HMAT (initiators, hmat-lb, hmat-cache): a flavor has no key for them",
        "# left out: the host binding of node(s) 0: nova places each cell on a host node of the compute "
        "host it picks",
        "# left out: vCPU pinning (policy node): nova pins per compute host, and only with "
        "hw:cpu_policy=dedicated",
        "# left out: the 8 hot-pluggable slot(s) beyond -smp cpus=8 (8 of them on a node): nova has no "
        "CPU hot-plug"]
    specs = specs_of(text)
    answer = nova.check(specs, 8, 2048)  # the present vCPUs 0-7: die 0 of socket 0 on node 2, die 1 on 0
    assert cells_of(answer) == [(0, [4, 5, 6, 7], 1024), (1, [0, 1, 2, 3], 1024)]
    assert answer["topology"] == [2, 2, 2]
    back = read_flavor(text)
    assert back is not None and back.spec == specs


def test_a_vm_without_nodes_is_only_its_topology(nova: Nova) -> None:
    text = flavor_command(x86(1, 4, 2), Plan(), ram_size=2 * G, name="small")
    assert specs_of(text) == {"hw:cpu_sockets": "1", "hw:cpu_cores": "4", "hw:cpu_threads": "2"}
    assert "--vcpus 8 --ram 2048" in comments(text)[0]
    assert nova.check(specs_of(text), 8, 2048) == {"cells": None, "topology": [1, 4, 2]}


def test_pseries_core_slots_keep_their_threads(nova: Nova) -> None:
    pseries = load_data("pseries.json")
    topo = Topology.from_hotpluggable(pseries["query-hotpluggable-cpus"])
    plan = Plan(nodes=(Node(0, "m0", G // 2), Node(1, "m1", G // 2)),
                cpus=({"node-id": 1, "core-id": 0}, {"node-id": 0, "core-id": 2},
                      {"node-id": 1, "core-id": 4}, {"node-id": 0, "core-id": 6}))
    f = flavor_specs(topo, plan, smp=pseries.get("smp"))
    answer = nova.check(dict(f.specs), f.vcpus, 1024)
    assert cells_of(answer) == [(0, [2, 3, 6, 7], 512), (1, [0, 1, 4, 5], 512)]


# -- reading -------------------------------------------------------------------------------
def laid(text: str, topo: Topology, **machine: Any) -> dict[SlotKey, int | None]:
    plan = load_plan(text)
    assert isinstance(plan, FlavorPlan)
    out = plan.laid_out(topo, **machine)
    return {k: v for k, v in out.resolve(topo).items()}


def test_the_exported_line_and_flavor_show_read_back_the_same() -> None:
    topo, plan = mixed()
    want = plan.resolve(topo)
    text = flavor_command(topo, plan)
    assert laid(text, topo, ram_size=2 * G) == want
    specs = specs_of(text)
    show = {"name": "FLAVOR", "vcpus": 8, "ram": 2048, "disk": 1, "id": "x", "properties": specs}
    assert laid(json.dumps(show, indent=2), topo) == want
    older = ", ".join(f"{k}='{v}'" for k, v in sorted(specs.items()))  # osc_lib's format_dict
    assert laid(json.dumps(show | {"properties": older}), topo) == want
    laid_out = load_plan(text).laid_out(topo, ram_size=2 * G)  # type: ignore[attr-defined]
    assert [(n.id, n.size) for n in laid_out.nodes] == [(0, G), (1, G)]


def test_machine_differences_are_refused() -> None:
    topo, plan = mixed()
    text = flavor_command(topo, plan)
    with pytest.raises(FlavorError, match="the flavor has 2048 MiB of RAM, this QEMU 4096 MiB"):
        laid(json.dumps({"vcpus": 8, "ram": 2048, "properties": specs_of(text)}), topo, ram_size=4 * G)
    with pytest.raises(FlavorError, match=r"hw:cpu_threads=2 is not this QEMU's CPU topology \(1 sockets "
                       r"x 4 cores x 2 threads of its 8 vCPUs\): start QEMU with -smp "
                       r"8,sockets=2,cores=2,threads=2"):
        laid(text, x86(1, 4, 2), ram_size=2 * G)
    with pytest.raises(FlavorError, match="QEMU's node 0 has 1536 MiB, the flavor's cell 0 1024 MiB"):
        laid(text, topo, ram_size=2 * G, nodes=[Node(0, "m0", 3 * G // 2), Node(1, "m1", G // 2)])
    with pytest.raises(FlavorError, match="QEMU has node 2, but the flavor has 2 cell"):
        laid(text, topo, ram_size=2 * G, nodes=[Node(0), Node(1), Node(2)])
    with pytest.raises(FlavorError, match="the flavor has 8 vCPUs, this QEMU 4"):
        laid(json.dumps({"vcpus": 8, "ram": 2048, "properties": specs_of(text)}), topo, boot_cpus=4)


def test_only_numa_nodes_splits_evenly_in_order(nova: Nova) -> None:
    topo = x86(2, 3, 2)  # 12 vCPUs
    text = "openstack flavor set big --property hw:numa_nodes=3\n"
    got = laid(text, topo, ram_size=3 * G)
    indexes = topo.cpu_indexes()
    assert {indexes[k].start: n for k, n in got.items()} == {i: i // 4 for i in range(12)}
    assert cells_of(nova.check({"hw:numa_nodes": "3"}, 12, 3072)) == [
        (c, list(range(4 * c, 4 * c + 4)), 1024) for c in range(3)]
    with pytest.raises(FlavorError, match="does not divide 12 vCPUs and 3072 MiB evenly"):
        laid("openstack flavor set big --property hw:numa_nodes=5", topo, ram_size=3 * G)


#: Flavors nova reads: our nova_cells must agree with nova's, accepted or refused.
NOVA_CASES: list[tuple[dict[str, str], int, int]] = [
    ({"hw:numa_nodes": "2"}, 8, 2048),
    ({"hw:numa_nodes": "3"}, 8, 2048),  # asymmetric
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-2,^1", "hw:numa_cpus.1": "1,3-7",
      "hw:numa_mem.0": "512", "hw:numa_mem.1": "1536"}, 8, 2048),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "1024"}, 8, 2048),  # incomplete
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-4", "hw:numa_cpus.1": "4-7",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"}, 8, 2048),  # duplicate
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_cpus.1": "4-8",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"}, 8, 2048),  # out of range
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-2", "hw:numa_cpus.1": "4-7",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"}, 8, 2048),  # unassigned
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3", "hw:numa_cpus.1": "4-7",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "512"}, 8, 2048),  # memory sum
    ({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-7", "hw:numa_mem.0": "2048",
      "hw:numa_cpus.2": "9"}, 8, 2048),  # beyond the first gap: ignored
    ({"hw:numa_nodes": "0"}, 8, 2048),
    ({"hw:numa_nodes": "two"}, 8, 2048),
    ({"hw:cpu_policy": "dedicated"}, 8, 2048),  # one cell, implied
    ({"hw:mem_page_size": "large"}, 8, 2048),
    ({"hw:cpu_sockets": "2"}, 8, 2048),  # no NUMA topology
]


@pytest.mark.parametrize(("specs", "vcpus", "ram"), NOVA_CASES)
def test_nova_cells_agree_with_nova(nova: Nova, specs: dict[str, str], vcpus: int, ram: int) -> None:
    answer = nova.check({k: v for k, v in specs.items() if not k.startswith("hw:numa_cpus.2")}, vcpus, ram)
    try:
        ours = nova_cells(Flavor(tuple(specs.items())), vcpus, ram)
    except FlavorError as exc:
        assert "error" in answer, f"numatui refused ({exc}), nova accepted"
        assert "\n" not in str(exc)
        return
    got = None if ours is None else [(c.id, sorted(c.cpus), c.memory) for c in ours]
    assert "error" not in answer, f"nova refused ({answer['error']}), numatui accepted"
    assert got == (None if answer["cells"] is None else cells_of(answer))


def test_unknown_and_left_out_keys_get_one_line_each() -> None:
    text = ("openstack flavor create f --vcpus 8 --ram 2048 --disk 1 --public\n"
            "openstack flavor set f --no-property --property hw:numa_nodes=2 "
            "--property=hw:numa_cpu.0=0-3 --property hw:cpu_policy=dedicated "
            "--property hw:watchdog_action=reset --property trait:HW_CPU_X86_AVX2=required "
            "--property hw:numa_cpus.3=1\n")
    f = read_flavor(text)
    assert f is not None and (f.vcpus, f.ram) == (8, 2048)
    assert f.notes() == [
        "hw:numa_cpu.0=0-3: not a key nova knows (its API refuses it); left out",
        "hw:cpu_policy=dedicated: host placement (pinning, huge pages), which nova decides per compute "
        "host; numatui lays out only the guest's cells (see numatui pin)",
        "hw:watchdog_action=reset: not about the guest's NUMA layout; left out",
        "trait:HW_CPU_X86_AVX2=required: not a hw: key; left out",
        "hw:numa_cpus.3=1: nova reads hw:numa_cpus.0, .1, ... up to the first gap and ignores this one; "
        "left out",
    ]
    hostile = read_flavor(json.dumps({"properties": {"hw:\x1b[2J": "x" * 500}}))
    assert hostile is not None
    [note] = hostile.notes()  # a file's text: shown, not obeyed, and bounded
    assert note.startswith("hw:\\x1b[2J=xxx") and "\x1b" not in note and len(note) < 250


@pytest.mark.parametrize(("text", "why"), [
    ("openstack flavor set f --property hw:numa_nodes=2 --property hw:numa_nodes=3",
     "hw:numa_nodes is given twice, as '2' and '3'"),
    ("openstack flavor set f --property hw:numa_nodes", "--property 'hw:numa_nodes' is not KEY=VALUE"),
    ("openstack flavor set f --property", "--property needs a value"),
    ("openstack flavor list", "'openstack flavor list' is not openstack flavor set or create"),
    ("openstack flavor set f --property 'hw:numa_nodes=2", "No closing quotation"),
    ('{"properties": "hw:numa_nodes=2"}', "is not KEY='VALUE', KEY='VALUE'"),
    ('{"properties": {"hw:numa_nodes": [2]}}', "must be a string, not [2]"),
    ('{"properties": {}, "vcpus": -1}', "flavor: vcpus must be a whole number >= 0, not -1"),
])
def test_bad_flavors_are_one_line(text: str, why: str) -> None:
    with pytest.raises(NumaError, match=why.replace("[", r"\[").replace("]", r"\]")) as exc:
        load_plan(text)
    assert "\n" not in str(exc.value)


def test_plans_that_are_not_flavors_read_as_before() -> None:
    assert not isinstance(load_plan('{"cpus": [{"node-id": 0, "socket-id": 0}]}'), FlavorPlan)
    assert not isinstance(load_plan("-numa cpu,node-id=0,socket-id=0\n"), FlavorPlan)
    assert read_flavor("# openstack flavor set f\n-numa cpu,node-id=0,socket-id=0") is None


@st.composite
def layouts(draw: st.DrawFn) -> tuple[Topology, Plan]:
    """A q35 shape and a whole mapping onto 1-4 nodes (each with a slot and whole MiB)."""
    topo = x86(draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)),
               dies=draw(st.integers(1, 2)))
    count = draw(st.integers(1, min(4, len(topo.slots))))
    ids = sorted(draw(st.sets(st.integers(0, 7), min_size=count, max_size=count)))
    nodes = [ids[i % count] for i in range(len(topo.slots))]  # every node gets a slot
    order = draw(st.permutations(nodes))
    cpus = tuple({"node-id": n, **dict(s.key)} for s, n in zip(topo.slots, order, strict=True))
    sizes = [draw(st.integers(1, 4)) * 256 * M for _ in ids]
    return topo, Plan(nodes=tuple(Node(i, f"m{i}", z) for i, z in zip(ids, sizes, strict=True)), cpus=cpus)


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_every_exported_flavor_is_nova_s_and_reads_back(nova: Nova, layout: tuple[Topology, Plan]) -> None:
    topo, plan = layout
    f = flavor_specs(topo, plan)
    ram = sum((n.size or 0) for n in plan.nodes) // M
    assert (f.vcpus, f.ram) == (len(topo.slots), ram)
    assert cells_of(nova.check(dict(f.specs), f.vcpus, ram)) == by_cell(topo, plan)
    back = load_plan(flavor_command(topo, plan))
    assert isinstance(back, FlavorPlan)
    cells = sorted({n.id for n in plan.nodes})
    renumbered = {k: cells.index(n) for k, n in plan.resolve(topo).items()}
    assert back.laid_out(topo, ram_size=ram * M).resolve(topo) == renumbered
