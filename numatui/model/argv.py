"""Reading a QEMU argv: ``-machine``, ``-smp``, ``-m``, ``-numa``, ``-object``.

Public names are re-exported by :mod:`numatui.model.qemu_args`.  Every
error is a :class:`NumaError` that starts with the offending option as the
user wrote it (``-numa node,node-id=1: ...``) and says why.  The checks and
messages follow QEMU 7.2 (hw/core/numa.c, softmmu/vl.c), run and compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from numatui.model.backend import Backend, backend_from_opts, unknown_option
from numatui.model.compact import CpuOption
from numatui.model.distances import refusal
from numatui.model.errors import NumaError
from numatui.model.hmat import HmatCache, HmatLb, cache_from_args, lb_from_args
from numatui.model.numbers import parse_qemu_int
from numatui.model.plan import MAX_HOST_NODE, MAX_NODES, Distance, Node
from numatui.model.smp import SmpConfig, resolve_smp, smp_keys, split_opts
from numatui.model.topology import PROP_ORDER
from numatui.model.units import qemu_strtosz

#: QEMU options that take no argument (qemu-options.hx of 7.2, all targets).
FLAGS: frozenset[str] = frozenset({
    "S", "s", "h", "help", "version", "preconfig", "nodefaults", "no-user-config",
    "nographic", "snapshot", "enable-kvm", "no-reboot", "no-shutdown", "daemonize",
    "mem-prealloc", "audio-help", "usb", "portrait", "full-screen", "no-fd-bootchk",
    "no-acpi", "no-hpet", "singlestep", "xen-attach", "xen-domid-restrict",
    "only-migratable", "old-param", "semihosting", "win2k-hack", "enable-sync-profile",
    "async-teardown", "alt-grab", "ctrl-grab", "no-quit", "no-frame", "sdl", "curses",
    "enable-fips", "nouserconfig",
})
#: Every option this module reads (others are kept verbatim in ``other``).
KNOWN_WITH_ARG: frozenset[str] = frozenset({"machine", "M", "smp", "m", "numa", "object"})

_MIB = 1024 * 1024
_OPTION = re.compile(r"--?([A-Za-z][A-Za-z0-9_-]*)\Z")


@dataclass(frozen=True)
class Option:
    """One option of an argv: ``name`` without dashes (None for a bare argument)."""

    name: str | None
    value: str | None
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        """How to name it in a message: ``-numa node,nodeid=0``."""
        if self.name is None:
            return self.value or ""
        return f"-{self.name}" + (f" {self.value}" if self.value is not None else "")


def iter_options(argv: Sequence[str]) -> Iterator[Option]:
    """Split an argv (no program name) into options: ``-opt val``, ``--opt val``, ``-opt=val``."""
    i = 0
    while i < len(argv):
        tok = argv[i]
        head, eq, tail = tok.partition("=")
        m = _OPTION.match(head if eq else tok)
        if not tok.startswith("-") or tok in ("-", "--") or m is None:
            yield Option(None, tok, (tok,))
            i += 1
            continue
        name = m.group(1)
        if eq:
            yield Option(name, tail, (tok,))
            i += 1
        elif name in FLAGS:
            yield Option(name, None, (tok,))
            i += 1
        elif i + 1 < len(argv) and (name in KNOWN_WITH_ARG or not argv[i + 1].startswith("-")):
            yield Option(name, argv[i + 1], (tok, argv[i + 1]))
            i += 2
        elif name in KNOWN_WITH_ARG:
            raise NumaError(f"{tok}: requires an argument")
        else:  # an option unknown here at the end, or followed by another option
            yield Option(name, None, (tok,))
            i += 1


def split_program(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """(argv[0] when it is a program name (no leading ``-``), the options)."""
    args = list(argv)
    return (args.pop(0) if args and not args[0].startswith("-") else None), args


@dataclass
class QemuConfig:
    """What a QEMU argv says about the machine, its CPUs and its NUMA nodes."""

    machine: str | None = None
    smp: SmpConfig | None = None
    ram_size: int | None = None
    nodes: list[Node] = field(default_factory=list)
    cpus: list[CpuOption] = field(default_factory=list)
    distances: list[Distance] = field(default_factory=list)
    memdevs: dict[str, int] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)
    #: argv[0] when it is a program name (does not start with ``-``).
    program: str | None = None
    #: ``-numa node,nodeid=N,cpus=...`` (legacy cpu-index form): node -> cpu indexes.
    legacy_cpus: dict[int, tuple[int, ...]] = field(default_factory=dict)
    #: ids of every ``-object memory-backend-*``, sized or not (a file backend may omit size).
    memdev_ids: list[str] = field(default_factory=list)
    #: memdev id -> (host-nodes, policy) of backends bound to host nodes
    bindings: dict[str, tuple[tuple[int, ...], str | None]] = field(default_factory=dict)
    #: ``-machine hmat=on`` (None: not said, which is off)
    hmat: bool | None = None
    #: ``-numa hmat-lb`` / ``-numa hmat-cache``, in order
    hmat_lb: list[HmatLb] = field(default_factory=list)
    hmat_cache: list[HmatCache] = field(default_factory=list)
    #: ``-numa node,initiator=``: node -> initiator
    initiators: dict[int, int] = field(default_factory=dict)
    #: memdev id -> its backend's type and options (numatui.model.backend)
    backends: dict[str, Backend] = field(default_factory=dict)
    #: why a backend cannot go in a plan (a type or key numatui does not know), per option
    backend_unknown: list[str] = field(default_factory=list)


def parse_qemu_args(argv: Sequence[str], *, strict: bool = True) -> QemuConfig:
    """Read a QEMU argv (with or without the program name).

    ``strict`` (a command line): also what QEMU checks while it reads the
    options in order: a node named by ``-numa cpu`` or ``-numa dist`` must be
    declared before, memdevs must exist, distances must be valid, ``mem=``
    and ``memdev=`` must not be mixed.  Not strict (a plan text): only the
    syntax; :mod:`numatui.model.preflight` reports the rest.
    """
    cfg = QemuConfig()
    cfg.program, args = split_program(argv)
    smp: dict[str, int] = {}
    smp_where = "-smp"
    mem: dict[str, str] = {}
    mem_where = "-m"
    raw_nodes: list[tuple[Option, int, str | None, int | None]] = []
    for opt in iter_options(args):
        name, value, where = opt.name, opt.value or "", opt.text
        if name in ("machine", "M"):
            for k, v in split_opts(value, "type", where):
                if k == "type" and v != "help":
                    cfg.machine = v
                elif k == "hmat":
                    cfg.hmat = v in ("on", "yes", "true")
        elif name == "smp":
            smp.update(smp_keys(value, where))
            smp_where = where
        elif name == "m":
            for k, v in split_opts(value, "size", where):
                if k not in ("size", "slots", "maxmem"):
                    raise NumaError(f"{where}: Invalid parameter '{k}' (-m takes size, slots, maxmem)")
                mem[k] = v
            mem_where = where
        elif name == "object":
            _object(cfg, value, where)
        elif name == "numa":
            _numa(cfg, opt, raw_nodes, strict)
        else:
            cfg.other.extend(opt.tokens)
    if smp:
        cfg.smp = resolve_smp(smp, cfg.machine, smp_where)
    if "size" in mem:
        cfg.ram_size = _ram_size(mem["size"], mem_where)
    _finish_nodes(cfg, raw_nodes, strict)
    return cfg


def _ram_size(text: str, where: str) -> int | None:
    """``-m``: suffix-less means MiB (vl.c), 0 means the machine default, 8 KiB aligned."""
    size = qemu_strtosz(text, "B", what=f"{where}: Parameter 'size'")
    if text.endswith(tuple("0123456789")):  # no suffix (qemu_strtosz took only ASCII digits)
        size *= _MIB
    if size == 0:
        return None
    return -(-size // 8192) * 8192


def object_props(value: str, where: str) -> dict[str, Any]:
    """The properties of an ``-object`` value, JSON or QemuOpts (a repeated key: the last)."""
    if not value.lstrip().startswith("{"):
        return dict(split_opts(value, "qom-type", where))
    try:
        props = json.loads(value)
    except json.JSONDecodeError as exc:
        raise NumaError(f"{where}: not valid JSON: {exc.msg}") from None
    if not isinstance(props, dict):
        raise NumaError(f"{where}: the JSON form must be an object")
    return props


def _object(cfg: QemuConfig, value: str, where: str) -> None:
    props = object_props(value, where)
    hosts: list[int] = []
    if value.lstrip().startswith("{"):
        raw_hosts = props.get("host-nodes")
        if isinstance(raw_hosts, list):
            hosts = [h for h in raw_hosts if isinstance(h, int) and not isinstance(h, bool)]
    else:  # QemuOpts: host-nodes=0-1,host-nodes=3
        hosts = [i for k, v in split_opts(value, "qom-type", where) if k == "host-nodes"
                 for i in _host_node_range(v, where)]
    qom_type = props.get("qom-type")
    if not isinstance(qom_type, str) or not qom_type:
        raise NumaError(f"{where}: Parameter 'qom-type' is missing")
    if not qom_type.startswith("memory-backend-"):
        cfg.other += ["-object", value]
        return
    oid = props.get("id")
    if not isinstance(oid, str) or not oid:
        raise NumaError(f"{where}: Parameter 'id' is missing")
    if oid in cfg.memdev_ids:
        raise NumaError(f"{where}: attempt to add duplicate property '{oid}' (id used twice)")
    cfg.memdev_ids.append(oid)
    cfg.backends[oid] = backend_from_opts(props, where)
    cfg.backend_unknown += [why for why in [unknown_option(props, where)] if why]
    if hosts:
        policy = props.get("policy")
        cfg.bindings[oid] = (tuple(sorted(set(hosts))),
                             policy if isinstance(policy, str) and policy != "default" else "default")
    size = props.get("size")
    if size is None:
        if qom_type != "memory-backend-file":
            raise NumaError(f"{where}: Parameter 'size' is missing")
        return  # a file backend takes the file's size: unknown here
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise NumaError(f"{where}: Parameter 'size' expects a size")
    n = size if isinstance(size, int) else qemu_strtosz(size, "B", what=f"{where}: size")
    if n <= 0:
        raise NumaError(f"{where}: property 'size' of {qom_type} doesn't take value '{size}'")
    cfg.memdevs[oid] = n


def _host_node_range(text: str, where: str) -> list[int]:
    """``0`` or ``0-3`` (QemuOpts' list syntax for host-nodes)."""
    lo, _, hi = text.partition("-")
    a = parse_qemu_int(lo, "host-nodes", where, MAX_HOST_NODE)
    b = parse_qemu_int(hi, "host-nodes", where, MAX_HOST_NODE) if hi else a
    if a > b:
        raise NumaError(f"{where}: host-nodes={text} is an empty range")
    if b >= MAX_NODES:  # QEMU's bound (hostmem.c), checked before the range is expanded
        raise NumaError(f"{where}: Invalid host-nodes value: {b}")
    return list(range(a, b + 1))


_NODE_KEYS = ("type", "nodeid", "cpus", "mem", "memdev", "initiator")
_CPU_KEYS = ("type", "node-id", *PROP_ORDER)
_DIST_KEYS = ("type", "src", "dst", "val")
_HINT = {("node", "node-id"): " (-numa node spells it nodeid)",
         ("cpu", "nodeid"): " (-numa cpu spells it node-id)"}


def _numa(cfg: QemuConfig, opt: Option, raw_nodes: list[Any], strict: bool) -> None:
    where = opt.text
    pairs = split_opts(opt.value or "", "type", where)
    kind = next((v for k, v in pairs if k == "type"), None)
    if kind is None:
        raise NumaError(f"{where}: Parameter 'type' is missing (node, cpu or dist)")
    if kind in ("hmat-lb", "hmat-cache"):
        raw: dict[str, Any] = dict(pairs)
        for k in ("bandwidth", "size"):  # QAPI 'size': suffixes allowed on the command line
            if isinstance(raw.get(k), str):
                raw[k] = qemu_strtosz(raw[k], "B", what=f"{where}: {k}")
        if kind == "hmat-lb":
            cfg.hmat_lb.append(lb_from_args(where, raw))
        else:
            cfg.hmat_cache.append(cache_from_args(where, raw))
        return
    allowed = {"node": _NODE_KEYS, "cpu": _CPU_KEYS, "dist": _DIST_KEYS}.get(kind)
    if allowed is None:
        raise NumaError(f"{where}: Parameter 'type' does not accept value '{kind}' (node, cpu or dist)")
    values: dict[str, str] = {}
    cpu_ranges: list[str] = []
    for k, v in pairs:
        if k not in allowed:
            raise NumaError(f"{where}: Invalid parameter '{k}'{_HINT.get((kind, k), '')}")
        if k == "cpus":
            cpu_ranges.append(v)
        elif k in values and k != "type":
            raise NumaError(f"{where}: '{k}' is given twice ({values[k]} and {v}); give it once")
        values[k] = v
    declared = {n[1] for n in raw_nodes}
    if kind == "node":
        nodeid = (parse_qemu_int(values["nodeid"], "nodeid", where, 0xFFFF) if "nodeid" in values
                  else len(raw_nodes))
        if nodeid >= MAX_NODES:
            raise NumaError(f"{where}: Max number of NUMA nodes reached: {nodeid}")
        if nodeid in declared:
            raise NumaError(f"{where}: Duplicate NUMA nodeid: {nodeid}")
        if "initiator" in values:
            cfg.initiators[nodeid] = parse_qemu_int(values["initiator"], "initiator", where, 0xFFFF)
        size = None
        if "mem" in values:
            size = qemu_strtosz(values["mem"], "M", what=f"{where}: mem")
        if "mem" in values and "memdev" in values:
            raise NumaError(f"{where}: numa configuration should use either mem= or memdev=, "
                            "mixing both is not allowed")
        if cpu_ranges:
            cfg.legacy_cpus[nodeid] = _cpu_indexes(cpu_ranges, where)
        raw_nodes.append((opt, nodeid, values.get("memdev"), size))
    elif kind == "cpu":
        if "node-id" not in values:
            raise NumaError(f"{where}: Missing mandatory node-id property")
        out: CpuOption = {}
        for k in _CPU_KEYS[1:]:
            if k in values:
                out[k] = parse_qemu_int(values[k], k, where, MAX_NODES - 1 if k == "node-id" else None)
        if strict and out["node-id"] not in declared:
            raise NumaError(
                f"{where}: Invalid node-id={out['node-id']}, NUMA node must be defined with "
                "-numa node,nodeid=ID before it's used with -numa cpu,node-id=ID"
            )
        cfg.cpus.append(out)
    else:
        for k in ("src", "dst", "val"):
            if k not in values:
                raise NumaError(f"{where}: Parameter '{k}' is missing")
        src = parse_qemu_int(values["src"], "src", where, MAX_NODES - 1)
        dst = parse_qemu_int(values["dst"], "dst", where, MAX_NODES - 1)
        val = parse_qemu_int(values["val"], "val", where, 255)
        if strict:
            if src not in declared or dst not in declared:
                raise NumaError(f"{where}: Source/Destination NUMA node is missing. "
                                "Please use '-numa node' option to declare it first.")
            if (broken := refusal(src, dst, val)) is not None:  # numatui.model.distances' rule
                raise NumaError(f"{where}: {broken[1]}")
        cfg.distances.append(Distance(src=src, dst=dst, val=val))


def _cpu_indexes(ranges: Sequence[str], where: str) -> tuple[int, ...]:
    """``cpus=0-3,cpus=8`` of the legacy ``-numa node`` form."""
    out: list[int] = []
    for r in ranges:
        lo, dash, hi = r.partition("-")
        a = parse_qemu_int(lo, "cpus", where, 0xFFFF)
        b = parse_qemu_int(hi, "cpus", where, 0xFFFF) if dash else a
        if b < a:
            raise NumaError(f"{where}: Parameter 'cpus' has a range {r!r} that runs backwards")
        out.extend(range(a, b + 1))
    return tuple(out)


def _finish_nodes(cfg: QemuConfig, raw_nodes: Sequence[Any], strict: bool) -> None:
    mixed: tuple[bool, bool] = (False, False)
    for opt, nodeid, memdev, size in raw_nodes:
        if memdev is not None:
            if strict and memdev not in cfg.memdev_ids:
                raise NumaError(f"{opt.text}: memdev={memdev} is ambiguous (no -object "
                                f"memory-backend-*,id={memdev})")
            size = cfg.memdevs.get(memdev)
        mixed = (mixed[0] or memdev is not None, mixed[1] or (memdev is None and size is not None))
        if strict and all(mixed):
            raise NumaError(f"{opt.text}: numa configuration should use either mem= or memdev=, "
                            "mixing both is not allowed")
        declared = Node(id=nodeid, memdev=memdev, size=size, initiator=cfg.initiators.get(nodeid),
                        backend=cfg.backends.get(memdev or "", ()))
        if memdev is not None and memdev in cfg.bindings:
            hosts, policy = cfg.bindings[memdev]
            declared = declared.with_binding(hosts, None if policy == "default" else policy)
        cfg.nodes.append(declared)
    if strict and cfg.smp is not None:
        for node, indexes in cfg.legacy_cpus.items():
            for i in indexes:
                if i >= cfg.smp.maxcpus:
                    raise NumaError(f"-numa node,nodeid={node}: CPU index ({i}) should be smaller "
                                    f"than maxcpus ({cfg.smp.maxcpus})")
