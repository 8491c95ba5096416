"""The host machine's NUMA view: nodes, their CPUs and memory, distances and
the CPU topology, as Linux shows them under ``/sys/devices/system``.

Pure: :func:`parse_host` reads through a :class:`HostFiles` (paths relative
to the root of a ``/sys`` + ``/proc`` tree, e.g. ``sys/devices/system/node``),
which the session's reader serves from a directory.  The view is the whole
machine's (every online CPU and every node), not the part a cgroup or cpuset
lets a process use.

Rules (as hwloc reads the same files): CPUs are the online ones
(``cpu/online``); a node's CPUs come from ``nodeN/cpulist``, or the hex mask
``nodeN/cpumap`` on older kernels; ``memory`` is the node's ``MemTotal`` in
``nodeN/meminfo`` (hwloc's ``local=``), ``free`` its ``MemFree``; hugepages per
size from ``nodeN/hugepages/hugepages-*kB/{nr,free}_hugepages``; distance rows
and columns are in ascending node id (ids can be sparse: 0, 1, 2, 33); a tree
without a node directory is one node 0 holding every CPU and the memory of
``/proc/meminfo``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from numatui.model.errors import NumaError
from numatui.model.ranges import KERNEL_MAX_CPUS, format_ranges, parse_mask, parse_ranges

NODE_DIR = "sys/devices/system/node"
CPU_DIR = "sys/devices/system/cpu"
PROC_MEMINFO = "proc/meminfo"
WHOLE_MACHINE = "the whole machine (every online CPU and node), not a cgroup's or cpuset's view"


class HostFiles(Protocol):
    """Read-only access to a ``/sys`` + ``/proc`` tree; paths are relative to its root."""

    def read(self, path: str) -> str | None:
        """The file's text, None when it does not exist or cannot be read."""

    def list(self, path: str) -> Sequence[str]:
        """The names in a directory, empty when it does not exist."""


@dataclass(frozen=True)
class HugePages:
    """Hugepages of one size on one node: ``size`` in bytes."""

    size: int
    total: int
    free: int


@dataclass(frozen=True)
class HostNode:
    """A host NUMA node: online CPUs, memory (MemTotal) and free memory in bytes."""

    id: int
    cpus: tuple[int, ...]
    memory: int
    free: int
    hugepages: tuple[HugePages, ...] = ()


@dataclass(frozen=True)
class HostCpu:
    """An online host CPU and where it sits (None: the kernel does not say)."""

    cpu: int
    package: int | None
    die: int | None
    cluster: int | None
    core: int | None
    siblings: tuple[int, ...]


@dataclass(frozen=True)
class HostTopology:
    nodes: tuple[HostNode, ...]
    distances: tuple[tuple[int, ...], ...]
    cpus: tuple[HostCpu, ...]
    note: str = field(default=WHOLE_MACHINE)

    def node(self, node_id: int) -> HostNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def node_ids(self) -> list[int]:
        return [n.id for n in self.nodes]

    def distance(self, a: int, b: int) -> int | None:
        ids = self.node_ids()
        if not self.distances or a not in ids or b not in ids:
            return None
        return self.distances[ids.index(a)][ids.index(b)]

    def cpu(self, cpu: int) -> HostCpu | None:
        return next((c for c in self.cpus if c.cpu == cpu), None)

    def to_dict(self) -> dict[str, Any]:
        """``numatui host --format json``: exactly nodes, distances, cpus (the text
        format carries :attr:`note`)."""
        return {
            "nodes": [{"id": n.id, "cpus": list(n.cpus), "memory": n.memory, "free": n.free,
                       "hugepages": {_page_name(h.size): {"total": h.total, "free": h.free}
                                     for h in n.hugepages}}
                      for n in self.nodes],
            "distances": [list(row) for row in self.distances],
            "cpus": [{"cpu": c.cpu, "package": c.package, "die": c.die, "cluster": c.cluster,
                      "core": c.core, "siblings": list(c.siblings)} for c in self.cpus],
        }


def _page_name(size: int) -> str:
    return f"{size // 1024}kB"


# -- parsing the kernel's formats ------------------------------------------------
def parse_cpulist(text: str) -> tuple[int, ...]:
    """``0-3,8,10-11`` -> (0, 1, 2, 3, 8, 10, 11); an empty list is (); ids
    the kernel cannot have are refused (:func:`numatui.model.ranges.parse_ranges`)."""
    return parse_ranges(text, KERNEL_MAX_CPUS)


def parse_cpumask(text: str) -> tuple[int, ...]:
    """The kernel's hex mask ``00000000,0000ff00`` (32-bit words, highest first)."""
    return parse_mask(text, KERNEL_MAX_CPUS)


def format_cpulist(cpus: Iterable[int]) -> str:
    """(0, 1, 2, 3, 8) -> ``0-3,8``."""
    return format_ranges(cpus)


_MEMINFO = re.compile(r"^(?:Node\s+\d+\s+)?(\w+):\s+(\d+)(?:\s*kB)?\s*$", re.M)


def parse_meminfo(text: str) -> dict[str, int]:
    """``MemTotal``/``MemFree``/... in bytes (``nodeN/meminfo`` or ``/proc/meminfo``)."""
    return {m[1]: int(m[2]) * 1024 for m in _MEMINFO.finditer(text)}


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _cpus_of(files: HostFiles, directory: str, list_name: str, mask_name: str) -> tuple[int, ...] | None:
    for name, parse in ((list_name, parse_cpulist), (mask_name, parse_cpumask)):
        text = files.read(f"{directory}/{name}")
        if text is not None:
            return _parsed(f"{directory}/{name}", text, parse)
    return None


def _parsed(path: str, text: str, parse: Callable[[str], tuple[int, ...]]) -> tuple[int, ...]:
    """``parse(text)``; its NumaError names the file."""
    try:
        return parse(text)
    except NumaError as exc:
        raise NumaError(f"{path}: {exc}") from None


def _numbered(names: Iterable[str], prefix: str) -> list[int]:
    pattern = re.compile(rf"{prefix}(\d+)\Z")
    return sorted(int(m[1]) for m in map(pattern.match, names) if m)


# -- the whole host --------------------------------------------------------------
def online_cpus(files: HostFiles) -> tuple[int, ...]:
    """The online CPUs: ``cpu/online``, else each ``cpuN`` whose ``online`` is not 0."""
    text = files.read(f"{CPU_DIR}/online")
    if text is not None and text.strip():
        return _parsed(f"{CPU_DIR}/online", text, parse_cpulist)
    out = []
    for cpu in _numbered(files.list(CPU_DIR), "cpu"):
        flag = files.read(f"{CPU_DIR}/cpu{cpu}/online")
        if flag is None or flag.strip() != "0":
            out.append(cpu)
    return tuple(out)


def parse_host(files: HostFiles) -> HostTopology:
    """The host as the tree under ``files`` describes it (NumaError when it has no CPU)."""
    online = online_cpus(files)
    if not online:
        raise NumaError(f"no CPU found under {CPU_DIR} (is this the root of a /sys tree?)")
    cpus = tuple(_cpu(files, c) for c in online)
    node_ids = _numbered(files.list(NODE_DIR), "node")
    notes = [WHOLE_MACHINE]
    if not node_ids:
        mem = parse_meminfo(files.read(PROC_MEMINFO) or "")
        nodes: tuple[HostNode, ...] = (HostNode(0, online, mem.get("MemTotal", 0), mem.get("MemFree", 0),
                                                _hugepages(files, "sys/kernel/mm/hugepages")),)
        notes.append(f"no {NODE_DIR}: one node 0 holding every CPU and /proc/meminfo's memory")
        return HostTopology(nodes, ((10,),), cpus, "; ".join(notes))
    allowed = set(online)
    nodes = tuple(_node(files, n, allowed) for n in node_ids)
    distances, problem = _distances(files, node_ids)
    if problem:
        notes.append(problem)
    return HostTopology(nodes, distances, cpus, "; ".join(notes))


def _node(files: HostFiles, node: int, online: set[int]) -> HostNode:
    d = f"{NODE_DIR}/node{node}"
    cpus = _cpus_of(files, d, "cpulist", "cpumap") or ()
    mem = parse_meminfo(files.read(f"{d}/meminfo") or "")
    return HostNode(node, tuple(c for c in cpus if c in online), mem.get("MemTotal", 0),
                    mem.get("MemFree", 0), _hugepages(files, f"{d}/hugepages"))


def _hugepages(files: HostFiles, directory: str) -> tuple[HugePages, ...]:
    out = []
    for name in files.list(directory):
        m = re.fullmatch(r"hugepages-(\d+)kB", name)
        if not m:
            continue
        total = _int(files.read(f"{directory}/{name}/nr_hugepages"))
        free = _int(files.read(f"{directory}/{name}/free_hugepages"))
        out.append(HugePages(int(m[1]) * 1024, total or 0, free or 0))
    return tuple(sorted(out, key=lambda h: h.size))


def _distances(files: HostFiles, node_ids: Sequence[int]) -> tuple[tuple[tuple[int, ...], ...], str]:
    rows = []
    for n in node_ids:
        text = files.read(f"{NODE_DIR}/node{n}/distance")
        try:
            row = tuple(int(v) for v in (text or "").split())
        except ValueError:
            row = ()
        if len(row) != len(node_ids):
            return (), (f"no distances: node{n}/distance has {len(row)} values for "
                        f"{len(node_ids)} nodes")
        rows.append(row)
    return tuple(rows), ""


def _cpu(files: HostFiles, cpu: int) -> HostCpu:
    d = f"{CPU_DIR}/cpu{cpu}/topology"

    def num(name: str) -> int | None:
        value = _int(files.read(f"{d}/{name}"))
        # the kernel writes -1 (and cluster_id 65535 on x86) when it does not know
        return None if value is None or value < 0 or (name == "cluster_id" and value == 65535) else value

    siblings = _cpus_of(files, d, "thread_siblings_list", "thread_siblings") or (cpu,)
    return HostCpu(cpu, num("physical_package_id"), num("die_id"), num("cluster_id"),
                   num("core_id"), siblings)


# -- text ---------------------------------------------------------------------
def render_host(host: HostTopology) -> str:
    """The host as lines of text (for ``numatui host``)."""
    from numatui.model.units import human_size

    lines = [f"host: {len(host.nodes)} NUMA node(s), {len(host.cpus)} online CPU(s); {host.note}"]
    for n in host.nodes:
        pages = "".join(f", hugepages {_page_name(h.size)}: {h.free} of {h.total} free"
                        for h in n.hugepages if h.total)
        cpus = format_cpulist(n.cpus) or "none"
        lines.append(f"node {n.id}: cpus {cpus}; memory {human_size(n.memory)}, "
                     f"free {human_size(n.free)}{pages}")
    if host.distances:
        ids = host.node_ids()
        width = max(3, *(len(str(i)) for i in ids))
        lines.append("distances:")
        lines.append(" " * (width + 2) + " ".join(f"{i:>{width}}" for i in ids))
        for i, row in zip(ids, host.distances, strict=True):
            lines.append(f"{i:>{width}}: " + " ".join(f"{v:>{width}}" for v in row))
    lines.append("cpus (cpu: package die cluster core; thread siblings):")
    for c in host.cpus:
        where = " ".join("-" if v is None else str(v) for v in (c.package, c.die, c.cluster, c.core))
        lines.append(f"  {c.cpu}: {where}; {format_cpulist(c.siblings)}")
    return "\n".join(lines) + "\n"
