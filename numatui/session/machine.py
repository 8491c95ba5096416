"""What the session knows about the machine: run state, facts read over QMP,
and the CPU props of boards that refuse query-hotpluggable-cpus."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from numatui.model import sanitise
from numatui.model.topology import MAX_SLOTS, Topology
from numatui.model.units import human_size
from numatui.session.errors import QemuRefused, SessionError

#: ``Session.execute``: run one QMP command, raise QemuRefused on QEMU's error.
Execute = Callable[[str, "dict[str, Any] | None"], Awaitable[Any]]


class RunState(StrEnum):
    """QEMU's run state as numatui cares about it."""

    PRECONFIG = "preconfig"  # query-status "prelaunch" under --preconfig
    RUNNING = "running"
    PAUSED = "paused"
    OTHER = "other"  # shutdown, internal-error, inmigrate, ...
    DISCONNECTED = "disconnected"

    @classmethod
    def from_status(cls, status: str) -> RunState:
        """Map query-status ``status`` to a RunState."""
        return {"prelaunch": cls.PRECONFIG, "running": cls.RUNNING, "paused": cls.PAUSED,
                "suspended": cls.PAUSED, "debug": cls.PAUSED}.get(status, cls.OTHER)

    @property
    def booted(self) -> bool:
        """The machine is built (x-exit-preconfig done, or QEMU never was in
        preconfig): every CPU's node is fixed, vCPU threads exist.  The one
        definition; a disconnected session asks what QEMU last said
        (:attr:`numatui.session.session.Session.booted`)."""
        return self in (RunState.RUNNING, RunState.PAUSED, RunState.OTHER)


@dataclass
class MachineInfo:
    """Facts read once at connect."""

    qemu_version: str = ""  # "7.2.22"
    machine_type: str = ""  # qom-get /machine type: "pc-q35-7.2-machine"
    smp: dict[str, int] = field(default_factory=dict)  # qom-get /machine smp
    ram_size: int | None = None  # qom-get /machine memory -> {"size": bytes}
    memdevs: list[dict[str, Any]] = field(default_factory=list)  # query-memdev
    exit_command: str | None = None  # "x-exit-preconfig" when query-commands lists it
    commands: frozenset[str] = field(default=frozenset(), repr=False)  # query-commands names
    hotpluggable_cpus: bool = True  # False when the board refuses query-hotpluggable-cpus
    hmat: bool | None = None  # qom-get /machine hmat (None: the board has no such property)

    @property
    def machine(self) -> str:
        """The machine type as ``-machine`` spells it: ``pc-q35-7.2``."""
        return self.machine_type.removesuffix("-machine")

    @property
    def boot_cpus(self) -> int | None:
        """``-smp cpus`` when below ``maxcpus`` (only the first ones are present at boot)."""
        cpus, most = self.smp.get("cpus"), self.smp.get("maxcpus")
        if isinstance(cpus, int) and isinstance(most, int) and cpus < most:
            return cpus
        return None

    def memdev_size(self, memdev: str | None) -> int | None:
        """The size query-memdev reports for backend ``memdev`` (None: unknown)."""
        return next((int(m["size"]) for m in self.memdevs
                     if m.get("id") == memdev and isinstance(m.get("size"), int)), None)


#: set-numa-node props of boards that refuse query-hotpluggable-cpus, by
#: machine type (qom-get /machine type).  Checked in QEMU 7.2: arm virt takes
#: socket/cluster/core/thread; riscv virt ("virt-machine", unversioned)
#: takes core-id only.
_DERIVED_PROPS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"^virt-\d+\.\d+-machine$"), ("socket-id", "cluster-id", "core-id", "thread-id")),
    (re.compile(r"^sbsa-ref"), ("socket-id", "cluster-id", "core-id", "thread-id")),
    (re.compile(r"^(virt-machine|spike|sifive|microchip|shakti)"), ("core-id",)),
)
_FALLBACK_PROPS = ("socket-id", "core-id", "thread-id")


def derived_props(machine_type: str) -> tuple[str, ...]:
    """The props set-numa-node accepts on a board that cannot list its slots."""
    return next((props for pattern, props in _DERIVED_PROPS if pattern.search(machine_type)), _FALLBACK_PROPS)


class MalformedReply(SessionError):
    """A reply no QEMU sends (the wrong JSON type): connecting fails (exit 3)."""

    def __init__(self, command: str, what: str) -> None:
        super().__init__(f"{command}: malformed reply ({what}); is this a QEMU monitor?")


#: The most RAM (and memory backend) any QEMU can have: what a host process
#: can map (57-bit virtual addresses with 5-level paging).  A peer that
#: says more is no QEMU, and its number is not shown as "909494701772928256 TiB".
MAX_RAM = 1 << 57
#: The largest ``-smp`` value (cpus, maxcpus, sockets, cores, ...) a QEMU can
#: report: numatui's slot limit (QEMU 10.0 takes at most 4096 vCPUs on any board).
MAX_SMP = MAX_SLOTS

#: QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'.
_QEMU_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")


def _memdev_ok(m: Any) -> bool:
    if not isinstance(m, dict):
        return False
    mid, size = m.get("id"), m.get("size")
    return ((mid is None or (isinstance(mid, str) and _QEMU_ID.fullmatch(mid) is not None))
            and (size is None or (type(size) is int and 0 <= size <= MAX_RAM)))


async def read_info(execute: Execute) -> MachineInfo:
    """Version, commands, machine type, smp, RAM and memdevs (all allowed in preconfig)."""

    async def maybe(command: str, args: dict[str, Any] | None = None) -> Any:
        try:
            return await execute(command, args)
        except QemuRefused:
            return None

    # all at once, in this order: one round trip, not seven (every connect and relaunch waits for it);
    # query-memdev asked of every QEMU (one without it refuses it: None)
    commands, version, mtype, smp, memory, hmat, memdevs = await asyncio.gather(
        execute("query-commands", None), execute("query-version", None),
        *(maybe("qom-get", {"path": "/machine", "property": p}) for p in ("type", "smp", "memory", "hmat")),
        maybe("query-memdev"))
    if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
        raise MalformedReply("query-commands", "expected a list of objects")
    names = frozenset(str(c.get("name")) for c in commands)
    q = version.get("qemu") if isinstance(version, dict) else None
    if not isinstance(q, dict) or not all(type(q.get(k)) is int for k in ("major", "minor", "micro")):
        raise MalformedReply("query-version",
                             "expected {\"qemu\": {\"major\": N, \"minor\": N, \"micro\": N}}")
    exit_command = next((n for n in ("x-exit-preconfig", "exit-preconfig") if n in names), None)
    info = MachineInfo(qemu_version=f"{q['major']}.{q['minor']}.{q['micro']}", commands=names,
                       exit_command=exit_command)
    info.machine_type = mtype if isinstance(mtype, str) else ""
    if isinstance(smp, dict):
        info.smp = {str(k): int(v) for k, v in smp.items() if isinstance(v, int)}
        for k, v in info.smp.items():
            if not 0 <= v <= MAX_SMP:  # the value itself is not shown: it may have 5000 digits
                raise MalformedReply("qom-get /machine smp", f"{sanitise.one_line(k, 40)} is out of "
                                     f"range: a QEMU reports 0 to {MAX_SMP}")
    if isinstance(memory, dict) and isinstance(memory.get("size"), int):
        info.ram_size = memory["size"]
    elif isinstance(memory, int):
        info.ram_size = memory
    if info.ram_size is not None and not 0 <= info.ram_size <= MAX_RAM:
        raise MalformedReply("qom-get /machine memory", f"a RAM size out of range: a QEMU has 0 to "
                             f"{human_size(MAX_RAM)}")
    info.hmat = hmat if isinstance(hmat, bool) else None
    if "query-memdev" in names:
        if memdevs is not None and (not isinstance(memdevs, list) or not all(_memdev_ok(m) for m in memdevs)):
            raise MalformedReply("query-memdev", "expected a list of objects with a QEMU id and a size "
                                 f"of 0 to {human_size(MAX_RAM)}")
        info.memdevs = list(memdevs) if isinstance(memdevs, list) else []
    return info


def mark_present(topo: Topology, cpus: Sequence[dict[str, Any]]) -> Topology:
    """Slots derived from smp, after boot: the node and qom-path query-cpus-fast
    reports for each present CPU."""
    by_key = {s.key: s for s in topo.slots}
    for cpu in cpus:
        raw = cpu.get("props", {})
        props = {k: v for k, v in raw.items() if k in topo.levels}
        hits = [s for s in by_key.values() if s.matches(props)] if props else []
        if len(hits) == 1:
            node = raw.get("node-id", hits[0].node_id)
            by_key[hits[0].key] = replace(hits[0], node_id=node, qom_path=cpu.get("qom-path"))
    return Topology(slots=tuple(by_key[s.key] for s in topo.slots), levels=topo.levels, derived=True)
