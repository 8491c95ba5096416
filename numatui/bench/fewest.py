"""The fewest set-numa-node commands for a mapping, found independently of
numatui's compaction (:mod:`numatui.model.compact`).

QEMU's matching (hw/core/machine.c): every prop given must equal the slot's,
every prop left out matches all.  So a command is a *pattern*: each prop
either fixed to a value or left out, and not only prefixes of the hierarchy:
``{"node-id": 3, "core-id": 3}`` puts core 3 of *every* socket on node 3.

:func:`fewest_patterns` covers the mapping greedily with the largest patterns
whose slots all go to one node; the result is a valid command list (the
benchmark sends it to QEMU and checks QEMU's mapping), so it is an upper
bound on the true minimum, and equal to it for the plans benchmarked:
socket per node (8: one per node at least) and core-id % 8 (15: no pattern
can span two core-ids without spanning a whole socket of mixed nodes).

:func:`fewest_prefix` counts the minimum when only prefixes are allowed
(socket, socket+core, socket+core+thread), which is what a tree-walking
compaction can reach.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from numatui.model.topology import SlotKey


def _props(mapping: Mapping[SlotKey, int]) -> list[str]:
    names: list[str] = []
    for key in mapping:
        for prop, _ in key:
            if prop not in names:
                names.append(prop)
    return names


def fewest_patterns(mapping: Mapping[SlotKey, int]) -> list[dict[str, Any]]:
    """set-numa-node arguments (``type`` cpu) mapping every slot of ``mapping``
    (which must hold every slot of the machine, all unassigned) as it says.

    Slot sets are bitmasks (bit i: the i-th slot of ``mapping``), so the
    4096-slot machine's ~6600 patterns cost milliseconds."""
    props = _props(mapping)
    slots = [dict(key) for key in mapping]
    nodes = list(mapping.values())
    values = [sorted({s[p] for s in slots}) for p in props]
    with_value: list[dict[int, int]] = [{} for _ in props]  # prop -> value -> slots having it
    on_node: dict[int, int] = {}
    for i, (s, node) in enumerate(zip(slots, nodes, strict=True)):
        for j, p in enumerate(props):
            with_value[j][s[p]] = with_value[j].get(s[p], 0) | 1 << i
        on_node[node] = on_node.get(node, 0) | 1 << i
    everything = (1 << len(slots)) - 1
    candidates: list[tuple[dict[str, int], int, int]] = []
    for choice in itertools.product(*[[None, *vals] for vals in values]):
        members = everything
        for j, v in enumerate(choice):
            if v is not None:
                members &= with_value[j][v]
        if not members:
            continue
        node = nodes[(members & -members).bit_length() - 1]  # the first member's
        if members & ~on_node[node] == 0:  # every member goes to that node
            fixed = {p: v for p, v in zip(props, choice, strict=True) if v is not None}
            candidates.append((fixed, node, members))
    uncovered = everything
    chosen: list[dict[str, Any]] = []
    while uncovered:
        best = max(candidates, key=lambda c: ((c[2] & uncovered).bit_count(), -len(c[0])))
        chosen.append({"type": "cpu", "node-id": best[1], **best[0]})
        uncovered &= ~best[2]
    return chosen


def fewest_prefix(mapping: Mapping[SlotKey, int]) -> int:
    """The fewest commands when each names a prefix of the hierarchy: a group
    whose slots all go to one node costs 1, otherwise the sum of its children."""

    def count(group: list[tuple[SlotKey, int]], depth: int) -> int:
        if len({node for _, node in group}) == 1:
            return 1
        children: dict[SlotKey, list[tuple[SlotKey, int]]] = {}
        for key, node in group:
            children.setdefault(key[: depth + 1], []).append((key, node))
        return sum(count(members, depth + 1) for members in children.values())

    return count(list(mapping.items()), 0)
