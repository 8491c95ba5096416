"""Where the NUMA nodes come from: QMP cannot list them in preconfig.

Sources, best first: the launcher's declared nodes; QEMU's argv (given, or
read from ``/proc/PID/cmdline`` of the unix socket's peer); a count the user
gave; QEMU's own answers (``info numa`` after boot, or probing node ids with
a set-numa-node that matches no slot in preconfig).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from numatui.model.errors import NumaError
from numatui.model.plan import MAX_NODES, Distance, Node
from numatui.model.topology import Topology
from numatui.session.errors import QemuRefused
from numatui.session.machine import RunState
from numatui.session.peer import looks_like_qemu, read_cmdline

if TYPE_CHECKING:
    from numatui.session.connection import LauncherLike

Execute = Callable[[str, "dict[str, Any] | None"], Awaitable[Any]]


@dataclass
class NodeFacts:
    """Nodes and distances with the source named in plain words."""

    nodes: list[Node]
    source: str
    distances: list[Distance] = field(default_factory=list)
    argv: list[str] | None = None
    #: ``-numa cpu`` options of the command line (seed slots derived from smp)
    cpus: list[dict[str, int]] = field(default_factory=list)


def from_argv(argv: Sequence[str], source: str) -> NodeFacts:
    """The nodes and distances QEMU's argv declares (argv[0] is the binary).

    Raises NumaError when the argv cannot be parsed.
    """
    from numatui.model.argv import parse_qemu_args  # (not qemu_args: it imports every format)

    config = parse_qemu_args(list(argv[1:]), strict=False)  # QEMU has checked it already
    nodes = _sized(config.nodes, config.memdevs)
    return NodeFacts(nodes=sorted(nodes, key=lambda n: n.id), source=source, distances=list(config.distances),
                     argv=list(argv), cpus=[dict(c) for c in config.cpus])


def from_count(count: int) -> NodeFacts:
    if not 0 <= count <= 128:
        raise NumaError(f"--nodes {count} is out of range (0..128)")
    return NodeFacts(nodes=[Node(id=i) for i in range(count)], source=f"--nodes {count}")


_INFO_NUMA_SIZE = re.compile(r"^node (\d+) size: (\d+) MB", re.MULTILINE)
_INFO_NUMA_COUNT = re.compile(r"^(\d+) nodes", re.MULTILINE)


def from_info_numa(text: str) -> list[Node]:
    """Nodes from HMP ``info numa`` (booted QEMU only), with their sizes."""
    nodes = [Node(id=int(m[1]), size=int(m[2]) * 1024 * 1024) for m in _INFO_NUMA_SIZE.finditer(text)]
    if not nodes:
        count = _INFO_NUMA_COUNT.search(text)
        if count:
            nodes = [Node(id=i) for i in range(int(count[1]))]
    return sorted(nodes, key=lambda n: n.id)


def fill_sizes(nodes: Iterable[Node], memdevs: Sequence[dict[str, object]]) -> list[Node]:
    """Give nodes with a memdev but no size the size query-memdev reports."""
    return _sized(nodes, {str(m["id"]): m.get("size") for m in memdevs if m.get("id") is not None})


def _sized(nodes: Iterable[Node], sizes: Mapping[str, object]) -> list[Node]:
    """Nodes with a memdev but no size given the size ``sizes`` has for it."""
    return [replace(n, size=size) if n.size is None and n.memdev is not None
            and isinstance(size := sizes.get(n.memdev), int) else n for n in nodes]


def with_slot_nodes(nodes: Iterable[Node], topology: Topology) -> list[Node]:
    """``nodes`` plus every node a slot is assigned to (QEMU accepted it, so it exists)."""
    by_id = {n.id: n for n in nodes}
    for s in topology.slots:
        if s.node_id is not None and s.node_id not in by_id:
            by_id[s.node_id] = Node(id=s.node_id)
    return [by_id[i] for i in sorted(by_id)]


async def from_qemu_info_numa(execute: Execute) -> NodeFacts | None:
    """After boot: HMP ``info numa`` lists the nodes and their sizes."""
    try:
        text = await execute("human-monitor-command", {"command-line": "info numa"})
    except QemuRefused:
        return None
    if not isinstance(text, str):
        return None
    return NodeFacts(nodes=from_info_numa(text), source="QEMU's info numa")


async def probe_nodes(execute: Execute, topology: Topology, give_up: int = 4) -> NodeFacts | None:
    """In preconfig: which node ids exist, asked without changing anything.

    set-numa-node type cpu checks that the node exists (``Invalid node-id=N``)
    before matching slots; props that match no slot then fail with ``no match
    found`` and change nothing.  Stops after ``give_up`` missing ids in a row.
    None when QEMU answers otherwise (then do not guess).
    """
    if not topology.levels:
        return None
    level = topology.levels[0]
    beyond = max((v for s in topology.slots for p, v in s.key if p == level), default=0) + 1
    found: list[Node] = []
    misses = 0
    for node_id in range(MAX_NODES):
        try:
            await execute("set-numa-node", {"type": "cpu", "node-id": node_id, level: beyond})
        except QemuRefused as exc:
            if "Invalid node-id" in exc.qemu_message:
                misses += 1
                if misses >= give_up:
                    break
                continue
            if "no match found" not in exc.qemu_message:
                return None
        else:  # matched a slot: cannot happen; do not go on
            return None
        misses = 0
        found.append(Node(id=node_id))
    return NodeFacts(nodes=found, source="probing QEMU in preconfig")


def with_bindings(nodes: Iterable[Node], memdevs: Sequence[dict[str, object]]) -> list[Node]:
    """``nodes`` with the ``host-nodes``/``policy`` query-memdev reports for
    their memdev (QEMU's word: it wins over what a command line or plan said)."""
    by_id = {m.get("id"): m for m in memdevs}
    out = []
    for n in nodes:
        m = by_id.get(n.memdev) if n.memdev is not None else None
        if m is not None:
            hosts = m.get("host-nodes")
            ids = [h for h in hosts if isinstance(h, int)] if isinstance(hosts, list) else []
            policy = m.get("policy")
            n = n.with_binding(ids, policy if isinstance(policy, str) and policy != "default" else None)
        out.append(n)
    return out


async def learn(launcher: LauncherLike | None, given_argv: Sequence[str] | None, given_nodes: int | None,
                peer_pid: int | None, state: RunState, topology: Topology, execute: Execute,
                note: Callable[[str], object]) -> NodeFacts:
    """The nodes from the best source there is (see the module docstring)."""
    facts = from_command_line(launcher, given_argv, peer_pid, note)
    if facts is None and given_nodes is not None:
        facts = from_count(given_nodes)
    if facts is None:
        facts = await from_qemu(state, topology, execute, note)
    return facts or NodeFacts(nodes=[], source="unknown")


def from_command_line(launcher: LauncherLike | None, given_argv: Sequence[str] | None, peer_pid: int | None,
                      note: Callable[[str], object]) -> NodeFacts | None:
    """The launcher's nodes (and its argv's distances and -numa cpu), else
    the given argv's, else those of the unix socket peer's /proc cmdline."""
    if launcher is not None:
        argv: list[str] | None = None
        with contextlib.suppress(Exception):
            argv = list(launcher.argv)
        parsed = parse_argv(argv)
        return NodeFacts(nodes=list(launcher.nodes), source="launch arguments",
                         distances=parsed.distances if parsed else [], argv=argv,
                         cpus=parsed.cpus if parsed else [])
    candidates: list[tuple[Sequence[str], str]] = []
    if given_argv:
        candidates.append((given_argv, "the given QEMU command line"))
    if peer_pid is not None:
        seen = read_cmdline(peer_pid)
        if seen is None:
            note(f"cannot read /proc/{peer_pid}/cmdline")
        elif not looks_like_qemu(seen):
            note(f"pid {peer_pid} ({seen[0]}) is not QEMU: its command line is not used")
        else:
            candidates.append((seen, f"command line of pid {peer_pid}"))
    for given, source in candidates:
        try:
            return from_argv(given, source)
        except NumaError as exc:
            note(f"cannot read the nodes from the {source}: {exc}")
    return None


def parse_argv(argv: Sequence[str] | None) -> NodeFacts | None:
    """:func:`from_argv`, None when there is none or it does not parse."""
    if not argv:
        return None
    try:
        return from_argv(argv, "")
    except NumaError:
        return None


async def from_qemu(state: RunState, topology: Topology, execute: Execute,
                    note: Callable[[str], object]) -> NodeFacts | None:
    """QEMU's own answers: ``info numa`` once booted; probing in preconfig."""
    if state.booted:
        return await from_qemu_info_numa(execute)
    if state is RunState.PRECONFIG:
        note("probing node ids with set-numa-node matching no slot")
        return await probe_nodes(execute, topology)
    return None
