"""The running QEMU and every action a user can ask of it, once.

:class:`Vm` owns the session, the launcher numatui started (through its
:class:`~numatui.core.keeper.Keeper`: undo history, autosave) and the
unplug requests in flight.  Each user action is one method with one set of
checks; a check that fails raises :class:`ActionRefused` (nothing was sent),
QEMU's refusals stay :class:`~numatui.session.errors.QemuRefused`.  The CLI
formats the results as lines, the TUI as widgets.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from numatui.core import export
from numatui.core.keeper import Keeper
from numatui.core.unplug import UNPLUG_TIMEOUT, Answer, UnplugTracker
from numatui.model.devices import is_plugged_device
from numatui.model.plan import Node, Plan
from numatui.model.preflight import Finding
from numatui.model.topology import SlotKey
from numatui.model.units import human_size
from numatui.session.errors import BadRequest, QemuRefused
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.replay import ATTACHED_EXPLANATION, moved_plan

if TYPE_CHECKING:
    from numatui.session.session import Session


class ActionRefused(BadRequest):
    """An action numatui will not do now (booted, disconnected, no such node, ...):
    nothing was sent.  The message is one sentence for the user."""


class MoveRefused(QemuRefused):
    """QEMU refused to move an assigned CPU and numatui cannot relaunch it
    (attached): ``plan`` is what a restarted QEMU would need."""

    def __init__(self, refused: QemuRefused, plan: Plan | None) -> None:
        super().__init__(refused.command, refused.qemu_message, refused.error_class)
        self.plan = plan


def run_state(session: Session) -> str:
    """"preconfig", "running", "paused", "other" or "disconnected"."""
    return session.state.value


def is_booted(session: Session) -> bool:
    """True once the machine is built (x-exit-preconfig done)."""
    state = run_state(session)
    if state in ("running", "paused", "other"):
        return True
    if state == "preconfig":  # no CPU is plugged before the machine is built
        return False
    return any(s.present for s in session.topology.slots)  # disconnected: what QEMU last said


#: Why a slot cannot be plugged / unplugged: "present" (holds a CPU), "empty"
#: (holds none), "pending" (unplug already asked), "boot" (a -smp CPU).
Why = Literal["present", "empty", "pending", "boot"]


@dataclass
class Targets:
    """The slots an action can take, and the others with why not."""

    ok: list[SlotKey] = field(default_factory=list)
    refused: list[tuple[SlotKey, Why]] = field(default_factory=list)


class Vm:
    """One QEMU (launched or attached) and the actions on it."""

    def __init__(self, session: Session, keeper: Keeper | None = None, *,
                 unplug_timeout: float = UNPLUG_TIMEOUT,
                 on_unplug_answer: Callable[[Answer], None] | None = None) -> None:
        self.session = session
        self.keeper = keeper if keeper is not None else Keeper(session)
        self.unplugs = UnplugTracker(session, unplug_timeout, on_unplug_answer)

    # -- state ------------------------------------------------------------------------
    @property
    def launcher(self) -> Launcher | None:
        """The QEMU numatui started (None: attached); the Keeper owns it."""
        return self.keeper.launcher

    @property
    def booted(self) -> bool:
        return is_booted(self.session)

    @property
    def can_relaunch(self) -> bool:
        return self.keeper.can_relaunch

    # -- assign ------------------------------------------------------------------------
    def check_assign(self, node: int) -> None:
        """ActionRefused when no assignment to ``node`` can be sent now."""
        s = self.session
        if self.booted:
            raise ActionRefused("The VM is running: QEMU fixed every CPU's node at boot.")
        known = {n.id for n in s.nodes}
        if known and node not in known:
            raise ActionRefused(f"Node {node} does not exist (nodes: "
                                f"{', '.join(map(str, sorted(known)))}). Press n to add a node.")
        if not s.connected:
            what = "relaunch it with the plan" if self.can_relaunch else "reconnect"
            raise ActionRefused(f"QEMU is disconnected: press R to {what}.")

    def needs_move(self, keys: Collection[SlotKey], node: int) -> bool:
        """True when some of ``keys`` are already on another node (QEMU cannot move them)."""
        return any(self.session.topology.slot(k).node_id not in (None, node) for k in keys)

    def moves_by_relaunch(self, keys: Collection[SlotKey], node: int) -> bool:
        """Whether :meth:`assign` will relaunch QEMU for this."""
        return self.needs_move(keys, node) and self.can_relaunch

    async def assign(self, keys: Collection[SlotKey], node: int) -> None:
        """Put ``keys`` on ``node``: live, or by relaunch when some are assigned
        elsewhere and numatui started QEMU.  Raises ActionRefused, MoveRefused
        (attached: QEMU's words and the plan it would need), QemuRefused."""
        self.check_assign(node)
        if self.moves_by_relaunch(keys, node):
            await self.keeper.move(keys, node)
            return
        moving = self.needs_move(keys, node)
        try:
            await self.session.assign(keys, node)
        except QemuRefused as exc:
            if not moving:
                raise
            try:
                plan: Plan | None = moved_plan(self.session, keys, node)
            except Exception:
                plan = None
            raise MoveRefused(exc, plan) from None

    async def add_node(self) -> Node:
        """A new memoryless node, live."""
        return await self.session.add_node()

    async def set_distance(self, src: int, dst: int, val: int) -> None:
        await self.session.set_distance(src, dst, val)

    async def set_memory(self, sizes: dict[int, int]) -> Launcher | None:
        """Nodes with ``sizes`` (bytes): nodes QEMU lacks are added live with a
        new backend in preconfig (None: no relaunch, see
        :meth:`numatui.core.keeper.Keeper.set_memory`); a changed size is a new
        QEMU with the plan replayed (its launcher)."""
        return await self.keeper.set_memory(sizes)

    # -- undo, redo, relaunch ------------------------------------------------------------
    def _why_not_relaunch(self, what: str) -> str:
        if self.launcher is None:
            return f"{what}: {ATTACHED_EXPLANATION}."
        return f"{what}: the VM has booted; QEMU fixed every CPU's node at boot."

    def check_undo(self, redo: bool = False) -> str:
        """What undo (redo) would undo; ActionRefused when it cannot now."""
        word = "redo" if redo else "undo"
        history = self.keeper.history
        what = history.redo_description() if redo else history.undo_description()
        if what is None:
            raise ActionRefused(f"Nothing to {word}.")
        if not self.can_relaunch:
            raise ActionRefused(self._why_not_relaunch(f"{word} {what}"))
        return what

    async def undo(self, redo: bool = False) -> str:
        """Go back (forward) one change by relaunch; returns what it was."""
        self.check_undo(redo)
        return await (self.keeper.redo() if redo else self.keeper.undo())

    def check_relaunch_or_reconnect(self) -> Literal["relaunch", "reconnect"]:
        if self.session.state is not RunState.DISCONNECTED:
            raise ActionRefused("QEMU is connected.")
        return "relaunch" if self.can_relaunch else "reconnect"

    async def relaunch_or_reconnect(self) -> Literal["relaunch", "reconnect"]:
        """After QEMU went away: a new QEMU with the plan (numatui started it), or connect again."""
        how = self.check_relaunch_or_reconnect()
        if how == "relaunch":
            await self.keeper.relaunch()
        else:
            await self.session.reconnect()
        return how

    # -- boot ----------------------------------------------------------------------------
    def preflight(self) -> list[Finding]:
        if self.booted:
            raise ActionRefused("The VM is already running.")
        return list(self.session.preflight())

    async def boot(self, force: bool = False) -> None:
        """x-exit-preconfig after the preflight (PreflightBlocked unless ``force``)."""
        await self.session.exit_preconfig(force=force)

    # -- plug, unplug --------------------------------------------------------------------
    def check_running(self, verb: str) -> None:
        if not self.booted:
            raise ActionRefused(f"CPUs can be {verb} once the VM runs: press X to boot it first "
                                "(QEMU refuses device_add and device_del in preconfig).")

    def plug_targets(self, keys: Sequence[SlotKey]) -> Targets:
        """The empty slots among ``keys``; the others hold a CPU."""
        out = Targets()
        for key in keys:
            if self.session.topology.slot(key).present:
                out.refused.append((key, "present"))
            else:
                out.ok.append(key)
        return out

    async def plug(self, key: SlotKey) -> str:
        """device_add a CPU into an empty slot; returns its device id."""
        return await self.session.hotplug(key)

    def unplug_targets(self, keys: Sequence[SlotKey]) -> Targets:
        """The hot-plugged CPUs among ``keys``; the others, and why not."""
        out = Targets()
        for key in keys:
            slot = self.session.topology.slot(key)
            if not slot.present:
                out.refused.append((key, "empty"))
            elif key in self.session.pending_unplug:
                out.refused.append((key, "pending"))
            elif not is_plugged_device(slot.qom_path):
                out.refused.append((key, "boot"))
            else:
                out.ok.append(key)
        return out

    async def unplug(self, key: SlotKey) -> None:
        """device_del: ask the guest to eject; the tracker waits for its answer."""
        await self.session.unplug(key)
        self.unplugs.track(key)

    # -- export, apply -------------------------------------------------------------------
    def export(self, fmt: str) -> str:
        """``numatui export --format fmt``."""
        return export.export_text(self.session, fmt)

    def quit_text(self) -> str:
        """What quitting prints: a ``# warning:`` comment line per unknown, then
        the compact -numa options (:func:`numatui.core.export.quit_text`)."""
        return export.quit_text(self.session)

    async def apply_plan(self, plan: Plan, sent: Callable[[dict[str, Any]], object]) -> Applied:
        """Apply ``plan`` live: validate all of it first, then send the fewest
        commands (``sent`` hears each command's arguments: ``set-numa-node``'s,
        or ``object-add``'s for a new node's memory backend, with ``qom-type``).

        Raised before anything is sent: NumaError for entries that do not fit
        the board (props it lacks, no matching slot, a slot on two nodes),
        BadRequest for nodes QEMU lacks that the plan does not declare, and bad
        distances.  Nodes QEMU lacks are added live, with a new memory backend
        (``object-add``) when the plan gives them a size, or the plan's
        ``memdev`` when QEMU has that backend already.  A slot QEMU already has on another
        node (QEMU has no undo) is then sent alone, for that one slot: QEMU
        refuses it in its own words (QemuRefused) and nothing changes.
        """
        s = self.session
        mapping = plan.resolve(s.topology)
        new_nodes = _nodes_to_add(s, plan)
        for d in plan.distances:
            if d.src == d.dst and d.val != 10:
                raise BadRequest(f"distance {d.src} to {d.dst} is {d.val}: the local distance must be 10")
            if d.val < 10:
                raise BadRequest(f"distance {d.src} to {d.dst} is {d.val}: QEMU needs at least 10")
        for key, node in mapping.items():
            current = s.topology.slot(key).node_id
            if current is not None and current != node:
                await s.assign([key], node)  # QemuRefused: "CPU is already assigned ..."
        count = 0
        for new in new_nodes:
            added = await s.add_node(new.id, size=new.size, memdev=new.memdev)
            if added.memdev_created:
                sent({"qom-type": "memory-backend-ram", "id": added.memdev, "size": added.size})
                count += 1
            args: dict[str, Any] = {"type": "node", "nodeid": added.id}
            if added.memdev is not None:
                args["memdev"] = added.memdev
            sent(args)
            count += 1
        pending = {key: node for key, node in mapping.items() if s.topology.slot(key).node_id is None}
        if pending:  # every node at once: the fewest commands, one re-read
            for command in await s.apply_mapping(pending):
                sent(command if "type" in command else {"type": "cpu", **command})
                count += 1
        have = {(d.src, d.dst): d.val for d in s.distances}
        for d in plan.distances:
            if have.get((d.src, d.dst)) != d.val:
                await s.set_distance(d.src, d.dst, d.val)
                sent({"type": "dist", "src": d.src, "dst": d.dst, "val": d.val})
                count += 1
        vcpus = sum(s.topology.slot(k).vcpus_count for k in mapping)
        return Applied(slots=len(mapping), vcpus=vcpus, nodes=len(set(mapping.values())), commands=count)


@dataclass
class Applied:
    """What :meth:`Vm.apply_plan` did."""

    slots: int
    vcpus: int
    nodes: int
    commands: int


def _nodes_to_add(session: Session, plan: Plan) -> list[Node]:
    """Nodes the plan names that QEMU lacks: each must be declared in the plan
    (memoryless, with a size for a new backend, or with a memdev QEMU has)."""
    known = {n.id for n in session.nodes}
    if not known and session.nodes_source == "unknown":
        return []  # numatui cannot tell: QEMU will say
    out = []
    for node_id in plan.node_ids():
        if node_id in known:
            continue
        declared = plan.node(node_id)
        have = f"QEMU has node(s) {sorted(known)} ({session.nodes_source})" if known \
            else f"QEMU has no NUMA node ({session.nodes_source})"
        if declared is None:
            raise BadRequest(f"the plan uses node {node_id}, but {have}: declare it in the plan's "
                             f"nodes to add it live, or start QEMU with it")
        if declared.memdev is not None and declared.size is None \
                and declared.memdev not in session.memdev_ids():
            raise BadRequest(f"node {node_id} uses memdev {declared.memdev!r}, which QEMU does not "
                             "have: give the node a \"size\" to create it live")
        out.append(declared)
    _check_ram(session, [n for n in out if n.size and n.memdev not in session.memdev_ids()])
    return out


def _check_ram(session: Session, new: Sequence[Node]) -> None:
    """Memory given to nodes cannot be taken back: refuse a plan whose new
    backends would make node memory exceed -m (QEMU would not boot)."""
    ram = session.info.ram_size
    added = sum(n.size or 0 for n in new)
    if ram is None or not added:
        return
    total = sum(n.size or 0 for n in session.nodes) + added
    if total > ram:
        raise BadRequest(f"the plan's new nodes would bring node memory to {human_size(total)}, more "
                         f"than QEMU's RAM ({human_size(ram)}): QEMU could never boot, and node "
                         "memory cannot be taken back; start QEMU with more -m or give the nodes less")
