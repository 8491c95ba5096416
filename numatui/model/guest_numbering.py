"""How a Linux guest numbers QEMU's NUMA nodes.

Linux does not keep QEMU's node ids: it numbers nodes in the order the ACPI
SRAT first names their proximity domains.  QEMU's SRAT (x86) lists one
processor entry per *possible* CPU in cpu-index order, then the memory of
each node with memory in node-id order; Linux parses the processor entries
first.  So the guest's node 0 is the node of CPU 0, then the next node met in
cpu-index order, ..., then the nodes with memory and no CPU, by QEMU id.  A
node with neither CPUs nor memory is not in the SRAT: the guest has no such
node.  Checked with Debian 12's kernel on QEMU 7.2 and 10.0
(tests/test_guest.py): socket 0 on QEMU node 1 (1536M) and socket 1 on
node 0 (512M) gives the guest a node0 with cpus 0-3 and ~1.5 GB.

Distances follow the nodes: the guest's ``distance[g1][g2]`` is QEMU's
``dist(q1, q2)`` for the nodes the guest calls ``g1`` and ``g2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from numatui.model.plan import Node
from numatui.model.topology import Topology

#: Machine types whose guests number nodes by the ACPI SRAT as above (x86 pc
#: and q35, checked with a real guest).  Device-tree boards (pseries, arm virt
#: without ACPI, riscv virt) give Linux the node ids themselves.
_SRAT_MACHINES = ("pc-", "pc", "q35")


def guest_node_ids(cpu_nodes: Sequence[int], memory_nodes: Iterable[int]) -> dict[int, int]:
    """QEMU node id -> the guest's node id.

    ``cpu_nodes``: the QEMU node of every possible CPU in cpu-index order;
    ``memory_nodes``: the QEMU ids of the nodes that have memory.  Nodes in
    neither are absent from the result (the guest does not see them).
    """
    order = dict.fromkeys([*cpu_nodes, *sorted(memory_nodes)])  # first appearance wins
    return {qemu: guest for guest, qemu in enumerate(order)}


def cpu_nodes(topology: Topology) -> list[int]:
    """The node of every possible CPU in cpu-index order (an unassigned CPU
    is on node 0, where QEMU puts it at boot)."""
    out: list[int] = []
    for slot in topology.slots:
        out += [slot.node_id if slot.node_id is not None else 0] * slot.vcpus_count
    return out


def guest_numbering(topology: Topology, node_sizes: Mapping[int, int]) -> dict[int, int]:
    """QEMU node id -> guest node id for ``topology`` and the nodes' memory
    sizes (``node_sizes``: QEMU node id -> bytes, 0 for a memoryless node)."""
    return guest_node_ids(cpu_nodes(topology), [n for n, size in node_sizes.items() if size > 0])


def applies(machine_type: str) -> bool:
    """Whether the guest renumbers nodes on this board (``qom-get /machine
    type``, e.g. ``pc-q35-7.2-machine``): x86 pc and q35."""
    return machine_type.startswith("pc-") or machine_type.removesuffix("-machine") in _SRAT_MACHINES


def node_numbering(topology: Topology, nodes: Iterable[Node]) -> dict[int, int]:
    """QEMU node id -> guest node id for nodes as the plan holds them (a node
    with a ``memdev`` of unknown size has memory)."""
    sizes = {n.id: n.size if n.size is not None else (1 if n.memdev else 0) for n in nodes}
    return guest_numbering(topology, sizes)


def renumbered(numbering: Mapping[int, int]) -> list[tuple[int, int]]:
    """The ``(qemu, guest)`` pairs whose ids differ, by QEMU id."""
    return [(q, g) for q, g in sorted(numbering.items()) if q != g]


def guest_labels(topology: Topology, nodes: Sequence[Node], machine_type: str, *,
                 always: bool = False) -> dict[int, str]:
    """QEMU node id -> ``"guest node0"`` (or ``"not in guest"`` for a node with
    neither CPUs nor memory), for the faces to show beside QEMU's ids.

    Empty when the board keeps QEMU's ids or no node is known, and (unless
    ``always``) when the guest's numbering equals QEMU's."""
    if not nodes or not applies(machine_type):
        return {}
    numbering = node_numbering(topology, nodes)
    ids = {n.id for n in nodes} | {s.node_id for s in topology.slots if s.node_id is not None}
    if not always and all(numbering.get(i) == i for i in ids):
        return {}
    return {i: f"guest node{numbering[i]}" if i in numbering else "not in guest" for i in sorted(ids)}
