"""A nova flavor read back: its extra specs, the guest NUMA cells nova derives
from them, and those cells laid onto a QEMU's CPU slots.

A plan file may be an ``openstack flavor set NAME --property KEY=VALUE ...``
line (what ``numatui export --format openstack`` prints; ``openstack flavor
create ... --vcpus N --ram M`` lines are read too) or the JSON of ``openstack
flavor show NAME -f json`` (``properties`` a dict, or in older clients the
string ``hw:numa_nodes='2', ...``).  :func:`read_flavor` tells; the plan is a
:class:`FlavorPlan` whose :meth:`FlavorPlan.laid_out` needs the machine
(its vCPUs, RAM and nodes: a set line carries neither vCPUs nor RAM).

The cells follow nova 34's ``nova/virt/hardware.py`` exactly
(``numa_get_constraints``): ``hw:numa_cpus.N``/``hw:numa_mem.N`` are read from
0 up to the first gap; with only ``hw:numa_nodes`` the vCPUs and memory are
split evenly in order (``_get_numa_topology_auto``: refused when uneven);
given, every vCPU must be in exactly one cell and the memory must sum to the
flavor's RAM (``_get_numa_topology_manual``).  ``hw:cpu_policy=dedicated|mixed``,
``hw:mem_page_size`` or ``hw:pmem`` alone make one cell, as in nova.  nova's API
refuses an empty ``hw:numa_cpus.N`` and ``hw:numa_mem.N`` below 1, so numatui
does too.  Cell N is QEMU node N (nova's libvirt driver writes ``<cell id=N>``).

What a flavor says that numatui does not lay out (host pinning, huge pages,
devices, non-``hw:`` keys) and keys nova would not read are :meth:`Flavor.notes`:
one line each.  What nova refuses raises :class:`FlavorError`, one line.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from numatui.model.errors import NumaError
from numatui.model.libvirt import topology_counts
from numatui.model.plan import Node, Plan, loads_strict
from numatui.model.preflight import present_at_boot
from numatui.model.ranges import format_ranges
from numatui.model.sanitise import one_line
from numatui.model.shell import shell_words
from numatui.model.topology import SlotKey, Topology

MIB = 1 << 20
#: nova's objects.ImageMetaProps.NUMA_NODES_MAX: cells are read up to this many.
NUMA_NODES_MAX = 128
#: The keys numatui lays out.
TOPOLOGY_KEYS = ("hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads")
_CELL_KEY = re.compile(r"hw:numa_(cpus|mem)\.(\d+)")
#: nova 34's other flavor keys in its hw namespaces
#: (``nova/api/validation/extra_specs``): read, not laid out by numatui.
NOVA_HOST_KEYS = frozenset({
    "hw:cpu_policy", "hw:cpu_thread_policy", "hw:emulator_threads_policy", "hw:cpu_realtime",
    "hw:cpu_realtime_mask", "hw:cpu_dedicated_mask", "hw:mem_page_size", "hw:pci_numa_affinity_policy",
    "hw:locked_memory", "hw:pmem",
})
NOVA_OTHER_KEYS = frozenset({
    "hw:boot_menu", "hw:cpu_max_cores", "hw:cpu_max_sockets", "hw:cpu_max_threads",
    "hw:ephemeral_encryption", "hw:ephemeral_encryption_format", "hw:hide_hypervisor_id",
    "hw:mem_encryption", "hw:mem_encryption_model", "hw:pmu", "hw:redirected_usb_ports",
    "hw:serial_port_count", "hw:sound_model", "hw:tpm_model", "hw:tpm_secret_security", "hw:tpm_version",
    "hw:usb_model", "hw:vif_multiqueue_enabled", "hw:viommu_model", "hw:virtio_packed_ring",
    "hw:watchdog_action", "hw_rng:allowed", "hw_rng:rate_bytes", "hw_rng:rate_period",
    "hw_video:ram_max_mb",
})
_NOVA_NAMESPACES = ("hw:", "hw_rng:", "hw_video:")
#: ``openstack flavor set|create`` options without a value.
_FLAGS = frozenset({"--public", "--private", "--no-property"})


class FlavorError(NumaError):
    """What nova refuses in a flavor, or a flavor this machine cannot be laid out as."""


@dataclass(frozen=True)
class Cell:
    """One guest NUMA cell as nova derives it: vCPU indexes and memory in MiB."""

    id: int
    cpus: frozenset[int]
    memory: int


@dataclass(frozen=True)
class Flavor:
    """A flavor's extra specs (in the order given), and its vCPUs and RAM (MiB) when known."""

    specs: tuple[tuple[str, str], ...]
    vcpus: int | None = None
    ram: int | None = None

    @property
    def spec(self) -> dict[str, str]:
        return dict(self.specs)

    def notes(self) -> list[str]:
        """One line per key numatui does not lay out, or nova would not read."""
        out = []
        cells = _cell_lists(self.spec)
        for key, value in self.specs:
            said = one_line(f"{key}={value}", 120)  # a file's text: visible, bounded
            m = _CELL_KEY.fullmatch(key)
            if m:
                if int(m[2]) >= len(cells[m[1]]):
                    out.append(f"{said}: nova reads hw:numa_{m[1]}.0, .1, ... up to the first gap "
                               "and ignores this one; left out")
            elif key in NOVA_HOST_KEYS:
                out.append(f"{said}: host placement (pinning, huge pages), which nova decides per "
                           "compute host; numatui lays out only the guest's cells (see numatui pin)")
            elif key in NOVA_OTHER_KEYS:
                out.append(f"{said}: not about the guest's NUMA layout; left out")
            elif key.startswith(_NOVA_NAMESPACES) and key != "hw:numa_nodes" and key not in TOPOLOGY_KEYS:
                out.append(f"{said}: not a key nova knows (its API refuses it); left out")
            elif not key.startswith(_NOVA_NAMESPACES):
                out.append(f"{said}: not a hw: key; left out")
        return out


# -- reading --------------------------------------------------------------------------
def read_flavor(text: str) -> Flavor | None:
    """The flavor in a plan file's text, or None when it is not one (JSON
    without ``properties``, or text whose first command is not ``openstack flavor``)."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("{"):
        try:
            data = loads_strict(head)
        except (ValueError, RecursionError):
            return None  # the JSON plan reader says what is wrong
        if not isinstance(data, dict) or "properties" not in data or "cpus" in data or "nodes" in data:
            return None
        return _from_show(data)
    try:
        first = next(_commands(text), [])
    except FlavorError:
        first = []  # not read as a flavor: the -numa reader says what is wrong
    if first[:2] != ["openstack", "flavor"]:
        return None
    commands = list(_commands(text))
    specs: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for words in commands:
        if words[:2] != ["openstack", "flavor"] or len(words) < 3 or words[2] not in ("set", "create"):
            raise FlavorError(f"flavor: {shlex.join(words[:3])!r} is not openstack flavor set or create")
        for option, value in _options(words[3:]):
            if option == "--property":
                key, sep, val = value.partition("=")
                if not sep or not key:
                    raise FlavorError(f"flavor: --property {value!r} is not KEY=VALUE")
                _put(specs, key, val)
            elif option in ("--vcpus", "--ram"):
                sizes[option[2:]] = _whole(f"flavor: {option}", value)
    return Flavor(tuple(specs.items()), sizes.get("vcpus"), sizes.get("ram"))


def _commands(text: str) -> Iterator[list[str]]:
    """Each command's words (``\\`` continuations joined, ``#`` comments dropped)."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            words = shell_words(line)
        except ValueError as exc:
            raise FlavorError(f"flavor line {lineno}: {exc}") from None
        if words:
            yield words


def _options(words: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(option, value) pairs of ``--opt VALUE``/``--opt=VALUE``; the positional NAME skipped."""
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("--") or word in _FLAGS:
            continue
        option, sep, value = word.partition("=")
        if not sep:
            if i >= len(words):
                raise FlavorError(f"flavor: {option} needs a value")
            value = words[i]
            i += 1
        yield option, value


def _put(specs: dict[str, str], key: str, value: str) -> None:
    have = specs.setdefault(key, value)
    if have != value:
        raise FlavorError(f"flavor: {key} is given twice, as {have!r} and {value!r}; give it once")


def _from_show(data: Mapping[str, Any]) -> Flavor:
    """``openstack flavor show -f json``: properties a dict, or ``k='v', k='v'`` (older clients)."""
    props = data["properties"]
    specs: dict[str, str] = {}
    if isinstance(props, str):
        rest = props.strip()
        while rest:
            m = re.match(r"([^=\s,][^=]*)='([^']*)'(?:,\s*|$)", rest)
            if not m:
                raise FlavorError(f"flavor: properties {props[:80]!r} is not KEY='VALUE', KEY='VALUE'")
            _put(specs, m[1], m[2])
            rest = rest[m.end():]
    elif isinstance(props, dict):
        for key, value in props.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise FlavorError(f"flavor: properties[{key!r}] must be a string, not {json.dumps(value)}")
            specs[str(key)] = str(value)
    elif props is not None:
        raise FlavorError("flavor: properties must be an object or a string")
    sizes = {k: _whole(f"flavor: {k}", data[k]) for k in ("vcpus", "ram") if data.get(k) is not None}
    return Flavor(tuple(specs.items()), sizes.get("vcpus"), sizes.get("ram"))


def _whole(where: str, value: Any, low: int = 0) -> int:
    """A whole number from a flavor: an int, or a string of digits (extra specs are strings)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}\s*", value):
        value = int(value)  # numbers: parse_int once it is on main
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FlavorError(f"{where} must be a whole number >= {low}, not {json.dumps(value)}")
    return value


# -- nova's cells -----------------------------------------------------------------------
def parse_cpu_spec(spec: str, where: str) -> set[int]:
    """nova's ``parse_cpu_spec``: ``0-3,^2,8``; refused when empty (nova's API does)."""
    take: set[int] = set()
    drop: set[int] = set()
    for rule in (r.strip() for r in spec.split(",")):
        if not rule:
            continue
        m = re.fullmatch(r"(\^?)\s*(\d{1,6})\s*(?:-\s*(\d{1,6}))?", rule)
        if not m or (m[3] is not None and int(m[2]) > int(m[3])):
            raise FlavorError(f"{where}: {rule!r} is not a CPU, a range like 0-3, or ^N")
        ids = range(int(m[2]), int(m[3] or m[2]) + 1)
        (drop if m[1] else take).update(ids)
    if not take - drop:
        raise FlavorError(f"{where}: no vCPUs (nova refuses an empty cell)")
    return take - drop


def _cell_lists(spec: Mapping[str, str]) -> dict[str, list[str]]:
    """hw:numa_cpus.N and hw:numa_mem.N values from 0 up to the first gap (as nova reads them)."""
    out: dict[str, list[str]] = {}
    for kind in ("cpus", "mem"):
        values: list[str] = []
        while len(values) < NUMA_NODES_MAX and f"hw:numa_{kind}.{len(values)}" in spec:
            values.append(spec[f"hw:numa_{kind}.{len(values)}"])
        out[kind] = values
    return out


def nova_cells(flavor: Flavor, vcpus: int, ram: int | None) -> tuple[Cell, ...] | None:
    """The cells nova derives for ``vcpus`` vCPUs and ``ram`` MiB (None: no
    NUMA topology); FlavorError for what nova refuses."""
    spec = flavor.spec
    nodes: int | None = None
    if "hw:numa_nodes" in spec:
        nodes = _whole("hw:numa_nodes", spec["hw:numa_nodes"], 1)
        if nodes > NUMA_NODES_MAX:
            raise FlavorError(f"hw:numa_nodes={nodes}: nova allows at most {NUMA_NODES_MAX}")
    implied = spec.get("hw:cpu_policy") in ("dedicated", "mixed") or "hw:mem_page_size" in spec \
        or "hw:pmem" in spec
    lists = _cell_lists(spec)
    if nodes is None and not implied:
        if lists["cpus"] or lists["mem"]:
            raise FlavorError("hw:numa_cpus.N/hw:numa_mem.N without hw:numa_nodes: nova ignores them; "
                              "give hw:numa_nodes")
        return None
    nodes = nodes or 1
    if not lists["cpus"] and not lists["mem"]:  # _get_numa_topology_auto
        if ram is None:
            raise FlavorError(f"hw:numa_nodes={nodes} splits the flavor's RAM, which is unknown: "
                              "give the flavor's JSON (openstack flavor show -f json) or QEMU's -m")
        if vcpus % nodes or ram % nodes:
            raise FlavorError(f"hw:numa_nodes={nodes} does not divide {vcpus} vCPUs and {ram} MiB evenly "
                              "(nova: ImageNUMATopologyAsymmetric): give hw:numa_cpus.N and hw:numa_mem.N")
        each = vcpus // nodes
        return tuple(Cell(i, frozenset(range(i * each, (i + 1) * each)), ram // nodes) for i in range(nodes))
    if len(lists["cpus"]) != nodes or len(lists["mem"]) != nodes:  # _get_numa_topology_manual
        raise FlavorError(f"hw:numa_nodes={nodes} with hw:numa_cpus.0..{len(lists['cpus']) - 1} and "
                          f"hw:numa_mem.0..{len(lists['mem']) - 1}: nova needs both for every cell "
                          "(ImageNUMATopologyIncomplete)")
    cells = []
    seen: set[int] = set()
    for i, (cpus_spec, mem_spec) in enumerate(zip(lists["cpus"], lists["mem"], strict=True)):
        cpus = parse_cpu_spec(cpus_spec, f"hw:numa_cpus.{i}")
        beyond = sorted(c for c in cpus if c >= vcpus)
        if beyond:
            raise FlavorError(f"hw:numa_cpus.{i} names vCPU {beyond[0]}, but the flavor has {vcpus} "
                              f"(0-{vcpus - 1})")
        twice = sorted(cpus & seen)
        if twice:
            raise FlavorError(f"hw:numa_cpus.{i}: vCPU {twice[0]} is in an earlier cell too "
                              "(nova: ImageNUMATopologyCPUDuplicates)")
        seen |= cpus
        cells.append(Cell(i, frozenset(cpus), _whole(f"hw:numa_mem.{i}", mem_spec, 1)))
    missing = set(range(vcpus)) - seen
    if missing:
        raise FlavorError(f"vCPUs {format_ranges(missing)} are in no hw:numa_cpus.N: nova puts every vCPU "
                          "in one cell (ImageNUMATopologyCPUsUnassigned)")
    total = sum(c.memory for c in cells)
    if ram is not None and total != ram:
        raise FlavorError(f"hw:numa_mem.N sum to {total} MiB, but the flavor has {ram} MiB of RAM "
                          "(nova: ImageNUMATopologyMemoryOutOfRange)")
    return tuple(cells)


# -- laid onto a machine --------------------------------------------------------------------
def nova_shape(topology: Topology, smp: Mapping[str, int] | None, vcpus: int) -> tuple[int, int, int] | None:
    """(sockets, cores, threads) nova would give ``vcpus`` vCPUs shaped like this
    QEMU's cores and threads (its other levels folded into sockets); None when
    ``vcpus`` is no whole number of sockets."""
    counts = topology_counts(topology, smp)
    per_socket = counts["cores"] * counts["threads"]
    if vcpus % per_socket:
        return None
    return vcpus // per_socket, counts["cores"], counts["threads"]


@dataclass(frozen=True)
class FlavorPlan(Plan):
    """A plan that is a flavor: :meth:`laid_out` makes the real plan for a machine."""

    flavor: Flavor = field(default_factory=lambda: Flavor(()))

    def laid_out(self, topology: Topology, *, boot_cpus: int | None = None, ram_size: int | None = None,
                 nodes: Sequence[Node] = (), smp: Mapping[str, int] | None = None) -> Plan:
        """The plan that lays this machine out as nova would the flavor: cell N
        is node N (with the cell's memory), each present vCPU's slot on its
        cell.  FlavorError when nova refuses the flavor or the machine differs
        from what it asks (vCPUs, RAM, CPU topology, nodes QEMU has)."""
        f = self.flavor
        indexes = topology.cpu_indexes()
        present = present_at_boot(topology, boot_cpus)
        vcpus = sum(len(indexes[k]) for k in present)
        if f.vcpus is not None and f.vcpus != vcpus:
            raise FlavorError(f"the flavor has {f.vcpus} vCPUs, this QEMU {vcpus}: start QEMU with -smp "
                              f"{f.vcpus}")
        qemu_ram = None if ram_size is None else ram_size // MIB
        if f.ram is not None and qemu_ram is not None and f.ram != qemu_ram:
            raise FlavorError(f"the flavor has {f.ram} MiB of RAM, this QEMU {qemu_ram} MiB: start QEMU "
                              f"with -m {f.ram}M")
        self._check_shape(topology, smp, vcpus)
        cells = nova_cells(f, vcpus, f.ram if f.ram is not None else qemu_ram) or ()
        have = {n.id: n for n in nodes}
        extra = sorted(set(have) - {c.id for c in cells})
        if extra:
            said = f"{len(cells)} cell(s)" if cells else "no NUMA topology"
            raise FlavorError(f"QEMU has node {extra[0]}, but the flavor has {said}: nova's VM would not; "
                              "start QEMU without that -numa node (numatui adds the flavor's nodes)")
        for c in cells:
            size = have[c.id].size if c.id in have else None
            if size is not None and size != c.memory * MIB:
                raise FlavorError(f"QEMU's node {c.id} has {size // MIB} MiB, the flavor's cell {c.id} "
                                  f"{c.memory} MiB: start QEMU without -numa (numatui adds the nodes)")
        cell_of = {cpu: c.id for c in cells for cpu in c.cpus}
        mapping: dict[SlotKey, int | None] = {}
        for s in topology.slots:
            on = {cell_of.get(i) for i in indexes[s.key]} if s.key in present and cells else {None}
            if len(on) > 1:
                raise FlavorError(f"vCPUs {format_ranges(indexes[s.key])} are one CPU slot of this board, "
                                  "but the flavor puts them in different cells")
            mapping[s.key] = on.pop()
        return Plan.from_topology(topology.with_mapping(mapping),
                                  [Node(c.id, size=c.memory * MIB) for c in cells])

    def _check_shape(self, topology: Topology, smp: Mapping[str, int] | None, vcpus: int) -> None:
        """The flavor's hw:cpu_sockets/cores/threads must be this QEMU's (nova's view of it)."""
        spec = self.flavor.spec
        given = {k: _whole(k, spec[k], 1) for k in TOPOLOGY_KEYS if k in spec}
        if not given:
            return
        shape = nova_shape(topology, smp, vcpus)
        ours = dict(zip(TOPOLOGY_KEYS, shape or (0, 0, 0), strict=True))
        if len(given) == 3 and given["hw:cpu_sockets"] * given["hw:cpu_cores"] * given["hw:cpu_threads"] \
                != vcpus:
            raise FlavorError(f"hw:cpu_sockets x cores x threads is not the flavor's {vcpus} vCPUs: "
                              "nova refuses it")
        if any(ours[k] != v for k, v in given.items()):
            said = ", ".join(f"{k}={v}" for k, v in given.items())
            have = "no whole number of sockets" if shape is None else \
                "{} sockets x {} cores x {} threads".format(*shape)
            want = ",".join(f"{k[7:]}={v}" for k, v in (ours | given).items() if v)
            raise FlavorError(f"the flavor's {said} is not this QEMU's CPU topology ({have} of its "
                              f"{vcpus} vCPUs): start QEMU with -smp {vcpus},{want}")
