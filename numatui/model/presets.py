"""Presets: named whole-machine mappings (``socket``, ``split``, ...).

A preset is a pure function from the machine to a mapping: it gets a
:class:`PresetInput` (the topology, how many nodes QEMU has, ``--into N``,
the host and ``-m``) and returns ``{slot key: node-id}`` for every slot (or a :class:`Plan`, whose
``cpus`` and ``distances`` are used).  The registry keeps them by name, in
the order registered; the faces list :func:`presets` and call
:func:`preset_plan`, which also checks the nodes the result needs.

Registering one::

    from numatui.model.presets import PresetInput, preset

    @preset("evens", "every other core on node 1", needs="two nodes")
    def evens(inp: PresetInput) -> dict[SlotKey, int]:
        ...

or ``register(Preset(name, description, needs, build))`` for a function made
elsewhere.  The module that registers must be imported before :func:`get` is asked for
the name (the model imports nothing above it).  A preset that spreads over
a node count calls ``inp.spread(name)`` and is registered with
``takes_into=True``.  Raise :class:`PresetError` (one line) when the board
cannot take the preset.

Built-in presets (levels are numbered in topology order across the
machine, so ``die`` puts die 1 of socket 0 on node 1 and die 0 of socket 1
on node 2):

- ``socket``, ``die``, ``module``, ``cluster``: group *i* of that level on
  node *i*, where the board has that level.
- ``split``: the vCPUs over N nodes (all QEMU has, or ``--into N``), nodes
  differing by at most one core's threads, in the coarsest unit keeping that
  balance (whole sockets when they divide evenly, else whole dies, ..., else
  whole cores; a core's threads are never split), in topology order.
- ``interleave``: core *k* of the machine on node *k mod N*.
- ``host``: the host's NUMA layout (:func:`numatui.model.host_preset.host_plan`
  of the host and ``-m`` the caller read).

A "core" is a slot without its ``thread-id`` (x86, arm virt), or the slot
itself where the board names cores only (ppc64 pseries, one slot per core
carrying ``vcpus-count`` threads; riscv virt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from numatui.model.compact import compact
from numatui.model.errors import NumaError
from numatui.model.host import HostTopology
from numatui.model.host_preset import host_plan
from numatui.model.plan import MAX_NODES, Distance, Node, Plan
from numatui.model.ranges import consecutive, format_ranges
from numatui.model.topology import LEVEL_NAMES, Slot, SlotKey, Topology


class PresetError(NumaError):
    """The preset cannot be applied to this machine as asked (one line)."""


class NotEnoughNodes(PresetError):
    """The preset's mapping names nodes QEMU lacks (and adding them was not allowed)."""

    def __init__(self, preset: str, needs: str, needed: int, have: Sequence[int],
                 missing: Sequence[int], source: str = "") -> None:
        self.needed = needed
        self.missing = tuple(missing)
        where = f", from {source}" if source else ""
        have_text = f"{len(have)} ({format_ranges(have)}{where})" if have else f"none{where}"
        super().__init__(
            f"preset {preset} needs {needed} NUMA node(s) ({needs}); QEMU has {have_text}: "
            f"add node(s) {format_ranges(missing)} memoryless (--add-nodes), or start QEMU with "
            f"{needed} nodes"
        )


@dataclass(frozen=True)
class PresetInput:
    """What a preset may look at."""

    topology: Topology
    nodes: int | None
    """How many nodes QEMU has (None: numatui cannot tell)."""
    into: int | None = None
    """``--into N``: spread over nodes 0..N-1 instead of all QEMU has."""
    host: HostTopology | None = None
    """The host numatui runs on (None: it could not be read)."""
    ram: int | None = None
    """The guest's ``-m`` in bytes (None: QEMU did not say)."""

    def spread(self, preset: str) -> int:
        """N for a preset that spreads over nodes: ``into``, else every node QEMU has."""
        if self.into is not None:
            return self.into
        if self.nodes is None:
            raise PresetError(f"preset {preset} spreads over the nodes QEMU has, and numatui cannot "
                              "tell how many it has: give --into N (or --nodes N)")
        if self.nodes < 1:
            raise PresetError(f"preset {preset} needs at least one NUMA node and QEMU has none: "
                              "give --into N with --add-nodes, or start QEMU with -numa node options")
        return self.nodes


PresetResult = Mapping[SlotKey, int] | Plan
PresetFunction = Callable[[PresetInput], PresetResult]


@dataclass(frozen=True)
class Preset:
    """A named preset: ``build`` maps every slot (see the module docstring)."""

    name: str
    description: str
    """One line, e.g. ``socket i on node i``."""
    needs: str
    """What it needs, e.g. ``one node per socket``; also used in NotEnoughNodes."""
    build: PresetFunction
    takes_into: bool = False
    """True when ``--into N`` sets how many nodes it spreads over."""


_REGISTRY: dict[str, Preset] = {}


def register(p: Preset, *, replace: bool = False) -> Preset:
    """Add ``p`` to the registry (ValueError when the name is taken, unless ``replace``)."""
    if not p.name or not p.name.replace("-", "").isalnum():
        raise ValueError(f"preset name {p.name!r}: letters, digits and dashes only")
    if p.name in _REGISTRY and not replace:
        raise ValueError(f"preset {p.name!r} is already registered")
    _REGISTRY[p.name] = p
    return p


def preset(name: str, description: str, needs: str,
           takes_into: bool = False) -> Callable[[PresetFunction], PresetFunction]:
    """Decorator: register the function as preset ``name``."""

    def deco(fn: PresetFunction) -> PresetFunction:
        register(Preset(name, description, needs, fn, takes_into))
        return fn

    return deco


def presets() -> list[Preset]:
    """Every registered preset, in the order registered."""
    return list(_REGISTRY.values())


def get(name: str) -> Preset:
    """The preset called ``name``; PresetError naming the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r}; choose {', '.join(_REGISTRY)}") from None


# -- running a preset ------------------------------------------------------------------
def preset_plan(name: str, topology: Topology, nodes: Sequence[Node] | None, *,
                into: int | None = None, add_nodes: bool = False, nodes_source: str = "",
                host: HostTopology | None = None, ram: int | None = None) -> Plan:
    """The plan applying preset ``name``: its ``cpus`` the compact options of
    the preset's mapping (so applying it sends the fewest commands).

    ``nodes`` are the nodes QEMU has (None: numatui cannot tell).  A mapping
    naming nodes QEMU lacks raises :class:`NotEnoughNodes`, unless
    ``add_nodes``: then the plan declares them memoryless (with QEMU's own
    nodes beside them), which is how a plan asks for nodes to be added.
    ``host`` and ``ram`` are what the "host" preset shapes the guest after.
    """
    have = None if nodes is None else sorted({n.id for n in nodes})
    inp = PresetInput(topology, None if have is None else len(have), into, host, ram)
    mapping, distances, built = _run(name, inp)
    pinning = built.pinning if built is not None else None
    if built is not None and built.nodes:  # the preset declares its nodes (memory, binding)
        return Plan(nodes=merge_nodes(nodes or (), built.nodes), distances=distances,
                    cpus=tuple(compact(topology, mapping)), pinning=pinning)
    if have is None:
        if add_nodes:
            raise PresetError(f"preset {name}: numatui cannot tell which nodes QEMU has, so it cannot "
                              "add the missing ones: give --nodes N")
        return Plan(distances=distances, cpus=tuple(compact(topology, mapping)), pinning=pinning)
    assert nodes is not None
    used = set(mapping.values())
    missing = sorted(used - set(have))
    declared: tuple[Node, ...] = ()
    if missing:
        if not add_nodes:
            raise NotEnoughNodes(name, get(name).needs, max(used) + 1, have, missing, nodes_source)
        declared = tuple(sorted([*nodes, *(Node(id=i) for i in missing)], key=lambda n: n.id))
    return Plan(nodes=declared, distances=distances, cpus=tuple(compact(topology, mapping)),
                pinning=pinning)


def merge_nodes(have: Iterable[Node], wanted: Iterable[Node]) -> tuple[Node, ...]:
    """QEMU's nodes with a preset's: a node QEMU has keeps its memory (fixed when
    QEMU made it) and takes the preset's binding when it has memory; a node it
    lacks is the preset's (added live, with a new bound backend)."""
    out = {n.id: n for n in have}
    taken = {n.memdev for n in out.values() if n.memdev}
    for n in wanted:
        cur = out.get(n.id)
        if cur is None:
            out[n.id] = replace(n, memdev=None) if n.memdev in taken else n
        elif cur.memdev is not None:
            out[n.id] = cur.with_binding(n.host_nodes, n.policy)
    return tuple(out[i] for i in sorted(out))


def _run(name: str, inp: PresetInput) -> tuple[dict[SlotKey, int], tuple[Distance, ...], Plan | None]:
    p = get(name)
    topology, into = inp.topology, inp.into
    if into is not None:
        if not p.takes_into:
            raise PresetError(f"preset {name} takes no --into: it needs {p.needs}")
        if not 1 <= into <= MAX_NODES:
            raise PresetError(f"--into {into} is out of range (1..{MAX_NODES})")
    if not topology.slots:
        raise PresetError(f"preset {name}: the machine has no CPU slots")
    result = p.build(inp)
    if isinstance(result, Plan):
        return result.resolve(topology), result.distances, result
    mapping = dict(result)
    for key, node in mapping.items():
        topology.index(key)  # NumaError: no such slot
        if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < MAX_NODES:
            raise PresetError(f"preset {name} put a CPU on node {node!r}: QEMU has node ids "
                              f"0..{MAX_NODES - 1}")
    return mapping, (), None


# -- helpers for preset functions -------------------------------------------------------
def core_depth(topology: Topology) -> int:
    """How many props name a core: every level but ``thread-id`` (a core-only
    board's slot is its core)."""
    levels = topology.levels
    return max(1, len(levels) - 1) if levels and levels[-1] == "thread-id" else len(levels)


def units(topology: Topology, depth: int) -> list[list[Slot]]:
    """The groups named by the first ``depth`` props, in topology order."""
    return list(topology.groups(depth).values())


def vcpus(group: Iterable[Slot]) -> int:
    return sum(s.vcpus_count for s in group)


def level_groups(topology: Topology, prop: str, preset_name: str) -> list[list[Slot]]:
    """The groups of level ``prop`` (e.g. ``die-id``) across the machine;
    PresetError when the board has no such level."""
    if prop not in topology.levels:
        have = ", ".join(LEVEL_NAMES[p] for p in topology.levels)
        raise PresetError(f"preset {preset_name}: this board has no {LEVEL_NAMES[prop]} level "
                          f"(its CPU slots are named by {have})")
    return units(topology, topology.levels.index(prop) + 1)


def groups_on_nodes(groups: Iterable[Iterable[Slot]], nodes: Iterable[int]) -> dict[SlotKey, int]:
    """Each group's slots on the node beside it."""
    return {s.key: node for group, node in zip(groups, nodes, strict=False) for s in group}


def even_counts(count: int, n: int) -> list[int]:
    """``count`` things over ``n`` nodes: the first ``count % n`` get one more."""
    k, r = divmod(count, n)
    return [k + 1 if i < r else k for i in range(n)]


# -- the built-in presets ----------------------------------------------------------------
def _level_preset(prop: str) -> PresetFunction:
    def build(inp: PresetInput) -> dict[SlotKey, int]:
        groups = level_groups(inp.topology, prop, LEVEL_NAMES[prop])
        return groups_on_nodes(groups, range(len(groups)))

    return build


for _prop in ("socket-id", "die-id", "module-id", "cluster-id"):
    _word = LEVEL_NAMES[_prop]
    register(Preset(_word, f"{_word} i on node i (numbered across the machine)",
                    f"one node per {_word}", _level_preset(_prop)))
del _prop, _word


@preset("split", "the vCPUs split evenly over N nodes, in the coarsest whole units that keep the balance",
        "N nodes: all QEMU has, or --into N", takes_into=True)
def split(inp: PresetInput) -> dict[SlotKey, int]:
    """Contiguous runs of units in topology order, node 0 first.  The first
    unit level (outermost first) whose even split keeps the nodes within one
    core's vCPUs of each other is used; cores always do on QEMU's uniform
    boards (a board whose cores differ gets the split by cores anyway)."""
    n = inp.spread("split")
    topo = inp.topology
    deepest = core_depth(topo)
    cores = units(topo, deepest)
    tolerance = max(vcpus(c) for c in cores)
    chosen: list[list[Slot]] = cores
    counts = even_counts(len(cores), n)
    for depth in range(1, deepest):
        level = units(topo, depth)
        try_counts = even_counts(len(level), n)
        loads = [sum(vcpus(g) for g in run) for run in consecutive(level, try_counts)]
        if max(loads) - min(loads) <= tolerance:
            chosen, counts = level, try_counts
            break
    return {s.key: node for node, run in enumerate(consecutive(chosen, counts))
            for group in run for s in group}


@preset("interleave", "core k of the machine on node k mod N",
        "N nodes: all QEMU has, or --into N", takes_into=True)
def interleave(inp: PresetInput) -> dict[SlotKey, int]:
    n = inp.spread("interleave")
    cores = units(inp.topology, core_depth(inp.topology))
    return groups_on_nodes(cores, (k % n for k in range(len(cores))))


@preset("host", "the host's NUMA layout: a guest node per host node, memory bound, vCPUs pinned "
        "after boot", "one node per host node the vCPUs can fill")
def like_host(inp: PresetInput) -> Plan:
    if inp.host is None:
        raise PresetError("preset host needs the host's NUMA view, which numatui could not read")
    if not inp.ram:
        raise PresetError("preset host splits the guest's RAM, and QEMU did not say its -m size")
    return host_plan(inp.host, inp.topology, inp.ram)
