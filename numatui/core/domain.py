"""A libvirt domain edited through a scratch QEMU: what it maps, and writing it back.

The scratch QEMU (started by :mod:`numatui.cli.domain`) has the domain's
board, CPUs, memory and cells, none of its devices, and no CPU mapped on its
command line: the cells' vCPU indexes are sent over QMP (:func:`domain_plan`),
so the TUI's moves relaunch and replay as for any VM numatui started.

:class:`DomainTarget` turns what QEMU reports into the domain's new text
(:func:`numatui.model.domain_xml.splice` of the elements
:func:`numatui.model.libvirt.domain_elements` writes) and saves it: to a
file, atomically in place, or ``virsh define`` on the domain's connection.
Textual-free: the CLI and the TUI's ``Save to domain`` both come here.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TextIO

from numatui.model.compact import CpuOption
from numatui.model.domain_xml import Domain, Owned, splice, vcpu_counts
from numatui.model.errors import NumaError
from numatui.model.libvirt import LibvirtUnsupported, domain_elements
from numatui.model.plan import Node, Plan
from numatui.model.topology import SlotKey, Topology, format_key

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.session.session import Session


def domain_plan(topology: Topology, cell_cpus: Mapping[int, tuple[int, ...]],
                plan: Plan | None = None, hmat: Plan | None = None) -> Plan:
    """The cells' vCPU indexes as slots (:meth:`Topology.cpu_indexes`), with
    ``plan``'s slots over them: one plan entry per slot; the domain's HMAT
    (``hmat``) unless the plan has its own.  NumaError for an index the
    machine lacks or a slot (a pseries core) split over cells."""
    indexes = topology.cpu_indexes()
    slot_of = {i: key for key, r in indexes.items() for i in r}
    mapping: dict[SlotKey, int] = {}
    for node, cpus in sorted(cell_cpus.items()):
        for i in cpus:
            key = slot_of.get(i)
            if key is None:
                raise NumaError(f"cell {node} lists vCPU {i}, but the domain has {len(slot_of)} vCPUs")
            if mapping.get(key, node) != node:
                raise NumaError(f"vCPU {i} is in cell {node}, but slot {format_key(key)} "
                                f"(vCPUs {_span(indexes[key])}) is in cell {mapping[key]}: "
                                "a slot goes on one cell")
            mapping[key] = node
    for key, node in mapping.items():
        missing = [i for i in indexes[key] if i not in cell_cpus.get(node, ())]
        if missing:
            raise NumaError(f"cell {node} has part of slot {format_key(key)} (vCPUs "
                            f"{_span(indexes[key])}), not vCPU {missing[0]}: a slot goes on one cell")
    if plan is not None:
        mapping.update(plan.resolve(topology))
    options: tuple[CpuOption, ...] = tuple({**dict(key), "node-id": node}
                                           for key, node in mapping.items())
    base = plan or Plan()
    if hmat is not None and not (base.hmat_lb or base.hmat_cache):
        base = replace(base, hmat_lb=hmat.hmat_lb, hmat_cache=hmat.hmat_cache)
    declared = {n.id for n in base.nodes}
    extra = [Node(id=n) for n in sorted(set(cell_cpus)) if declared and n not in declared]
    return replace(base, cpus=options, nodes=(*base.nodes, *extra))


def _span(r: range) -> str:
    return f"{r.start}-{r.stop - 1}" if len(r) > 1 else str(r.start)


@dataclass
class DomainTarget:
    """The domain being edited and where its new text goes.

    ``uri``: the connection (None: libvirt's default); ``name``: the domain
    was read from that connection (``define`` writes it back there);
    ``path``: it was read from this file (``in_place`` rewrites it);
    ``output``: write to this file instead (None and no ``define``/``in_place``: stdout).
    """

    domain: Domain
    uri: str | None = None
    name: str | None = None
    path: str | None = None
    output: str | None = None
    in_place: bool = False
    define: bool = False
    #: the plan last saved (the TUI's Save to domain; None: not tracked)
    saved: Plan | None = None
    #: the text a save to stdout keeps, for the TUI to print on quit
    printed: str | None = None

    def unsaved(self, session: Session) -> bool:
        """True when QEMU's layout is not the one last saved (or opened with)."""
        return self.saved is not None and session.plan() != self.saved

    async def save_now(self, vm: Vm) -> str:
        """The TUI's Save to domain: write it (virsh in a thread: it may take
        seconds), remember it as saved; the line that says where it went."""
        import asyncio
        import io

        text = self.text(vm)
        said = await asyncio.to_thread(self.save, text, io.StringIO())
        self.saved = vm.session.plan()
        if not said:
            self.printed = text
            said = "saved: the domain XML is printed when you quit"
        return said

    def text(self, vm: Vm) -> str:
        """The domain's text with what QEMU reports now in numatui's elements
        (LibvirtUnsupported for what libvirt cannot say, before anything is
        written); ``<vcpupin>`` to the host's CPUs when the plan pins by node."""
        session = vm.session
        host = vm.host.get() if session.pinning else None
        host_cpus = None if host is None else {n.id: tuple(n.cpus) for n in host.nodes}
        parts = domain_elements(session.topology, session.plan(), session.info.smp, host_cpus)
        if parts.backing is not None and not _has_memfd_backing(self.domain):
            raise LibvirtUnsupported(
                "the nodes' memory is memfd, and <memoryBacking> is the whole domain's, not numatui's "
                "to write: add <memoryBacking><source type='memfd'/></memoryBacking> to the domain "
                "(virsh edit), or give the nodes plain RAM")
        tunes = {el.tag: el for el in parts.tunes}
        smp = session.info.smp or {}
        return splice(self.domain, Owned(
            numa=parts.numa,
            topology=parts.topology if _topology_changed(self.domain, parts.topology, smp) else None,
            vcpu=_vcpu(self.domain, smp),
            numatune=tunes.get("numatune"),
            cputune=tunes.get("cputune")))

    def save(self, text: str, out: TextIO) -> str:
        """Write ``text`` where it goes; returns the one line that says where."""
        if self.define:
            from numatui.session import libvirt

            assert self.name is not None
            running = libvirt.domain_state(self.uri, self.name) in ("running", "paused", "in shutdown")
            libvirt.define(self.uri, text)
            said = f"defined {self.name} on {self.uri or 'libvirt (its default URI)'}"
            return said + ("; it is running: the new layout applies at its next start"
                           if running else "")
        target = self.path if self.in_place else self.output
        if target is None:
            out.write(text)
            return ""
        write_atomically(target, text)
        return f"wrote {target}"


def write_atomically(path: str, text: str) -> None:
    """``path`` replaced by ``text`` all at once (a temp file in its directory,
    renamed).  A new file is the user's only (0600: a domain read with
    ``--security-info`` may hold passwords); an existing one keeps its mode."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".numatui-", suffix=".xml", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _has_memfd_backing(domain: Domain) -> bool:
    """Whether the domain's ``<memoryBacking>`` already says memfd."""
    source = domain.root.find("memoryBacking/source")
    return source is not None and source.get("type") == "memfd"


def _topology_changed(domain: Domain, new: ET.Element, smp: Mapping[str, int]) -> bool:
    """True when the counts differ from the domain's ``<topology>`` (or libvirt's
    default without one: one socket per vCPU)."""
    old = domain.root.find("cpu/topology")
    if old is None:
        _, maximum = vcpu_counts(domain)
        before = {"sockets": maximum or int(smp.get("maxcpus", 1) or 1)}
    else:
        before = {k: int(v) for k, v in old.attrib.items() if v.isdigit()}  # numbers: digits checked
    after = {k: int(v) for k, v in new.attrib.items()}
    keys = set(before) | set(after)
    return any(before.get(k, 1) != after.get(k, 1) for k in keys)


def _vcpu(domain: Domain, smp: Mapping[str, int]) -> ET.Element | None:
    """A new ``<vcpu>`` (the user's attributes kept) when -smp's cpus/maxcpus changed."""
    if not smp.get("cpus"):
        return None
    cpus, maximum = int(smp["cpus"]), int(smp.get("maxcpus") or smp["cpus"])
    if vcpu_counts(domain) == (cpus, maximum):
        return None
    old = domain.root.find("vcpu")
    el = ET.Element("vcpu", dict(old.attrib) if old is not None else {"placement": "static"})
    el.attrib.pop("current", None)
    if cpus != maximum:
        el.set("current", str(cpus))
    el.text = str(maximum)
    return el
