"""A plan as libvirt domain XML: the ``<cpu>`` element with ``<topology>`` and ``<numa>``.

libvirt names a cell's CPUs by cpu-index (``cpus='0-3,8-11'``), so each
slot's plan node is turned into the cpu-indexes QEMU will give it
(:meth:`Topology.cpu_indexes`).  Memory is in KiB.  Distances are written
complete, the way QEMU completes them (one direction given means both;
a node to itself is 10).

Only XML libvirt accepts is written (checked against libvirt 9.0's schema and
``virsh domxml-to-native``): ``dies``/``clusters`` appear only when > 1
(libvirt 9.0 has no ``clusters``), and what libvirt cannot express raises
:class:`LibvirtUnsupported` (one line, exit 2): x86 ``modules`` > 1 (no
such attribute), and a node without memory or of unknown size (libvirt turns
``memory="0"`` into a ``size=0`` backend QEMU refuses, and a cell needs one).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from numatui.model.backend import FILE, MEMFD, backend_type
from numatui.model.errors import NumaError
from numatui.model.hmat import MIB, HmatCache, HmatLb
from numatui.model.plan import Plan
from numatui.model.ranges import format_ranges
from numatui.model.topology import SMP_KEYS, SlotKey, Topology

#: libvirt's <topology> attributes (the -smp counts they come from), the -smp
#: levels it has no attribute for, and the slot prop of each level.
_TOPOLOGY_ATTRS = ("sockets", "dies", "clusters", "cores", "threads")
_NOT_IN_LIBVIRT = ("modules", "books", "drawers")
_PROP_OF = {level: prop for prop, level in SMP_KEYS.items()}


class LibvirtUnsupported(NumaError):
    """The mapping has something libvirt's domain XML cannot say."""


def topology_counts(topology: Topology, smp: Mapping[str, int] | None = None) -> dict[str, int]:
    """sockets/dies/clusters/cores/threads: from ``smp`` when given, else counted in the slots."""
    if smp:
        return {a: int(smp.get(a, 1) or 1) for a in _TOPOLOGY_ATTRS}
    out: dict[str, int] = {}
    levels = topology.levels
    for attr in _TOPOLOGY_ATTRS:
        prop = _PROP_OF[attr]
        if prop not in levels:
            out[attr] = 1
            continue
        depth = levels.index(prop) + 1
        groups = len(topology.groups(depth))
        parents = len(topology.groups(depth - 1))
        out[attr] = max(1, groups // max(1, parents))
    vcpus = max((s.vcpus_count for s in topology.slots), default=1)
    out["threads"] *= vcpus  # ppc64 pseries: one slot is a core of vcpus-count threads
    return out


def libvirt_xml(topology: Topology, plan: Plan, smp: Mapping[str, int] | None = None,
                host_cpus: Mapping[int, tuple[int, ...]] | None = None) -> str:
    """``<cpu><topology .../><numa><cell .../>...</numa></cpu>`` for the plan on this machine,
    then ``<numatune>`` and ``<cputune>`` when the plan binds memory or pins
    vCPUs (:func:`tune_elements`; ``host_cpus``: host node -> its CPUs).  The
    elements are siblings of ``<cpu>`` inside ``<domain>``: paste each there.

    A cell without CPUs gets no ``cpus``.  Raises :class:`LibvirtUnsupported`
    for what libvirt cannot express (see the module docstring).
    """
    parts = domain_elements(topology, plan, smp, host_cpus)
    root = ET.Element("cpu")
    root.append(parts.topology)
    if parts.numa is not None:
        root.append(parts.numa)
    ET.indent(root, space="  ")
    out = ET.tostring(root, encoding="unicode") + "\n"
    for extra in [*([parts.backing] if parts.backing is not None else []), *parts.tunes]:
        ET.indent(extra, space="  ")
        out += ET.tostring(extra, encoding="unicode") + "\n"
    return out


@dataclass(frozen=True)
class DomainElements:
    """What numatui writes into a domain: ``<cpu>``'s ``<topology>`` and ``<numa>``
    (None: no node), ``<numatune>``/``<cputune>`` when the plan binds or pins."""

    topology: ET.Element
    numa: ET.Element | None
    tunes: list[ET.Element]
    backing: ET.Element | None = None  # <memoryBacking> memfd: the whole domain's, not numatui's own


def domain_elements(topology: Topology, plan: Plan, smp: Mapping[str, int] | None = None,
                    host_cpus: Mapping[int, tuple[int, ...]] | None = None) -> DomainElements:
    """The elements :func:`libvirt_xml` writes, as elements (for
    :mod:`numatui.model.domain_xml`, which splices them into a domain's text)."""
    for level in _NOT_IN_LIBVIRT:  # from -smp when given, else counted in the slots
        prop = _PROP_OF[level]
        if smp and int(smp.get(level, 1) or 1) > 1:
            said = f"{level}={smp[level]}"
        elif not smp and len({v for s in topology.slots for p, v in s.key if p == prop}) > 1:
            said = f"{level} > 1"
        else:
            continue
        raise LibvirtUnsupported(f"libvirt cannot express {said} (its <topology> has no {level}): "
                                 "use --format cmdline or numa")
    mapping = plan.resolve(topology) if plan.cpus else {
        s.key: s.node_id for s in topology.slots if s.node_id is not None
    }
    indexes = topology.cpu_indexes()
    cpus: dict[int, list[int]] = {}
    for key, node in mapping.items():
        cpus.setdefault(node, []).extend(indexes[key])
    nodes = {n.id: n for n in plan.nodes}
    ids = sorted(set(nodes) | set(cpus))
    table: dict[tuple[int, int], int] = {}
    for d in plan.distances:
        table[(d.src, d.dst)] = d.val

    backing, shared = memory_backing(plan, ids)
    counts = topology_counts(topology, smp)
    topo = ET.Element("topology", {a: str(v) for a, v in counts.items()
                                   if a not in ("dies", "clusters") or v > 1})
    numa = None
    if ids:
        numa = ET.Element("numa")
        for node_id in ids:
            attrs = {"id": str(node_id)}
            if cpus.get(node_id):
                attrs["cpus"] = format_ranges(cpus[node_id])
            declared = nodes.get(node_id)
            size = declared.size if declared is not None else None
            if not size:
                if size == 0 or (declared is not None and declared.memdev is None):
                    why = ("has no memory: libvirt cannot express a memoryless NUMA cell (it makes a "
                           "size=0 backend QEMU refuses); give every node memory")
                else:
                    why = "has memory of unknown size: a libvirt cell needs its size"
                raise LibvirtUnsupported(f"node {node_id} {why}, or use --format cmdline or numa")
            attrs["memory"] = str(size // 1024)
            attrs["unit"] = "KiB"
            if node_id in shared:
                attrs["memAccess"] = "shared"
            cell = ET.SubElement(numa, "cell", attrs)
            for c in sorted((c for c in plan.hmat_cache if c.node_id == node_id),
                            key=lambda c: c.level):
                _cache(cell, c)
            if table:
                dist = ET.SubElement(cell, "distances")
                for other in ids:
                    val = table.get((node_id, other), table.get((other, node_id)))
                    if node_id == other and val is None:
                        val = 10
                    if val is not None:
                        ET.SubElement(dist, "sibling", {"id": str(other), "value": str(val)})
        if plan.hmat_lb:
            _interconnects(numa, plan)
    tunes = tune_elements(topology, plan, mapping, host_cpus)
    for el in (topo, numa, backing, *tunes):
        bad = None if el is None else _XML_FORBIDDEN.search(ET.tostring(el, encoding="unicode"))
        if bad:  # only numbers go in today; a future string attribute must not break XML 1.0
            raise NumaError(f"libvirt XML cannot hold the control character \\x{ord(bad.group()):02x}")
    return DomainElements(topo, numa, tunes, backing)


def memory_backing(plan: Plan, ids: Iterable[int]) -> tuple[ET.Element | None, set[int]]:
    """``<memoryBacking><source type='memfd'/></memoryBacking>`` when the cells'
    backends are memfd, and the cells with ``share`` (``memAccess='shared'``).
    libvirt has one backend type per domain and picks a file backend's path
    itself (qemu.conf ``memory_backing_dir``): other cases raise LibvirtUnsupported."""
    nodes = [n for n in plan.nodes if n.id in set(ids)]
    types = {backend_type(n.backend) for n in nodes}
    if len(types) > 1:
        raise LibvirtUnsupported(f"libvirt has one backend type for every cell, the nodes have "
                                 f"{', '.join(sorted(types))}: use --format cmdline or numa")
    for n in nodes:
        if backend_type(n.backend) == FILE:
            raise LibvirtUnsupported(f"node {n.id}'s memory-backend-file: libvirt picks the file itself "
                                     "(qemu.conf memory_backing_dir); use memfd, or --format cmdline or numa")
        extra = sorted(set(dict(n.backend)) - {"qom-type", "share"})
        if extra:
            raise LibvirtUnsupported(f"node {n.id}'s backend option {extra[0]} has no libvirt cell "
                                     "attribute here: use --format cmdline or numa")
    shared = {n.id for n in nodes if dict(n.backend).get("share") is True}
    if types != {MEMFD}:
        return None, shared  # RAM: shared or not is the cell's memAccess
    backing = ET.Element("memoryBacking")
    ET.SubElement(backing, "source", {"type": "memfd"})
    return backing, shared


def tune_elements(topology: Topology, plan: Plan, mapping: Mapping[SlotKey, int],
                  host_cpus: Mapping[int, tuple[int, ...]] | None = None) -> list[ET.Element]:
    """``<numatune>`` (when a node's memory is bound) and ``<cputune>`` (when the
    plan pins by node and the host CPUs of each bound host node are known):
    siblings of ``<cpu>`` in a ``<domain>``, written after it."""
    bound = [n for n in sorted(plan.nodes, key=lambda n: n.id) if n.host_nodes]
    out: list[ET.Element] = []
    if bound:
        tune = ET.Element("numatune")
        every = sorted({h for n in bound for h in n.host_nodes})
        modes = {n.policy or "bind" for n in bound}
        mode = _MODES[modes.pop()] if len(modes) == 1 else "strict"
        ET.SubElement(tune, "memory", {"mode": mode, "nodeset": format_ranges(every)})
        for n in bound:
            ET.SubElement(tune, "memnode", {"cellid": str(n.id), "mode": _MODES[n.policy or "bind"],
                                            "nodeset": format_ranges(n.host_nodes)})
        out.append(tune)
    if plan.pinning == "node" and host_cpus:
        indexes = topology.cpu_indexes()
        pins: dict[int, tuple[int, ...]] = {}
        binding = plan.binding()
        for key, node in mapping.items():
            host = binding.get(node)
            if host is not None and host_cpus.get(host):
                for i in indexes[key]:
                    pins[i] = host_cpus[host]
        if pins:
            tune = ET.Element("cputune")
            for i in sorted(pins):
                ET.SubElement(tune, "vcpupin", {"vcpu": str(i), "cpuset": format_ranges(pins[i])})
            out.append(tune)
    return out


#: QEMU's policy -> libvirt's <numatune> mode.
_MODES = {"bind": "strict", "preferred": "preferred", "interleave": "interleave"}


#: Characters XML 1.0 forbids (ElementTree writes them raw, making the document invalid).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")



#: QEMU's hmat-cache words -> libvirt's
_ASSOCIATIVITY = {"none": "none", "direct": "direct", "complex": "full"}
_POLICY = {"none": "none", "write-back": "writeback", "write-through": "writethrough"}
#: QEMU's hierarchy -> libvirt's ``cache`` attribute (none for memory)
_CACHE_LEVEL = {"first-level": "1", "second-level": "2", "third-level": "3"}
_UINT32 = 1 << 32


def _cache(cell: ET.Element, c: HmatCache) -> None:
    """``<cache level associativity policy><size/><line/></cache>`` (hmat-cache)."""
    el = ET.SubElement(cell, "cache", {"level": str(c.level),
                                       "associativity": _ASSOCIATIVITY[c.associativity],
                                       "policy": _POLICY[c.policy]})
    # libvirt 9.0 passes the number on as KiB whatever the unit says: write KiB
    if c.size % 1024 or c.size // 1024 >= _UINT32:
        raise LibvirtUnsupported(f"node {c.node_id}'s level {c.level} cache of {c.size} bytes is not "
                                 "a whole number of KiB libvirt can hold: use --format cmdline or numa")
    ET.SubElement(el, "size", {"value": str(c.size // 1024), "unit": "KiB"})
    ET.SubElement(el, "line", {"value": str(c.line), "unit": "B"})


def libvirt_initiator(lbs: Iterable[HmatLb], node: int) -> int | None:
    """The initiator libvirt gives a node without CPUs (``virDomainNumaGetNodeInitiator``):
    the lowest latency to it, else the highest bandwidth; None without either."""
    lbs = [lb for lb in lbs if lb.target == node]
    latencies = [lb for lb in lbs if lb.is_latency]
    if latencies:
        return min(latencies, key=lambda lb: lb.value).initiator
    bandwidths = [lb for lb in lbs if not lb.is_latency and lb.value]
    if bandwidths:
        return max(bandwidths, key=lambda lb: lb.value).initiator
    return None


def _interconnects(numa: ET.Element, plan: Plan) -> None:
    """``<interconnects>``: ``<latency>`` (ns) and ``<bandwidth>`` (MiB/s) per hmat-lb.

    libvirt derives each memory-only node's ``initiator=`` from these (it has no
    attribute for it): a node whose plan initiator is not the initiator libvirt
    would pick (the lowest latency to it, else the highest bandwidth) cannot be said."""
    links = {(lb.hierarchy, lb.initiator, lb.target) for lb in plan.hmat_lb}
    for hierarchy, a, b in sorted(links):
        if a != b and (hierarchy, b, a) in links:
            raise LibvirtUnsupported(
                f"libvirt cannot express hmat-lb both from node {a} to node {b} and back (its "
                "<interconnects> takes one link per pair: \u201cLink already defined\u201d): "
                "use --format cmdline or numa")
    ordered = sorted(plan.hmat_lb, key=lambda lb: not lb.is_latency)
    cpu_nodes = {c["node-id"] for c in plan.cpus}
    for n in plan.nodes:
        derived = None if n.id in cpu_nodes else libvirt_initiator(ordered, n.id)
        if n.id not in cpu_nodes and derived != n.initiator:
            said = "none" if derived is None else f"node {derived}"
            raise LibvirtUnsupported(
                f"node {n.id}'s initiator is {n.initiator}, but libvirt derives it from the "
                f"interconnects (the lowest latency, else the highest bandwidth to it) and would "
                f"make it {said}: use --format cmdline or numa")
    el = ET.SubElement(numa, "interconnects")
    for lb in ordered:
        attrs = {"initiator": str(lb.initiator), "target": str(lb.target)}
        if lb.hierarchy in _CACHE_LEVEL:
            attrs["cache"] = _CACHE_LEVEL[lb.hierarchy]
        attrs["type"] = lb.data_type.split("-")[0]
        if lb.is_latency:
            if lb.value >= _UINT32:
                raise LibvirtUnsupported(f"latency {lb.value} ns does not fit libvirt's value "
                                         "attribute: use --format cmdline or numa")
            attrs["value"] = str(lb.value)
            ET.SubElement(el, "latency", attrs)
        else:
            attrs["value"] = str(lb.value // MIB)
            attrs["unit"] = "MiB"
            ET.SubElement(el, "bandwidth", attrs)
