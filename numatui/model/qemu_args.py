"""QEMU command lines: reading them, and writing a plan as ``-numa`` options.

Reading lives in :mod:`numatui.model.argv` (``-machine``, ``-m``, ``-numa``,
``-object``) and :mod:`numatui.model.smp` (``-smp``); this module re-exports
it and adds the writers: the ``-numa`` options of a plan, the full command
line, and shell quoting; and reads the plan text file.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from numatui.model.argv import FLAGS, Option, iter_options, object_props, parse_qemu_args, split_program
from numatui.model.backend import backend_opts, backend_type
from numatui.model.errors import NumaError
from numatui.model.flavor import FlavorPlan, read_flavor
from numatui.model.numbers import shown
from numatui.model.plan import LIVE, Node, Plan, check_distances
from numatui.model.ranges import runs
from numatui.model.shell import shell_words
from numatui.model.smp import escape_opt, parse_smp, split_opts, split_opts_or_none
from numatui.model.units import format_size

__all__ = ["iter_options", "parse_qemu_args", "parse_smp"]  # re-exported from argv and smp

#: Monitors numatui's launcher adds live in a private ``numatui-XXXX`` directory.
LAUNCHER_MARK = "/numatui-"
_MONITOR_OPTIONS = frozenset({"qmp", "qmp-pretty", "monitor", "mon", "chardev"})


def node_option(node: Node, memdev: str | None) -> str:
    """``node,nodeid=N[,memdev=M][,initiator=I]``: the ``-numa`` value declaring ``node``."""
    return (f"node,nodeid={node.id}" + (f",memdev={escape_opt(memdev)}" if memdev else "")
            + (f",initiator={node.initiator}" if node.initiator is not None else ""))


def hmat_options(plan: Plan) -> list[str]:
    """``hmat-lb,...`` then ``hmat-cache,...`` values, in the plan's order (QEMU needs
    the CPU mapping before them, and the latency/bandwidth before the caches)."""
    return [lb.option() for lb in plan.hmat_lb] + [c.option() for c in plan.hmat_cache]


def numa_options(plan: Plan, with_nodes: bool = False) -> list[str]:
    """The values of the ``-numa`` options that, added to QEMU's own command
    line, reproduce the plan: ``["node,nodeid=2", "dist,src=0,dst=1,val=20",
    "cpu,node-id=0,socket-id=0", ...]``.

    ``node`` for the nodes QEMU's command line does not define (``created``
    live: see :mod:`numatui.model.plan`), or for every node with
    ``with_nodes``, with its memdev; then every
    ``dist``; then the plan's ``cpu`` options as they are
    (``Plan.from_topology`` gives the compact ones); then the HMAT ones.  A
    node whose memdev was created live also needs its ``-object``:
    :func:`export_lines` writes both.
    """
    nodes = [n for n in sorted(plan.nodes, key=lambda n: n.id) if with_nodes or n.live]
    out = [node_option(n, n.memdev) for n in nodes]
    out += [f"dist,src={d.src},dst={d.dst},val={d.val}" for d in plan.distances]
    out += [cpu_option(c) for c in plan.cpus]
    return out + hmat_options(plan)


def cpu_option(cpu: Mapping[str, int]) -> str:
    """The ``-numa`` value of one ``cpu`` entry: ``cpu,node-id=0,socket-id=0``."""
    return "cpu," + ",".join(f"{k}={v}" for k, v in cpu.items())


def binding_opts(node: Node) -> str:
    """``,host-nodes=0,policy=bind`` for a bound node ("" when not bound): one
    ``host-nodes=`` per run, QemuOpts' list syntax."""
    if not node.host_nodes:
        return ""
    hosts = "".join(f",host-nodes={r}" for r in runs(node.host_nodes))
    return f"{hosts},policy={node.policy or 'bind'}"


def ram_backend(node: Node, memdev: str) -> str:
    """``memory-backend-ram,id=M,size=S[,host-nodes=H,policy=P]``: the node's
    backend type (``memory-backend-memfd,...,share=on``) and options when it has one."""
    return (f"{backend_type(node.backend)},id={escape_opt(memdev)},size={format_size(node.size or 0)}"
            + backend_opts(node.backend) + binding_opts(node))


def object_id(value: str) -> tuple[str | None, str | None]:
    """(qom-type, id) of an ``-object`` value, either form ((None, None) when unreadable)."""
    try:
        props = object_props(value, "-object")
    except NumaError:
        return None, None
    qtype, oid = props.get("qom-type"), props.get("id")
    return (qtype if isinstance(qtype, str) else None, oid if isinstance(oid, str) else None)


def backend_id(value: str) -> str | None:
    """The id of a ``memory-backend-*`` ``-object`` value, else None."""
    qtype, oid = object_id(value)
    return oid if qtype and qtype.startswith("memory-backend-") else None


def edit_object(value: str, props: Mapping[str, Any], opts: str, drop: Collection[str] = ()) -> str:
    """An ``-object`` value without the keys ``drop``, then with ``props``: in the
    JSON form set in place (a new key at the end); in the QemuOpts form every
    key of ``props`` removed and ``opts`` (``,key=value...``) appended."""
    if value.lstrip().startswith("{"):
        loaded = {k: v for k, v in json.loads(value).items() if k not in drop}
        return json.dumps(loaded | dict(props), separators=(",", ":"))
    pairs = split_opts(value, "qom-type", "-object")
    qtype = next(v for k, v in pairs if k == "qom-type")
    kept = [f"{k}={escape_opt(v)}" for k, v in pairs
            if k != "qom-type" and k not in drop and k not in props]
    return ",".join([qtype, *kept]) + opts


def rebind_object(value: str, hosts: Sequence[int], policy: str | None) -> str:
    """``memory-backend-*`` (either form) with ``host-nodes``/``policy`` replaced
    (removed when ``hosts`` is empty)."""
    node = Node(0).with_binding(hosts, policy)
    props = {"host-nodes": list(node.host_nodes), "policy": node.policy} if hosts else {}
    return edit_object(value, props, binding_opts(node), drop=("host-nodes", "policy"))


def export_lines(plan: Plan, devices: Sequence[str] = ()) -> list[str]:
    """What ``q`` and ``numatui export --format numa`` print, one option per
    line, shell-quoted: the ``-object`` of every backend created live, then
    :func:`numa_options` (live nodes, distances, cpus), then ``devices``
    (``["-device", "VALUE", ...]``, the hot-plugged CPUs)."""
    args: list[str] = []
    for n in sorted(plan.nodes, key=lambda n: n.id):
        if n.live and n.memdev_created == LIVE and n.memdev is not None and n.size is not None:
            args += ["-object", ram_backend(n, n.memdev)]
    for value in numa_options(plan):
        args += ["-numa", value]
    return option_lines([*args, *devices])


def option_lines(args: Sequence[str]) -> list[str]:
    """``["-opt", "VALUE", ...]`` as one ``-opt VALUE`` line per option, the value shell-quoted."""
    return [f"{opt} {shell_quote(value)}" for opt, value in zip(args[::2], args[1::2], strict=True)]


def free_memdev_id(node_id: int, used: set[str]) -> str:
    """``m<N>`` (``numatui-m<N>``... when taken) for a node's new backend, added to ``used``."""
    name = f"m{node_id}"
    while name in used:
        name = f"numatui-{name}"
    used.add(name)
    return name


def _memdev_ids(nodes: Sequence[Node], taken: Collection[str]) -> dict[int, str]:
    """A memdev id for every node that has a size but no memdev (``m<N>`` unless taken)."""
    used = set(taken) | {n.memdev for n in nodes if n.memdev}
    return {n.id: free_memdev_id(n.id, used) for n in nodes if n.memdev is None and n.size}


#: The most options a text plan may hold: one per slot of the largest board
#: numatui reads (:data:`numatui.model.topology.MAX_SLOTS`; QEMU's largest has
#: 4096 vCPUs).  Reading that many takes seconds; more is refused.
MAX_PLAN_OPTIONS = 1 << 16


def plan_from_numa_text(text: str) -> Plan:
    """A plan from QEMU options in text: ``-numa node|dist|cpu|hmat-*``,
    ``-object memory-backend-*`` (what ``numatui export --format numa`` writes).

    One option per line; ``#`` starts a comment; blank lines are fine; a line
    may leave out ``-numa`` (``cpu,node-id=0,socket-id=0``); a pasted command
    line (with ``\\`` continuations and the program name first) works too:
    its other QEMU options are the VM's, not the plan's.  A word that is
    no option nor an option's value (``&&``, ``$(touch``) is refused, naming
    its line.  Legacy ``-numa node,nodeid=N,cpus=A-B`` (``cpus=`` may repeat)
    names cpu indexes, mapped to slots as QEMU maps them (:meth:`Plan.resolve`).
    """
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    tokens: list[str] = []
    lines: list[int] = []  # the line of each token
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            words = shell_words(line)
        except ValueError as exc:
            raise NumaError(f"plan line {lineno}: {exc}") from None
        if not words:
            continue
        if not words[0].startswith("-"):
            if len(words) == 1:
                words = ["-numa", words[0]]
            elif not tokens and words[1].startswith("-"):
                words = words[1:]  # the program name of a pasted command line
            else:
                raise NumaError(
                    f"plan line {lineno}: {line.strip()!r} is neither a QEMU option nor a -numa value"
                )
        tokens += words
        lines += [lineno] * len(words)
        if len(tokens) > 2 * MAX_PLAN_OPTIONS:
            raise NumaError(f"plan line {lineno}: the plan has more than {MAX_PLAN_OPTIONS} options, "
                            "more than any machine needs (export --format numa writes a few per node)")
    at = 0
    for opt in iter_options(tokens):
        if opt.name is None:
            raise NumaError(f"plan line {lines[at]}: {shown(opt.value or '')} is neither a QEMU "
                            "option nor the value of one; nothing was applied")
        at += len(opt.tokens)
    cfg = parse_qemu_args(tokens, strict=False)
    if cfg.backend_unknown:
        raise NumaError(cfg.backend_unknown[0])
    check_distances(cfg.distances, "plan: -numa dist")
    return Plan(nodes=tuple(sorted(cfg.nodes, key=lambda n: n.id)), distances=tuple(cfg.distances),
                cpus=tuple(cfg.cpus), hmat_lb=tuple(cfg.hmat_lb), hmat_cache=tuple(cfg.hmat_cache),
                cpu_indexes=tuple(cfg.legacy_cpus.items()))


def load_plan(text: str) -> Plan:
    """A plan file's text, JSON (starts with ``{``) or QEMU ``-numa`` options, or
    an OpenStack flavor (:func:`numatui.model.flavor.read_flavor`).  A plan
    that says nothing (no node, distance, CPU, HMAT entry or pinning) is a
    NumaError: applying it would look like success and do nothing."""
    flavor = read_flavor(text)
    if flavor is not None:
        return FlavorPlan(flavor=flavor)
    head = text.lstrip("\ufeff \t\r\n")
    plan = Plan.from_json(head) if head.startswith(("{", "[")) else plan_from_numa_text(text)
    if plan == Plan():
        raise NumaError("plan: it is empty (no -numa option, no nodes, distances or cpus): "
                        "nothing to apply; give the plan some content")
    return plan


def numa_kind(value: str) -> str | None:
    """``node``, ``cpu``, ``dist``, ... of a ``-numa`` value (its first ``type``; None: unreadable)."""
    return next((v for k, v in split_opts_or_none(value, "type") or () if k == "type"), None)


def _monitor_options(options: Sequence[Option], marks: Collection[str]) -> set[int]:
    """Indexes of the monitor options (and their chardevs) whose value names a mark."""
    drop: set[int] = set()
    chardevs: set[str] = set()
    for i, opt in enumerate(options):
        if opt.name in _MONITOR_OPTIONS and opt.value and any(m in opt.value for m in marks):
            drop.add(i)
            if opt.name == "chardev":
                pairs = dict(split_opts(opt.value, "backend", "-chardev"))
                if "id" in pairs:
                    chardevs.add(pairs["id"])
    for i, opt in enumerate(options):
        if opt.name in ("mon", "monitor", "qmp", "qmp-pretty") and opt.value and any(
            f"chardev={c}" in opt.value.split(",") or opt.value == f"chardev:{c}" for c in chardevs
        ):
            drop.add(i)
    return drop


def without_legacy_cpus(value: str) -> str:
    """A ``-numa node`` value without its legacy ``cpus=`` (a plan's ``-numa
    cpu`` options, or the replay, say where the CPUs go)."""
    pairs = split_opts_or_none(value, "type")
    if pairs is None:
        return value
    return ",".join(v if k == "type" else f"{k}={escape_opt(v)}" for k, v in pairs if k != "cpus")


def full_command_line(
    user_argv: Sequence[str], plan: Plan, *, monitors: Collection[str] | None = None
) -> list[str]:
    """QEMU's argv that starts this plan without numatui.

    ``user_argv`` (program name first or not) loses ``--preconfig``, the
    monitors numatui added (by default those in a launcher's private
    ``numatui-XXXX`` directory; ``monitors`` names other socket paths) and
    its ``-numa cpu`` options, which the plan's replace; legacy
    ``cpus=`` of ``-numa node`` go too.  Added at the end: for every plan node
    the argv does not declare, ``-object memory-backend-ram,id=mN,size=``
    (when the node has a size and no declared memdev) and ``-numa node``; the
    distances (the plan's win over the argv's for the same pair); the
    plan's ``-numa cpu`` options.
    """
    program, args = split_program(user_argv)
    cfg = parse_qemu_args(args, strict=False)
    options = list(iter_options(args))
    marks = [LAUNCHER_MARK] if monitors is None else [m for m in monitors if m]
    drop = _monitor_options(options, marks) if marks else set()
    out: list[str] = [program] if program else []
    rebinds = {n.memdev: n for n in plan.nodes
               if n.memdev in cfg.bindings or (n.memdev in cfg.memdev_ids and n.host_nodes)}
    for i, opt in enumerate(options):
        if i in drop or opt.name == "preconfig":
            continue
        if opt.name == "object" and opt.value is not None:  # the plan's binding wins
            oid = backend_id(opt.value) or ""
            node = rebinds.get(oid)
            if node is not None and cfg.bindings.get(oid, ((), None)) != (node.host_nodes, node.policy):
                out += ["-object", rebind_object(opt.value, node.host_nodes, node.policy)]
                continue
        if opt.name == "numa" and opt.value is not None:
            kind = numa_kind(opt.value)
            if kind in ("cpu", "dist", "hmat-lb", "hmat-cache"):
                continue  # the plan's cpus replace these; distances, hmat after every node/cpu
            if kind == "node" and "cpus=" in opt.value:
                out += [f"-{opt.name}", without_legacy_cpus(opt.value)]
                continue
        out.extend(opt.tokens)
    declared = {n.id for n in cfg.nodes}
    new_nodes = [n for n in sorted(plan.nodes, key=lambda n: n.id) if n.id not in declared]
    fresh = _memdev_ids([n for n in new_nodes if n.memdev not in cfg.memdev_ids], cfg.memdev_ids)
    for n in new_nodes:
        memdev = n.memdev
        if n.size and memdev not in cfg.memdev_ids:
            memdev = memdev or fresh[n.id]
            out += ["-object", ram_backend(n, memdev)]
        out += ["-numa", node_option(n, memdev)]
    dists = {(d.src, d.dst): d for d in (*cfg.distances, *plan.distances)}  # the plan's win
    numa = numa_options(Plan(distances=tuple(dists.values()), cpus=plan.cpus))
    out += [t for value in numa for t in ("-numa", value)]
    if plan.has_hmat and not cfg.hmat:
        out += ["-machine", "hmat=on"]
    argv_hmat = Plan(hmat_lb=tuple(cfg.hmat_lb), hmat_cache=tuple(cfg.hmat_cache))
    return out + [t for value in hmat_options(argv_hmat) + hmat_options(plan) for t in ("-numa", value)]


def shell_join(argv: Sequence[str]) -> str:
    """``shlex`` quoting, one option per line (`` \\`` continuations) for display and copy."""
    return "".join(("" if not i else " \\\n  " if token.startswith("-") else " ") + shell_quote(token)
                   for i, token in enumerate(argv))


_SHELL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def shell_quote(token: str) -> str:
    """``shlex.quote``, except that a token holding a control character is
    written as bash's ``$'...'`` with each control as ``\\xNN`` (``\\uNNNN``
    for C1), so the command line never carries a raw ESC and still runs."""
    if not _SHELL_CONTROL.search(token):
        return shlex.quote(token)

    def one(ch: str) -> str:
        code = ord(ch)
        if ch in "\\'":
            return "\\" + ch
        if code < 0x20 or code == 0x7F:
            return f"\\x{code:02x}"
        if 0x80 <= code <= 0x9F:
            return f"\\u{code:04x}"
        return ch

    return "$'" + "".join(one(c) for c in token) + "'"


def topology_options(argv: Sequence[str]) -> tuple[str, str]:
    """The ``-smp`` and ``-cpu`` values of ``argv`` (program first or not; "" when absent;
    several ``-smp``: joined, as QEMU merges them)."""
    _, args = split_program(argv)
    options = list(iter_options(args))
    smp = ",".join(o.value or "" for o in options if o.name == "smp")
    cpu = next((o.value or "" for o in reversed(options) if o.name == "cpu"), "")
    return smp, cpu


def argv_with_topology(argv: Sequence[str], smp: str, cpu: str) -> list[str]:
    """``argv`` (program first or not) with its ``-smp`` and ``-cpu`` replaced by
    ``smp`` and ``cpu`` (one each, where the first was, else at the end; an
    empty ``cpu``: no ``-cpu``, QEMU's default model).  NumaError when the
    ``-smp`` is not one QEMU would take for this machine."""
    program, args = split_program(argv)
    machine = parse_qemu_args(args, strict=False).machine
    if smp.strip() == "":
        raise NumaError("-smp: give the CPU topology, like 8,sockets=2,cores=2,threads=2")
    parse_smp(smp, machine)
    if any(ord(c) < 0x20 or c.isspace() for c in cpu):
        raise NumaError(f"-cpu {cpu!r}: a CPU model has no spaces or control characters")
    out: list[str] = [program] if program else []
    wanted = {"smp": smp, "cpu": cpu}
    for opt in iter_options(args):
        if opt.name in ("smp", "cpu"):
            value = wanted.pop(opt.name, None)
            if value:
                out += [f"-{opt.name}", value]
            continue
        out.extend(opt.tokens)
    return out + [t for name, value in wanted.items() if value for t in (f"-{name}", value)]


#: Options a second QEMU can run beside the first: they open no host resource
#: exclusively (no image, socket, port, device); read-only files are fine.
_SHAREABLE = frozenset({"machine", "M", "smp", "m", "numa", "cpu", "accel", "L", "display", "name",
                        "uuid", "kernel", "initrd", "append", "dtb", "bios", "boot", "rtc", "global",
                        "smbios", "k", "vga", "icount", "msg", "D", "d", "trace", "overcommit"})


def exclusive_option(argv: Sequence[str]) -> str | None:
    """The first option of ``argv`` (program first or not) that a second QEMU
    could not open while this one runs (a disk image's write lock, a listening
    socket, a TCP port, a passed-through device; None: every option is
    shareable): a relaunch must stop the old QEMU before starting the new one."""
    for opt in iter_options(split_program(argv)[1]):
        if opt.name is None or opt.name in FLAGS or opt.name in _SHAREABLE:
            continue
        value = opt.value or ""
        if opt.name == "object" and object_id(value)[0] in ("memory-backend-ram", "memory-backend-memfd"):
            continue
        if opt.name == "device" and not any(w in value for w in ("vfio", "host", "drive=", "chardev=")):
            continue
        return opt.text
    return None
