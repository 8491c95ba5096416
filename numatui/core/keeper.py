"""Undo history, move-by-relaunch and autosave around one session.

A move, undo, redo, memory split or relaunch swaps QEMU through
:func:`numatui.session.replay.relaunch`, which puts the new launcher on the
session: ``session.launcher`` is the one place it is kept (the session reads
its argv and stderr and stops it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from numatui.model.backend import Backend
from numatui.model.history import History, describe_assign
from numatui.model.plan import Node, Plan
from numatui.model.topology import SlotKey
from numatui.session import memory
from numatui.session.launcher import Launcher
from numatui.session.replay import (
    BINDING_REASON,
    GONE_REASON,
    MEMORY_REASON,
    MOVE_REASON,
    UNDO_REASON,
    ReplayRefused,
    check_relaunch,
    launched,
    moved_plan,
    relaunch,
    relaunch_topology,
)

if TYPE_CHECKING:
    from numatui.session.session import Session

SaveHook = Callable[["Session"], object]


class Keeper:
    """Undo history, move-by-relaunch and autosave around one session.

    It listens to the session's changes: each one is pushed on the history
    and saved (``save(session)``, e.g. :meth:`numatui.core.autosave.Autosaver.save_session`).
    ``move``/``undo`` (and redo)/``relaunch``/``set_memory`` swap QEMU; the
    history survives (it lives here).
    """

    def __init__(self, session: Session, *, save: SaveHook | None = None,
                 history: History | None = None, resumed: str | None = None) -> None:
        self.session = session
        self.save = save
        self.history = history or History(session.plan(), "start")
        #: ``resumed NAME (saved WHEN)`` after ``numatui launch --resume`` (the status line says it)
        self.resumed = resumed
        self.last_save_error: str | None = None
        #: where the last autosave went (when ``save`` returns something with a ``path``)
        self.saved_path: str | None = None
        self._replaying = False
        self._remove = session.add_change_listener(self._on_change)

    def close(self) -> None:
        self._remove()

    def _on_change(self, description: str) -> None:
        if not self._replaying:  # a relaunch saves once it is through (_go)
            self.history.push(self.session.plan(), description)
            self.autosave()

    def autosave(self) -> None:
        """Save now; a failure is noted (``last_save_error``), never raised."""
        if self.save is None:
            return
        try:
            result = self.save(self.session)
        except Exception as exc:  # a full disk must not stop the mapping
            self.last_save_error = f"autosave failed: {exc}"
            self.session.transcript.note(self.last_save_error)
        else:
            self.last_save_error = None
            path = getattr(result, "path", None)  # a SavedState, or whatever the hook returns
            if path is not None:
                self.saved_path = str(path)

    async def _go(self, plan: Plan, why: str, reason: str,
                  then: Callable[[], object] = lambda: None) -> Launcher:
        """:func:`relaunch`, ``then`` (the history's step: the replay may send
        nothing, the new QEMU's options holding the whole plan), then saved
        (the state file carries the history)."""
        self._replaying = True
        try:
            new = await relaunch(self.session, plan, why, reason)
        finally:
            self._replaying = False
        then()
        self.autosave()
        return new

    def _pushing(self, description: str) -> Callable[[], object]:
        """The history's step after a relaunch: the plan QEMU has now, as ``description``."""
        return lambda: self.history.push(self.session.plan(), description)

    async def move(self, keys: Collection[SlotKey], node: int) -> None:
        """Put ``keys`` on ``node`` even when some are assigned elsewhere."""
        check_relaunch(self.session)
        description = describe_assign(self.session.topology, keys, node)
        plan = moved_plan(self.session, keys, node)
        await self._go(plan, description, MOVE_REASON, self._pushing(description))

    async def undo(self, redo: bool = False) -> str:
        """Go back (``redo``: forward) one change (relaunch); returns what it was."""
        h = self.history
        what = (h.redo_description() if redo else h.undo_description()) or ""
        await self._go(h.undo_target(redo), f"{'redo' if redo else 'undo'} {what}", UNDO_REASON,
                       lambda: h.undo(redo))
        return what

    async def relaunch(self) -> None:
        """After QEMU died: a new QEMU with the current plan."""
        await self._go(self.history.current, "restoring the plan", GONE_REASON)

    async def set_topology(self, argv: Sequence[str], why: str) -> list[SlotKey]:
        """A new QEMU from ``argv`` (another -smp or -cpu) with the plan carried
        over (:func:`relaunch_topology`); returns the slots that had a node and
        are gone.  The undo history starts again there: an earlier plan names
        slots of the old topology."""
        self._replaying = True
        try:
            _, gone = await relaunch_topology(self.session, argv, why)
        finally:
            self._replaying = False
        self.history = History(self.session.plan(), why)
        self.autosave()
        return gone

    async def rebind(self, plan: Plan, why: str = "memory binding") -> None:
        """A new QEMU whose existing backends carry ``plan``'s host-nodes/policy, ``plan`` replayed."""
        await self._go(plan, why, BINDING_REASON, self._pushing(why))

    async def set_memory(self, sizes: dict[int, int],
                         backends: Mapping[int, Backend] | None = None,
                         initiators: Mapping[int, int] | None = None) -> Launcher | None:
        """Give the nodes ``sizes`` (bytes; 0 = memoryless); saved afterwards.

        In preconfig, when only nodes QEMU does not have yet are new (existing
        sizes unchanged), they are added live (``object-add`` of a
        ``memory-backend-ram`` + ``set-numa-node`` type node with ``memdev``;
        memoryless: the node alone) and None is returned: no relaunch.
        Otherwise a new QEMU with the split, the plan replayed (the saved argv
        carries the split); returns its launcher.  ``backends``: the type and
        options of a new node's backend (default RAM); ``initiators``: a new
        node's HMAT ``initiator`` (QEMU takes it only with the node)."""
        initiators = initiators or {}
        live = memory.live_additions(self.session, sizes)
        refusal = None if live is not None else memory.read_only_reason(self.session, launched(self.session))
        refusal = refusal or memory.memory_problem(self.session, sizes)
        if refusal is not None:
            raise ReplayRefused(refusal)
        new: Launcher | None = None
        if live is None:
            plan, why = memory.split_plan(self.session, sizes, backends or {})
            have = {n.id for n in self.session.nodes}
            plan = plan.with_nodes([replace(n, initiator=initiators[n.id])
                                    if n.id in initiators and n.id not in have else n for n in plan.nodes])
            new = await self._go(plan, why, MEMORY_REASON, self._pushing(why))
        else:  # one batch: one change saved by _on_change
            await self.session.add_nodes([
                Node(node_id, size=size or None, initiator=initiators.get(node_id),
                     backend=(backends or {}).get(node_id, ()) if size else ())
                for node_id, size in live])
        return new
