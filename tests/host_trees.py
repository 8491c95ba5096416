"""The recorded hosts in ``shared/hosts`` (hwloc's test trees), unpacked once per
test session, and a reader of ``lstopo`` console text (hwloc's expected answer)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

HOSTS = Path(os.environ.get("NUMATUI_HOSTS", Path(__file__).resolve().parents[3] / "shared" / "hosts"))
if not HOSTS.is_dir():  # the worktree's usual place: /work/wt/NAME or /work/main
    HOSTS = Path("/work/shared/hosts")


def names() -> list[str]:
    return sorted(p.name[: -len(".tar.bz2")] for p in HOSTS.glob("*.tar.bz2"))


def restricted(name: str, lstopo: Lstopo | None = None) -> bool:
    """A tree recorded under a cgroup or cpuset (its name says so, or hwloc's
    reading names a cgroup other than ``/``): hwloc
    then shows only the allowed part, numatui the whole machine."""
    if "cgroup" in name or "cpuset" in name:
        return True
    return lstopo is not None and lstopo.cgroup not in (None, "/")


#: What the host reader reads (the archives also hold PCI, DMI, cgroups, ...: not unpacked).
READ = tuple(f"*/{p}" for p in (
    "sys/devices/system/cpu/online", "sys/devices/system/cpu/cpu[0-9]*/online",
    "sys/devices/system/cpu/cpu[0-9]*/topology/*",
    *(f"sys/devices/system/node/node[0-9]*/{f}" for f in ("cpulist", "cpumap", "meminfo", "distance")),
    "sys/devices/system/node/node[0-9]*/hugepages/*", "sys/kernel/mm/hugepages/*", "proc/meminfo"))


class Trees:
    """Unpacks each archive at most once into ``base``; :meth:`root` gives the tree."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots: dict[str, Path] = {}

    def root(self, name: str) -> Path:
        if name not in self.roots:
            target = self.base / name
            target.mkdir()
            archive = str(HOSTS / f"{name}.tar.bz2")
            listing = subprocess.run(["tar", "tjf", archive], check=True, capture_output=True, text=True)
            wanted = [n for n in listing.stdout.splitlines() if any(fnmatch(n, p) for p in READ)]
            subprocess.run(["tar", "xjf", archive, "-C", str(target), "--no-recursion", "-T", "-"],
                           input="\n".join(wanted) + "\n", text=True, check=True)
            tops = [p for p in target.iterdir() if p.is_dir()]
            assert len(tops) == 1, f"{name}: expected one top-level folder, found {tops}"
            self.roots[name] = tops[0]  # not always NAME: some archives use an older name
        return self.roots[name]


@dataclass
class Obj:
    type: str
    attrs: str
    children: list[Obj] = field(default_factory=list)

    @property
    def os_index(self) -> int | None:
        m = re.search(r"\bP#(\d+)", self.attrs)
        return int(m[1]) if m else None

    def pus(self) -> set[int]:
        out = set()
        for c in self.walk():
            if c.type == "PU" and c.os_index is not None:
                out.add(c.os_index)
        return out

    def walk(self) -> list[Obj]:
        out = [self]
        for c in self.children:
            out += c.walk()
        return out


@dataclass
class Lstopo:
    """What hwloc read: NUMA nodes (P#, local memory in bytes as printed, PUs),
    packages and cores (each as its PU set, with its P# when printed)."""

    machine: Obj
    nodes: dict[int, tuple[str | None, set[int]]]  # P# -> (local= as printed, PUs)
    packages: list[tuple[int | None, frozenset[int]]]
    cores: list[tuple[int | None, frozenset[int]]]
    cgroup: str | None = None
    unrepresented: bool = False

    @property
    def pus(self) -> set[int]:
        return self.machine.pus()


def parse_lstopo(text: str) -> Lstopo:
    stack: list[tuple[int, Obj]] = []
    machine: Obj | None = None
    numa: list[tuple[Obj, Obj]] = []  # (node, parent)
    lines = text.splitlines()
    cgroup = next((m[1] for ln in lines if (m := re.search(r"LinuxCgroup=(\S+)", ln))), None)
    unrepresented = any("processors not represented" in ln for ln in lines)
    for line in lines:
        if line.startswith(("depth ", "Special depth", " depth")):
            break
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        m = re.match(r"(\S+)(?: L#\d+)?(?: \((.*)\))?", line.strip())
        assert m, line
        obj = Obj(m[1].split("(")[0], m[2] or "")  # NUMANode(DRAM), Group0(Drawer): the type
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            stack[-1][1].children.append(obj)
            if obj.type == "NUMANode":  # its locality: the nearest ancestor that is not a MemCache
                numa.append((obj, next(o for _, o in reversed(stack) if o.type != "MemCache")))
        else:
            machine = obj
        stack.append((indent, obj))
    assert machine is not None
    nodes = {}
    for node, parent in numa:
        local = re.search(r"local=(\d+\w+)", node.attrs)
        assert node.os_index is not None, node.attrs
        nodes[node.os_index] = (local[1] if local else None, parent.pus())
    packages = [(o.os_index, frozenset(o.pus())) for o in machine.walk() if o.type == "Package"]
    cores = [(o.os_index, frozenset(o.pus())) for o in machine.walk() if o.type == "Core"]
    return Lstopo(machine, nodes, packages, cores, cgroup, unrepresented)


def hwloc_size(size: int) -> str:
    """A memory size as lstopo's console prints it (hwloc_memory_size_printf)."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 10 << shift:
            return f"{(size + (1 << (shift - 1))) >> shift}{unit}"  # rounded to the nearest
    return f"{size}B"


_SHARED: dict[str, Trees] = {}


@pytest.fixture(scope="session", name="trees")
def trees_fixture(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    """The recorded trees, each unpacked at most once per test session."""
    if "t" not in _SHARED:
        _SHARED["t"] = Trees(tmp_path_factory.mktemp("hosts"))
    return _SHARED["t"]
