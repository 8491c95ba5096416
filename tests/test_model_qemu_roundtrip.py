"""The model's command lines, fed to a real qemu-system-x86_64, map every slot as planned."""

from __future__ import annotations

import random

import pytest
from conftest import Qemu, load_data

from numatui.model.compact import assign_commands, compact
from numatui.model.plan import Node, Plan
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
