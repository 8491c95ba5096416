"""Compaction: the fewest ``set-numa-node`` commands (or ``-numa cpu`` options)
that produce a mapping.

set-numa-node matches every slot whose props equal the ones given; a prop left
out matches everything.  Naming a *prefix* of the hierarchy (``socket-id``,
then ``socket-id,die-id``, ...) therefore names one whole group of the
topology tree.  Groups form a tree, so the fewest groups covering a set of
slots are the maximal subtrees that may be covered: one walk, top down
(:func:`_prefix_groups`, behind :func:`cover`).  The displayed ``-numa cpu`` options (:func:`compact`) are
those prefix groups.

What is *sent* (:func:`fewest_commands`) may also leave an outer prop out:
``{"node-id": 3, "core-id": 3}`` maps core 3 of every socket in one command,
which prefixes cannot say.  Such patterns no longer form a tree, so that
search is a greedy set cover over every prop pattern, tried only when the
prefix cover is not already optimal (one command per node).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from numatui.model.errors import NumaError
from numatui.model.topology import Slot, SlotKey, Topology

#: The arguments of one set-numa-node type cpu command (without ``type``).
CpuOption = dict[str, int]


def cover(topology: Topology, wanted: Collection[SlotKey], allowed: Collection[SlotKey],
          bare: bool = True) -> list[SlotKey]:
    """The fewest group prefixes that together touch every slot in ``wanted``
    and no slot outside ``allowed`` (``allowed`` includes ``wanted``); the
    empty prefix (the whole machine) only when ``bare``.

    Returned in topology order.
    """
    target = _by_index(topology, dict.fromkeys(wanted, 0), strict=False)
    current = _by_index(topology, dict.fromkeys(allowed, 0), strict=False)
    for i, t in enumerate(target):
        if t is not None:
            current[i] = t
    return [prefix for _, prefix in _prefix_groups(topology, target, current, bare)]


def compact(topology: Topology, mapping: Mapping[SlotKey, int | None] | None = None) -> list[CpuOption]:
    """The fewest options mapping every assigned slot as ``mapping`` says
    (default: the nodes the slots carry), touching no unassigned slot.

    Each option is ``{"node-id": N, <prefix props>}``; ordered by the first
    slot each covers, so a whole machine on one node is ``[{"node-id": N}]``.
    Prefixes only: these are the ``-numa cpu`` options numatui displays, the
    coarsest whole groups of the hierarchy.
    """
    target = [s.node_id for s in topology.slots] if mapping is None else _by_index(topology, mapping)
    return _prefix_commands(topology, target, [None] * len(target))


def fewest_commands(topology: Topology, mapping: Mapping[SlotKey, int]) -> list[CpuOption]:
    """The fewest set-numa-node commands putting every slot of ``mapping`` on
    its node, given the nodes ``topology``'s slots carry now.

    A command for node N may touch only slots ``mapping`` puts on N or slots
    QEMU already has on N (re-assigning to the same node is accepted): never
    an unassigned slot outside ``mapping`` nor a slot on another node.  A
    slot of ``mapping`` that QEMU already has on another node is still
    covered, so that QEMU refuses it in its own words.  Any prop pattern may
    be used (``{"node-id": 1, "core-id": 1}``: core 1 of every socket).

    The prefix cover comes first: with one command per node it is optimal
    (the cheap, common case of one key press).  Otherwise the greedy cover
    over every pattern (:func:`_pattern_cover`) is used when strictly
    smaller.  Ordered by the first slot each command touches.
    NumaError for a slot the topology lacks.
    """
    # Safety: a command naming no topology prop matches every CPU of the
    # machine.  It is sent only when the mapping itself covers every slot,
    # never because numatui believes the other slots are on that node already
    # (a stale view, or a selection the user did not mean, would map CPUs
    # nobody chose).
    target = _by_index(topology, mapping)  # NumaError: no such slot
    bare = len(set(mapping)) == len(topology.slots)
    prefix = _prefix_commands(topology, target, [s.node_id for s in topology.slots], bare)
    if len(prefix) == len(set(mapping.values())):
        return prefix
    patterns = _pattern_cover(topology, mapping, bare)
    return patterns if patterns is not None and len(patterns) < len(prefix) else prefix


def _by_index(topology: Topology, mapping: Mapping[SlotKey, int | None],
              strict: bool = True) -> list[int | None]:
    """``mapping`` as a list by slot index (None: not in it); NumaError for a
    slot the topology lacks (``strict``; else it is left out).  Looks up the
    mapping's keys, not every slot's."""
    out: list[int | None] = [None] * len(topology.slots)
    for key, node in mapping.items():
        try:
            out[topology.index(key)] = node
        except NumaError:
            if strict:
                raise
    return out


def names_no_prop(option: Mapping[str, int]) -> bool:
    """True for a command naming no topology prop (it matches every CPU)."""
    return all(p in ("node-id", "type") for p in option)


def _pattern_cover(topology: Topology, mapping: Mapping[SlotKey, int],
                   bare: bool = True) -> list[CpuOption] | None:
    """A greedy cover of ``mapping`` by any prop pattern, under the touching
    rules of :func:`fewest_commands`; None when no cover exists (slots named
    by different props, which QEMU never reports).

    Every subset of the levels groups the slots by their values there (one
    pass per subset); each group one node may take is a candidate.  Lazy
    greedy on a heap: the candidate covering most uncovered slots wins, ties
    to fewer props, then to the earlier first slot.
    """
    index = {s.key: i for i, s in enumerate(topology.slots)}
    wanted_on: dict[int, int] = {}  # node -> bitmask of slot indexes mapping puts there
    for key, node in mapping.items():
        wanted_on[node] = wanted_on.get(node, 0) | 1 << index[key]
    candidates = list(_candidates(topology, mapping, wanted_on, bare))
    heap = [(-c.mask.bit_count(), len(c.props), c.first, i) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    uncovered = 0
    for mask in wanted_on.values():
        uncovered |= mask
    chosen: list[_Candidate] = []
    while uncovered:
        if not heap:
            return None
        neg_gain, props, first, i = heapq.heappop(heap)
        gain = (candidates[i].mask & uncovered).bit_count()
        if gain < -neg_gain:  # stale: others may now beat it
            if gain:
                heapq.heappush(heap, (-gain, props, first, i))
            continue
        chosen.append(candidates[i])
        uncovered &= ~candidates[i].mask
    chosen.sort(key=lambda c: (c.first, c.node))
    return [{"node-id": c.node, **c.props} for c in chosen]


@dataclass(frozen=True)
class _Candidate:
    """A pattern one node may take: the slots of ``mask`` it would map there."""

    node: int
    props: dict[str, int]
    mask: int  # bits: indexes of slots mapping puts on ``node`` that the pattern matches
    first: int  # index of the first slot the pattern matches


def _candidates(topology: Topology, mapping: Mapping[SlotKey, int],
                wanted_on: Mapping[int, int], bare: bool = True) -> Iterator[_Candidate]:
    """Every (pattern, node) whose matched slots all may carry the node and
    that maps at least one slot of ``mapping`` there (the empty pattern only
    when ``bare``)."""
    levels = topology.levels
    values = [tuple(dict(s.key).get(p) for p in levels) for s in topology.slots]
    may = [_may_carry(s, mapping) for s in topology.slots]
    for size in range(0 if bare else 1, len(levels) + 1):
        for subset in combinations(range(len(levels)), size):
            groups: dict[tuple[int | None, ...], list[int]] = {}
            for i, vals in enumerate(values):
                groups.setdefault(tuple(vals[j] for j in subset), []).append(i)
            for proj, members in groups.items():
                if None in proj:
                    continue  # a slot without one of these props: not a pattern QEMU can match
                nodes = _common(may, members)
                if not nodes:
                    continue
                bits = 0
                for i in members:
                    bits |= 1 << i
                props = {levels[j]: v for j, v in zip(subset, proj, strict=True) if v is not None}
                for node in sorted(nodes):
                    mask = bits & wanted_on.get(node, 0)
                    if mask:
                        yield _Candidate(node, props, mask, members[0])


def _may_carry(slot: Slot, mapping: Mapping[SlotKey, int]) -> frozenset[int]:
    """The nodes a command touching ``slot`` may carry: the one ``mapping``
    wants and the one QEMU already has (re-assigning the same node is fine)."""
    nodes = {n for n in (mapping.get(slot.key), slot.node_id) if n is not None}
    return frozenset(nodes)


def _common(may: Sequence[frozenset[int]], members: Sequence[int]) -> frozenset[int]:
    """The nodes every member may carry (empty as soon as two disagree)."""
    nodes = may[members[0]]
    for i in members[1:]:
        if not nodes:
            break
        nodes = nodes & may[i]
    return nodes


def _prefix_commands(topology: Topology, target: Sequence[int | None],
                     current: Sequence[int | None], bare: bool = True) -> list[CpuOption]:
    """:func:`_prefix_groups` as set-numa-node arguments."""
    groups = _prefix_groups(topology, target, current, bare)
    return [{"node-id": node, **dict(prefix)} for node, prefix in groups]


def _prefix_groups(topology: Topology, target: Sequence[int | None],
                   current: Sequence[int | None], bare: bool = True) -> list[tuple[int, SlotKey]]:
    """Per node, the fewest group prefixes covering the slots ``target`` (by
    slot index) puts there, touching only those and the slots ``current`` has
    on it, as (node, prefix); ordered by the first slot of each group, then
    node.  Groups form a tree (:func:`_tree`): one walk, top down, for every
    node at once, into the groups that hold a wanted slot only.
    The empty prefix (the whole machine) only when ``bare``.
    """
    found: list[tuple[int, int, SlotKey]] = []

    def walk(group: _Group, nodes: set[int]) -> None:
        members, prefix, children = group
        wanted = _of(target, members)
        need = nodes.intersection(wanted)  # nodes wanted in this group
        if not need:
            return
        if prefix or bare:
            for node in sorted(need):
                if set(wanted) == {node} or all(
                        t == node or c == node for t, c in zip(wanted, _of(current, members), strict=True)):
                    found.append((members[0], node, prefix))
                    need.discard(node)
        for child in children if need else ():
            walk(child, need)

    nodes = {n for n in target if n is not None}
    if nodes:  # (nothing wanted: no tree to build)
        walk(_tree(topology), nodes)
    found.sort(key=lambda t: (t[0], t[1]))
    return [(node, prefix) for _, node, prefix in found]


#: A group of the topology tree: its slot indexes (a range when they are
#: consecutive, as QEMU's sorted slots are), its prefix, its child groups.
_Group = tuple[range | list[int], SlotKey, tuple["_Group", ...]]

#: The trees of the last few shapes, by their slot_keys object (one shape is
#: re-read after every key press; Topology shares slot_keys within a shape).
_trees: list[tuple[tuple[SlotKey, ...], _Group]] = []


def _tree(topology: Topology) -> _Group:
    """The topology's groups, built once per shape."""
    keys = topology.slot_keys
    for shape, tree in _trees:
        if shape is keys:
            return tree
    tree = _group(keys, list(range(len(keys))), 0, len(topology.levels))
    _trees[:] = [(keys, tree), *_trees[:3]]
    return tree


def _group(keys: Sequence[SlotKey], members: list[int], depth: int, depth_max: int) -> _Group:
    children: dict[SlotKey, list[int]] = {}
    if depth < depth_max:
        for i in members:
            children.setdefault(keys[i][: depth + 1], []).append(i)
    consecutive = members[-1] - members[0] + 1 == len(members) if members else True
    return (range(members[0], members[-1] + 1) if members and consecutive else members,
            keys[members[0]][:depth] if members else (),
            tuple(_group(keys, child, depth + 1, depth_max) for child in children.values()))


def _of(values: Sequence[int | None], members: range | list[int]) -> Sequence[int | None]:
    """``values`` of the group's members (a slice when they are consecutive)."""
    if isinstance(members, range):
        return values[members.start:members.stop]
    return [values[i] for i in members]
