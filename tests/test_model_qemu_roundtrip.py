"""The model against a real qemu-system-x86_64: command lines map every slot as planned,
and preflight blocks exactly the plans QEMU refuses to start."""

from __future__ import annotations

import random
import subprocess

import pytest
from conftest import Qemu, load_data
from oracles import assign_commands

from numatui.model.compact import compact
from numatui.model.plan import Distance, Node, Plan
from numatui.model.preflight import Severity, check
from numatui.model.qemu_args import full_command_line, parse_qemu_args
from numatui.model.topology import SlotKey, Topology

RECORDED = load_data("q35-dies-threads.json")  # -smp 8,maxcpus=16,sockets=2,dies=2,cores=2,threads=2
BASE = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
        "-smp", "8,maxcpus=16,sockets=2,dies=2,cores=2,threads=2", "-m", "1G"]
NODES = (Node(0, size=512 << 20), Node(1, size=256 << 20), Node(2, size=256 << 20))


def topology() -> Topology:
    return Topology.from_hotpluggable(RECORDED["query-hotpluggable-cpus"])


def mixed_mapping(topo: Topology) -> dict[SlotKey, int | None]:
    """Socket 0 whole, socket 1 die 0 by core, socket 1 die 1 core 0 by thread."""
    out: dict[SlotKey, int | None] = {}
    for s in topo:
        p = s.props
        if p["socket-id"] == 0:
            out[s.key] = 0
        elif p["die-id"] == 0:
            out[s.key] = 1 + p["core-id"]
        elif p["core-id"] == 0:
            out[s.key] = 2 - p["thread-id"]
        else:
            out[s.key] = 0
    return out


def start(qemu_factory: object, plan: Plan) -> tuple[Qemu, list[str]]:
    argv = full_command_line(BASE, plan)
    parse_qemu_args(argv)  # what we hand QEMU reads back cleanly
    qemu: Qemu = qemu_factory([*argv[1:], "-S"], preconfig=False)  # type: ignore[operator]
    return qemu, argv


async def test_mixed_mapping_via_the_full_command_line(qemu_factory: object) -> None:
    topo = topology()
    mapping = mixed_mapping(topo)
    plan = Plan(nodes=NODES, cpus=tuple(compact(topo, mapping)))
    # socket 0 is one option, socket 1 die 0 two, die 1: two threads and one core
    assert len(plan.cpus) == 6
    assert {"node-id": 0, "socket-id": 0} in plan.cpus
    assert [f for f in check(topo, plan, 1 << 30) if f.severity is Severity.BLOCKING] == []
    qemu, argv = start(qemu_factory, plan)
    assert argv.count("-numa") == 3 + 6
    status = await qemu.qmp("query-status")
    assert status["status"] == "prelaunch"  # -S: built, not running
    assert await qemu.nodes() == mapping


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_mapping_round_trips(qemu_factory: object, seed: int) -> None:
    rng = random.Random(seed)
    topo = topology()
    groups = topo.groups(rng.choice([1, 2, 3]))
    by_group = {g: rng.randrange(3) for g in groups}
    mapping: dict[SlotKey, int | None] = {
        s.key: rng.randrange(3) if rng.random() < 0.25 else by_group[s.key[: len(next(iter(groups)))]]
        for s in topo
    }
    plan = Plan(nodes=NODES, cpus=tuple(compact(topo, mapping)))
    qemu, _ = start(qemu_factory, plan)
    assert await qemu.nodes() == mapping


async def test_assign_commands_through_set_numa_node_in_preconfig(qemu_factory: object) -> None:
    from conftest import numa_node_args

    args = [*BASE[1:], *numa_node_args(3, 1024)]
    qemu: Qemu = qemu_factory(args)  # type: ignore[operator]
    topo = Topology.from_hotpluggable(await qemu.qmp("query-hotpluggable-cpus"))
    target = mixed_mapping(topo)
    for node in (0, 1, 2):
        keys = [k for k, n in target.items() if n == node]
        for command in assign_commands(topo, keys, node):
            await qemu.qmp("set-numa-node", {"type": "cpu", **command})
        topo = Topology.from_hotpluggable(await qemu.qmp("query-hotpluggable-cpus"))
    assert topo.mapping() == target
    # the plan of what QEMU now holds is the compact one, and starts cleanly
    plan = Plan.from_topology(topo, NODES)
    assert plan.cpus == tuple(compact(topology(), target))


# -- preflight agrees with QEMU: blocking findings exactly when QEMU refuses to start ----------
DEFAULT = load_data("q35-default.json")  # -smp 8,sockets=2,cores=2,threads=2 -m 2G
DEFAULT_BASE = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
                "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G"]
_G = 1 << 30
_HALF = (Node(0, size=_G), Node(1, size=_G))
_THREE = (Node(0, size=_G), Node(1, size=_G // 2), Node(2, size=_G // 2))
_S0 = {"node-id": 0, "socket-id": 0}
_S1 = {"node-id": 1, "socket-id": 1}
PREFLIGHT_CASES: dict[str, tuple[Plan, str | None, str]] = {
    # name: (plan, QEMU's words when it refuses, the warning code when it boots)
    "clean": (Plan(nodes=_HALF, cpus=(_S0, _S1)), None, ""),
    "gap": (Plan(nodes=(Node(0, size=_G), Node(2, size=_G)), cpus=(_S0,)), "Node ID missing: 1", ""),
    "memory": (Plan(nodes=(Node(0, size=_G), Node(1, size=_G // 2)), cpus=(_S0, _S1)),
               "total memory for NUMA nodes", ""),
    "distance-missing": (Plan(nodes=_THREE, distances=(Distance(0, 1, 20),), cpus=(_S0, _S1)),
                         "The distance between node 0 and 2 is missing", ""),
    "distance-one-way": (Plan(nodes=_THREE, distances=(Distance(0, 1, 20), Distance(2, 0, 30),
                                                        Distance(1, 2, 40)), cpus=(_S0, _S1)), None, ""),
    "asymmetric-complete": (Plan(nodes=_HALF, distances=(Distance(0, 1, 20), Distance(1, 0, 30)),
                                 cpus=(_S0, _S1)), None, ""),
    "asymmetric-incomplete": (Plan(nodes=_THREE, distances=(Distance(0, 1, 20), Distance(1, 0, 30),
                                                             Distance(0, 2, 20), Distance(1, 2, 20)),
                                   cpus=(_S0, _S1)), "asymmetrical pair", ""),
    "distance-small": (Plan(nodes=_HALF, distances=(Distance(0, 1, 9),), cpus=(_S0, _S1)),
                       "NUMA distance (9) is invalid", ""),
    "distance-local": (Plan(nodes=_HALF, distances=(Distance(0, 1, 20), Distance(1, 1, 20)),
                            cpus=(_S0, _S1)), "Local distance of node 1 should be 10", ""),
    "cpus-unassigned": (Plan(nodes=_HALF, cpus=(_S1,)), None, "cpus-unassigned"),
    "cpus-default": (Plan(nodes=_HALF), None, "cpus-default"),
    "core-split": (Plan(nodes=_HALF, cpus=({"node-id": 0, "socket-id": 0, "core-id": 0, "thread-id": 0},
                                           {"node-id": 1, "socket-id": 0, "core-id": 0, "thread-id": 1},
                                           {"node-id": 0, "socket-id": 0, "core-id": 1}, _S1)),
                   None, "core-split"),
    "node-empty": (Plan(nodes=(Node(0, size=2 * _G), Node(1)), cpus=({"node-id": 0},)), None, "node-empty"),
}


@pytest.mark.parametrize("name", list(PREFLIGHT_CASES))
def test_preflight_blocks_exactly_when_qemu_refuses(name: str) -> None:
    plan, refusal, warning = PREFLIGHT_CASES[name]
    topo = Topology.from_hotpluggable(DEFAULT["query-hotpluggable-cpus"])
    findings = check(topo, plan, 2 * _G)
    blocking = [f for f in findings if f.severity is Severity.BLOCKING]
    argv = full_command_line(DEFAULT_BASE, plan)
    # QEMU answers on -qmp stdio only once the machine is built: exit 0 after "quit" means it started
    run = subprocess.run([*argv, "-S", "-display", "none", "-nodefaults", "-qmp", "stdio"],
                         input='{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n',
                         capture_output=True, text=True, timeout=30)
    if refusal is None:
        assert run.returncode == 0, run.stderr
        assert blocking == []
        assert [f.code for f in findings] == ([warning] if warning else [])
    else:
        assert run.returncode != 0 and refusal in run.stderr
        assert len(blocking) == 1, findings
