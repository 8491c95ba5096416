"""Preflight: what QEMU would say at ``x-exit-preconfig`` (or at start-up
with the same options), before it says it.

``check`` is pure.  Blocking findings are the cases where QEMU 7.2 exits
(hw/core/numa.c ``numa_complete_configuration``, ``validate_numa_distance``,
``parse_numa_distance``; hw/core/machine.c ``machine_set_cpu_numa_node``);
warnings are where it boots but the guest or a future QEMU may not like it.

The node list is the plan's ``nodes``.  When it is empty the nodes are
unknown (QMP cannot list them in preconfig), so the checks that need the
list (gaps, memory, distances, empty nodes, unknown nodes) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from numatui.model import hmat as hmat_rules
from numatui.model.distances import refusal
from numatui.model.errors import NumaError
from numatui.model.guest_numbering import applies as guest_renumbers
from numatui.model.guest_numbering import node_numbering, renumbered
from numatui.model.numbers import parse_int
from numatui.model.plan import MAX_NODES, Distance, Node, Plan
from numatui.model.topology import SlotKey, Topology, format_key
from numatui.model.units import human_size


class Severity(StrEnum):
    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"  # nothing wrong: something the user should know (e.g. the guest's numbering)


@dataclass(frozen=True)
class Finding:
    """One thing preflight found: ``message`` is one plain sentence."""

    severity: Severity
    code: str
    message: str


def _ids(ids: Iterable[int], limit: int = 8) -> str:
    items = [str(i) for i in sorted(set(ids))]
    if len(items) > limit:
        items = [*items[:limit], f"and {len(items) - limit} more"]
    return ", ".join(items)


def counted(n: int, one: str, many: str | None = None) -> str:
    """``1 CPU``, ``2 CPUs`` (``many``: an irregular plural)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def check(topology: Topology, plan: Plan, ram_size: int | None = None,
          boot_cpus: int | None = None, hmat: bool | None = None, *,
          qemu_version: str = "", machine_type: str = "") -> list[Finding]:
    """Every finding for this plan on this machine, blocking first, notes last.
    ``boot_cpus``: ``-smp cpus`` when it is below ``maxcpus`` (the CPUs with
    cpu-index below it are present at boot, the rest hot-pluggable).
    ``hmat``: whether QEMU runs with ``-machine hmat=on`` (None: unknown).
    ``qemu_version`` ("10.0.2") and ``machine_type`` (``qom-get /machine
    type``) enable the known-bug findings and the guest-numbering note; empty:
    those are skipped."""
    out: list[Finding] = []

    def block(code: str, message: str) -> None:
        out.append(Finding(Severity.BLOCKING, code, message))

    nodes = {n.id: n for n in plan.nodes}
    known = bool(nodes)
    # -- node ids ---------------------------------------------------------------
    big = sorted(i for i in plan.node_ids() if i >= MAX_NODES)
    if big:
        block("node-id-range", f"Node {_ids(big)} is too high: QEMU allows node ids 0 to "
                               f"{MAX_NODES - 1} and would refuse it.")
    declared = sorted(i for i in nodes if i < MAX_NODES)
    if declared:
        gaps = sorted(set(range(declared[-1] + 1)) - set(declared))
        if gaps:
            block("node-id-gap", f"Node {_ids(gaps)} is missing: QEMU needs node ids without "
                                 f"gaps and would exit with \u201cnuma: Node ID missing: {gaps[-1]}\u201d.")
    exists = set(nodes) | {s.node_id for s in topology.slots if s.node_id is not None}
    if known:
        named = sorted({c["node-id"] for c in plan.cpus} - exists)
        if named:
            block("cpu-node-unknown", f"The CPU mapping names node {_ids(named)}, which is not "
                                      "declared: QEMU would refuse it (declare it with -numa node first).")
    # -- memory ------------------------------------------------------------------
    if known and ram_size is not None:
        sizes = [n.size if n.size is not None else (None if n.memdev else 0) for n in nodes.values()]
        if all(s is not None for s in sizes):
            total = sum(s for s in sizes if s is not None)
            if total != ram_size:
                block("memory-total", f"The nodes' memory adds up to {human_size(total)} but the "
                                      f"guest has {human_size(ram_size)} of RAM: QEMU would exit with "
                                      f"\u201ctotal memory for NUMA nodes ({total:#x}) should equal "
                                      f"RAM size ({ram_size:#x})\u201d.")
    # -- distances ---------------------------------------------------------------
    out += _distances(plan.distances, sorted(nodes) if known else None)
    # -- the CPU mapping ---------------------------------------------------------
    mapping, conflicts = _mapping(topology, plan)
    for message in conflicts:
        block("cpu-mapping", message)
    if exists or known:
        out += _cpu_warnings(topology, mapping, len(nodes) if known else len(exists), known, nodes)
    if boot_cpus is not None and mapping:
        out += _boot_cpus_warnings(topology, mapping, boot_cpus)
    out += _hmat(topology, plan, mapping, sorted(set(nodes) | exists), hmat)
    out += known_bugs(topology, mapping, qemu_version, machine_type, set(nodes) | exists)
    if known and guest_renumbers(machine_type):
        out += _guest_numbering(topology, mapping, plan.nodes)
    order = (Severity.BLOCKING, Severity.WARNING, Severity.INFO)
    out.sort(key=lambda f: order.index(f.severity))
    return out


def present_at_boot(topology: Topology, boot_cpus: int | None) -> set[SlotKey]:
    """The slots QEMU fills at boot: those whose cpu-index is below ``-smp cpus``
    (all of them when ``boot_cpus`` is None)."""
    if boot_cpus is None:
        return {s.key for s in topology.slots}
    return {key for key, indexes in topology.cpu_indexes().items() if indexes.start < boot_cpus}


def _boot_cpus_warnings(topology: Topology, mapping: Mapping[SlotKey, int],
                        boot_cpus: int) -> list[Finding]:
    """A node with CPUs in the mapping, none of them present at boot."""
    present = present_at_boot(topology, boot_cpus)
    if len(present) == len(topology.slots):
        return []
    with_cpus = set(mapping.values())
    at_boot = {node for key, node in mapping.items() if key in present}
    indexes = topology.cpu_indexes()
    out: list[Finding] = []
    for node in sorted(with_cpus - at_boot):
        cpus = [i for key, n in mapping.items() if n == node for i in indexes[key]]
        out.append(Finding(Severity.WARNING, "node-no-boot-cpus",
                           f"Node {node} will boot with no CPUs: its CPUs (cpu-index {_ids(cpus)}) "
                           f"are beyond -smp cpus={boot_cpus}, so they stay empty until hot-plugged."))
    return out


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        try:
            parts.append(parse_int(part, "version", hi=10**6))
        except NumaError:
            break
    return tuple(parts)


def known_bugs(topology: Topology, mapping: Mapping[SlotKey, int], qemu_version: str,
               machine_type: str, node_ids: Iterable[int] = ()) -> list[Finding]:
    """The QEMU bugs and board limits this mapping would hit at ``x-exit-preconfig``.

    riscv ``virt`` (7.2.22 and 10.0.2 checked; unassigned CPUs count as node
    0's, as QEMU puts them there) makes a hart group of each node: along the
    core ids the nodes must come as one run each, node 0's first, then node
    1's, and so on over every node.  Otherwise ``x-exit-preconfig`` exits
    ("discontinuous hartids in socket1" for a node without CPUs or split in
    two) or segfaults (nodes out of order: ``-numa cpu,node-id=1,core-id=0
    -numa cpu,node-id=0,core-id=1``).  7.2 also aborts ("Property
    'riscv.sifive.plic.unnamed-gpio-out[3]' not found") when a node's first
    core id is above its CPU count (cores 0-2 on node 0, core 3 on node 1);
    10.0.2 boots that (said for every version before 10.0: 8.x, 9.x unchecked).
    """
    if not (qemu_version and machine_type.removesuffix("-machine") == "virt"
            and topology.levels == ("core-id",) and mapping):
        return []
    along = [mapping.get(slot.key, 0) for slot in topology.slots]  # in core-id order
    runs = [n for i, n in enumerate(along) if i == 0 or along[i - 1] != n]
    nodes = sorted(set(node_ids) | set(along))
    if runs != nodes:
        cpuless = sorted(set(nodes) - set(along))
        why = (f"node {_ids(cpuless)} has no CPUs" if cpuless
               else f"the nodes come in the order {', '.join(map(str, runs))} along the core ids")
        return [Finding(Severity.BLOCKING, "qemu-bug-riscv-numa-runs",
                        f"QEMU's riscv virt board needs each node's CPUs to be one run of consecutive core "
                        f"ids, node 0's first, then node 1's and so on, every node with CPUs ({why}): "
                        "it would exit at x-exit-preconfig (\u201cdiscontinuous hartids\u201d) or crash "
                        "(segmentation fault), as QEMU 7.2 and 10.0.2 do.")]
    if _version(qemu_version)[:1] < (10,):
        for node in nodes:
            first, count = along.index(node), along.count(node)
            if first > count:
                return [Finding(Severity.BLOCKING, "qemu-bug-riscv-plic",
                                f"Node {node} starts at core {first} but has only {count} CPU(s): QEMU "
                                f"{qemu_version}'s riscv virt board aborts at x-exit-preconfig with such a "
                                "mapping (\u201cProperty 'riscv.sifive.plic.unnamed-gpio-out[...]' not "
                                "found\u201d, seen on QEMU 7.2; 10.0.2 boots it); give each node at least "
                                "as many CPUs as there are cores before it.")]
    return []


def _guest_numbering(topology: Topology, mapping: Mapping[SlotKey, int],
                     nodes: Sequence[Node]) -> list[Finding]:
    """A note when the guest will number the nodes differently from QEMU."""
    final = topology.with_mapping({s.key: mapping.get(s.key) for s in topology.slots})
    numbering = node_numbering(final, nodes)
    moved = sorted(renumbered(numbering), key=lambda pair: pair[1])  # the guest's node0 first
    if not moved:
        return []
    q, g = moved[0]
    pairs = ", ".join(f"QEMU node {a} \u2192 guest node{b}" for a, b in moved)
    return [Finding(Severity.INFO, "guest-numbering",
                    f"QEMU node {q} will be the guest's node{g}: Linux numbers nodes in the order of "
                    "the CPUs (the node of cpu-index 0 first), then the nodes with memory only, and "
                    f"leaves out nodes with neither ({pairs}).")]


def _distances(distances: Sequence[Distance], nodes: Sequence[int] | None) -> list[Finding]:
    out: list[Finding] = []
    table: dict[tuple[int, int], int] = {}
    for d in distances:
        broken = refusal(d.src, d.dst, d.val)  # the rule of numatui.model.distances
        if broken is not None:
            code, words = broken
            what = {"distance-too-small": f"The distance {d.val} from node {d.src} to node {d.dst} is below "
                                          "10: QEMU would refuse it",
                    "distance-local": f"The distance of node {d.src} to itself is {d.val}: QEMU requires "
                                      "10 and would refuse it"}.get(
                code, f"The distance {d.val} from node {d.src} to node {d.dst} is above 255: QEMU would "
                "refuse it")
            out.append(Finding(Severity.BLOCKING, code, f"{what} (\u201c{words}\u201d)."))
        table[(d.src, d.dst)] = d.val  # QEMU keeps the last value given for a pair
    if nodes is None or not table:
        return out
    undeclared = sorted({i for pair in table for i in pair} - set(nodes))
    if undeclared:
        out.append(Finding(Severity.BLOCKING, "distance-node-unknown",
                           f"A distance names node {_ids(undeclared)}, which is not declared: QEMU "
                           "would refuse it (\u201cSource/Destination NUMA node is missing\u201d)."))
    # validate_numa_distance over nodes 0..num_nodes-1 (gaps are reported above)
    ids = sorted(nodes)  # 0..n-1 unless there are gaps (reported above)
    missing = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
               if (a, b) not in table and (b, a) not in table]
    if missing:
        pairs = ", ".join(f"{a}\u2013{b}" for a, b in missing[:6]) + (" \u2026" if len(missing) > 6 else "")
        a, b = missing[0]
        out.append(Finding(Severity.BLOCKING, "distance-missing",
                           f"Once any distance is set QEMU needs one for every pair of nodes, and "
                           f"these pairs have none: {pairs}; it would exit with \u201cThe distance "
                           f"between node {a} and {b} is missing\u201d."))
    asymmetric = any(table.get((b, a), v) != v for (a, b), v in table.items() if a != b)
    if asymmetric:
        one_way = [(a, b) for a in ids for b in ids if a != b and (a, b) not in table]
        if one_way:
            a, b = one_way[0]
            out.append(Finding(Severity.BLOCKING, "distance-asymmetric",
                               "Some pair of nodes has different distances each way, so QEMU needs "
                               f"both directions of every pair, but node {a} to node {b} (and "
                               f"{len(one_way) - 1} more) is given one way only or not at all."))
    return out


def _mapping(topology: Topology, plan: Plan) -> tuple[dict[SlotKey, int], list[str]]:
    """Where each slot ends up: what QEMU holds now, then the plan's cpus replayed."""
    mapping = {s.key: s.node_id for s in topology.slots if s.node_id is not None}
    problems: list[str] = []
    try:
        planned = replace(plan, nodes=()).resolve(topology)
    except NumaError as exc:
        return mapping, [f"The CPU mapping cannot be applied: {exc}."]
    moved = sorted((k for k, n in planned.items() if mapping.get(k, n) != n), key=topology.index)
    if moved:
        k = moved[0]
        problems.append(f"Slot {format_key(k)} is already on node {mapping[k]} and the plan puts it "
                        f"on node {planned[k]}: QEMU cannot move a CPU (\u201cCPU is already "
                        f"assigned to node-id: {mapping[k]}\u201d); start a new QEMU with the plan.")
    mapping.update(planned)
    return mapping, problems


def _cpu_warnings(topology: Topology, mapping: Mapping[SlotKey, int], count: int, known: bool,
                  nodes: Mapping[int, Node]) -> list[Finding]:
    out: list[Finding] = []
    final = dict(mapping)
    unassigned = [s for s in topology.slots if s.key not in mapping]
    if unassigned and mapping:
        indexes = topology.cpu_indexes()
        cpus = [i for s in unassigned for i in indexes[s.key]]
        out.append(Finding(Severity.WARNING, "cpus-unassigned",
                           f"{counted(len(cpus), 'possible CPU is', 'possible CPUs are')} on no node "
                           f"(cpu-index {_ids(cpus)}): QEMU would put them on node 0 and warns that "
                           "starting with a partial NUMA mapping is obsolete."))
        final.update({s.key: 0 for s in unassigned})
    elif unassigned and count > 1 and len(unassigned) == len(topology.slots):
        out.append(Finding(Severity.WARNING, "cpus-default",
                           "No CPU is assigned to a node: QEMU would spread the sockets over the "
                           "nodes by itself (socket-id modulo the node count)."))
        final.update({s.key: (s.prop("socket-id") or 0) % count for s in unassigned})
    for level, code, words in (("core-id", "core-split", "threads of one core"),
                               ("cluster-id", "cluster-split", "cores of one cluster")):
        if level not in topology.levels or level == topology.levels[-1]:
            continue
        split = [g for g, members in topology.groups(topology.levels.index(level) + 1).items()
                 if len({final.get(s.key) for s in members}) > 1]
        if split:
            out.append(Finding(Severity.WARNING, code,
                               f"The {words} are on different nodes ({format_key(split[0])}"
                               + (f" and {len(split) - 1} more" if len(split) > 1 else "")
                               + "): QEMU allows it but guest kernels expect them on one node and "
                               "may misbehave."))
    if known:
        used = set(final.values())
        empty = sorted(i for i, n in nodes.items()
                       if i not in used and not n.size and not n.memdev)
        for i in empty:
            out.append(Finding(Severity.WARNING, "node-empty",
                               f"Node {i} has neither CPUs nor memory: QEMU accepts it but the guest "
                               "sees an empty node."))
    return out


def _hmat(topology: Topology, plan: Plan, mapping: Mapping[SlotKey, int], present: Sequence[int],
          enabled: bool | None) -> list[Finding]:
    """QEMU's HMAT rules (:mod:`numatui.model.hmat`), each with QEMU's own message."""
    out: list[Finding] = []
    if not plan.has_hmat and not enabled:
        return out
    if enabled is False:
        return [Finding(Severity.BLOCKING, "hmat-disabled",
                        "The plan has HMAT data (initiator, hmat-lb or hmat-cache) but QEMU runs "
                        f"without hmat=on: QEMU would refuse it (\u201c{hmat_rules.HMAT_DISABLED}\u201d); "
                        "start it with -machine hmat=on (numatui launch --hmat).")]
    # the CPUs when hmat-lb is sent (after the mapping), then at exit (unassigned go to node 0)
    with_cpus = set(mapping.values())
    at_exit = set(with_cpus)
    if len(mapping) < len(topology.slots):
        at_exit.add(0)
    initiators = {n.id: n.initiator for n in plan.nodes if n.initiator is not None}
    for node, message, exits in hmat_rules.initiator_problems(initiators, present, at_exit):
        verb = "would exit at x-exit-preconfig" if exits else "would refuse it"
        out.append(Finding(Severity.BLOCKING, "hmat-initiator",
                           f"Node {node}'s initiator: QEMU {verb} (\u201c{message}\u201d); an "
                           "initiator must be a node with CPUs."))
    num_nodes = len(present)
    for i, message in hmat_rules.lb_problems(plan.hmat_lb, num_nodes=num_nodes, present=present,
                                             cpu_nodes=with_cpus):
        out.append(Finding(Severity.BLOCKING, "hmat-lb",
                           f"hmat-lb[{i}] ({plan.hmat_lb[i].option()}): QEMU would refuse it "
                           f"(\u201c{message}\u201d)."))
    provided = hmat_rules.provided(plan.hmat_lb)
    for i, message in hmat_rules.cache_problems(plan.hmat_cache, num_nodes=num_nodes,
                                                lb_provided=provided):
        out.append(Finding(Severity.BLOCKING, "hmat-cache",
                           f"hmat-cache[{i}] ({plan.hmat_cache[i].option()}): QEMU would refuse it "
                           f"(\u201c{message}\u201d)."))
    gaps = hmat_rules.missing_pairs(plan.hmat_lb, with_cpus, present)
    for (hierarchy, data_type), pairs in gaps.items():
        shown = ", ".join(f"{a}\u2192{b}" for a, b in pairs[:6]) + (" \u2026" if len(pairs) > 6 else "")
        out.append(Finding(Severity.WARNING, "hmat-incomplete",
                           f"The {data_type} table ({hierarchy}) has no value for {shown}: QEMU "
                           "boots and tells the guest 0 (not provided) for those pairs."))
    memory_only = [n.id for n in plan.nodes
                   if (n.size or n.memdev) and n.id not in at_exit and n.initiator is None]
    if memory_only:
        out.append(Finding(Severity.WARNING, "hmat-no-initiator",
                           f"Memory-only node {_ids(memory_only)} has no initiator: QEMU boots, but "
                           "the guest is not told which CPUs are closest to it."))
    return out


# -- the host's memory for the vCPUs QEMU builds -------------------------------------------
#: QEMU's resident memory at x-exit-preconfig, measured under TCG on a 2-core, 24 GiB host
#: (q35, -accel tcg, -cpu max, -m 512M, -S; VmRSS of /proc/PID/status 1 s after
#: x-exit-preconfig answered; /tmp script of numatui's #25 work, one QEMU at a time):
#:   QEMU 7.2:  1 vCPU 37 MiB; 64: 55; 128: 76; 240: 116; 255: 122 MiB (5 s to build);
#:   QEMU 10.0: 1 vCPU 40 MiB; 128: 90; 255: 148; 300: 933 (29 s); 384: 2629 (49 s);
#:              512: 3759 MiB (44 s); 1024: above 8 GiB and still building when stopped.
#: Up to 255 vCPUs QEMU needs about half a MiB per vCPU; past the 8-bit APIC ids
#: about 7.5 MiB per vCPU, and more as the count grows.  KVM cannot be measured
#: on these machines (no /dev/kvm): the finding says it is TCG's number.
QEMU_BASE_MEMORY = 40 << 20
SMALL_VCPU_MEMORY = 1 << 19  # per vCPU, up to LARGE_FROM - 1 vCPUs
LARGE_VCPU_MEMORY = 8 << 20  # per vCPU, from LARGE_FROM vCPUs on
LARGE_FROM = 256


def qemu_memory_estimate(vcpus: int) -> int:
    """Bytes of host memory QEMU takes to build ``vcpus`` vCPUs under TCG
    (the measurements above, rounded up)."""
    per = SMALL_VCPU_MEMORY if vcpus < LARGE_FROM else LARGE_VCPU_MEMORY
    return QEMU_BASE_MEMORY + per * vcpus


def boot_timeout(vcpus: int) -> float:
    """Seconds to wait for x-exit-preconfig: 60, and a quarter second per vCPU
    above 240 (512 vCPUs took 44 s on a busy 2-core host, 4096 took minutes)."""
    return 60.0 + 0.25 * max(0, vcpus - 240)


def vcpu_capacity(vcpus: int, available: int | None) -> list[Finding]:
    """A warning when the host's free memory (``available`` bytes) cannot hold
    QEMU building ``vcpus`` vCPUs (:func:`qemu_memory_estimate`)."""
    if available is None or vcpus <= 0:
        return []
    need = qemu_memory_estimate(vcpus)
    if need <= available:
        return []
    return [Finding(Severity.WARNING, "host-memory-vcpus",
                    f"QEMU needs about {human_size(need)} of host memory to build "
                    f"{counted(vcpus, 'vCPU', 'vCPUs')} (measured under TCG; KVM's need could not be "
                    f"measured here) and the host has {human_size(available)} free: the boot may take "
                    "minutes and be killed for memory; boot fewer vCPUs (-smp cpus=N,maxcpus=M) or "
                    "free host memory")]


def timeout_advice(command: str) -> str:
    """What to do after QEMU did not answer ``command`` in time (said after the error)."""
    if command == "x-exit-preconfig":
        return ("QEMU may still be building the machine (many vCPUs under TCG take minutes and "
                "memory): watch its memory and CPU, check it later with numatui show ADDRESS, give a "
                "longer --timeout SECONDS, or boot fewer vCPUs")
    return "QEMU may be busy or stuck: give a longer --timeout SECONDS, or check that it still runs"
