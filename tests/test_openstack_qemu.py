"""``numatui export --format openstack`` and ``numatui apply`` of a flavor, on
real QEMU (7.2, and 10.0 with NUMATUI_TEST_QEMU=10.0), checked by nova's own
code (tests/nova_oracle.py) and by what QEMU reports.

Each layout is made on QEMU A; its flavor line goes to nova, whose cells must
be accepted; the same line applied to a fresh QEMU B (no ``-numa``: numatui
adds nova's cells as nodes) gives A's slot->node mapping, and after boot B's
``info numa`` (vCPU indexes and MB per node, QEMU's words) is nova's cells;
the JSON of ``openstack flavor show`` applied to a fresh QEMU C gives the
mapping too.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, Qemu, info_numa, numa_node_args
from nova_oracle import Nova, cells_of, nova_fixture  # noqa: F401  (the fixture)
from test_cli import fails, mapping, ok, run
from test_openstack_model import comments, specs_of

from numatui.model.flavor import FlavorPlan
from numatui.model.qemu_args import load_plan
from numatui.model.topology import Topology

Q240 = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "240,sockets=8,cores=15,threads=2",
        "-m", "2G"]
#: CPU 0 on node 1, node 0 scattered over both sockets.
MIXED = ("-numa cpu,node-id=1,socket-id=0,core-id=0\n-numa cpu,node-id=0,socket-id=0,core-id=1\n"
         "-numa cpu,node-id=0,socket-id=1,core-id=0,thread-id=0\n"
         "-numa cpu,node-id=1,socket-id=1,core-id=0,thread-id=1\n-numa cpu,node-id=1,socket-id=1,core-id=1\n")


@dataclass(frozen=True)
class Case:
    args: list[str]
    nodes: int
    layout: list[str]  # the apply arguments after the address ("PLAN": the MIXED file)
    vcpus: int


CASES = {
    "mixed": Case(DEFAULT_ARGS, 2, ["PLAN"], 8),
    "socket-240": Case(Q240, 8, ["--preset", "socket"], 240),
    "split-240-into-4": Case(Q240, 4, ["--preset", "split", "--into", "4"], 240),
}


def info(q: Qemu) -> dict[int, tuple[str, int]]:
    """node -> (vCPU indexes, MB) from HMP ``info numa`` (after boot)."""
    text = asyncio.run(q.qmp("human-monitor-command", {"command-line": "info numa"}))
    return info_numa(text)


@pytest.mark.parametrize("name", CASES)
def test_nova_accepts_the_flavor_and_it_lays_out_a_fresh_qemu_the_same(
    name: str, nova: Nova, qemu_factory: Any, tmp_path: Path,
) -> None:
    case = CASES[name]
    a = qemu_factory([*case.args, *numa_node_args(case.nodes, 2048)])
    plan = tmp_path / "mixed.numa"
    plan.write_text(MIXED)
    ok("apply", a.sock, *[str(plan) if x == "PLAN" else x for x in case.layout])
    want = mapping(a)
    assert None not in want.values()
    if name == "mixed":
        assert want[(("socket-id", 0), ("core-id", 0), ("thread-id", 0))] == 1  # CPU 0 not on node 0

    text = ok("export", a.sock, "--format", "openstack", "--flavor", "numa.test")
    assert comments(text) == [f"# nova checks the cells against the flavor's own vCPUs and RAM: openstack "
                              f"flavor create numa.test --vcpus {case.vcpus} --ram 2048"]
    specs = specs_of(text)
    answer = nova.check(specs, case.vcpus, 2048)
    cells = cells_of(answer)  # nova accepts it
    assert answer["topology"] == ([2, 2, 2] if case.vcpus == 8 else [8, 15, 2])
    each = 2048 // case.nodes
    assert [c[2] for c in cells] == [each] * case.nodes  # A's node sizes

    flavor = tmp_path / "flavor.txt"
    flavor.write_text(text)
    b = qemu_factory(case.args)  # no -numa: numatui adds nova's cells as nodes
    ok("apply", b.sock, str(flavor))
    assert mapping(b) == want
    ok("apply", b.sock, str(flavor), "--exit-preconfig")  # nothing left to send: boots
    assert info(b) == {c: (" ".join(map(str, cpus)), mib) for c, cpus, mib in cells}

    show = {"id": "1", "name": "numa.test", "vcpus": case.vcpus, "ram": 2048, "disk": 1,
            "properties": specs}
    shown = tmp_path / "show.json"
    shown.write_text(json.dumps(show, indent=2))
    c = qemu_factory(case.args)
    ok("apply", c.sock, str(shown))
    assert mapping(c) == want
    older = ", ".join(f"{k}='{v}'" for k, v in sorted(specs.items()))  # before python-openstackclient 5.5
    topo = Topology.from_hotpluggable(asyncio.run(c.qmp("query-hotpluggable-cpus")))
    as_string, as_dict = load_plan(json.dumps(show | {"properties": older})), load_plan(shown.read_text())
    assert isinstance(as_string, FlavorPlan) and isinstance(as_dict, FlavorPlan)
    assert as_string.laid_out(topo) == as_dict.laid_out(topo)


def test_hot_pluggable_slots_are_a_comment_and_nova_gets_the_present_vcpus(
    nova: Nova, qemu_factory: Any, tmp_path: Path,
) -> None:
    args = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", "-m", "2G"]
    a = qemu_factory([*args, *numa_node_args(2, 2048)])
    plan = tmp_path / "p.numa"
    plan.write_text("-numa cpu,node-id=1,socket-id=0,core-id=0\n-numa cpu,node-id=0,socket-id=0,core-id=1\n"
                    "-numa cpu,node-id=1,socket-id=1\n")
    ok("apply", a.sock, str(plan))
    text = ok("export", a.sock, "--format", "openstack")
    assert "# left out: the 4 hot-pluggable slot(s) beyond -smp cpus=4 (4 of them on a node): nova has no " \
           "CPU hot-plug" in text
    assert "# nova has only sockets, cores and threads: the guest gets 1 sockets x 2 cores x 2 threads, " \
           "where QEMU has 2 sockets x 2 cores x 2 threads" in text
    assert cells_of(nova.check(specs_of(text), 4, 2048)) == [(0, [2, 3], 1024), (1, [0, 1], 1024)]
    flavor = tmp_path / "flavor.txt"
    flavor.write_text(text)
    b = qemu_factory(args)
    ok("apply", b.sock, str(flavor))  # nova's 4 vCPUs are QEMU's present ones; the rest stay free
    assert mapping(b) == {k: n if dict(k)["socket-id"] == 0 else None for k, n in mapping(a).items()}


def test_a_memoryless_node_is_refused_in_one_line(qemu_factory: Any, tmp_path: Path) -> None:
    a = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"nodes": [{"id": 0}, {"id": 1}, {"id": 2}],
                                "cpus": [{"node-id": 0, "socket-id": 0, "core-id": 0},
                                         {"node-id": 1, "socket-id": 0, "core-id": 1},
                                         {"node-id": 2, "socket-id": 1}]}))
    ok("apply", a.sock, str(plan))
    assert fails(2, "export", a.sock, "--format", "openstack") == (
        "numatui: node 2 has no memory: nova needs at least 1 MiB in every cell (hw:numa_mem.N); give it "
        "memory, or use --format numa or cmdline")
    assert fails(2, "export", a.sock, "--flavor", "x").endswith("--flavor goes with --format openstack")


def test_unknown_keys_get_one_line_each_and_the_rest_applies(qemu_factory: Any, tmp_path: Path) -> None:
    flavor = tmp_path / "f.json"
    flavor.write_text(json.dumps({"vcpus": 8, "ram": 2048, "properties": {
        "hw:numa_nodes": "2", "hw:cpu_policy": "dedicated", "hw:numa_mem_0": "1024"}}))
    b = qemu_factory(DEFAULT_ARGS)
    code, _, err = run("apply", b.sock, str(flavor))
    assert code == 0, err
    assert err.splitlines() == [
        "numatui: warning: hw:cpu_policy=dedicated: host placement (pinning, huge pages), which nova decides "
        "per compute host; numatui lays out only the guest's cells (see numatui pin)",
        "numatui: warning: hw:numa_mem_0=1024: not a key nova knows (its API refuses it); left out"]
    by_index = {dict(k)["socket-id"] * 4 + dict(k)["core-id"] * 2 + dict(k)["thread-id"]: n
                for k, n in mapping(b).items()}
    assert by_index == {i: i // 4 for i in range(8)}  # nova's even split, in order
