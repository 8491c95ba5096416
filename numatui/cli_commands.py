"""The headless commands: show, apply, export, hotplug, unplug.

Each takes a connected :class:`~numatui.session.session.Session` and writes
to ``out`` (stdout); errors are raised (SessionError / NumaError) and turned
into one line and an exit code by :mod:`numatui.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from numatui.model import sanitise
from numatui.model.devices import (
    PERIPHERAL,
    device_args,
    eject_refusal,
    is_plugged_device,
    plugged_cpus,
    unplug_refusal_reason,
)
from numatui.model.plan import Plan
from numatui.model.qemu_args import full_command_line, numa_options, shell_join, shell_quote
from numatui.model.topology import LEVEL_NAMES, SMP_KEYS, Slot, SlotKey, Topology, format_key, parse_key
from numatui.model.units import human_size
from numatui.session.errors import BadRequest, QemuRefused, SessionError

if TYPE_CHECKING:
    from numatui.session.session import Session

EXPORT_FORMATS = ("numa", "cmdline", "json", "libvirt")
#: The longest line ``show`` prints (a peer's version or type names beyond it are cut).
SHOW_LINE_LIMIT = 1000


# -- show ---------------------------------------------------------------------------
def render_show(session: Session) -> str:
    """The topology as a text tree (like lstopo's text form), with a header."""
    info = session.info
    topo = session.topology
    lines = [
        f"QMP      {session.address}",
        f"QEMU     {info.qemu_version}",
        f"machine  {info.machine_type}",
        f"state    {_state(session)}",
    ]
    if info.smp:
        order = ["cpus", "maxcpus", *SMP_KEYS.values()]
        keys = sorted(info.smp, key=lambda k: order.index(k) if k in order else len(order))
        lines.append("smp      " + ",".join(f"{k}={info.smp[k]}" for k in keys))
    if info.ram_size is not None:
        lines.append(f"RAM      {human_size(info.ram_size)}")
    if info.memdevs:
        devs = ", ".join(
            f"{m.get('id', '?')} {human_size(int(m['size']))}" if "size" in m else str(m.get("id", "?"))
            for m in sorted(info.memdevs, key=lambda m: str(m.get("id", "")))
        )
        lines.append(f"memdevs  {devs}")
    lines.append(f"nodes    {_nodes_line(session)}")
    lines.append(f"slots    {_slots_line(topo)}")
    lines.append("")
    booted = _state(session) in ("running", "paused") and not topo.derived
    lines += render_tree(topo, booted)
    return "\n".join(sanitise.one_line(line, SHOW_LINE_LIMIT) for line in lines) + "\n"


def _state(session: Session) -> str:
    state = str(getattr(session.state, "value", session.state))
    return "preconfig (prelaunch)" if state == "preconfig" else state


def _nodes_line(session: Session) -> str:
    source = session.nodes_source
    if not session.nodes:
        if source == "unknown":
            return "unknown: numatui cannot read QEMU's command line; give --nodes N"
        return f"none declared  [from {source}]"
    counts: dict[int, int] = {}
    for s in session.topology.slots:
        if s.node_id is not None:
            counts[s.node_id] = counts.get(s.node_id, 0) + s.vcpus_count
    parts = []
    for n in session.nodes:
        extra = []
        if n.memdev is not None:
            extra.append(f"memdev {n.memdev}")
        if n.size is not None:
            extra.append(human_size(n.size))
        extra.append(f"{counts.get(n.id, 0)} vCPUs")
        parts.append(f"{n.id} ({', '.join(extra)})")
    return f"{', '.join(parts)}  [from {source}]"


def _slots_line(topo: Topology) -> str:
    assigned = sum(1 for s in topo.slots if s.node_id is not None)
    source = "derived from -smp (the board refuses query-hotpluggable-cpus)" if topo.derived \
        else "query-hotpluggable-cpus"
    types = sorted({s.type for s in topo.slots if s.type})
    text = (f"{len(topo.slots)} slots, {topo.vcpus} vCPUs, {assigned} assigned, "
            f"{len(topo.slots) - assigned} unassigned; {source}")
    if types:
        text += f"; type {', '.join(types)}"
    return text


def render_tree(topo: Topology, booted: bool = False) -> list[str]:
    """``Machine`` > socket > die > core > thread, one line per slot with its node
    (and, after boot, whether a CPU is ``present`` in it or it is ``empty``)."""
    out = ["Machine"]
    depth = len(topo.levels)
    shown: set[SlotKey] = set()
    for slot in topo.slots:
        for d in range(1, depth):
            prefix = slot.key[:d]
            if prefix not in shown:
                shown.add(prefix)
                name, value = prefix[-1]
                out.append(f"{'  ' * d}{LEVEL_NAMES[name]} {value}")
        out.append("  " * depth + _slot_line(slot, booted))
    return out


def _slot_line(slot: Slot, booted: bool) -> str:
    name, value = slot.key[-1]
    label = f"{LEVEL_NAMES[name]} {value}"
    if slot.vcpus_count != 1:
        label += f" ({slot.vcpus_count} vCPUs)"
    node = f"node {slot.node_id}" if slot.node_id is not None else "unassigned"
    text = f"{label:<18} {node:<11} {format_key(slot.key)}"
    if booted:
        text += "  present" if slot.present else "  empty"
    return text


# -- apply ---------------------------------------------------------------------------
async def apply_plan(session: Session, plan: Plan, out: TextIO, *, exit_preconfig: bool = False,
                     force: bool = False, err: TextIO | None = None) -> None:
    """Apply ``plan`` live: validate all of it first, then send the fewest commands.

    Raised before anything is sent: NumaError for entries that do not fit the
    board (props it lacks, no matching slot, a slot on two nodes), BadRequest
    for nodes QEMU lacks that the plan does not declare memoryless, and bad
    distances.  A slot QEMU already has on another node (QEMU has no undo) is
    then sent alone, for that one slot: QEMU refuses it in its own words
    (QemuRefused) and nothing changes.
    """
    topo = session.topology
    mapping = plan.resolve(topo)
    new_nodes = _nodes_to_add(session, plan)
    for d in plan.distances:
        if d.src == d.dst and d.val != 10:
            raise BadRequest(f"distance {d.src} to {d.dst} is {d.val}: the local distance must be 10")
        if d.val < 10:
            raise BadRequest(f"distance {d.src} to {d.dst} is {d.val}: QEMU needs at least 10")
    for key, node in mapping.items():
        current = topo.slot(key).node_id
        if current is not None and current != node:
            await session.assign([key], node)  # QemuRefused: "CPU is already assigned ..."
    sent = 0
    for node_id in new_nodes:
        await session.add_node(node_id)
        out.write(f"set-numa-node {json.dumps({'type': 'node', 'nodeid': node_id})}\n")
        sent += 1
    pending = {key: node for key, node in mapping.items() if session.topology.slot(key).node_id is None}
    if pending:  # every node at once: the fewest commands, one re-read
        for command in await session.apply_mapping(pending):
            out.write(f"set-numa-node {json.dumps(_cpu_args(command))}\n")
            sent += 1
    have = {(d.src, d.dst): d.val for d in session.distances}
    for d in plan.distances:
        if have.get((d.src, d.dst)) != d.val:
            await session.set_distance(d.src, d.dst, d.val)
            dist = {"type": "dist", "src": d.src, "dst": d.dst, "val": d.val}
            out.write(f"set-numa-node {json.dumps(dist)}\n")
            sent += 1
    vcpus = sum(session.topology.slot(k).vcpus_count for k in mapping)
    if sent:
        out.write(f"applied: {len(mapping)} slots ({vcpus} vCPUs) on "
                  f"{len(set(mapping.values()))} node(s) with {sent} command(s)\n")
    else:
        out.write(f"nothing to send: QEMU already has the plan's {len(mapping)} slots and nodes\n")
    if exit_preconfig:
        await _exit_preconfig(session, out, force=force, err=err)


def _nodes_to_add(session: Session, plan: Plan) -> list[int]:
    """Nodes the plan names that QEMU lacks: each must be declared memoryless in the plan."""
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
                             f"nodes to add it memoryless, or start QEMU with it")
        if declared.memdev is not None or declared.size is not None:
            raise BadRequest(f"node {node_id} has memory in the plan, but {have}; numatui can add "
                             f"memoryless nodes only: start QEMU with -numa node,nodeid={node_id},memdev=...")
        out.append(node_id)
    return out


def _cpu_args(command: dict[str, Any]) -> dict[str, Any]:
    return command if "type" in command else {"type": "cpu", **command}


async def _exit_preconfig(session: Session, out: TextIO, *, force: bool, err: TextIO | None) -> None:
    findings = session.preflight()
    blocking = [f for f in findings if str(f.severity.value) == "blocking"]
    warnings = [f for f in findings if str(f.severity.value) != "blocking"]
    await session.exit_preconfig(force=force)  # PreflightBlocked unless forced
    if err is not None:
        for f in (blocking if force else []) + warnings:
            err.write(f"numatui: {f.severity.value}: {f.message}\n")
    out.write(f"left preconfig: QEMU is {_state(session)}\n")


# -- export ---------------------------------------------------------------------------
def export_text(session: Session, fmt: str) -> str:
    """The mapping QEMU reports: the compact ``-numa cpu`` options (the nodes are
    QEMU's own already), the full command line, the JSON plan or libvirt XML."""
    plan = session.plan()
    devices = device_args(plugged_cpus(session.topology), session.qemu_argv or ())
    if fmt == "numa":  # the same lines the TUI shows and prints on quit
        text = "".join(f"-numa {value}\n" for value in numa_options(plan))
        text += "".join(f"{opt} {shell_quote(value)}\n"
                        for opt, value in zip(devices[::2], devices[1::2], strict=True))
    elif fmt == "json":
        text = plan.to_json()
    elif fmt == "cmdline":
        if session.qemu_argv is None:
            raise BadRequest(
                "the full command line needs QEMU's own, which numatui knows only for a QEMU it "
                "launched or a local one it can read /proc for; use --format numa"
            )
        text = shell_join(full_command_line(session.qemu_argv, plan) + devices)
    elif fmt == "libvirt":
        from numatui.model.libvirt import libvirt_xml

        text = libvirt_xml(session.topology, plan, session.info.smp)
    else:
        raise BadRequest(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}")
    return text if text.endswith("\n") or not text else text + "\n"


# -- hotplug ---------------------------------------------------------------------------
def parse_slots(session: Session, texts: Iterable[str]) -> list[SlotKey]:
    """``socket-id=1,core-id=0,thread-id=1`` -> slot keys that exist on this board."""
    keys = []
    for text in texts:
        key = parse_key(text)
        session.topology.index(key)  # NumaError: no such slot
        keys.append(key)
    return keys


async def hotplug(session: Session, slots: Sequence[str], out: TextIO) -> None:
    """device_add each slot; a refusal does not stop the others, and the error
    (raised at the end) names every refused slot with QEMU's words."""
    keys = parse_slots(session, slots)
    for key in keys:
        if session.topology.slot(key).present:
            raise BadRequest(f"slot {format_key(key)} already holds a CPU: nothing was plugged")
    refused: list[str] = []
    for key in keys:
        try:
            dev_id = await session.hotplug(key)
        except QemuRefused as exc:
            refused.append(f"{format_key(key)}: {exc.qemu_message}")
            continue
        slot = session.topology.slot(key)
        node = f"node {slot.node_id}" if slot.node_id is not None else "no node"
        out.write(f"plugged {dev_id} into {format_key(key)} ({node})\n")
    if refused:
        raise QemuRefused("device_add", "; ".join(refused))


async def unplug(session: Session, slots: Sequence[str], out: TextIO, wait: float = 0.0) -> None:
    """device_del each hot-plugged CPU: a request the guest must answer.  With
    ``wait`` seconds, wait for QEMU's DEVICE_DELETED of each; raise when the
    guest refuses (ACPI_DEVICE_OST) or does not answer in time."""
    keys = parse_slots(session, slots)
    for key in keys:
        slot = session.topology.slot(key)
        if not slot.present:
            raise BadRequest(f"slot {format_key(key)} holds no CPU")
        if not is_plugged_device(slot.qom_path):
            raise BadRequest(f"slot {format_key(key)} holds a boot CPU (from -smp): on x86 only "
                             "hot-plugged CPUs can be unplugged")
    for key in keys:
        try:
            await session.unplug(key)
        except QemuRefused as exc:
            raise SessionError(f"QEMU refused device_del of {format_key(key)}: {exc.qemu_message} "
                               f"({unplug_refusal_reason(exc.qemu_message)})") from None
        out.write(f"unplug requested for {format_key(key)}: the guest must eject it\n")
    if wait > 0:
        await _wait_for_eject(session, keys, out, wait)


async def _wait_for_eject(session: Session, keys: Sequence[SlotKey], out: TextIO,
                          wait: float) -> None:
    """Until every key has left ``pending_unplug`` (DEVICE_DELETED), the guest
    refused one, or ``wait`` seconds passed."""
    order = {s.key: i for i, s in enumerate(session.topology.slots)}
    paths = {session.topology.slot(k).qom_path: k for k in keys}
    refused: dict[SlotKey, str] = {}
    changed = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "ACPI_DEVICE_OST":
            refusal = eject_refusal((event.get("data") or {}).get("info") or {})
            if refusal is not None:
                for path, key in paths.items():
                    if (refusal.device and path == f"{PERIPHERAL}{refusal.device}") or (
                            not refusal.device and refusal.slot == order[key]):
                        refused[key] = refusal.words()
                        session.pending_unplug.discard(key)
        changed.set()

    remove = session.add_listener(on_event)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    try:
        while any(k in session.pending_unplug for k in keys) and loop.time() < deadline:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
    finally:
        remove()
    problems = []
    for key in keys:
        if key in refused:
            problems.append(f"{format_key(key)}: the guest refused ({refused[key]})")
        elif key in session.pending_unplug:
            problems.append(f"{format_key(key)}: the guest did not answer in {wait:g} s")
        else:
            out.write(f"unplugged {format_key(key)}\n")
    if problems:
        raise SessionError("; ".join(problems) + "; the CPU stays present")

