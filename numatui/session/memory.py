"""Changing how the guest's RAM is split across nodes, and its host binding.

Memory backends are made when QEMU starts, so a new split of the nodes that
QEMU has needs a new QEMU (:func:`numatui.session.replay.relaunch` rewrites
the launch arguments with :func:`split_for`); only possible when numatui
started this one.  Nodes QEMU does not have yet are added live
(:func:`live_additions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from numatui.model.backend import Backend
from numatui.model.memory_split import MemorySplit, split_nodes
from numatui.model.plan import Plan
from numatui.model.units import human_size
from numatui.session.machine import RunState

if TYPE_CHECKING:
    from numatui.session.launcher import Launcher
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


def split_for(session: Session, plan: Plan) -> dict[int, int] | None:
    """Node id -> bytes of a QEMU holding ``plan``'s node memory (a node with
    memory now that the plan gives none: 0); None when QEMU has that split
    already (memoryless nodes aside: replay adds those live)."""
    current = current_sizes(session)
    sizes = {n.id: n.size or 0 for n in plan.nodes}
    if {i: s for i, s in sizes.items() if s} == {i: s for i, s in current.items() if s}:
        return None
    return {**{i: 0 for i, size in current.items() if size}, **sizes}


def split_plan(session: Session, sizes: Mapping[int, int],
               backends: Mapping[int, Backend] | None = None) -> tuple[Plan, str]:
    """The current plan with node memory ``sizes`` (bytes, 0 = memoryless)
    merged over the current split, and the change in words; a node QEMU
    lacks gets the backend ``backends`` names (default RAM)."""
    wanted = {**current_sizes(session), **sizes}
    have = {n.id for n in session.nodes}
    new = {i: b for i, b in (backends or {}).items() if i not in have and wanted.get(i)}
    words = ", ".join(f"node {n} {human_size(size) if size else 'none'}"
                      for n, size in sorted(wanted.items()))
    nodes = [replace(n, backend=new.get(n.id, n.backend)) for n in split_nodes(session.nodes, wanted)]
    return session.plan().with_nodes(nodes), f"memory {words}"


def bindings_differ(session: Session, plan: Plan) -> dict[int, tuple[tuple[int, ...], str | None]]:
    """The plan's bindings of nodes whose backend QEMU has already, where they
    differ from what ``query-memdev`` says (empty: nothing to rebind)."""
    have = {n.id: n for n in session.nodes}
    out: dict[int, tuple[tuple[int, ...], str | None]] = {}
    for n in plan.nodes:
        cur = have.get(n.id)
        if n.memdev is None or cur is None or cur.memdev is None:
            continue  # a new node: object-add binds it live
        if n.size is None and not n.host_nodes:
            continue  # names QEMU's backend, not its -object (a text plan's -numa node line)
        want = (n.host_nodes, n.policy if n.host_nodes else None)
        if (cur.host_nodes, cur.policy if cur.host_nodes else None) != want:
            out[n.id] = want
    return out


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
