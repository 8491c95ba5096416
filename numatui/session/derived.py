"""Boards that cannot list their CPU slots before boot (arm virt, riscv virt:
``query-hotpluggable-cpus`` refused or absent): numatui derives the slots from
``qom-get /machine smp`` and keeps the mapping itself, following QEMU's own
matching loop for every ``set-numa-node`` type cpu it sends (refused or not),
since QEMU cannot tell it afterwards.  The session keeps that mapping
(``Session._derived_mapping``); the record keeps it across processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from numatui.model.errors import NumaError
from numatui.model.topology import SlotKey, Topology
from numatui.session.machine import MachineInfo, RunState, derived_props, mark_present

if TYPE_CHECKING:
    from numatui.session.errors import QemuRefused


def follow(mapping: dict[SlotKey, int], topo: Topology, option: Mapping[str, int],
           refused: QemuRefused | None) -> None:
    """After a set-numa-node type cpu ``option`` on a derived board: replay
    QEMU's matching loop into ``mapping`` (in slot order, stopping at the
    first slot on another node: what a refused "already assigned" left)."""
    if not topo.derived:
        return
    if refused is not None and "already assigned" not in refused.qemu_message:
        return
    node = option["node-id"]
    for slot in topo.matching(option):
        current = mapping.get(slot.key)
        if current is not None and current != node:
            break
        mapping[slot.key] = node


def from_record(topo: Topology, items: Sequence[tuple[dict[str, int], int]]) -> dict[SlotKey, int]:
    """The recorded derived mapping as slot keys of ``topo`` (entries that fit)."""
    out: dict[SlotKey, int] = {}
    for props, node in items:
        hits = topo.matching(props) if set(props) <= set(topo.levels) else []
        if len(hits) == 1:
            out[hits[0].key] = node
    return out


def from_options(mapping: dict[SlotKey, int], topo: Topology,
                 options: Sequence[Mapping[str, int]]) -> Topology:
    """``topo`` with the mapping of a command line's ``-numa cpu`` ``options``
    (followed into ``mapping``) when numatui has none yet: QEMU cannot tell."""
    if not topo.derived or not options or mapping:
        return topo
    for option in options:
        with contextlib.suppress(NumaError):
            follow(mapping, topo, option, None)
    return topo.with_mapping(mapping)


async def read_slots(info: MachineInfo, state: RunState, mapping: dict[SlotKey, int],
                     recorded: Sequence[tuple[dict[str, int], int]],
                     query: Callable[[str], Awaitable[Any]]) -> Topology:
    """The slots from ``-smp`` with ``mapping`` (first filled from the
    record's ``recorded`` mapping when empty); once booted, the present CPUs
    from ``query-cpus-fast`` (``query``: None when QEMU refuses)."""
    topo = Topology.from_smp(info.smp, derived_props(info.machine_type))
    if recorded and not mapping:
        mapping.update(from_record(topo, recorded))
    topo = topo.with_mapping(mapping)
    if state.booted and "query-cpus-fast" in info.commands:
        topo = mark_present(topo, await query("query-cpus-fast") or [])
    return topo
