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

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from numatui.model.compact import compact
from numatui.model.errors import NumaError
from numatui.model.memory_split import argv_with_bindings, argv_with_split
from numatui.model.plan import Node, Plan
from numatui.model.qemu_args import (
    cpu_option,
    exclusive_option,
    iter_options,
    numa_kind,
    parse_qemu_args,
    without_legacy_cpus,
)
from numatui.model.topology import SlotKey, Topology, format_key
from numatui.session import commands, memory
from numatui.session.commands import Step
from numatui.session.errors import SessionError
from numatui.session.launcher import Launcher

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
    if session.state.booted:
        raise ReplayRefused(
            "the VM has booted: a relaunch would restart the guest; QEMU fixed every CPU's node at boot"
        )
    return launcher


def without_numa_cpu_dist(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``-numa cpu`` and ``-numa dist`` options and the
    legacy ``cpus=`` of ``-numa node`` (the plan replayed over QMP carries
    them; a relaunched QEMU must not pre-assign)."""
    out: list[str] = []
    for opt in iter_options(argv):
        kind = numa_kind(opt.value) if opt.name == "numa" and opt.value is not None else None
        if kind in ("cpu", "dist"):
            continue
        if kind == "node" and opt.value is not None and "cpus=" in opt.value:
            out += [opt.tokens[0], without_legacy_cpus(opt.value)] if len(opt.tokens) == 2 \
                else [f"-numa={without_legacy_cpus(opt.value)}"]
            continue
        out.extend(opt.tokens)
    return out


def launcher_for(argv: Sequence[str], plan: Plan, *, keep_running: bool = False,
                 split: Mapping[int, int] | None = None) -> tuple[Launcher, Plan]:
    """An unstarted Launcher for ``plan`` from a QEMU ``argv`` (program first),
    and the plan to replay on it.  Its memory backends carry the plan's
    ``host-nodes``/``policy`` (QEMU fixes a backend's binding when it makes
    it); ``split`` (node id -> bytes, 0 = memoryless) gives the nodes other
    memory (a new backend of the plan node's type), and the plan the argv's nodes; ``-numa cpu``/``dist`` are
    dropped (the replay sends them).  ReplayRefused when the argv cannot say it."""
    if split is not None:
        try:
            argv = argv_with_split(argv, split, {n.id: n.backend for n in plan.nodes if n.backend})
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


#: Set-numa-node steps worked out while a new QEMU starts: (the topology they
#: were computed on, the mapping, the steps); used only when the new QEMU's
#: topology is that one.
Guess = tuple[Topology, Mapping[SlotKey, int], list[Step]]


def guess_steps(session: Session, mapping: Mapping[SlotKey, int]) -> Guess | None:
    """The mapping steps for a new QEMU from the same arguments, worked out on
    the slots the session has now with no node (what that QEMU will report:
    the replay drops ``-numa cpu``): run while QEMU starts, so that their CPU
    time is off the move's span.  None when they cannot be worked out."""
    blank = session.topology.with_mapping(dict.fromkeys(session.topology.mapping()))
    try:
        return blank, dict(mapping), commands.mapping_steps(blank, mapping)
    except (SessionError, NumaError):
        return None  # the replay works them out again, and says why


async def send_plan(session: Session, plan: Plan, mapping: Mapping[SlotKey, int], nodes: Sequence[Node],
                    description: str, sent: Callable[[dict[str, Any]], object] = lambda args: None,
                    guess: Guess | None = None) -> int:
    """Send ``plan`` to a QEMU in preconfig with the fewest commands, as one
    batch (:meth:`Session.send`: pipelined, one re-read, one record write, one
    change ``description``): its pinning (numatui's, after boot), ``nodes``
    (QEMU lacks them; a sized one gets a new backend by ``object-add``
    first), the ``mapping`` of the slots that have no node yet, the distances
    QEMU lacks, then HMAT (after the CPUs: an initiator needs them; caches
    last).  Everything is checked before anything is sent.  ``sent`` hears
    each accepted command's arguments (``object-add``'s with ``qom-type``);
    ``guess``: :func:`guess_steps`, used when QEMU's slots are those it was
    worked out on.  Returns how many QEMU accepted; raises its first refusal."""
    if plan.pinning is not None and session.pinning != plan.pinning:
        session.set_pinning(plan.pinning)
    steps = session.node_steps(nodes)
    pending = {key: node for key, node in mapping.items() if session.topology.slot(key).node_id is None}
    if guess is not None and pending == guess[1] and session.topology == guess[0]:
        steps += guess[2]
    else:
        steps += commands.mapping_steps(session.topology, pending) if pending else []
    have = {(d.src, d.dst): d.val for d in session.distances}
    steps += [commands.distance_step(d.src, d.dst, d.val) for d in plan.distances
              if have.get((d.src, d.dst)) != d.val]
    steps += [commands.hmat_step(lb) for lb in plan.hmat_lb if lb not in session.hmat_lb]
    steps += [commands.hmat_step(c) for c in plan.hmat_cache if c not in session.hmat_cache]
    return await session.send(steps, description, pending, sent) if steps else 0


async def replay(session: Session, plan: Plan, mapping: dict[SlotKey, int], why: str,
                 guess: Guess | None = None) -> int:
    """:func:`send_plan` to a new QEMU (``mapping``: :func:`check_plan`'s),
    announced as one change ``why``; the nodes its arguments lack are added
    (memoryless, or with memory: see check_plan).  Returns the commands sent.
    Raises SessionError (QEMU's words) or ReplayFailed when QEMU ends up
    with another mapping."""
    have = {n.id for n in session.nodes}
    wanted = {n.id for n in plan.nodes} | set(mapping.values()) | {d.src for d in plan.distances} \
        | {d.dst for d in plan.distances}
    sent = await send_plan(session, plan, mapping, [plan.node(i) or Node(i) for i in sorted(wanted - have)],
                           why, guess=guess)
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
    guess: list[Guess | None] = [None]  # worked out while the new QEMU starts

    def meanwhile() -> None:
        guess[0] = guess_steps(session, mapping)

    on_argv = cpus_on_command_line(new, session.topology, mapping)
    return await _swap(session, old, new, f"{why}: {reason}",
                       lambda: replay(session, plan, mapping, why, guess[0]),
                       (lambda: None) if on_argv else meanwhile)


def cpus_on_command_line(launcher: Launcher, topology: Topology, mapping: Mapping[SlotKey, int]) -> bool:
    """Give the new QEMU ``mapping`` as ``-numa cpu`` options (the compact
    ones, after every other option: its nodes are declared before them), as
    a person starting QEMU would: it maps the slots as it starts, and the
    replay has no set-numa-node left to send for them.  Only when the
    arguments declare every node of the mapping (a node the replay adds
    live comes after QEMU starts) and the board lists its slots (a derived
    board's mapping is the one numatui sent and recorded).  Returns whether
    it did; the next relaunch drops them (:func:`without_numa_cpu_dist`)."""
    declared = {n.id for n in launcher.nodes}
    if topology.derived or not mapping or not set(mapping.values()) <= declared:
        return False
    for option in compact(topology, mapping):
        launcher.user_argv += ["-numa", cpu_option(option)]
    return True


async def relaunch_topology(session: Session, argv: Sequence[str],
                            why: str) -> tuple[Launcher, list[SlotKey]]:
    """Swap the session's QEMU for one started from ``argv`` (another ``-smp``
    or ``-cpu``: QEMU fixes both when it starts) with the current plan's
    nodes, distances and HMAT replayed, and the node of every slot the new
    QEMU still has (same props).  Returns the new launcher and the slots
    that had a node and are gone.  Raises as :func:`relaunch`."""
    old = check_relaunch(session)
    plan = session.plan()
    before = {k: n for k, n in session.topology.mapping().items() if n is not None}
    new, plan = launcher_for(argv, plan, keep_running=old.keep_running)
    gone: list[SlotKey] = []

    async def carry() -> int:
        have = {s.key for s in session.topology.slots}
        gone.extend(sorted(k for k in before if k not in have))
        return await replay(session, plan, {k: n for k, n in before.items() if k in have}, why)

    return await _swap(session, old, new, f"{why}: QEMU fixes its CPU topology when it starts", carry), gone


async def _swap(session: Session, old: Launcher, new: Launcher, why: str,
                replay_on_new: Callable[[], Awaitable[int]],
                meanwhile: Callable[[], object] = lambda: None) -> Launcher:
    """Start ``new``, move the session there and run ``replay_on_new``; then
    stop ``old``.  Any failure stops ``new`` and goes back to ``old``.
    ``meanwhile`` runs once QEMU is spawned, while it starts (CPU work the
    replay needs, off the move's span).

    When QEMU's command line holds a host resource a second QEMU cannot open
    (a disk image's write lock, a listening socket: :func:`exclusive_option`),
    the old QEMU is stopped first, and going back means a QEMU started again
    from the old arguments with the old plan replayed."""
    note = session.transcript.note
    first = exclusive_option(old.user_argv)
    before = session.plan()
    before_mapping = {k: n for k, n in session.topology.mapping().items() if n is not None}
    note(f"relaunching QEMU for {why}, so a new QEMU in preconfig gets the whole plan replayed"
         + (f"; the old QEMU stops first ({first} cannot be opened by two QEMUs)" if first else ""))
    if first:
        await old.stop()
    try:
        await _start_while(new, meanwhile)
        session.launcher = new
        await session.reconnect(new.address)
        sent = await replay_on_new()
    except BaseException as exc:
        started = session.launcher is not old
        session.launcher = old
        await new.stop()
        if not isinstance(exc, (SessionError, NumaError)):
            raise  # cancelled (numatui quits): the old QEMU is still the session's to stop
        if not started and not first:
            note(f"relaunch failed, still on the old QEMU: {exc}")
            raise ReplayFailed(f"the new QEMU did not start: {exc}; nothing changed", restored=True) from None
        note(f"the new QEMU failed: {exc}; going back to the old QEMU")
        if first:
            restored = await _restart(session, old, before, before_mapping)
        else:
            restored = await _reconnect(session, old)
        where = "nothing changed" if restored else "the old QEMU is gone too"
        raise ReplayFailed(f"relaunch failed: {exc}; {where}", restored=restored) from None
    if not first:  # (stopped first when the options cannot be shared: see exclusive_option)
        session.retire(old)  # the move is done: the old QEMU's exit need not hold it up
    note(f"relaunched QEMU (pid {new.pid}) with the plan: {sent} command(s) after its own options; "
         f"the old QEMU (pid {old.pid}) is stopped")
    return new


async def _start_while(new: Launcher, meanwhile: Callable[[], object]) -> None:
    """``new.start()``, with ``meanwhile`` run once QEMU is spawned (the
    start's first step), while QEMU reads its options and makes the board."""
    starting = asyncio.ensure_future(new.start())
    try:
        await asyncio.sleep(0)  # the task runs up to its first wait: QEMU is spawned
        meanwhile()
    finally:
        await starting  # (its failure, or a cancellation, is the start's)


async def _restart(session: Session, old: Launcher, plan: Plan, mapping: dict[SlotKey, int]) -> bool:
    """A QEMU from ``old``'s arguments holding ``plan`` again (the old one was
    stopped first); False when that fails too."""
    again, plan = launcher_for(old.user_argv, plan, keep_running=old.keep_running)
    try:
        await again.start()
        session.launcher = again
        await session.reconnect(again.address)
        await replay(session, plan, mapping, "going back")
    except (SessionError, NumaError) as exc:
        session.transcript.note(f"cannot start the old QEMU again: {exc}")
        await again.stop()
        return False
    return True


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
