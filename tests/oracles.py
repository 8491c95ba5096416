"""Independent computations the tests compare numatui against (not product code)."""

from __future__ import annotations

import shlex
from collections.abc import Collection
from dataclasses import replace

from numatui.model.compact import CpuOption, cover
from numatui.model.host import parse_cpulist
from numatui.model.plan import Plan
from numatui.model.qemu_args import free_memdev_id, node_option, numa_options, ram_backend
from numatui.model.topology import SlotKey, Topology


def assign_commands(topology: Topology, keys: Collection[SlotKey], node: int) -> list[CpuOption]:
    """The fewest *prefix* set-numa-node commands putting ``keys`` on ``node`` now.

    A command may also touch slots already on ``node`` (QEMU accepts
    re-assigning to the same node) but never an unassigned slot outside
    ``keys`` nor a slot on another node; no bare command unless ``keys`` is
    every slot.  ``fewest_commands`` may do better by leaving outer props out.
    """
    already = {s.key for s in topology.slots if s.node_id == node}
    bare = len(set(keys)) == len(topology.slots)
    return [{"node-id": node, **dict(p)} for p in cover(topology, keys, already, bare)]


def numa_text(plan: Plan) -> str:
    """The plan as a text file of QEMU options, one per line, as
    ``plan_from_numa_text`` reads it: nodes with a size get their ``-object
    memory-backend-ram`` (``m<N>`` when they have no memdev), then ``-numa
    node`` for every node, ``-numa dist``, ``cpu`` and the HMAT options."""
    nodes = sorted(plan.nodes, key=lambda n: n.id)
    used = {n.memdev for n in nodes if n.memdev}
    memdev = {n.id: n.memdev or (free_memdev_id(n.id, used) if n.size else None) for n in nodes}
    lines = [["-object", ram_backend(n, m)] for n in nodes if n.size and (m := memdev[n.id])]
    lines += [["-numa", node_option(n, memdev[n.id])] for n in nodes]
    lines += [["-numa", value] for value in numa_options(replace(plan, nodes=()))]
    return "".join(f"{shlex.join(line)}\n" for line in lines)


def read_affinity(tid: int, pid: int | None = None) -> tuple[int, ...]:
    """The thread's ``Cpus_allowed_list`` in /proc, as the kernel shows it
    (numatui reads ``sched_getaffinity``); OSError when the thread is gone."""
    path = f"/proc/{pid}/task/{tid}/status" if pid else f"/proc/{tid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return parse_cpulist(line.split(":", 1)[1])
    return ()
