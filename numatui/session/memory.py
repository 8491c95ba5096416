"""Changing how the guest's RAM is split across nodes: a new QEMU.

Memory backends are created when QEMU starts, so a new split needs a new
QEMU; only possible when numatui started this one.  The swap is
:func:`numatui.session.replay.relaunch_with_plan` (the new QEMU is started
and the plan replayed while the old one runs; any failure goes back to the
old one): this module gives it the launch arguments with the new split
(:func:`numatui.model.memory_split.argv_with_split`) and the plan with the
new node sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from numatui.model.errors import NumaError
from numatui.model.memory_split import MemorySplit, argv_with_bindings, argv_with_split
from numatui.model.plan import Plan
from numatui.model.qemu_args import parse_qemu_args
from numatui.model.units import human_size
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.replay import MEMORY_REASON, ReplayRefused, relaunch_with_plan, without_numa_cpu_dist

if TYPE_CHECKING:
    from numatui.session.session import Session

#: What the memory editor says when it cannot change anything.
ATTACHED_READ_ONLY = (
    "numatui did not start this QEMU: node memory is fixed by its command line "
    "(-object memory-backend-*,size=). Shown read-only; to change it, restart QEMU "
    "with other sizes, or let numatui launch it"
)
BOOTED_READ_ONLY = "the VM is running: node memory was fixed when QEMU started"


def read_only_reason(session: Session, launcher: Launcher | None) -> str | None:
    """Why the split cannot be changed now (None: it can); ``launcher`` is the
    QEMU numatui started (None: attached)."""
    if launcher is None:
        return ATTACHED_READ_ONLY
    if session.state is not RunState.PRECONFIG:
        return BOOTED_READ_ONLY
    if session.info.ram_size is None:
        return "QEMU did not say its RAM size (qom-get /machine memory)"
    return None


def current_sizes(session: Session) -> dict[int, int]:
    """Node id -> bytes as the session knows them (query-memdev, launch arguments); 0 when memoryless."""
    return {n.id: n.size or 0 for n in session.nodes}


def plan_sizes(plan: Plan) -> dict[int, int]:
    """Node id -> bytes the plan gives each node (0: memoryless)."""
    return {n.id: n.size or 0 for n in plan.nodes}


def split_differs(session: Session, plan: Plan) -> bool:
    """Whether ``plan`` puts memory on other nodes, or other amounts, than
    QEMU has now (memoryless nodes aside: replay adds those live)."""
    def with_memory(sizes: Mapping[int, int]) -> dict[int, int]:
        return {i: size for i, size in sizes.items() if size}

    return with_memory(plan_sizes(plan)) != with_memory(current_sizes(session))


async def relaunch_with_split(session: Session, plan: Plan, sizes: Mapping[int, int], *, why: str,
                              launcher: Launcher, reason: str = MEMORY_REASON) -> Launcher:
    """:func:`relaunch_with_plan` onto a QEMU whose node memory is ``sizes``
    (node id -> bytes, 0 = memoryless; a node with memory now but not in
    ``sizes`` loses it): a memory change, and its undo and redo.
    Raises ReplayRefused when QEMU's arguments cannot carry that split."""
    sizes = {**{i: 0 for i, size in current_sizes(session).items() if size}, **sizes}
    try:
        argv = argv_with_split(launcher.user_argv, sizes)
        nodes = sorted(parse_qemu_args(argv[1:], strict=True).nodes, key=lambda n: n.id)
    except NumaError as exc:
        raise ReplayRefused(f"cannot rewrite QEMU's arguments for the new split: {exc}") from None
    new = Launcher(qemu=launcher.qemu, extra_args=without_numa_cpu_dist(argv[1:]),
                   keep_running=launcher.keep_running)
    return await relaunch_with_plan(session, replace(plan, nodes=tuple(nodes)), why=why,
                                    launcher=launcher, new=new, reason=reason)


async def relaunch_with_memory(session: Session, sizes: Mapping[int, int], *,
                               launcher: Launcher | None) -> Launcher:
    """A new QEMU whose nodes have ``sizes`` (bytes; 0 = memoryless), with
    the current plan (mapping, distances) replayed.  Returns the new launcher
    (also ``session.launcher``).

    Raises ReplayRefused (attached, booted, a split QEMU would refuse:
    nothing touched) or ReplayFailed (the new QEMU failed; the session is
    back on the old one when ``.restored``).
    """
    reason = read_only_reason(session, launcher)
    if reason is not None or launcher is None:
        raise ReplayRefused(reason or ATTACHED_READ_ONLY)
    ram = session.info.ram_size or 0
    wanted = {**current_sizes(session), **sizes}
    problems = MemorySplit(ram, wanted).problems()
    if problems:
        raise ReplayRefused(f"memory split refused: {problems[0]}")
    words = ", ".join(f"node {n} {human_size(size) if size else 'none'}"
                      for n, size in sorted(wanted.items()))
    return await relaunch_with_split(session, session.plan(), wanted, why=f"memory {words}",
                                     launcher=launcher)


def plan_bindings(plan: Plan) -> dict[int, tuple[tuple[int, ...], str | None]]:
    """Node id -> (host nodes, policy) for the plan's nodes with memory."""
    return {n.id: (n.host_nodes, n.policy if n.host_nodes else None) for n in plan.nodes if n.memdev}


def bindings_differ(session: Session, plan: Plan) -> dict[int, tuple[tuple[int, ...], str | None]]:
    """The plan's bindings of nodes whose backend QEMU has already, where they
    differ from what ``query-memdev`` says (empty: nothing to rebind)."""
    have = {n.id: n for n in session.nodes}
    out: dict[int, tuple[tuple[int, ...], str | None]] = {}
    for node_id, (hosts, policy) in plan_bindings(plan).items():
        cur = have.get(node_id)
        if cur is None or cur.memdev is None:
            continue  # a new node: object-add binds it live
        if (cur.host_nodes, cur.policy if cur.host_nodes else None) != (hosts, policy if hosts else None):
            out[node_id] = (hosts, policy)
    return out


async def relaunch_with_bindings(session: Session, plan: Plan, *, why: str,
                                 launcher: Launcher | None, reason: str = MEMORY_REASON) -> Launcher:
    """A new QEMU whose existing memory backends carry the plan's
    ``host-nodes``/``policy`` (rewritten in the launch arguments), the plan
    replayed: rebinding a node's memory (QEMU fixes a backend's binding when
    it creates it).  ReplayRefused when numatui did not start QEMU or it booted."""
    refusal = read_only_reason(session, launcher)
    if refusal is not None or launcher is None:
        if launcher is None:
            refusal = ("numatui did not start this QEMU: a node's memory binding is fixed by its "
                      "command line (-object memory-backend-*,host-nodes=,policy=). Shown read-only; "
                      "to change it, export the plan and restart QEMU with it")
        raise ReplayRefused(refusal or ATTACHED_READ_ONLY)
    memdev_of = {n.id: n.memdev for n in session.nodes if n.memdev}
    wanted = {memdev_of[i]: b for i, b in plan_bindings(plan).items() if i in memdev_of}
    try:
        argv = argv_with_bindings(launcher.user_argv, wanted)
        parsed = {n.id: n for n in parse_qemu_args(argv[1:], strict=True).nodes}
    except NumaError as exc:
        raise ReplayRefused(f"cannot rewrite QEMU's arguments for the binding: {exc}") from None
    nodes = [parsed.get(n.id, n) for n in plan.nodes]
    new = Launcher(qemu=launcher.qemu, extra_args=without_numa_cpu_dist(argv[1:]),
                   keep_running=launcher.keep_running)
    return await relaunch_with_plan(session, replace(plan, nodes=tuple(nodes)), why=why,
                                    launcher=launcher, new=new, reason=reason)


def live_additions(session: Session, sizes: Mapping[int, int]) -> list[tuple[int, int]] | None:
    """The nodes to add live for ``sizes`` (node id -> bytes, 0 = memoryless),
    as ``(node id, bytes)``: in preconfig a node QEMU does not have yet gets
    its memory by ``object-add`` + ``set-numa-node`` type node with ``memdev``
    (:meth:`Session.add_node`), no relaunch.  None when that is not enough: not
    in preconfig, no new node, or an existing node's size changes (a
    backend's size is fixed when QEMU starts: that needs a new QEMU)."""
    if session.state is not RunState.PRECONFIG:
        return None
    current = current_sizes(session)
    if any(current[i] != size for i, size in sizes.items() if i in current):
        return None
    new = sorted((i, size) for i, size in sizes.items() if i not in current)
    return new or None


def memory_problem(session: Session, sizes: Mapping[int, int]) -> str | None:
    """Why ``sizes`` (merged over the current split) does not add up to -m (None: it does)."""
    problems = MemorySplit(session.info.ram_size or 0, {**current_sizes(session), **sizes}).problems()
    return f"memory split refused: {problems[0]}" if problems else None
