"""Undo/redo history of plan states.

QEMU has no undo: a slot assigned with ``set-numa-node`` stays on its node.
numatui undoes by relaunching QEMU and replaying an earlier plan, so the
history keeps whole :class:`~numatui.model.plan.Plan` snapshots (a few
hundred bytes each), each with the short description of the change that led
to it (``"socket 1 -> node 1"``).  Pure: the caller decides when a state is
reached (after QEMU confirmed it) and calls :meth:`History.push`; undo and
redo are two steps, :meth:`History.undo_target` to learn where to go and
:meth:`History.undo` once QEMU is there, so a failed relaunch changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.sanitise import one_line
from numatui.model.topology import LEVEL_NAMES, SlotKey, Topology

#: How many states the history keeps by default (the oldest go first).
DEFAULT_LIMIT = 100
#: How many states a saved state file keeps (``numatui launch --resume`` brings them back).
SAVED_LIMIT = 50


@dataclass(frozen=True)
class State:
    """One plan state and the change that produced it."""

    plan: Plan
    description: str


class History:
    """A bounded list of plan states with a position (the current state)."""

    def __init__(self, initial: Plan, description: str = "start", limit: int = DEFAULT_LIMIT) -> None:
        if limit < 2:
            raise NumaError(f"history limit {limit} is too small (at least 2)")
        self.limit = limit
        self._states: list[State] = [State(initial, description)]
        self._pos = 0
        #: id(state) -> (state, its state-file form, its JSON size): see :meth:`_saved`
        self._cache: dict[int, tuple[State, dict[str, Any], int]] = {}

    # -- reading --------------------------------------------------------------------
    @property
    def current(self) -> Plan:
        return self._states[self._pos].plan

    @property
    def states(self) -> list[State]:
        """Every state, oldest first (a copy)."""
        return list(self._states)

    @property
    def position(self) -> int:
        """The index of the current state in :attr:`states`."""
        return self._pos

    def can_undo(self) -> bool:
        return self._pos > 0

    def can_redo(self) -> bool:
        return self._pos < len(self._states) - 1

    def undo_description(self) -> str | None:
        """What undo would take back (the current state's change)."""
        return self._states[self._pos].description if self.can_undo() else None

    def redo_description(self) -> str | None:
        """What redo would do again."""
        return self._states[self._pos + 1].description if self.can_redo() else None

    def undo_target(self, redo: bool = False) -> Plan:
        """The plan undo (``redo``: redo) goes to (nothing moves yet).  NumaError when there is none."""
        if not (self.can_redo() if redo else self.can_undo()):
            raise NumaError(f"nothing to {'redo' if redo else 'undo'}")
        return self._states[self._pos + (1 if redo else -1)].plan

    def describe(self) -> str:
        """One line for a status bar: ``undo: socket 1 -> node 1 · redo: ...``."""
        parts = []
        if (u := self.undo_description()) is not None:
            parts.append(f"undo: {u}")
        if (r := self.redo_description()) is not None:
            parts.append(f"redo: {r}")
        return " · ".join(parts) if parts else "nothing to undo"

    # -- changing -------------------------------------------------------------------
    def push(self, plan: Plan, description: str) -> bool:
        """Record a new state reached by a change; drops the redo states.

        A plan equal to the current one is not recorded (returns False): a
        refused or empty change leaves the history as it was.
        """
        if plan == self.current:
            return False
        del self._states[self._pos + 1:]
        self._states.append(State(plan, description))
        if len(self._states) > self.limit:
            del self._states[: len(self._states) - self.limit]
        self._pos = len(self._states) - 1
        return True

    def undo(self, redo: bool = False) -> Plan:
        """Step back (``redo``: forward); call once QEMU has the :meth:`undo_target` plan."""
        plan = self.undo_target(redo)
        self._pos += 1 if redo else -1
        return plan

    def __len__(self) -> int:
        return len(self._states)

    # -- a state file ---------------------------------------------------------------
    def _saved(self, state: State) -> tuple[dict[str, Any], int]:
        """``state`` as a state file holds it and its JSON size, kept until the
        state leaves the history (plans never change: each is serialised once)."""
        hit = self._cache.get(id(state))
        if hit is None or hit[0] is not state:
            data = {"description": state.description, "plan": state.plan.to_dict()}
            hit = (state, data, len(json.dumps(data, separators=(",", ":"))))
            self._cache[id(state)] = hit
        return hit[1], hit[2]

    def to_dict(self, limit: int = SAVED_LIMIT, budget: int | None = None) -> dict[str, Any]:
        """The newest ``limit`` states (always the current one), the oldest
        dropped first while they take more than ``budget`` bytes of compact
        JSON (at least two kept), for a state file: ``{"position": N,
        "states": [{"description": ..., "plan": {...}}, ...]}``."""
        start = min(self._pos, max(0, len(self._states) - limit))
        kept = self._states[start:start + limit]
        self._cache = {id(st): self._cache[id(st)] for st in kept if id(st) in self._cache}
        saved = [self._saved(st) for st in kept]
        while budget is not None and len(saved) > 2 and sum(size for _, size in saved) > budget:
            if start < self._pos:
                saved.pop(0)
                start += 1
            else:
                saved.pop()
        return {"position": self._pos - start, "states": [data for data, _ in saved]}

    @classmethod
    def from_dict(cls, raw: Any, limit: int = DEFAULT_LIMIT) -> History:
        """What :meth:`to_dict` wrote (data: checked, descriptions made one
        line); NumaError naming what is wrong."""
        states = raw.get("states") if isinstance(raw, Mapping) else None
        if not isinstance(states, list) or not 2 <= len(states) <= limit:
            raise NumaError(f"history: \"states\" must be a list of 2 to {limit} states")
        kept: list[State] = []
        for i, item in enumerate(states):
            if not isinstance(item, Mapping) or set(item) != {"description", "plan"} \
                    or not isinstance(item["description"], str):
                raise NumaError(f"history.states[{i}] must be {{\"description\": TEXT, \"plan\": PLAN}}")
            try:
                plan = Plan.from_dict(item["plan"])
            except NumaError as exc:
                raise NumaError(f"history.states[{i}]: {exc}") from None
            kept.append(State(plan, one_line(item["description"], 200)))
        pos = raw.get("position")
        if type(pos) is not int or not 0 <= pos < len(kept):
            raise NumaError(f"history: \"position\" must be a whole number from 0 to {len(kept) - 1}")
        history = cls(kept[0].plan, kept[0].description, limit)
        history._states, history._pos = kept, pos
        return history


def describe_assign(topology: Topology, keys: Collection[SlotKey], node: int) -> str:
    """``socket 1 -> node 1``, ``socket 0 core 1, socket 1 -> node 0``: the
    fewest whole groups naming ``keys``; ``5 slots -> node 2`` when long."""
    from numatui.model.compact import cover

    want = set(keys)
    if not want:
        return f"nothing -> node {node}"
    groups = cover(topology, want, want)
    if len(groups) > 3:
        return f"{len(want)} slots -> node {node}"
    names = []
    for prefix in groups:
        names.append(" ".join(f"{LEVEL_NAMES.get(p, p)} {v}" for p, v in prefix) or "all CPUs")
    return f"{', '.join(names)} -> node {node}"


def describe_mapping(topology: Topology, mapping: Mapping[SlotKey, int]) -> str:
    """One change putting slots on one or more nodes: :func:`describe_assign`'s
    words for each node when there are at most 3 (``socket 0 -> node 0;
    socket 1 -> node 1``), else ``240 slots -> 8 nodes``."""
    by_node: dict[int, list[SlotKey]] = {}
    for key, node in mapping.items():
        by_node.setdefault(node, []).append(key)
    if not by_node:
        return "nothing"
    if len(by_node) > 3:
        return f"{len(mapping)} slots -> {len(by_node)} nodes"
    return "; ".join(describe_assign(topology, keys, node) for node, keys in sorted(by_node.items()))
