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
    (which must hold every slot of the machine, all unassigned) as it says."""
    props = _props(mapping)
    slots = [dict(key) for key in mapping]
    nodes = list(mapping.values())
    values = [sorted({s[p] for s in slots}) for p in props]
    candidates: list[tuple[dict[str, int], int, frozenset[int]]] = []
    for choice in itertools.product(*[[None, *vals] for vals in values]):
        fixed = {p: v for p, v in zip(props, choice, strict=True) if v is not None}
        members = [i for i, s in enumerate(slots) if all(s[p] == v for p, v in fixed.items())]
        if members and len({nodes[i] for i in members}) == 1:
            candidates.append((fixed, nodes[members[0]], frozenset(members)))
    uncovered = set(range(len(slots)))
    chosen: list[dict[str, Any]] = []
    while uncovered:
        best = max(candidates, key=lambda c: (len(c[2] & uncovered), -len(c[0])))
        chosen.append({"type": "cpu", "node-id": best[1], **best[0]})
        uncovered -= best[2]
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
