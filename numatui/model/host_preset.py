"""The "like the host" preset: a guest NUMA layout shaped like the host's.  Pure.

- as many guest nodes as host nodes with CPUs that the VM's vCPUs can fill
  (each guest node gets at least one whole guest socket, or one whole core
  when there are fewer sockets than host nodes);
- whole sockets (else cores) split in proportion to each host node's online
  CPUs, in topology order;
- ``-m`` split in proportion to each host node's memory, in whole MiB (the
  sizes add up to ``-m`` exactly, as QEMU requires);
- the host's distances between those nodes, normalised to QEMU's rules:
  local 10, remote clamped to 11..255 (QEMU refuses below 10 and above 255;
  Linux ignores a SLIT whose remote distance is 10), both directions only
  when the host's matrix is asymmetric (QEMU mirrors one direction);
- guest node i bound to the i-th of those host nodes.

:func:`like_host` returns the plan and the binding; the preset framework
registers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from numatui.model.compact import compact
from numatui.model.errors import NumaError
from numatui.model.host import HostNode, HostTopology
from numatui.model.plan import Distance, Node, Plan
from numatui.model.qemu_args import free_memdev_id
from numatui.model.ranges import consecutive
from numatui.model.topology import SlotKey, Topology

MIB = 1024 * 1024
LOCAL = 10
REMOTE_MIN = 11
REMOTE_MAX = 255


@dataclass(frozen=True)
class HostPreset:
    plan: Plan
    binding: Mapping[int, int]  # guest node -> host node


def proportional(total: int, weights: Sequence[int], minimum: int = 0) -> list[int]:
    """``total`` whole units split in proportion to ``weights`` (largest remainder),
    each at least ``minimum``; ties go to the earlier share."""
    n = len(weights)
    if n == 0:
        return []
    if total < minimum * n:
        raise NumaError(f"cannot give {n} shares at least {minimum} each out of {total}")
    rest = total - minimum * n
    wsum = sum(weights) or n
    ws = list(weights) if sum(weights) else [1] * n
    exact = [rest * w / wsum for w in ws]
    out = [int(x) for x in exact]
    order = sorted(range(n), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[: rest - sum(out)]:
        out[i] += 1
    return [minimum + x for x in out]


def _units(topology: Topology, count: int) -> list[list[SlotKey]]:
    """Whole sockets when there are at least ``count``, else whole cores, else slots."""
    for level in ("socket-id", "core-id"):
        if level in topology.levels:
            groups = topology.groups(topology.levels.index(level) + 1)
            if len(groups) >= count:
                return [[s.key for s in members] for members in groups.values()]
    return [[s.key] for s in topology.slots]


def _distances(host: HostTopology, chosen: Sequence[HostNode]) -> tuple[Distance, ...]:
    if len(chosen) < 2 or not host.distances:
        return ()

    def value(a: HostNode, b: HostNode) -> int:
        raw = host.distance(a.id, b.id)
        assert raw is not None
        return LOCAL if a is b else min(REMOTE_MAX, max(REMOTE_MIN, raw))

    ids = range(len(chosen))
    asym = any(value(chosen[i], chosen[j]) != value(chosen[j], chosen[i]) for i in ids for j in ids)
    return tuple(Distance(i, j, value(chosen[i], chosen[j])) for i in ids for j in ids
                 if i != j and (asym or i < j))


def like_host(host: HostTopology, topology: Topology, ram: int) -> HostPreset:
    """The preset for a VM with these CPU slots and ``ram`` bytes of ``-m``."""
    candidates = [n for n in host.nodes if n.cpus]
    if not candidates:
        raise NumaError("the host has no node with online CPUs to shape the guest after")
    units = _units(topology, len(candidates))
    chosen = candidates[: min(len(candidates), len(units))]
    shares = proportional(len(units), [len(n.cpus) for n in chosen], minimum=1)
    mapping = {key: node for node, run in enumerate(consecutive(units, shares))
               for unit in run for key in unit}
    if ram % MIB:
        raise NumaError(f"-m {ram} bytes is not a whole number of MiB")
    sizes = [mib * MIB for mib in proportional(ram // MIB, [n.memory for n in chosen], minimum=1)]
    used: set[str] = set()
    nodes = tuple(Node(i, memdev=free_memdev_id(i, used), size=size) for i, size in enumerate(sizes))
    plan = Plan(nodes=nodes, distances=_distances(host, chosen),
                cpus=tuple(compact(topology, mapping)))
    return HostPreset(plan, {i: n.id for i, n in enumerate(chosen)})


def host_plan(host: HostTopology, topology: Topology, ram: int) -> Plan:
    """:func:`like_host` as one plan: each guest node's memory bound to its host
    node (``policy`` bind) and ``pinning`` "node" (vCPUs on their host node's CPUs
    after boot)."""
    made = like_host(host, topology, ram)
    nodes = tuple(n.with_binding([made.binding[n.id]], "bind") if n.id in made.binding else n
                  for n in made.plan.nodes)
    return replace(made.plan, nodes=nodes, pinning="node")
