"""Compaction: the fewest ``set-numa-node`` commands (or ``-numa cpu`` options)
that produce a mapping.

set-numa-node matches every slot whose props equal the ones given; a prop left
out matches everything.  Naming a *prefix* of the hierarchy (``socket-id``,
then ``socket-id,die-id``, ...) therefore names one whole group of the
topology tree.  Groups form a tree, so the fewest groups covering a set of
slots are the maximal subtrees that may be covered: one walk, top down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from numatui.model.topology import Slot, SlotKey, Topology

#: The arguments of one set-numa-node type cpu command (without ``type``).
CpuOption = dict[str, int]


def cover(topology: Topology, wanted: Collection[SlotKey], allowed: Collection[SlotKey]) -> list[SlotKey]:
    """The fewest group prefixes that together touch every slot in ``wanted``
    and no slot outside ``allowed`` (``allowed`` includes ``wanted``).

    Returned in topology order.
    """
    want = set(wanted)
    ok = set(allowed) | want
    out: list[SlotKey] = []

    def walk(prefix: SlotKey, slots: Sequence[Slot], depth: int) -> None:
        if not any(s.key in want for s in slots):
            return
        if all(s.key in ok for s in slots):
            out.append(prefix)
            return
        if depth >= len(topology.levels):  # a single slot not allowed: cannot happen
            return
        children: dict[SlotKey, list[Slot]] = {}
        for s in slots:
            children.setdefault(s.key[: depth + 1], []).append(s)
        for child, members in children.items():
            walk(child, members, depth + 1)

    walk((), topology.slots, 0)
    return out


def compact(topology: Topology, mapping: Mapping[SlotKey, int | None] | None = None) -> list[CpuOption]:
    """The fewest options mapping every assigned slot as ``mapping`` says
    (default: the nodes the slots carry), touching no unassigned slot.

    Each option is ``{"node-id": N, <prefix props>}``; ordered by the first
    slot each covers, so a whole machine on one node is ``[{"node-id": N}]``.
    """
    if mapping is None:
        mapping = topology.mapping()
    by_node: dict[int, set[SlotKey]] = {}
    for key, node in mapping.items():
        if node is not None:
            by_node.setdefault(node, set()).add(key)
    first = _first_indexes(topology)
    found: list[tuple[int, int, CpuOption]] = []
    for node, keys in by_node.items():
        for prefix in cover(topology, keys, keys):
            found.append((first[prefix], node, {"node-id": node, **dict(prefix)}))
    found.sort(key=lambda t: (t[0], t[1]))
    return [opt for _, _, opt in found]


def assign_commands(topology: Topology, keys: Collection[SlotKey], node: int) -> list[CpuOption]:
    """The fewest set-numa-node commands putting ``keys`` on ``node`` now.

    A command may also touch slots already on ``node`` (QEMU accepts
    re-assigning to the same node) but never an unassigned slot outside
    ``keys`` nor a slot on another node.
    """
    already = {s.key for s in topology.slots if s.node_id == node}
    return [{"node-id": node, **dict(p)} for p in cover(topology, keys, already)]


def _first_indexes(topology: Topology) -> dict[SlotKey, int]:
    """For every group prefix, the index of its first slot."""
    first: dict[SlotKey, int] = {}
    for i, s in enumerate(topology.slots):
        for n in range(len(s.key) + 1):
            first.setdefault(s.key[:n], i)
    return first
