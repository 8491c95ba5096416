"""Independent computations the tests compare numatui against (not product code).

Each oracle is written from QEMU's rules, not from numatui's writers: a test
that compares a writer with an oracle built on that same writer could not fail.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection
from typing import Any

from numatui.model.plan import Plan
from numatui.model.topology import SlotKey, Topology


def assign_commands(topology: Topology, keys: Collection[SlotKey], node: int) -> list[dict[str, Any]]:
    """The fewest *prefix* set-numa-node commands putting ``keys`` on ``node`` now.

    A command may also touch slots already on ``node`` (QEMU accepts
    re-assigning to the same node) but never an unassigned slot outside
    ``keys`` nor a slot on another node; no bare command unless ``keys`` is
    every slot.  ``fewest_commands`` may do better by leaving outer props out.

    Computed directly: a prefix is usable when every slot it matches is
    wanted or already on ``node``; the answer is the usable prefixes whose
    parent is not usable and that match a wanted slot, in topology order.
    """
    want = set(keys)
    ok = want | {s.key for s in topology.slots if s.node_id == node}
    bare = len(want) == len(topology.slots)
    prefixes: list[SlotKey] = []
    for s in topology.slots:
        for depth in range(len(s.key) + 1):
            if s.key[:depth] not in prefixes:
                prefixes.append(s.key[:depth])

    def usable(prefix: SlotKey) -> bool:
        if not prefix and not bare:
            return False
        return all(t.key in ok for t in topology.slots if t.key[:len(prefix)] == prefix)

    chosen = [p for p in prefixes if usable(p) and (not p or not usable(p[:-1]))
              and any(k[:len(p)] == p for k in want)]
    order = {s.key: i for i, s in enumerate(topology.slots)}
    chosen.sort(key=lambda p: min(order[s.key] for s in topology.slots if s.key[:len(p)] == p))
    return [{"node-id": node, **dict(p)} for p in chosen]


def numa_text(plan: Plan) -> str:
    """The plan as a text file of QEMU options, one per line, written from
    QEMU's documented option syntax: nodes with a size get a ``-object
    memory-backend-ram`` (``m<N>``, else ``oracle-m<N>``, when they have no memdev; size in
    bytes; one ``host-nodes=`` per host node), then ``-numa node`` for every
    node, ``-numa dist``, ``cpu`` and the HMAT options."""
    lines: list[list[str]] = []
    nodes = sorted(plan.nodes, key=lambda n: n.id)
    taken = {n.memdev for n in nodes}
    memdev = {n.id: n.memdev or ((f"m{n.id}" if f"m{n.id}" not in taken else f"oracle-m{n.id}")
                                 if n.size else None) for n in nodes}
    def esc(text: str | None) -> str:  # QemuOpts: a comma inside a value is doubled
        return (text or "").replace(",", ",,")

    for n in nodes:
        if n.size and memdev[n.id]:
            value = f"memory-backend-ram,id={esc(memdev[n.id])},size={n.size}"
            if n.host_nodes:
                value += "".join(f",host-nodes={h}" for h in n.host_nodes)
                value += f",policy={n.policy or 'bind'}"
            lines.append(["-object", value])
    for n in nodes:
        value = f"node,nodeid={n.id}"
        if memdev[n.id]:
            value += f",memdev={esc(memdev[n.id])}"
        if n.initiator is not None:
            value += f",initiator={n.initiator}"
        lines.append(["-numa", value])
    lines += [["-numa", f"dist,src={d.src},dst={d.dst},val={d.val}"] for d in plan.distances]
    for c in plan.cpus:
        props = "".join(f",{k}={v}" for k, v in c.items() if k != "node-id")
        lines.append(["-numa", f"cpu,node-id={c['node-id']}{props}"])
    for lb in plan.hmat_lb:
        kind = "latency" if lb.data_type.endswith("latency") else "bandwidth"
        lines.append(["-numa", f"hmat-lb,initiator={lb.initiator},target={lb.target},"
                               f"hierarchy={lb.hierarchy},data-type={lb.data_type},{kind}={lb.value}"])
    for c in plan.hmat_cache:
        lines.append(["-numa", f"hmat-cache,node-id={c.node_id},size={c.size},level={c.level},"
                               f"associativity={c.associativity},policy={c.policy},line={c.line}"])
    return "".join(f"{shlex.join(line)}\n" for line in lines)


def read_affinity(tid: int, pid: int | None = None) -> tuple[int, ...]:
    """The thread's ``Cpus_allowed_list`` in /proc, as the kernel shows it
    (numatui reads ``sched_getaffinity``), parsed here; OSError when the thread is gone."""
    path = f"/proc/{pid}/task/{tid}/status" if pid else f"/proc/{tid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                cpus: list[int] = []
                for part in line.split(":", 1)[1].strip().split(","):
                    low, _, high = part.partition("-")
                    cpus += range(int(low), int(high or low) + 1)
                return tuple(cpus)
    return ()
