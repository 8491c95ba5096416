"""Capacity findings: does each guest node fit the host node it is bound to?  Pure.

The same :class:`Finding` as the preflight (:mod:`numatui.model.preflight`):

- ``host-node-unknown`` (blocking): a binding names a host node this host
  does not have (QEMU's ``mbind`` would fail: "cannot bind memory to host
  NUMA nodes");
- ``host-node-memoryless`` (blocking when the guest node has memory): the host
  node has no memory to bind to;
- ``host-node-cpuless`` (warning): the host node has no CPU to pin vCPUs on;
- ``host-cpu-overcommit`` (warning): the guest nodes bound to one host node
  have more vCPUs than it has online CPUs;
- ``host-memory-short`` (warning): they need more memory than the host node
  has free, or than its free hugepages of the backend's page size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from numatui.model.host import HostTopology, HugePages
from numatui.model.plan import Plan
from numatui.model.preflight import Finding, Severity
from numatui.model.topology import Topology
from numatui.model.units import human_size


@dataclass(frozen=True)
class GuestNodeNeeds:
    """What one guest node asks of its host node; ``hugepage_size`` in bytes
    when its memory backend uses hugepages."""

    node: int
    vcpus: int
    memory: int
    hugepage_size: int | None = None


def needs_from(topology: Topology, plan: Plan, hugepage_sizes: Mapping[int, int] | None = None
               ) -> list[GuestNodeNeeds]:
    """Each guest node's vCPUs (from the slots' nodes) and memory (the plan's sizes)."""
    final = {k: n for k, n in topology.mapping().items() if n is not None}
    final.update(plan.resolve(topology))
    vcpus: dict[int, int] = {}
    indexes = topology.cpu_indexes()
    for key, node in final.items():
        vcpus[node] = vcpus.get(node, 0) + len(indexes[key])
    ids = sorted({n.id for n in plan.nodes} | set(vcpus))
    sizes = {n.id: n.size or 0 for n in plan.nodes}
    pages = hugepage_sizes or {}
    return [GuestNodeNeeds(i, vcpus.get(i, 0), sizes.get(i, 0), pages.get(i)) for i in ids]


def _nodes(ids: Iterable[int]) -> str:
    items = sorted(ids)
    return ("guest node " if len(items) == 1 else "guest nodes ") + ", ".join(map(str, items))


def check_capacity(host: HostTopology, needs: Iterable[GuestNodeNeeds],
                   binding: Mapping[int, int]) -> list[Finding]:
    """The capacity findings for guest nodes bound to host nodes (blocking first)."""
    out: list[Finding] = []
    by_host: dict[int, list[GuestNodeNeeds]] = {}
    for need in needs:
        if need.node in binding:
            by_host.setdefault(binding[need.node], []).append(need)
    for hid in sorted(by_host):
        group = by_host[hid]
        who = _nodes(n.node for n in group)
        hnode = host.node(hid)
        if hnode is None:
            known = ", ".join(map(str, host.node_ids()))
            out.append(Finding(Severity.BLOCKING, "host-node-unknown",
                               f"The {who} {'is' if len(group) == 1 else 'are'} bound to host node {hid}, "
                               f"which this host does not have (it has {known}): "
                               "QEMU would fail to bind the memory there."))
            continue
        vcpus = sum(n.vcpus for n in group)
        memory = sum(n.memory for n in group)
        if not hnode.memory and memory:
            out.append(Finding(Severity.BLOCKING, "host-node-memoryless",
                               f"The {who} {'is' if len(group) == 1 else 'are'} bound to host node {hid}, "
                               "which has no memory: QEMU cannot bind guest memory there."))
        if not hnode.cpus and vcpus:
            out.append(Finding(Severity.WARNING, "host-node-cpuless",
                               f"Host node {hid} has no online CPU, so the {vcpus} vCPU(s) of {who} "
                               "cannot be pinned next to their memory."))
        elif vcpus > len(hnode.cpus):
            out.append(Finding(Severity.WARNING, "host-cpu-overcommit",
                               f"The {who} {'has' if len(group) == 1 else 'have'} {vcpus} vCPUs bound to "
                               f"host node {hid}, which has {len(hnode.cpus)} online CPU(s): the vCPUs "
                               "would share CPUs (overcommit)."))
        out += _memory(hid, hnode.free, hnode.hugepages, group, who)
    out.sort(key=lambda f: f.severity != Severity.BLOCKING)
    return out


def _memory(hid: int, free: int, hugepages: Iterable[HugePages], group: list[GuestNodeNeeds],
            who: str) -> list[Finding]:
    out: list[Finding] = []
    plain = sum(n.memory for n in group if n.hugepage_size is None)
    if plain and free and plain > free:
        out.append(Finding(Severity.WARNING, "host-memory-short",
                           f"The {who} need {human_size(plain)} but host node {hid} has "
                           f"{human_size(free)} free."))
    pages = {h.size: h for h in hugepages}
    for size in sorted({n.hugepage_size for n in group if n.hugepage_size is not None}):
        need = sum(n.memory for n in group if n.hugepage_size == size)
        have = pages[size].free * size if size in pages else 0
        if need > have:
            out.append(Finding(Severity.WARNING, "host-memory-short",
                               f"The {who} need {human_size(need)} of {human_size(size)} hugepages but "
                               f"host node {hid} has {human_size(have)} of them free."))
    return out
