"""CPU slots and their topology, as QEMU describes them.

A *slot* is one entry of QMP ``query-hotpluggable-cpus``: a possible CPU
(x86: one thread; ppc64 pseries: one core carrying ``vcpus-count`` threads)
named by its topology props (``socket-id``, ``core-id``, ...).  This module is
pure: no Textual, no QMP, no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from numatui.model.errors import NumaError
from numatui.model.numbers import parse_int

#: Topology props in QEMU's order, outermost first (qapi/machine.json CpuInstanceProperties).
PROP_ORDER: tuple[str, ...] = (
    "drawer-id",
    "book-id",
    "socket-id",
    "die-id",
    "module-id",
    "cluster-id",
    "core-id",
    "thread-id",
)

#: The word a person uses for each level.
LEVEL_NAMES: dict[str, str] = {p: p.removesuffix("-id") for p in PROP_ORDER}

#: ``-smp`` keys that size each level (``socket-id``: ``sockets``).
SMP_KEYS: dict[str, str] = {p: f"{LEVEL_NAMES[p]}s" for p in PROP_ORDER}

#: A slot's identity: its topology props as ``(name, value)`` pairs in PROP_ORDER.
SlotKey = tuple[tuple[str, int], ...]


def order_props(props: Mapping[str, int]) -> SlotKey:
    """The topology props of ``props`` (node-id dropped) as a key in QEMU's order."""
    unknown = [k for k in props if k not in PROP_ORDER and k != "node-id"]
    if unknown:
        raise NumaError(f"unknown CPU prop {unknown[0]!r}; QEMU knows {', '.join(PROP_ORDER)}")
    return tuple((p, int(props[p])) for p in PROP_ORDER if p in props)


@lru_cache(maxsize=8192)
def _slot_of(items: tuple[tuple[Any, Any], ...], vcpus: Any, cpu_type: Any, qom_path: Any) -> Slot:
    """The slot one ``query-hotpluggable-cpus`` entry describes, from its
    ``props`` items and fields.  Cached: QEMU sends the same entry for a slot
    in every reply and a key press re-reads them all (hashing an entry is
    several times cheaper than building its slot; Slot is immutable;
    unhashable values raise TypeError, as malformed as they are)."""
    props = {str(k): _count(v, str(k), MAX_ID) for k, v in items}
    qom = None if qom_path is None else str(qom_path)
    count = _count(vcpus, "vcpus-count", MAX_SLOT_VCPUS)
    if count < 1:
        raise ValueError(f"vcpus-count {count} is not a positive count")
    return Slot(key=order_props(props), node_id=props.get("node-id"), vcpus_count=count,
                type=str(cpu_type), qom_path=qom)


#: The largest id numatui accepts in a reply (QEMU's are small; a peer's 10**12 is refused).
MAX_ID = (1 << 31) - 1
#: The most vCPUs one slot may hold, and the most slots a board may have
#: (QEMU 10.0 allows at most 4096 vCPUs on any x86 board).
MAX_SLOT_VCPUS = 1 << 16
MAX_SLOTS = 1 << 16


def _entry_slot(i: int, entry: Mapping[str, Any]) -> Slot:
    """The slot of query-hotpluggable-cpus entry ``i``.  Raises NumaError."""
    try:
        items = tuple(entry["props"].items())
        vcpus = entry.get("vcpus-count", 1)
        # the cache matches 1.0 and True to 1: check the JSON types before it
        for name, value in (*items, ("vcpus-count", vcpus)):
            if type(value) is not int:
                raise ValueError(f"{name} is {value!r}, not an integer")
        return _slot_of(items, vcpus, entry.get("type", ""), entry.get("qom-path"))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise NumaError(f"query-hotpluggable-cpus entry {i} is malformed: {exc}") from exc


def _all_ints(reply: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every entry's numbers are JSON integers (not true, false or
    floats), false for a malformed entry (the full parse says what it is)."""
    try:
        kinds = {type(v) for entry in reply for v in entry["props"].values()}
        return (kinds | {type(entry.get("vcpus-count", 1)) for entry in reply}) <= {int}
    except (KeyError, TypeError, AttributeError):
        return False


def _count(value: Any, what: str, limit: int) -> int:
    """``value`` when it is a JSON integer in 0..limit (not a float, bool or string)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is {value!r}, not an integer")
    if not 0 <= value <= limit:
        raise ValueError(f"{what} {value} is out of range (0..{limit})")
    return value


def _key_values(slot: Slot) -> list[int]:
    """Sort key: the slot's prop values, outermost first."""
    return [v for _, v in slot.key]


def format_key(key: SlotKey) -> str:
    """``socket-id=1,core-id=0,thread-id=1``: how a person writes a slot."""
    return ",".join(f"{p}={v}" for p, v in key)


def parse_key(text: str) -> SlotKey:
    """Parse ``socket-id=1,core-id=0`` (the inverse of :func:`format_key`)."""
    props: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise NumaError(f"bad slot {text!r}: expected PROP=NUMBER[,PROP=NUMBER...], got {part!r}")
        if name in props:
            raise NumaError(f"bad slot {text!r}: {name} given twice")
        props[name] = parse_int(value, name, hi=MAX_ID, where=f"bad slot {text!r}")
    key = order_props(props)
    if not key:
        raise NumaError(f"bad slot {text!r}: name it by its topology props, e.g. socket-id=1,core-id=0")
    return key


@dataclass(frozen=True)
class Slot:
    """One possible CPU slot."""

    key: SlotKey
    node_id: int | None = None
    vcpus_count: int = 1
    type: str = ""
    qom_path: str | None = None
    derived: bool = False

    @property
    def props(self) -> dict[str, int]:
        return dict(self.key)

    @property
    def present(self) -> bool:
        """True after boot when a CPU is plugged in this slot (QEMU gives it a qom-path)."""
        return self.qom_path is not None

    def prop(self, name: str) -> int | None:
        return next((v for p, v in self.key if p == name), None)

    def matches(self, props: Mapping[str, int]) -> bool:
        """set-numa-node matching: every prop given must equal; props left out match all."""
        mine = dict(self.key)
        return all(mine.get(p) == v for p, v in props.items() if p != "node-id")

    def to_qmp(self) -> dict[str, Any]:
        """The slot as an entry of query-hotpluggable-cpus."""
        props: dict[str, int] = dict(self.key)
        if self.node_id is not None:
            props["node-id"] = self.node_id
        out: dict[str, Any] = {"props": props, "vcpus-count": self.vcpus_count, "type": self.type}
        if self.qom_path is not None:
            out["qom-path"] = self.qom_path
        return out


@dataclass(frozen=True)
class Topology:
    """Every possible slot of a machine, in topology order."""

    slots: tuple[Slot, ...]
    levels: tuple[str, ...]
    derived: bool = False
    _index: dict[SlotKey, int] = field(default_factory=dict, compare=False, repr=False)
    slot_keys: tuple[SlotKey, ...] = field(init=False, compare=False, repr=False)
    """The slot keys in order: the machine's shape.  Topologies of one shape
    share this very object (see :func:`_shared_keys`), so ``a.slot_keys is b.slot_keys``
    tells "same shape" in O(1) even for a topology parsed afresh."""
    max_node: int | None = field(init=False, compare=False, repr=False)
    """The highest node-id any slot is on (None: no slot is assigned)."""
    _source: tuple[list[Any], tuple[int, ...]] | None = field(default=None, compare=False, repr=False)
    """The query-hotpluggable-cpus entries this was parsed from, and where each
    entry's slot sits in ``slots`` (:meth:`from_hotpluggable`'s re-read)."""

    def __post_init__(self) -> None:
        index = {s.key: i for i, s in enumerate(self.slots)}
        if len(index) != len(self.slots):
            raise NumaError("two CPU slots have the same props")
        self._index.update(index)
        # Built once, with the topology (its parse is O(slots) anyway), so that
        # a screen showing a few rows of it need not look at every slot.
        object.__setattr__(self, "slot_keys", _shared_keys(tuple(index)))
        nodes = [s.node_id for s in self.slots if s.node_id is not None]
        object.__setattr__(self, "max_node", max(nodes, default=None))

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_hotpluggable(cls, reply: Sequence[Mapping[str, Any]],
                          before: Topology | None = None) -> Topology:
        """Build from the exact JSON reply of ``query-hotpluggable-cpus``.

        ``before``: the topology parsed from this QEMU's previous reply.  An
        assignment changes a few entries of 240 or 4096: the entries equal to
        the ones ``before`` was parsed from keep their slots and places, and
        only the others are parsed (a key press re-reads every slot).  Equal
        means equal as JSON values, with one exception the parse itself would
        refuse: a ``true`` where the earlier reply had ``1`` compares equal
        in Python, so every number's type is checked first, in one pass.  The
        entries are kept from a re-read of as many slots as ``before`` has on
        (a first read keeps none: 1.7 MB at 4096 slots, for a re-read that
        may never come)."""
        if not isinstance(reply, Sequence) or isinstance(reply, str | bytes):
            raise NumaError(f"query-hotpluggable-cpus: expected a list, got {type(reply).__name__}")
        if len(reply) > MAX_SLOTS:
            raise NumaError(f"query-hotpluggable-cpus: {len(reply)} slots is more than any board has")
        if before is not None and (again := before._reread(reply)) is not None:
            return again
        slots = [_entry_slot(i, entry) for i, entry in enumerate(reply)]
        topology = cls.build(slots)
        if before is not None and len(before.slots) == len(slots):  # a re-read: the next may follow
            order = tuple(topology._index[slot.key] for slot in slots)
            object.__setattr__(topology, "_source", (list(reply), order))
        return topology

    def _reread(self, reply: Sequence[Mapping[str, Any]]) -> Topology | None:
        """:meth:`from_hotpluggable` of ``reply`` from this topology's source
        (None: another shape, or not parsed from a reply: parse it all)."""
        if self._source is None or len(reply) != len(self._source[0]) or not _all_ints(reply):
            return None
        entries, order = self._source
        slots = list(self.slots)
        for i in [i for i, (entry, old) in enumerate(zip(reply, entries, strict=True)) if entry != old]:
            slot = _entry_slot(i, reply[i])
            if slot.key != slots[order[i]].key:
                return None  # the slots moved: sort them afresh
            slots[order[i]] = slot
        again = copy.copy(self)  # the same shape: its index and slot_keys hold
        object.__setattr__(again, "slots", tuple(slots))
        object.__setattr__(again, "max_node", max((s.node_id for s in slots if s.node_id is not None),
                                                  default=None))
        object.__setattr__(again, "_source", (list(reply), order))
        return again

    @classmethod
    def from_smp(
        cls, smp: Mapping[str, int], props: Iterable[str], cpu_type: str = ""
    ) -> Topology:
        """Derive the slots from ``qom-get /machine smp`` when the board refuses
        query-hotpluggable-cpus (arm virt, riscv virt).

        ``props`` are the prop names the board accepts in set-numa-node, e.g.
        ``("socket-id", "cluster-id", "core-id", "thread-id")`` for arm virt.
        Ids are numbered within their parent level, as QEMU does; the first
        ``cpus`` slots are marked present only after boot, so none here.
        """
        levels = tuple(p for p in PROP_ORDER if p in set(props))
        unknown = set(props) - set(PROP_ORDER)
        if unknown:
            raise NumaError(f"unknown CPU prop {sorted(unknown)[0]!r}")
        if not levels:
            raise NumaError("the board accepts no topology props")
        sizes = []
        for p in levels:
            n = int(smp.get(SMP_KEYS[p], 1) or 1)
            if n < 1:
                raise NumaError(f"smp {SMP_KEYS[p]}={n} is not a positive count")
            sizes.append(n)
        # Levels the board does not name multiply into the innermost named one
        # (riscv virt: only core-id, numbered over sockets*cores*threads).
        named = 1
        for n in sizes:
            named *= n
        maxcpus = int(smp.get("maxcpus") or smp.get("cpus") or named)
        if maxcpus != named and maxcpus % named == 0:
            sizes[-1] *= maxcpus // named
        slots = [
            Slot(key=tuple(zip(levels, ids, strict=True)), type=cpu_type, derived=True)
            for ids in _product(sizes)
        ]
        return cls(slots=tuple(slots), levels=levels, derived=True)

    @classmethod
    def build(cls, slots: Iterable[Slot], derived: bool = False) -> Topology:
        """Sort slots into topology order (QEMU lists x86 slots in reverse)."""
        ordered = sorted(slots, key=_key_values)
        present = {p for s in ordered for p, _ in s.key}
        levels = tuple(p for p in PROP_ORDER if p in present)
        return cls(slots=tuple(ordered), levels=levels, derived=derived)

    # -- queries -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.slots)

    def __iter__(self) -> Iterator[Slot]:
        return iter(self.slots)

    def index(self, key: SlotKey) -> int:
        try:
            return self._index[key]
        except KeyError:
            raise NumaError(f"no CPU slot {format_key(key)}") from None

    def slot(self, key: SlotKey) -> Slot:
        return self.slots[self.index(key)]

    def matching(self, props: Mapping[str, int]) -> list[Slot]:
        """The slots a set-numa-node with these props would touch."""
        for p in props:
            if p != "node-id" and p not in self.levels:
                raise NumaError(f"{p} is not supported by this board (it has {', '.join(self.levels)})")
        want = [(p, v) for p, v in props.items() if p != "node-id"]  # s.matches, without a dict per slot
        return [s for s in self.slots if all(pv in s.key for pv in want)]

    @property
    def vcpus(self) -> int:
        return sum(s.vcpus_count for s in self.slots)

    def mapping(self) -> dict[SlotKey, int | None]:
        return {s.key: s.node_id for s in self.slots}

    def with_mapping(self, mapping: Mapping[SlotKey, int | None]) -> Topology:
        """A copy whose slots carry the nodes in ``mapping`` (others unchanged)."""
        slots = tuple(
            replace(s, node_id=mapping[s.key]) if s.key in mapping else s for s in self.slots
        )
        return Topology(slots=slots, levels=self.levels, derived=self.derived)

    def cpu_indexes(self) -> dict[SlotKey, range]:
        """The cpu-index range QEMU gives each slot: topology order, vcpus-count each.

        libvirt's cells and legacy ``-numa node,cpus=`` name vCPUs by these
        indexes.  QEMU is the proof (tests/test_cpu_indexes_oracle.py): started
        with ``cpus=`` lists, it puts every slot on the node this rule says, on
        pc, q35 with dies (and modules, 10.0), q35 with maxcpus > cpus, pseries
        (a core is one slot of ``threads`` indexes) and arm virt with clusters,
        QEMU 7.2 and 10.0."""
        out: dict[SlotKey, range] = {}
        start = 0
        for s in self.slots:
            out[s.key] = range(start, start + s.vcpus_count)
            start += s.vcpus_count
        return out

    def groups(self, depth: int) -> dict[SlotKey, list[Slot]]:
        """Slots grouped by the first ``depth`` props, in topology order."""
        out: dict[SlotKey, list[Slot]] = {}
        for s in self.slots:
            out.setdefault(s.key[:depth], []).append(s)
        return out


@lru_cache(maxsize=8)
def _shared_keys(keys: tuple[SlotKey, ...]) -> tuple[SlotKey, ...]:
    """``keys``, or the equal tuple a recent topology already carries.

    The cache hands back the first of equal arguments, which interns the
    shape: a topology re-read from QEMU after an assignment shares its slot_keys
    object with the one before.  Costs a hash and one compare per topology.
    """
    return keys


def _product(sizes: Sequence[int]) -> Iterator[tuple[int, ...]]:
    if not sizes:
        yield ()
        return
    for i in range(sizes[0]):
        for rest in _product(sizes[1:]):
            yield (i, *rest)
