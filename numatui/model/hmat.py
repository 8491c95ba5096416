"""HMAT: latency/bandwidth between nodes and memory-side caches (ACPI HMAT).

``set-numa-node`` types ``hmat-lb`` and ``hmat-cache`` (``-numa hmat-lb,...``
/ ``-numa hmat-cache,...``), and the ``initiator`` of a ``-numa node``.  An
:class:`HmatLb` / :class:`HmatCache` holds exactly the arguments of that
``set-numa-node`` type (``to_args``); a plan lists them in ``"hmat-lb"`` and
``"hmat-cache"`` (see :mod:`numatui.model.plan`).

QEMU's rules, read in hw/core/numa.c (``parse_numa_node``,
``parse_numa_hmat_lb``, ``parse_numa_hmat_cache``) and hw/core/machine.c
(``machine_set_cpu_numa_node``, ``numa_validate_initiator``), and checked on
QEMU 7.2 (tests/test_hmat_qemu.py pins each):

At set time (QEMU refuses the command, the VM lives on):
- every HMAT option needs ``-machine hmat=on`` (``initiator=`` of a node too);
- hmat-lb: the initiator must be a node that has CPUs *now* (so hmat-lb goes
  after the CPU mapping), the target an existing node; one entry per
  (hierarchy, data-type, initiator, target); latency types take ``latency``
  (ns), bandwidth types ``bandwidth`` (bytes/s, a multiple of 1 MiB); per
  table all values must fit a common base in 16 bits;
- hmat-cache: the node must have both a latency and a bandwidth entry as a
  target first; level 1..3, defined in order (level 2 needs level 1), each
  level larger than the one below and smaller than the one above; once per
  node and level;
- a node with CPUs cannot have an initiator other than itself (``The
  initiator of CPU NUMA node N should be itself``).

At x-exit-preconfig (QEMU exits): a node's ``initiator`` must name a node
that exists (``NUMA node X is missing``) and has CPUs (``The initiator of
NUMA node N is invalid``).  QEMU 7.2 boots a memory-only node without an
initiator, and an incomplete latency/bandwidth matrix (missing entries are 0,
"not provided"); those are warnings here.

A bad ``initiator=`` (>= 128) on ``set-numa-node`` type node is reported on
QEMU's stderr only: QMP answers success and the node is NOT created.  numatui
refuses it before sending.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numatui.model.errors import NumaError, known_keys, whole_number
from numatui.model.numbers import UINT64_MAX, parse_int

MAX_NODES = 128
HIERARCHIES = ("memory", "first-level", "second-level", "third-level")
DATA_TYPES = ("access-latency", "read-latency", "write-latency",
              "access-bandwidth", "read-bandwidth", "write-bandwidth")
LATENCY_TYPES = DATA_TYPES[:3]
ASSOCIATIVITIES = ("none", "direct", "complex")
POLICIES = ("none", "write-back", "write-through")
MIB = 1 << 20
UINT16_MAX = 0xFFFF
HMAT_DISABLED = ("ACPI Heterogeneous Memory Attribute Table (HMAT) is disabled, enable it with "
                 "-machine hmat=on before using any of hmat specific options")


@dataclass(frozen=True)
class HmatLb:
    """``set-numa-node type hmat-lb``: ``value`` is ns for latency types, bytes/s for bandwidth."""

    initiator: int
    target: int
    hierarchy: str
    data_type: str
    value: int

    @property
    def is_latency(self) -> bool:
        return self.data_type in LATENCY_TYPES

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.hierarchy, self.data_type, self.initiator, self.target)

    def to_args(self) -> dict[str, Any]:
        return {"initiator": self.initiator, "target": self.target, "hierarchy": self.hierarchy,
                "data-type": self.data_type,
                ("latency" if self.is_latency else "bandwidth"): self.value}

    def option(self) -> str:
        """The ``-numa`` value: ``hmat-lb,initiator=0,target=1,...``."""
        return "hmat-lb," + ",".join(f"{k}={v}" for k, v in self.to_args().items())


@dataclass(frozen=True)
class HmatCache:
    """``set-numa-node type hmat-cache``: a memory-side cache of node ``node_id``."""

    node_id: int
    size: int
    level: int
    associativity: str = "none"
    policy: str = "none"
    line: int = 0

    def to_args(self) -> dict[str, Any]:
        return {"node-id": self.node_id, "size": self.size, "level": self.level,
                "associativity": self.associativity, "policy": self.policy, "line": self.line}

    def option(self) -> str:
        return "hmat-cache," + ",".join(f"{k}={v}" for k, v in self.to_args().items())


# -- reading (plan JSON items, -numa option values) -------------------------------
def _int(where: str, value: Any, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, str):  # a -numa option value; ``where`` ends in ".KEY"
        at, _, key = where.rpartition(".")
        value = parse_int(value, key, lo=low, hi=UINT64_MAX if high is None else high, where=at)
    return whole_number(where, value, low, high)


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise NumaError(f"{where} must be one of {', '.join(allowed)}, not {json.dumps(value)}")
    return str(value)


def _keys(where: str, raw: Mapping[str, Any], allowed: Collection[str], kind: str) -> None:
    if raw.get("type", kind) != kind:
        raise NumaError(f"{where}: type must be \"{kind}\", not {json.dumps(raw.get('type'))}")
    known_keys(where, raw, {*allowed, "type"})


def lb_from_args(where: str, raw: Any) -> HmatLb:
    """An hmat-lb item: exactly the ``set-numa-node`` arguments (``type`` optional)."""
    if not isinstance(raw, Mapping):
        raise NumaError(f"{where} must be an object of set-numa-node hmat-lb arguments")
    _keys(where, raw, ("initiator", "target", "hierarchy", "data-type", "latency", "bandwidth"),
          "hmat-lb")
    for k in ("initiator", "target", "hierarchy", "data-type"):
        if k not in raw:
            raise NumaError(f"{where}: {k!r} is missing")
    data_type = _choice(f"{where}.data-type", raw["data-type"], DATA_TYPES)
    want, other = ("latency", "bandwidth") if data_type in LATENCY_TYPES else ("bandwidth", "latency")
    if other in raw:
        raise NumaError(f"{where}: Invalid option '{other}' since the data type is "
                        f"{'latency' if want == 'latency' else 'bandwidth'}")
    if want not in raw:
        raise NumaError(f"{where}: Missing '{want}' option")
    return HmatLb(initiator=_int(f"{where}.initiator", raw["initiator"], 0, 0xFFFF),
                  target=_int(f"{where}.target", raw["target"], 0, 0xFFFF),
                  hierarchy=_choice(f"{where}.hierarchy", raw["hierarchy"], HIERARCHIES),
                  data_type=data_type,
                  value=_int(f"{where}.{want}", raw[want], 0, (1 << 64) - 1))


def cache_from_args(where: str, raw: Any) -> HmatCache:
    """An hmat-cache item: exactly the ``set-numa-node`` arguments (``type`` optional)."""
    if not isinstance(raw, Mapping):
        raise NumaError(f"{where} must be an object of set-numa-node hmat-cache arguments")
    keys = ("node-id", "size", "level", "associativity", "policy", "line")
    _keys(where, raw, keys, "hmat-cache")
    for k in keys:
        if k not in raw:
            raise NumaError(f"{where}: {k!r} is missing")
    return HmatCache(node_id=_int(f"{where}.node-id", raw["node-id"], 0, 0xFFFFFFFF),
                     size=_int(f"{where}.size", raw["size"], 0, (1 << 64) - 1),
                     level=_int(f"{where}.level", raw["level"], 0, 255),
                     associativity=_choice(f"{where}.associativity", raw["associativity"],
                                           ASSOCIATIVITIES),
                     policy=_choice(f"{where}.policy", raw["policy"], POLICIES),
                     line=_int(f"{where}.line", raw["line"], 0, 0xFFFF))


# -- QEMU's rules --------------------------------------------------------------
@dataclass
class _Table:
    base: int = 0
    range_bitmap: int = 0


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


def lb_problems(items: Iterable[HmatLb], *, num_nodes: int, present: Collection[int],
                cpu_nodes: Collection[int]) -> list[tuple[int, str]]:
    """QEMU's ``parse_numa_hmat_lb`` replayed over ``items`` in order: (index,
    QEMU's message) for every item QEMU would refuse.  ``cpu_nodes``: the
    nodes with CPUs when the items are sent."""
    out: list[tuple[int, str]] = []
    tables: dict[tuple[str, str], _Table] = {}
    seen: set[tuple[str, str, int, int]] = set()
    for i, lb in enumerate(items):
        if lb.initiator > num_nodes:
            out.append((i, f"Invalid initiator={lb.initiator}, it should be less than {num_nodes}"))
            continue
        if lb.target > num_nodes:
            out.append((i, f"Invalid target={lb.target}, it should be less than {num_nodes}"))
            continue
        if lb.initiator not in cpu_nodes:
            out.append((i, f"Invalid initiator={lb.initiator}, it isn't an initiator proximity domain"))
            continue
        if lb.target not in present:
            out.append((i, f"The target={lb.target} should point to an existing node"))
            continue
        kind = "latency" if lb.is_latency else "bandwidth"
        if not lb.is_latency and lb.value % MIB:
            out.append((i, f"Bandwidth {lb.value} between initiator={lb.initiator} and "
                           f"target={lb.target} should be 1MB aligned"))
            continue
        if lb.key in seen:
            out.append((i, f"Duplicate configuration of the {kind} for initiator={lb.initiator} "
                           f"and target={lb.target}"))
            continue
        t = tables.setdefault((lb.hierarchy, lb.data_type), _Table())
        if lb.is_latency:
            t.base = t.base or UINT64_MAX
            if lb.value:
                max_entry, temp_base = lb.value, 1
                while max_entry % 10 == 0:
                    max_entry //= 10
                    temp_base *= 10
                temp_base = min(t.base, temp_base)
                max_entry = max(t.range_bitmap, lb.value // t.base)
                if max_entry >= UINT16_MAX:
                    out.append((i, f"Latency {lb.value} between initiator={lb.initiator} and "
                                   f"target={lb.target} should not differ from previously entered "
                                   f"min or max values on more than {UINT16_MAX - 1}"))
                    continue
                t.base, t.range_bitmap = temp_base, max_entry
        else:
            t.base = t.base or 1
            if lb.value:
                bitmap = t.range_bitmap | lb.value
                first = _ctz(bitmap)
                temp_base = 1 << first
                max_entry = lb.value // temp_base
                last = bitmap.bit_length()
                if last - first > 16 or max_entry >= UINT16_MAX:
                    out.append((i, f"Bandwidth {lb.value} between initiator={lb.initiator} and "
                                   f"target={lb.target} should not differ from previously entered "
                                   f"values on more than {UINT16_MAX - 1}"))
                    continue
                t.base, t.range_bitmap = temp_base, bitmap
        seen.add(lb.key)
    return out




def provided(items: Iterable[HmatLb]) -> dict[int, set[str]]:
    """target -> {"latency", "bandwidth"}: which non-zero values QEMU counts as
    provided (``lb_info_provided``; a 0 means "not provided")."""
    out: dict[int, set[str]] = {}
    for lb in items:
        if lb.value:
            out.setdefault(lb.target, set()).add("latency" if lb.is_latency else "bandwidth")
    return out


def cache_problems(items: Iterable[HmatCache], *, num_nodes: int,
                   lb_provided: Mapping[int, Collection[str]]) -> list[tuple[int, str]]:
    """QEMU's ``parse_numa_hmat_cache`` replayed over ``items`` in order."""
    out: list[tuple[int, str]] = []
    have: dict[tuple[int, int], HmatCache] = {}
    for i, c in enumerate(items):
        if c.node_id >= num_nodes:
            out.append((i, f"Invalid node-id={c.node_id}, it should be less than {num_nodes}"))
            continue
        if set(lb_provided.get(c.node_id, ())) != {"latency", "bandwidth"}:
            out.append((i, f"The latency and bandwidth information of node-id={c.node_id} should "
                           "be provided before memory side cache attributes"))
            continue
        if not 1 <= c.level <= 3:
            out.append((i, f"Invalid level={c.level}, it should be larger than 0 and less than "
                           "or equal to 3"))
            continue
        if (c.node_id, c.level) in have:
            out.append((i, f"Duplicate configuration of the side cache for node-id={c.node_id} "
                           f"and level={c.level}"))
            continue
        below = have.get((c.node_id, c.level - 1))
        if c.level > 1 and below is None:
            out.append((i, f"Cache level={c.level - 1} shall be defined first"))
            continue
        if below is not None and c.size <= below.size:
            out.append((i, f"Invalid size={c.size}, the size of level={c.level} should be larger "
                           f"than the size({below.size}) of level={c.level - 1}"))
            continue
        above = have.get((c.node_id, c.level + 1))
        if above is not None and c.size >= above.size:
            out.append((i, f"Invalid size={c.size}, the size of level={c.level} should be less "
                           f"than the size({above.size}) of level={c.level + 1}"))
            continue
        have[(c.node_id, c.level)] = c
    return out


def initiator_problems(initiators: Mapping[int, int], present: Collection[int],
                       cpu_nodes: Collection[int]) -> list[tuple[int, str, bool]]:
    """(node, QEMU's message, at_exit) for each bad ``initiator=``.

    at_exit False: QEMU refuses (or, for >= 128, silently drops) the command;
    True: QEMU exits at x-exit-preconfig (``numa_validate_initiator``)."""
    out: list[tuple[int, str, bool]] = []
    for node, init in sorted(initiators.items()):
        if init >= MAX_NODES:
            out.append((node, f"The initiator id {init} expects an integer between 0 and "
                              f"{MAX_NODES - 1}", False))
        elif node in cpu_nodes and init != node:
            out.append((node, f"The initiator of CPU NUMA node {node} should be itself (got {init})",
                        False))
        elif init not in present:
            out.append((node, f"NUMA node {init} is missing, use '-numa node' option to declare "
                              "it first", True))
        elif init not in cpu_nodes:
            out.append((node, f"The initiator of NUMA node {node} is invalid", True))
    return out


def live_problem(lbs: Sequence[HmatLb], caches: Sequence[HmatCache], *, hmat_on: bool | None,
                 present: Collection[int] | None, cpu_nodes: Collection[int],
                 have_lb: Sequence[HmatLb] = (), have_cache: Sequence[HmatCache] = (),
                 initiators: Mapping[int, int] | None = None, needs: bool = False) -> str | None:
    """Why QEMU would refuse new hmat-lb / hmat-cache commands (and new nodes'
    ``initiators``, node -> initiator) sent live after what it holds
    (``have_lb``, ``have_cache``), in QEMU's words; None when it would not.
    ``hmat_on``: ``-machine hmat`` (None: the board has no such property);
    ``present``: the node ids QEMU will have (None: unknown, QEMU will say);
    ``cpu_nodes``: the nodes with CPUs when they are sent; ``needs``: the plan
    uses HMAT (so hmat=off refuses it even with nothing new)."""
    initiators = dict(initiators or {})
    if not (needs or lbs or caches or initiators):
        return None
    if hmat_on is False:
        return f"QEMU runs without hmat=on: {HMAT_DISABLED} (numatui launch --hmat)"
    if present is None:
        return None  # numatui cannot tell: QEMU will say
    for node, message, at_exit in initiator_problems(initiators, present, cpu_nodes):
        if not at_exit:
            return f"node {node}: {message}"
    old_lb = list(have_lb)
    for i, message in lb_problems([*old_lb, *lbs], num_nodes=len(present), present=present,
                                  cpu_nodes=cpu_nodes):
        return f"{lbs[i - len(old_lb)].option() if i >= len(old_lb) else 'hmat-lb'}: {message}"
    old_c = list(have_cache)
    for i, message in cache_problems([*old_c, *caches], num_nodes=len(present),
                                     lb_provided=provided([*old_lb, *lbs])):
        return f"{caches[i - len(old_c)].option() if i >= len(old_c) else 'hmat-cache'}: {message}"
    return None


def missing_pairs(items: Iterable[HmatLb], initiators: Iterable[int],
                  targets: Iterable[int]) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(hierarchy, data-type) -> the (initiator, target) pairs a table that has
    entries lacks (QEMU writes 0, "not provided", for them)."""
    items = list(items)
    pairs = [(i, t) for i in sorted(set(initiators)) for t in sorted(set(targets))]
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for table in sorted({(lb.hierarchy, lb.data_type) for lb in items}):
        have = {(lb.initiator, lb.target) for lb in items if (lb.hierarchy, lb.data_type) == table}
        lacking = [p for p in pairs if p not in have]
        if lacking:
            out[table] = lacking
    return out


def format_value(lb: HmatLb) -> str:
    """``120 ns`` / ``20 GiB/s`` (bytes/s shown in the largest whole binary unit)."""
    if lb.is_latency:
        return f"{lb.value} ns"
    v = lb.value
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or v % 1024:
            return f"{v} {unit}/s"
        v //= 1024
    return f"{v} PiB/s"
