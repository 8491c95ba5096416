"""How the guest's RAM is split across NUMA nodes, and the argv that says so.

QEMU fixes each node's memory when it starts: a node's memory is its
``-object memory-backend-*,size=`` (``-numa node,memdev=``), and at
``x-exit-preconfig`` the nodes' sizes must add up to ``-m`` exactly
(``total memory for NUMA nodes (0x..) should equal RAM size (0x..)``).  A
node of size 0 is memoryless (no memdev).  Changing the split therefore
means a new QEMU with a rewritten command line: :func:`argv_with_split`.
Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from numatui.model.argv import iter_options, parse_qemu_args, split_program
from numatui.model.backend import Backend
from numatui.model.errors import NumaError
from numatui.model.numbers import parse_qemu_int
from numatui.model.plan import Node
from numatui.model.qemu_args import (
    backend_id,
    edit_object,
    free_memdev_id,
    node_option,
    ram_backend,
    rebind_object,
)
from numatui.model.smp import escape_opt, split_opts_or_none
from numatui.model.units import format_size, human_size, parse_size

MIB = 1024 * 1024


def parse_node_size(text: str, what: str = "size") -> int:
    """A node size typed by a user: ``1G``, ``512M``, ``512`` (MiB, as ``-m``), ``0``."""
    size = parse_size(text, default_unit="m", what=what)
    if size % MIB:
        raise NumaError(f"{what} {text.strip()!r} is not a whole number of MiB: "
                        "give node memory in MiB or GiB (like 512M or 1.5G)")
    return size


def even_split(ram: int, node_ids: Sequence[int]) -> dict[int, int]:
    """``ram`` over ``node_ids`` in whole MiB, the rest on the last node."""
    if not node_ids:
        raise NumaError("there are no nodes to split the memory over")
    each = (ram // len(node_ids)) // MIB * MIB
    out = {n: each for n in node_ids}
    out[node_ids[-1]] = ram - each * (len(node_ids) - 1)
    return out


@dataclass(frozen=True)
class MemorySplit:
    """Node id -> bytes (0: memoryless) against the guest's RAM."""

    ram: int
    sizes: Mapping[int, int]

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    @property
    def remainder(self) -> int:
        """RAM not on any node yet (negative: the nodes ask for too much)."""
        return self.ram - self.total

    def remainder_text(self) -> str:
        r = self.remainder
        if r == 0:
            return "all RAM is on a node"
        if r > 0:
            return f"{human_size(r)} of {human_size(self.ram)} on no node yet"
        return f"{human_size(-r)} more than the {human_size(self.ram)} of RAM"

    def problems(self) -> list[str]:
        """Why QEMU would not start with this split (empty: it would)."""
        out: list[str] = []
        for node, size in sorted(self.sizes.items()):
            if size < 0:
                out.append(f"node {node}: a size cannot be negative")
            elif size % MIB:
                out.append(f"node {node}: {size} bytes is not a whole number of MiB")
        if self.remainder:
            out.append(f"the nodes add up to {human_size(self.total)} but -m is "
                       f"{human_size(self.ram)} ({self.remainder_text()}); QEMU would exit with "
                       f"\u201ctotal memory for NUMA nodes ({self.total:#x}) should equal RAM size "
                       f"({self.ram:#x})\u201d")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


def split_nodes(nodes: Iterable[Node], sizes: Mapping[int, int], taken: Iterable[str] = ()) -> list[Node]:
    """``nodes`` (plus any only in ``sizes``) with the new sizes: a sized node
    keeps its memdev or gets ``m<N>``; a node of size 0 has none."""
    by_id = {n.id: n for n in nodes}
    used = set(taken) | {n.memdev for n in by_id.values() if n.memdev}
    out: list[Node] = []
    for node_id in sorted(set(by_id) | set(sizes)):
        old = by_id.get(node_id, Node(node_id))
        size = sizes.get(node_id, old.size or 0)
        if size <= 0:
            out.append(Node(node_id))
        else:
            out.append(Node(node_id, old.memdev or free_memdev_id(node_id, used), size,
                            host_nodes=old.host_nodes, policy=old.policy, backend=old.backend))
    return out


def argv_with_split(argv: Sequence[str], sizes: Mapping[int, int],
                    backends: Mapping[int, Backend] | None = None) -> list[str]:
    """``argv`` (program name first or not) with node memory as ``sizes`` says.

    A node's existing backend keeps its type and options (a hugepage file
    backend stays one) with ``size=`` changed; a node without one gets
    ``-object memory-backend-ram,id=m<N>``; a node of size 0 loses its
    memdev and its backend; a new backend has the type ``backends`` gives
    its node (default RAM).  Nodes in ``sizes`` the argv does not declare
    are declared at the end.  ``-m`` is left alone: check the split with
    :class:`MemorySplit` first.
    """
    program, args = split_program(argv)
    cfg = parse_qemu_args(args, strict=False)
    nodes = split_nodes(cfg.nodes, sizes, cfg.memdev_ids)
    want = {n.id: replace(n, backend=(backends or {}).get(n.id, n.backend)) for n in nodes}
    old_memdev = {n.id: n.memdev for n in cfg.nodes}
    dropped = {m for i, m in old_memdev.items() if m and i in sizes and want[i].memdev is None}
    resized = {want[i].memdev: want[i].size for i in sizes if want[i].memdev in cfg.memdev_ids}
    out: list[str] = [program] if program else []
    declared: set[int] = set()
    for opt in iter_options(args):
        if opt.name == "object" and opt.value is not None:
            oid = backend_id(opt.value)
            if oid in dropped:
                continue
            if oid in resized:
                size = resized[oid] or 0
                out += [f"-{opt.name}", edit_object(opt.value, {"size": size}, f",size={format_size(size)}")]
                continue
        if opt.name == "numa" and opt.value is not None:
            pairs = split_opts_or_none(opt.value, "type")
            if pairs is not None and next((v for k, v in pairs if k == "type"), None) == "node":
                node_id = parse_qemu_int(next((v for k, v in pairs if k == "nodeid"), str(len(declared))),
                                         "nodeid", opt.text)
                declared.add(node_id)
                if node_id in sizes:
                    node = want[node_id]
                    kept = [f"{k}={escape_opt(v)}" for k, v in pairs
                            if k not in ("type", "memdev", "mem", "nodeid")]
                    value = ",".join(["node", f"nodeid={node_id}", *kept])
                    if node.memdev:
                        value += f",memdev={escape_opt(node.memdev)}"
                    out += [f"-{opt.name}", value]
                    if node.memdev and node.memdev not in cfg.memdev_ids:
                        out += ["-object", ram_backend(node, node.memdev)]
                    continue
        out.extend(opt.tokens)
    for node_id in sorted(set(sizes) - declared):
        node = want[node_id]
        if node.memdev:
            out += ["-object", ram_backend(node, node.memdev)]
        out += ["-numa", node_option(node, node.memdev)]
    return out


def argv_with_bindings(argv: Sequence[str], bindings: Mapping[str, tuple[Sequence[int], str | None]]
                       ) -> list[str]:
    """``argv`` with each ``-object memory-backend-*,id=M`` of ``bindings``
    (memdev id -> (host nodes, policy); no host nodes: unbound) carrying that
    binding: how a node whose backend QEMU already has is rebound (a new QEMU).
    NumaError naming a memdev the argv does not define."""
    program, args = split_program(argv)
    out: list[str] = [program] if program else []
    seen: set[str] = set()
    for opt in iter_options(args):
        if opt.name == "object" and opt.value is not None:
            oid = backend_id(opt.value)
            if oid is not None and oid in bindings:
                hosts, policy = bindings[oid]
                out += [f"-{opt.name}", rebind_object(opt.value, hosts, policy)]
                seen.add(oid)
                continue
        out.extend(opt.tokens)
    missing = sorted(set(bindings) - seen)
    if missing:
        raise NumaError(f"memory backend {missing[0]!r} is not an -object of QEMU's command line: "
                        "it cannot be rebound there")
    return out
