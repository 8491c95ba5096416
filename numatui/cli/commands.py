"""The headless commands' output: show, apply, hotplug, unplug (export is
:func:`numatui.core.export.export_text`).

Each takes a :class:`~numatui.core.vm.Vm` (``show`` a session) and writes
to ``out`` (stdout); errors are raised (SessionError / NumaError) and turned
into one line and an exit code by :mod:`numatui.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from numatui.cli.parser import did_you_mean
from numatui.model import sanitise
from numatui.model.devices import unplug_refusal_reason
from numatui.model.errors import NumaError
from numatui.model.guest_numbering import guest_labels
from numatui.model.plan import Plan
from numatui.model.preflight import counted
from numatui.model.topology import LEVEL_NAMES, SMP_KEYS, Slot, SlotKey, Topology, format_key, parse_key
from numatui.model.units import human_size
from numatui.session.errors import BadRequest, QemuRefused, SessionError

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.session.session import Session

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
    booted = session.state.booted and not topo.derived
    lines += render_tree(topo, booted)
    return "\n".join(sanitise.one_line(line, SHOW_LINE_LIMIT) for line in lines) + "\n"


def show_json(session: Session) -> str:
    """``show --format json``: one object.  ``slots``: QEMU's props of each
    slot without node-id, its ``node-id`` (null: unassigned), vcpus-count,
    type, and after boot ``present``/``qom-path``; ``nodes`` with memory and
    binding (as a plan file has them, each with its vCPU count); ``distances``
    where known; the run ``state``."""
    topo = session.topology
    vcpus: dict[int, int] = {}
    for s in topo.slots:
        if s.node_id is not None:
            vcpus[s.node_id] = vcpus.get(s.node_id, 0) + s.vcpus_count
    data = {
        "state": session.state.value,
        "slots": [{"props": s.props, "node-id": s.node_id, "vcpus-count": s.vcpus_count,
                   "type": s.type or None, "present": s.present, "qom-path": s.qom_path}
                  for s in topo.slots],
        "nodes": [{**n.to_dict(), "vcpus": vcpus.get(n.id, 0)} for n in session.nodes],
        "distances": [{"src": d.src, "dst": d.dst, "val": d.val} for d in session.distances],
    }
    return json.dumps(data, indent=2) + "\n"


def _state(session: Session) -> str:
    state = session.state.value
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
    guest = guest_labels(session.topology, session.nodes, session.info.machine_type, always=True)
    parts = []
    for n in session.nodes:
        extra = []
        if n.memdev is not None:
            extra.append(f"memdev {n.memdev}")
        if n.size is not None:
            extra.append(human_size(n.size))
        extra.append(counted(counts.get(n.id, 0), "vCPU"))
        if n.id in guest:  # Linux's own number for it (numatui.model.guest_numbering)
            extra.append(guest[n.id])
        parts.append(f"{n.id} ({', '.join(extra)})")
    return f"{', '.join(parts)}  [from {source}]"


def _slots_line(topo: Topology) -> str:
    assigned = sum(1 for s in topo.slots if s.node_id is not None)
    source = "derived from -smp (the board refuses query-hotpluggable-cpus)" if topo.derived \
        else "query-hotpluggable-cpus"
    types = sorted({s.type for s in topo.slots if s.type})
    text = (f"{counted(len(topo.slots), 'slot')}, {counted(topo.vcpus, 'vCPU')}, {assigned} assigned, "
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
async def apply_plan(vm: Vm, plan: Plan | None, out: TextIO, *, exit_preconfig: bool = False,
                     force: bool = False, err: TextIO | None = None,
                     preset: tuple[str, int | None, bool] | None = None) -> None:
    """:meth:`Vm.apply_plan` (or, with ``preset`` = (name, into, add_nodes) and no
    plan, :meth:`Vm.apply_preset`), each command sent printed as a line, then a summary."""
    def sent(args: dict[str, Any]) -> None:
        if "rebind" in args:
            hosts = ",".join(map(str, args["host-nodes"])) or "none"
            out.write(f"relaunched QEMU: node {args['rebind']}'s memory bound to host "
                      f"{'node' if len(args['host-nodes']) == 1 else 'nodes'} "
                      f"{hosts} ({args['policy'] or 'default'}), the plan replayed\n")
            return
        command = "object-add" if "qom-type" in args else "set-numa-node"
        out.write(f"{command} {json.dumps(args)}\n")

    from numatui.model.flavor import FlavorPlan  # apply only: not on show's imports

    if isinstance(plan, FlavorPlan) and err is not None:  # what the flavor says that numatui leaves out
        for note in plan.flavor.notes():
            err.write(f"numatui: warning: {note}\n")
    with replies_shown(vm, err):
        if plan is not None:
            done = await vm.apply_plan(plan, sent)
        else:
            assert preset is not None
            name, into, add_nodes = preset
            done = await vm.apply_preset(name, into, add_nodes, sent)
    if done.commands:
        out.write(f"applied: {counted(done.slots, 'slot')} ({counted(done.vcpus, 'vCPU')}) on "
                  f"{counted(done.nodes, 'node')} with {counted(done.commands, 'command')}\n")
    else:
        out.write(f"nothing to send: QEMU already has the plan's {done.slots} slots and nodes\n")
    if exit_preconfig:
        await _exit_preconfig(vm, out, force=force, err=err)


#: Seconds between two progress lines on a terminal's stderr.
PROGRESS_EVERY = 10.0


@contextlib.contextmanager
def replies_shown(vm: Vm, err: TextIO | None) -> Iterator[None]:
    """On a terminal's stderr, a long batch's replies as they come
    (``numatui: applying: 120/496 replies``, one line a second; a batch
    answered within a second prints nothing)."""
    if err is None or not err.isatty():
        yield
        return
    last = [time.monotonic()]

    def show(replies: int, commands: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or (replies == commands and now - last[0] >= 0):
            last[0] = now
            err.write(f"numatui: applying: {replies}/{commands} replies\n")
            err.flush()

    vm.session.progress = show
    try:
        yield
    finally:
        vm.session.progress = None


@contextlib.asynccontextmanager
async def progress(err: TextIO | None, what: str) -> AsyncIterator[None]:
    """On a terminal's stderr: ``what`` as the body starts, then every
    PROGRESS_EVERY seconds how long it has taken (plain lines, nothing on a
    pipe or a file)."""
    if err is None or not err.isatty():
        yield
        return
    start = time.monotonic()
    err.write(f"numatui: {what} …\n")
    err.flush()

    async def tick() -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            err.write(f"numatui: still {what}, {time.monotonic() - start:.0f} s so far\n")
            err.flush()

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()


async def _exit_preconfig(vm: Vm, out: TextIO, *, force: bool, err: TextIO | None) -> None:
    findings = vm.preflight()  # run once: the boot goes by the findings printed here
    blocking = [f for f in findings if str(f.severity.value) == "blocking"]
    warnings = [f for f in findings if str(f.severity.value) != "blocking"]
    vcpus = sum(s.vcpus_count for s in vm.session.topology.slots)
    async with progress(err, f"booting {counted(vcpus, 'vCPU')} (x-exit-preconfig)"):
        pinned = await vm.boot(force=force, findings=findings)  # PreflightBlocked unless forced
    if err is not None:
        for f in (blocking if force else []) + warnings:
            err.write(f"numatui: {f.severity.value}: {f.message}\n")
    out.write(f"left preconfig: QEMU is {_state(vm.session)}\n")
    if pinned is not None:
        out.write(f"pinned {counted(len(pinned.applied), 'vCPU thread')} ({pinned.plan.policy} policy)\n")
    if vm.pin_failure is not None:  # the VM runs; the refused pinning fails the command
        raise vm.pin_failure


# -- hotplug ---------------------------------------------------------------------------
def parse_slots(session: Session, texts: Iterable[str]) -> list[SlotKey]:
    """``socket-id=1,core-id=0,thread-id=1`` -> slot keys that exist on this board.
    A mistyped prop gets the closest one QEMU knows; a slot that does not
    exist gets the props a slot of this board has."""
    keys = []
    topo = session.topology
    named = [p for p, _ in topo.slots[0].key] if topo.slots else []
    for text in texts:
        try:
            key = parse_key(text)
        except NumaError as exc:
            given = [part.split("=", 1)[0] for part in text.split(",")]
            hint = "".join(did_you_mean(g, named) for g in given if g not in named)
            raise NumaError(f"{exc}{hint}") from None
        try:
            topo.index(key)
        except NumaError:
            example = ",".join(f"{p}={v}" for p, v in topo.slots[0].key) if topo.slots else ""
            raise NumaError(f"no CPU slot {text}: a slot of this board is named by {', '.join(named)} "
                            f"(e.g. {example}; numatui show ADDRESS lists them)") from None
        keys.append(key)
    return keys


async def hotplug(vm: Vm, slots: Sequence[str], out: TextIO) -> None:
    """device_add each slot; a refusal does not stop the others, and the error
    (raised at the end) names every refused slot with QEMU's words."""
    session = vm.session
    keys = parse_slots(session, slots)
    if not vm.booted:
        raise BadRequest("QEMU is in preconfig: CPUs are plugged after boot; boot first "
                         "(numatui apply ADDRESS PLAN --exit-preconfig, or X in the TUI)")
    for key, _why in vm.plug_targets(keys).refused:
        raise BadRequest(f"slot {format_key(key)} already holds a CPU: nothing was plugged")
    refused: list[str] = []
    plugged = 0
    for key in keys:
        try:
            dev_id = await vm.plug(key)
        except QemuRefused as exc:
            refused.append(f"{format_key(key)}: {exc.qemu_message}")
            continue
        plugged += 1
        slot = session.topology.slot(key)
        node = f"node {slot.node_id}" if slot.node_id is not None else "no node"
        out.write(f"plugged {dev_id} into {format_key(key)} ({node})\n")
    if refused and plugged:
        raise PartialSuccess(f"plugged {counted(plugged, 'CPU')} of {len(keys)}; QEMU refused "
                             f"device_add of {'; '.join(refused)}")
    if refused:
        raise QemuRefused("device_add", "; ".join(refused))


class PartialSuccess(SessionError):
    """Part of a command's work was done (said on stdout), then QEMU refused the
    rest: exit code :data:`numatui.cli.parser.EXIT_PARTIAL`."""


_UNPLUG_WHY = {
    "empty": "holds no CPU",
    "pending": "holds a CPU whose unplug was already requested",
    "boot": "holds a boot CPU (from -smp): on x86 only hot-plugged CPUs can be unplugged",
}


async def unplug(vm: Vm, slots: Sequence[str], out: TextIO, wait: float = 0.0) -> None:
    """device_del each hot-plugged CPU: a request the guest must answer.  With
    ``wait`` seconds, wait for QEMU's DEVICE_DELETED of each; raise when the
    guest refuses (ACPI_DEVICE_OST) or does not answer in time."""
    keys = parse_slots(vm.session, slots)
    for key, why in vm.unplug_targets(keys).refused:
        raise BadRequest(f"slot {format_key(key)} {_UNPLUG_WHY[why]}")
    vm.unplugs.timeout = wait
    for key in keys:
        try:
            await vm.unplug(key)
        except QemuRefused as exc:
            raise SessionError(f"QEMU refused device_del of {format_key(key)}: {exc.qemu_message} "
                               f"({unplug_refusal_reason(exc.qemu_message)})") from None
        out.write(f"unplug requested for {format_key(key)}: the guest must eject it\n")
    if wait <= 0:
        return
    answers = await vm.unplugs.wait(keys)
    problems = []
    for key in keys:
        answer = answers.get(key)
        if answer is not None and answer.outcome == "refused":
            problems.append(f"{format_key(key)}: the guest refused ({answer.words})")
        elif answer is None or answer.outcome != "deleted":
            problems.append(f"{format_key(key)}: the guest did not answer in {wait:g} s")
        else:
            out.write(f"unplugged {format_key(key)}\n")
    if problems:
        raise SessionError("; ".join(problems) + "; the CPU stays present")
