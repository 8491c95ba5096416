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

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from numatui.model.errors import NumaError
from numatui.model.memory_split import MemorySplit, argv_with_split
from numatui.model.plan import Node, Plan
from numatui.model.qemu_args import parse_qemu_args
from numatui.model.units import human_size
from numatui.session.launcher import Launcher
from numatui.session.machine import RunState
from numatui.session.replay import ReplayRefused, relaunch_with_plan

if TYPE_CHECKING:
    from numatui.session.session import Session

#: What the memory editor says when it cannot change anything.
ATTACHED_READ_ONLY = (
    "numatui did not start this QEMU: node memory is fixed by its command line "
    "(-object memory-backend-*,size=). Shown read-only; to change it, restart QEMU "
    "with other sizes, or let numatui launch it"
)
BOOTED_READ_ONLY = "the VM is running: node memory was fixed when QEMU started"


class LauncherHolder(Protocol):
    """Something that keeps the current launcher (the undo Keeper does)."""

    launcher: Launcher | None


def launcher_of(session: Session, holder: LauncherHolder | None = None) -> Launcher | None:
    launcher = holder.launcher if holder is not None else session.launcher
    return launcher if isinstance(launcher, Launcher) else None


def read_only_reason(session: Session, holder: LauncherHolder | None = None) -> str | None:
    """Why the split cannot be changed now (None: it can)."""
    if launcher_of(session, holder) is None:
        return ATTACHED_READ_ONLY
    if session.state is not RunState.PRECONFIG:
        return BOOTED_READ_ONLY
    if session.info.ram_size is None:
        return "QEMU did not say its RAM size (qom-get /machine memory)"
    return None


def current_sizes(session: Session) -> dict[int, int]:
    """Node id -> bytes as the session knows them (query-memdev, launch arguments); 0 when memoryless."""
    return {n.id: n.size or 0 for n in session.nodes}


@contextlib.contextmanager
def _launch_arguments(launcher: Launcher, extra_args: list[str], nodes: list[Node]) -> Iterator[None]:
    """``launcher`` describes the new split while relaunch_with_plan builds the
    next QEMU from it (its running QEMU is unaffected: its argv is fixed);
    restored when the relaunch fails and the session is back on it."""
    saved = (launcher.extra_args, launcher.smp, launcher.memory, launcher.nodes)
    launcher.extra_args, launcher.smp, launcher.memory, launcher.nodes = extra_args, None, None, nodes
    try:
        yield
    except BaseException:
        launcher.extra_args, launcher.smp, launcher.memory, launcher.nodes = saved
        raise


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
                              launcher: Launcher) -> Launcher:
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
    with _launch_arguments(launcher, argv[1:], nodes):
        return await relaunch_with_plan(session, replace(plan, nodes=tuple(nodes)), why=why,
                                        launcher=launcher)


async def relaunch_with_memory(session: Session, sizes: Mapping[int, int], *,
                               holder: LauncherHolder | None = None) -> Launcher:
    """A new QEMU whose nodes have ``sizes`` (bytes; 0 = memoryless), with
    the current plan (mapping, distances) replayed.  Returns the new launcher
    (also ``session.launcher`` and ``holder.launcher``; a holder with an
    ``autosave()`` method, like the undo Keeper, is asked to save).

    Raises ReplayRefused (attached, booted, a split QEMU would refuse:
    nothing touched) or ReplayFailed (the new QEMU failed; the session is
    back on the old one when ``.restored``).
    """
    reason = read_only_reason(session, holder)
    old = launcher_of(session, holder)
    if reason is not None or old is None:
        raise ReplayRefused(reason or ATTACHED_READ_ONLY)
    ram = session.info.ram_size or 0
    wanted = {**current_sizes(session), **sizes}
    problems = MemorySplit(ram, wanted).problems()
    if problems:
        raise ReplayRefused(f"memory split refused: {problems[0]}")
    words = ", ".join(f"node {n} {human_size(size) if size else 'none'}"
                      for n, size in sorted(wanted.items()))
    new = await relaunch_with_split(session, session.plan(), wanted, why=f"memory {words}", launcher=old)
    if holder is not None:
        holder.launcher = new
        save = getattr(holder, "autosave", None)
        if callable(save):  # the undo Keeper: the saved argv must carry the new split
            save()
    return new
