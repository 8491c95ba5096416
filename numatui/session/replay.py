"""Relaunch-and-replay: moving an assigned slot, undo and redo, node memory
and its host binding.

QEMU cannot move or unassign a CPU slot once ``set-numa-node`` assigned it,
and fixes a node's memory and its backend's host binding when it starts.
When numatui started QEMU itself it can do what a person would: start a new
QEMU with the same arguments (the plan's memory and binding rewritten in) in
preconfig, replay the nodes, the distances and the wanted mapping with the
fewest commands, and continue there (:func:`relaunch`).

The swap is safe at every step.  The new QEMU is started and replayed while
the old one keeps running untouched; only when the new one holds the whole
plan is the old one stopped.  Any failure before that (QEMU does not start,
refuses a command, dies) stops the new QEMU and reconnects the session to the
old one, so the user is exactly where they were.

The same :class:`~numatui.session.session.Session` object is kept (its
listeners, transcript and the TUI's reference survive); it is reconnected to
the new QEMU with :meth:`Session.reconnect`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from numatui.model.errors import NumaError
from numatui.model.memory_split import argv_with_bindings, argv_with_split
from numatui.model.plan import Node, Plan
from numatui.model.qemu_args import iter_options, numa_kind, parse_qemu_args
from numatui.model.topology import SlotKey, format_key
from numatui.session import memory
from numatui.session.errors import SessionError
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState

if TYPE_CHECKING:
    from numatui.session.session import Session
    from numatui.session.transcript import Transcript

#: What to tell a user who wants to move a slot of a QEMU numatui did not start.
ATTACHED_EXPLANATION = (
    "QEMU cannot move a CPU that is already assigned to a node, and numatui did not start "
    "this QEMU so it cannot restart it: export the plan, restart QEMU with --preconfig and "
    "apply it (numatui apply ADDRESS PLAN)"
)


class ReplayRefused(SessionError):
    """A relaunch numatui will not do (attached QEMU, booted VM, a plan that
    does not fit).  Nothing was changed."""


class ReplayFailed(SessionError):
    """The new QEMU did not take the plan; the session is back on the old QEMU
    (``.restored``) or disconnected when even that failed."""

    def __init__(self, message: str, restored: bool) -> None:
        self.restored = restored
        super().__init__(message)


def launched(session: Session) -> Launcher | None:
    """The QEMU numatui started for ``session`` (None: attached)."""
    return session.launcher if isinstance(session.launcher, Launcher) else None


def can_relaunch(session: Session) -> bool:
    """True when a move/undo by relaunch is possible right now."""
    try:
        check_relaunch(session)
    except ReplayRefused:
        return False
    return True


def check_relaunch(session: Session) -> Launcher:
    """The session's launcher when a relaunch is possible now; else ReplayRefused saying why."""
    launcher = launched(session)
    if launcher is None:
        raise ReplayRefused(ATTACHED_EXPLANATION)
    if session.state in (RunState.RUNNING, RunState.PAUSED, RunState.OTHER):
        raise ReplayRefused(
            "the VM has booted: a relaunch would restart the guest; QEMU fixed every CPU's node at boot"
        )
    return launcher


def without_numa_cpu_dist(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``-numa cpu`` and ``-numa dist`` options (the plan
    replayed over QMP carries them; a relaunched QEMU must not pre-assign)."""
    out: list[str] = []
    for opt in iter_options(argv):
        if opt.name == "numa" and opt.value is not None and numa_kind(opt.value) in ("cpu", "dist"):
            continue
        out.extend(opt.tokens)
    return out


def launcher_for(argv: Sequence[str], plan: Plan, *, keep_running: bool = False,
                 split: Mapping[int, int] | None = None) -> tuple[Launcher, Plan]:
    """An unstarted Launcher for ``plan`` from a QEMU ``argv`` (program first),
    and the plan to replay on it.  Its memory backends carry the plan's
    ``host-nodes``/``policy`` (QEMU fixes a backend's binding when it makes
    it); ``split`` (node id -> bytes, 0 = memoryless) gives the nodes other
    memory, and the plan the argv's nodes; ``-numa cpu``/``dist`` are
    dropped (the replay sends them).  ReplayRefused when the argv cannot say it."""
    if split is not None:
        try:
            argv = argv_with_split(argv, split)
            plan = plan.with_nodes(parse_qemu_args(argv[1:], strict=True).nodes)
        except NumaError as exc:
            raise ReplayRefused(f"cannot rewrite QEMU's arguments for the new split: {exc}") from None
    try:
        cfg = parse_qemu_args(argv[1:], strict=False)
    except NumaError:
        cfg = None  # left as it is
    rebind = {n.memdev: (n.host_nodes, n.policy) for n in plan.nodes if cfg and n.memdev in cfg.memdev_ids
              and cfg.bindings.get(n.memdev, ((), None)) != (n.host_nodes, n.policy)}
    if rebind:
        argv = argv_with_bindings(argv, rebind)
    return Launcher(qemu=argv[0], extra_args=without_numa_cpu_dist(argv[1:]), keep_running=keep_running), plan


def check_plan(session: Session, plan: Plan, launcher: Launcher) -> dict[SlotKey, int]:
    """Everything that can be checked before any QEMU is touched: the plan
    fits the board, and nodes the launch arguments lack can be added live
    (memoryless; with a size: a new backend by object-add; with a memdev
    only: one QEMU's arguments define).  Returns the slot -> node mapping.
    Raises ReplayRefused."""
    try:
        mapping = plan.resolve(session.topology)
    except NumaError as exc:
        raise ReplayRefused(f"the plan does not fit this machine: {exc}") from None
    declared = {n.id for n in launcher.nodes}
    for node in plan.nodes:
        if node.id not in declared and node.memdev is not None and node.size is None \
                and node.memdev not in session.memdev_ids():
            raise ReplayRefused(
                f"node {node.id} uses memdev {node.memdev!r}, which QEMU's arguments do not "
                "define, and the plan gives it no size to create it"
            )
    return mapping


async def send_plan(session: Session, plan: Plan, mapping: Mapping[SlotKey, int], nodes: Sequence[Node],
                    sent: Callable[[dict[str, Any]], object] = lambda args: None) -> int:
    """Send ``plan`` to a QEMU in preconfig with the fewest commands: its
    pinning (numatui's, after boot), ``nodes`` (QEMU lacks them; a sized one
    gets a new backend by ``object-add`` first), the ``mapping`` of the slots
    that have no node yet, the distances QEMU lacks, then HMAT (after the
    CPUs: an initiator needs them; caches last).  ``sent`` hears each
    command's arguments (``object-add``'s with ``qom-type``); returns how many."""
    count = 0

    def send(args: dict[str, Any]) -> None:
        nonlocal count
        sent(args)
        count += 1

    if plan.pinning is not None and session.pinning != plan.pinning:
        session.set_pinning(plan.pinning)
    for new in nodes:
        added = await session.add_node(new.id, size=new.size, memdev=new.memdev, host_nodes=new.host_nodes,
                                       policy=new.policy, initiator=new.initiator)
        if added.memdev_created:
            backend: dict[str, Any] = {"qom-type": "memory-backend-ram", "id": added.memdev,
                                       "size": added.size}
            if added.host_nodes:
                backend.update({"host-nodes": list(added.host_nodes), "policy": added.policy})
            send(backend)
        args: dict[str, Any] = {"type": "node", "nodeid": added.id}
        if added.memdev is not None:
            args["memdev"] = added.memdev
        if added.initiator is not None:
            args["initiator"] = added.initiator
        send(args)
    pending = {key: node for key, node in mapping.items() if session.topology.slot(key).node_id is None}
    if pending:  # every node at once: the fewest commands (any prop pattern), one re-read
        for command in await session.apply_mapping(pending):
            send(command if "type" in command else {"type": "cpu", **command})
    have = {(d.src, d.dst): d.val for d in session.distances}
    for d in plan.distances:
        if have.get((d.src, d.dst)) != d.val:
            await session.set_distance(d.src, d.dst, d.val)
            send({"type": "dist", "src": d.src, "dst": d.dst, "val": d.val})
    for lb in plan.hmat_lb:
        if lb not in session.hmat_lb:
            await session.set_hmat_lb(lb)
            send({"type": "hmat-lb", **lb.to_args()})
    for c in plan.hmat_cache:
        if c not in session.hmat_cache:
            await session.set_hmat_cache(c)
            send({"type": "hmat-cache", **c.to_args()})
    return count


async def replay(session: Session, plan: Plan, mapping: dict[SlotKey, int], why: str) -> int:
    """:func:`send_plan` to a new QEMU (``mapping``: :func:`check_plan`'s),
    announced as one change ``why``; the nodes its arguments lack are added
    (memoryless, or with memory: see check_plan).  Returns the commands sent.
    Raises SessionError (QEMU's words) or ReplayFailed when QEMU ends up
    with another mapping."""
    have = {n.id for n in session.nodes}
    wanted = {n.id for n in plan.nodes} | set(mapping.values()) | {d.src for d in plan.distances} \
        | {d.dst for d in plan.distances}
    with session.batch_changes(why):
        sent = await send_plan(session, plan, mapping,
                               [plan.node(i) or Node(i) for i in sorted(wanted - have)])
    live = {k: v for k, v in session.topology.mapping().items() if v is not None}
    if live != mapping:
        key, _ = sorted(set(live.items()) ^ set(mapping.items()))[0]
        raise ReplayFailed(f"after the replay QEMU has slot {format_key(key)} on node {live.get(key)}, "
                           f"the plan says {mapping.get(key)}", restored=False)
    return sent


#: Why a relaunch is needed, as the QMP log says it (``relaunch``'s ``reason``).
MOVE_REASON = "QEMU cannot move an assigned CPU"
UNDO_REASON = "QEMU has no undo (an assigned CPU cannot move or be unassigned)"
MEMORY_REASON = "QEMU fixes a node's memory when it starts"
BINDING_REASON = "QEMU fixes a memory backend's host binding when it creates it"
GONE_REASON = "QEMU went away"


async def relaunch(session: Session, plan: Plan, why: str, reason: str) -> Launcher:
    """Swap the session's QEMU (``session.launcher``) for a new one holding
    ``plan`` (``why``: for what, ``reason``: why a new QEMU, as the QMP log
    says them; see the module docstring), started from the same arguments
    with the plan's node memory and backends' host binding (QEMU fixes both
    when it starts).  Returns the new launcher (also ``session.launcher``).

    Raises ReplayRefused (attached, booted, plan does not fit: nothing
    touched) or ReplayFailed (the new QEMU failed; ``restored`` says whether
    the session is back on the old QEMU, unchanged).
    """
    old = check_relaunch(session)
    new, plan = launcher_for(old.user_argv, plan, keep_running=old.keep_running,
                             split=memory.split_for(session, plan))
    new.origin_argv = old.origin_argv
    mapping = check_plan(session, plan, new)
    note = session.transcript.note
    note(f"relaunching QEMU for {why}: {reason}, "
         "so a new QEMU in preconfig gets the whole plan replayed")
    try:
        await new.start()
        session.launcher = new
        await session.reconnect(new.address)
        sent = await replay(session, plan, mapping, why)
    except BaseException as exc:
        started = session.launcher is not old
        session.launcher = old
        await new.stop()
        if not isinstance(exc, (SessionError, NumaError)):
            raise  # cancelled (numatui quits): the old QEMU is still the session's to stop
        if not started:
            note(f"relaunch failed, still on the old QEMU: {exc}")
            raise ReplayFailed(f"the new QEMU did not start: {exc}; nothing changed", restored=True) from None
        note(f"replay on the new QEMU failed: {exc}; going back to the old QEMU")
        restored = await _reconnect(session, old)
        where = "nothing changed" if restored else "the old QEMU is gone too"
        raise ReplayFailed(f"relaunch failed: {exc}; {where}", restored=restored) from None
    await old.stop()
    note(f"relaunched QEMU (pid {new.pid}) with the plan replayed in {sent} command(s); "
         f"the old QEMU (pid {old.pid}) was stopped")
    return new


async def _reconnect(session: Session, old: Launcher) -> bool:
    """Reconnect ``session`` to the old QEMU; False when that fails too."""
    if not old.alive():
        return False
    try:
        await session.reconnect(old.address)
    except SessionError as exc:
        session.transcript.note(f"cannot reconnect to the old QEMU: {exc}")
        return False
    return True


def moved_plan(session: Session, keys: Collection[SlotKey], node: int) -> Plan:
    """The current plan with ``keys`` on ``node``."""
    topo = session.topology.with_mapping({k: node for k in keys})
    nodes = list(session.nodes)
    if all(n.id != node for n in nodes):
        raise ReplayRefused(f"node {node} does not exist (nodes: {[n.id for n in nodes]})")
    return Plan.from_topology(topo, nodes, session.distances, session.hmat_lb, session.hmat_cache)


async def launch_with_plan(argv: Sequence[str], plan: Plan, *, timeout: float = 3.0,
                           keep_running: bool = False, transcript: Transcript | None = None) -> Session:
    """Start QEMU from a saved ``argv`` (program first; see :func:`launcher_for`)
    in preconfig and replay ``plan``: what ``numatui launch --resume`` does.
    On any failure QEMU is stopped and the error raised (LaunchFailed /
    ReplayRefused / QEMU's refusal)."""
    from numatui.session.session import Session

    if not argv:
        raise ReplayRefused("the saved state has no QEMU command line to start")
    launcher, plan = launcher_for(argv, plan, keep_running=keep_running)
    await launcher.start()
    session: Session | None = None
    try:
        session = await Session.connect(launcher.address, timeout=timeout, launcher=launcher,
                                        qemu_argv=launcher.user_argv, transcript=transcript)
        sent = await replay(session, plan, check_plan(session, plan, launcher), "resume")
        session.transcript.note(f"resumed: the saved plan replayed in {sent} command(s)")
    except BaseException:
        if session is not None:
            await session.close()
        await launcher.stop()
        raise
    return session
