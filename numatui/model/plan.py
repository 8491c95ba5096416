"""A NUMA plan: nodes, distances and the node of every CPU slot.

The plan file (JSON)::

    {"version": 1,
     "nodes": [{"id": 0, "memdev": "m0", "size": 1073741824},
               {"id": 1, "created": "live"},
               {"id": 2, "memdev": "m2", "size": 1073741824,
                "created": "live", "memdev-created": "live"}],
     "distances": [{"src": 0, "dst": 1, "val": 20}],
     "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]}

HMAT (additive within version 1): a node may have ``"initiator": N``
(``-numa node,initiator=N``), and ``"hmat-lb": [...]`` / ``"hmat-cache":
[...]`` list exactly the arguments of ``set-numa-node`` of that type (see
:mod:`numatui.model.hmat`); they need ``-machine hmat=on``.

``nodes`` and ``distances`` are optional; each ``cpus`` item is exactly the
arguments of ``set-numa-node`` type cpu.  A text file of QEMU ``-numa``
options loads too (see :mod:`numatui.model.qemu_args`).

Where a node comes from (additive keys within version 1): ``"created":
"live"`` marks a node QEMU's own command line does not define (numatui, or
the plan, added it with ``set-numa-node`` type node in preconfig);
``"memdev-created": "live"`` marks a node whose ``memory-backend-ram`` was
made by ``object-add`` and is not in the command line either.  The exports
write ``-numa node`` (and the ``-object``) for exactly those nodes: the
others are QEMU's command line's own and stay there.  A plan is a
description of nodes, so it cannot compare itself with an argv; the session
knows (it has the argv, and its record of what it sent, see
:mod:`numatui.session.record`) and marks the nodes when it builds the plan.
``apply`` treats a node QEMU lacks the same way whether it is marked or not.

The host section (additive keys within version 1): a node's ``"host-nodes":
[0]`` and ``"policy": "bind"|"preferred"|"interleave"`` bind its memory
backend to host NUMA nodes (``host-nodes=``/``policy=`` of
``memory-backend-*``; a node with memory only; policy defaults to bind); a
top-level ``"pinning": "node"|"cpu"`` asks for the vCPU threads to be pinned
after boot (``node``: each on its guest node's host node's CPUs; ``cpu``: 1:1).

A node's ``"backend"`` (additive within version 1): the ``object-add``
arguments of its memory backend other than ``id``, ``size`` and the binding,
``{"qom-type": "memory-backend-memfd", "share": true}`` (see
:mod:`numatui.model.backend`); without it a node's new backend is a
``memory-backend-ram``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from numatui.model.backend import Backend, check_backend
from numatui.model.compact import CpuOption, compact
from numatui.model.errors import NumaError, known_keys, whole_number
from numatui.model.hmat import HmatCache, HmatLb, cache_from_args, lb_from_args
from numatui.model.topology import PROP_ORDER, SlotKey, Topology, format_key, order_props
from numatui.model.units import parse_size

PLAN_VERSION = 1
#: The value of a node's ``created`` / ``memdev-created``: made over QMP in preconfig.
LIVE = "live"
#: ``policy=`` of a memory backend bound to host nodes (QEMU's HostMemPolicy, "default" aside).
POLICIES = ("bind", "preferred", "interleave")
#: The plan's ``pinning``: how vCPU threads go on host CPUs after boot.
PINNINGS = ("node", "cpu")
MAX_NODES = 128  # QEMU's MAX_NODES
#: The largest host node id a node's memory may be bound to (``host-nodes=``).
MAX_HOST_NODE = 1023


@dataclass(frozen=True)
class Node:
    """A guest NUMA node; ``size`` in bytes when known."""

    id: int
    memdev: str | None = None
    size: int | None = None
    #: "live": QEMU's command line does not define this node (added by set-numa-node)
    created: str | None = None
    #: "live": the memdev was made by object-add, not by the command line's -object
    memdev_created: str | None = None
    #: host NUMA nodes its memory backend is bound to (``host-nodes=``; empty: not bound)
    host_nodes: tuple[int, ...] = ()
    #: ``policy=`` of that binding: bind, preferred or interleave (None: QEMU's default)
    policy: str | None = None
    #: ``initiator=`` (HMAT): the node whose CPUs are closest to this (memory-only) node
    initiator: int | None = None
    #: its memory backend's type and options (() = memory-backend-ram; see numatui.model.backend)
    backend: Backend = ()

    @property
    def live(self) -> bool:
        return self.created == LIVE

    @property
    def bound(self) -> bool:
        """True when its memory is bound to host nodes (``host-nodes=``)."""
        return bool(self.host_nodes)

    def with_binding(self, host_nodes: Iterable[int], policy: str | None) -> Node:
        nodes = tuple(sorted(set(host_nodes)))
        return replace(self, host_nodes=nodes, policy=(policy or "bind") if nodes else None)

    def to_dict(self) -> dict[str, Any]:
        """The node as the plan file has it."""
        d: dict[str, Any] = {"id": self.id}
        for key, value in (("memdev", self.memdev), ("size", self.size), ("created", self.created),
                           ("memdev-created", self.memdev_created)):
            if value is not None:
                d[key] = value
        if self.host_nodes:
            d["host-nodes"] = list(self.host_nodes)
            d["policy"] = self.policy or "bind"
        if self.initiator is not None:
            d["initiator"] = self.initiator
        if self.backend:
            d["backend"] = dict(self.backend)
        return d

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Node:
        """A node of a plan file; NumaError naming ``where`` when it is not one."""
        if not isinstance(raw, Mapping):
            raise NumaError(f"{where} must be an object like {{\"id\": 0}}")
        known_keys(where, raw, ("id", "memdev", "size", "created", "memdev-created", "host-nodes",
                                "policy", "initiator", "backend"))
        if "id" not in raw:
            raise NumaError(f"{where}: \"id\" is missing")
        node_id = whole_number(f"{where}.id", raw["id"], 0, MAX_NODES - 1)
        memdev = raw.get("memdev")
        if memdev is not None and (not isinstance(memdev, str) or not memdev):
            raise NumaError(f"{where}.memdev must be a non-empty string")
        size = raw.get("size")
        if size is not None:
            size = parse_size(size, what=f"{where}.size")
        origin: dict[str, str | None] = {}
        for key in ("created", "memdev-created"):
            value = raw.get(key)
            if value is not None and value != LIVE:
                raise NumaError(f"{where}.{key} must be \"{LIVE}\", not {json.dumps(value)}")
            origin[key] = value
        if origin["memdev-created"] is not None and (memdev is None or size is None):
            raise NumaError(f"{where}: \"memdev-created\" needs \"memdev\" and \"size\"")
        host_nodes, policy = _binding(where, raw, memdev is not None or size is not None)
        initiator = raw.get("initiator")
        if initiator is not None:
            initiator = whole_number(f"{where}.initiator", initiator, 0, MAX_NODES - 1)
        return cls(id=node_id, memdev=memdev, size=size, created=origin["created"],
                   memdev_created=origin["memdev-created"], host_nodes=host_nodes, policy=policy,
                   initiator=initiator, backend=_backend(where, raw, memdev is not None or size is not None))


@dataclass(frozen=True)
class Distance:
    """``-numa dist,src=,dst=,val=``."""

    src: int
    dst: int
    val: int


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...] = ()
    distances: tuple[Distance, ...] = ()
    cpus: tuple[CpuOption, ...] = field(default_factory=tuple)
    #: vCPU pinning after boot: "node" (each vCPU on its node's host CPUs), "cpu" (1:1) or None
    pinning: str | None = None
    #: set-numa-node type hmat-lb / hmat-cache, in the order they are sent
    hmat_lb: tuple[HmatLb, ...] = ()
    hmat_cache: tuple[HmatCache, ...] = ()
    #: legacy ``-numa node,nodeid=N,cpus=...`` of a text plan: (node, cpu indexes); only
    #: the board knows their slots (:meth:`Topology.cpu_indexes`), so :meth:`resolve`
    #: maps them.  JSON plans have no such form (a plan from the slots never has them).
    cpu_indexes: tuple[tuple[int, tuple[int, ...]], ...] = ()

    # -- building -------------------------------------------------------------
    @classmethod
    def from_topology(
        cls,
        topology: Topology,
        nodes: Iterable[Node] = (),
        distances: Iterable[Distance] = (),
        hmat_lb: Iterable[HmatLb] = (),
        hmat_cache: Iterable[HmatCache] = (),
    ) -> Plan:
        """The plan of what the slots carry now, compacted."""
        return cls(nodes=tuple(nodes), distances=tuple(distances), cpus=tuple(compact(topology)),
                   hmat_lb=tuple(hmat_lb), hmat_cache=tuple(hmat_cache))

    @property
    def has_hmat(self) -> bool:
        """Anything that needs ``-machine hmat=on``."""
        return bool(self.hmat_lb or self.hmat_cache or any(n.initiator is not None for n in self.nodes))

    def with_nodes(self, nodes: Iterable[Node]) -> Plan:
        return replace(self, nodes=tuple(sorted(nodes, key=lambda n: n.id)))

    def node_ids(self) -> list[int]:
        """Nodes named anywhere in the plan, sorted."""
        ids = {n.id for n in self.nodes} | {c["node-id"] for c in self.cpus}
        ids |= {node for node, _ in self.cpu_indexes}
        ids |= {d.src for d in self.distances} | {d.dst for d in self.distances}
        return sorted(ids)

    def node(self, node_id: int) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    # -- applying -------------------------------------------------------------
    def resolve(self, topology: Topology) -> dict[SlotKey, int]:
        """The node of every slot the plan assigns, checked against ``topology``.

        Raises :class:`NumaError` naming the entry for props this board does
        not have, entries that match no slot, and entries that put a slot on
        two nodes (QEMU would refuse the second: ``CPU is already assigned``).
        """
        known = {n.id for n in self.nodes}
        out: dict[SlotKey, int] = {}
        origin: dict[SlotKey, str] = {}

        def put(key: SlotKey, node: int, where: str, by: str) -> None:
            if key in out and out[key] != node:
                raise NumaError(f"{where}: slot {format_key(key)} is already on node {out[key]} "
                                f"by {origin[key]}")
            out[key] = node
            origin.setdefault(key, by)

        slot_of = {i: key for key, span in topology.cpu_indexes().items() for i in span}
        for node, indexes in self.cpu_indexes:  # QEMU: cpu_index_to_instance_props
            for i in indexes:
                where = f"-numa node,nodeid={node},cpus={i}"
                if i not in slot_of:
                    raise NumaError(f"{where}: CPU index ({i}) should be smaller than maxcpus "
                                    f"({len(slot_of)})")
                put(slot_of[i], node, where, where)
        for i, opt in enumerate(self.cpus):
            where = f"cpus[{i}] ({_describe(opt)})"
            node = opt["node-id"]
            if known and node not in known:
                raise NumaError(f"{where}: node {node} is not among the plan's nodes {sorted(known)}")
            for p in opt:
                if p != "node-id" and p not in topology.levels:
                    raise NumaError(
                        f"{where}: {p} is not supported by this board "
                        f"(it has {', '.join(topology.levels)})"
                    )
            hits = topology.matching(opt)
            if not hits:
                raise NumaError(f"{where}: no CPU slot matches")
            for s in hits:
                put(s.key, node, where, f"cpus[{i}]")
        return out

    # -- the plan file ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": PLAN_VERSION,
            "nodes": [n.to_dict() for n in self.nodes],
            "distances": [{"src": d.src, "dst": d.dst, "val": d.val} for d in self.distances],
            "cpus": [dict(c) for c in self.cpus],
        }
        if self.pinning is not None:
            out["pinning"] = self.pinning
        if self.hmat_lb:
            out["hmat-lb"] = [lb.to_args() for lb in self.hmat_lb]
        if self.hmat_cache:
            out["hmat-cache"] = [c.to_args() for c in self.hmat_cache]
        return out

    def binding(self) -> dict[int, int]:
        """guest node -> host node for nodes bound to exactly one host node (what
        ``--policy node`` pins by)."""
        return {n.id: n.host_nodes[0] for n in self.nodes if len(n.host_nodes) == 1}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        """A plan file's data; an autosaved state (``{"version": 1, "argv": [...],
        "plan": {...}, ...}``, see :mod:`numatui.core.autosave`) gives its ``plan``."""
        if not isinstance(data, Mapping):
            raise NumaError("plan: the top level must be a JSON object")
        if "plan" in data and "cpus" not in data:
            return cls.from_dict(saved_state_plan(data))
        _version("plan", data, ("version", "nodes", "distances", "cpus", "comment", "pinning", "hmat-lb",
                                "hmat-cache"))
        by_id: dict[int, Node] = {}
        for i, raw in enumerate(_list(data, "nodes")):  # a repeat stops it at once (ids < MAX_NODES)
            n = Node.from_dict(raw, f"plan: nodes[{i}]")
            if n.id in by_id:
                raise NumaError(f"plan: nodes[{i}]: node {n.id} is listed twice")
            by_id[n.id] = n
        nodes = tuple(by_id.values())
        distances = tuple(_distance(i, d) for i, d in enumerate(_list(data, "distances")))
        check_distances(distances, "plan: distances")
        cpus = tuple(_cpu(i, c) for i, c in enumerate(_list(data, "cpus")))
        pinning = data.get("pinning")
        if pinning is not None and pinning not in PINNINGS:
            raise NumaError(f"plan: pinning must be one of {', '.join(PINNINGS)} or null, "
                            f"not {json.dumps(pinning)}")
        lbs = tuple(lb_from_args(f"plan: hmat-lb[{i}]", x) for i, x in enumerate(_list(data, "hmat-lb")))
        caches = tuple(cache_from_args(f"plan: hmat-cache[{i}]", x)
                       for i, x in enumerate(_list(data, "hmat-cache")))
        return cls(nodes=nodes, distances=distances, cpus=cpus, pinning=pinning, hmat_lb=lbs,
                   hmat_cache=caches)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            data = loads_strict(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise NumaError(f"plan: not valid JSON at {where}: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, [[[[...
            raise NumaError(f"plan: not a JSON plan this numatui can read: {exc}") from None
        return cls.from_dict(data)


def check_distances(distances: Iterable[Distance], where: str) -> None:
    """NumaError when one pair (src to dst) is given two different values."""
    seen: dict[tuple[int, int], int] = {}
    for d in distances:
        have = seen.setdefault((d.src, d.dst), d.val)
        if have != d.val:
            raise NumaError(f"{where}: the distance {d.src} to {d.dst} is given twice, "
                            f"as {have} and {d.val}; give it once")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice in one object")
        out[key] = value
    return out


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses an object with a key given twice (ValueError),
    where Python would silently keep the last."""
    return json.loads(text, object_pairs_hook=_unique_keys)


#: The keys of an autosaved state file (numatui.core.autosave writes it).
SAVED_STATE_KEYS = frozenset({"version", "name", "argv", "qemu_argv", "plan", "saved", "launched",
                              "address", "qemu", "history"})


def saved_state_plan(data: Mapping[str, Any]) -> Any:
    """The ``plan`` of an autosaved state, its wrapper checked."""
    _version("saved state", data, SAVED_STATE_KEYS)
    plan = data["plan"]
    if not isinstance(plan, Mapping) or "plan" in plan:
        raise NumaError("saved state: \"plan\" must be a plan object")
    return plan


def _version(where: str, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """The keys and ``version`` of a plan file or a saved state's wrapper."""
    known_keys(where, data, allowed)
    version = data.get("version", PLAN_VERSION)
    if version != PLAN_VERSION:
        raise NumaError(f"{where}: version {version!r} is not supported (this numatui reads 1)")


def _describe(opt: Mapping[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in opt.items())


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise NumaError(f"plan: {key!r} must be a list")
    return value


def _binding(where: str, raw: Mapping[str, Any], has_memory: bool) -> tuple[tuple[int, ...], str | None]:
    """A node's ``host-nodes`` (list of host node ids) and ``policy``."""
    hosts = raw.get("host-nodes")
    policy = raw.get("policy")
    if hosts is None:
        if policy is not None:
            raise NumaError(f"{where}: \"policy\" needs \"host-nodes\"")
        return (), None
    if not isinstance(hosts, list) or not hosts:
        raise NumaError(f"{where}.host-nodes must be a non-empty list of host node ids like [0]")
    ids = tuple(sorted({whole_number(f"{where}.host-nodes[{j}]", h, 0, MAX_HOST_NODE)
                        for j, h in enumerate(hosts)}))
    if policy is None:
        policy = "bind"
    if policy not in POLICIES:
        raise NumaError(f"{where}.policy must be one of {', '.join(POLICIES)}, not {json.dumps(policy)}")
    if not has_memory:
        raise NumaError(f"{where}: \"host-nodes\" binds the node's memory, but it has none "
                        "(give it a \"memdev\" or a \"size\")")
    return ids, policy


def _backend(where: str, raw: Mapping[str, Any], has_memory: bool) -> Backend:
    """A node's ``backend`` (absent: ``()``, a memory-backend-ram)."""
    if "backend" not in raw:
        return ()
    if not has_memory:
        raise NumaError(f"{where}: \"backend\" is the node's memory backend, but it has no memory "
                        "(give it a \"size\")")
    return check_backend(raw["backend"], f"{where}.backend")


def _distance(i: int, raw: Any) -> Distance:
    where = f"plan: distances[{i}]"
    if not isinstance(raw, Mapping):
        raise NumaError(f"{where} must be an object like {{\"src\": 0, \"dst\": 1, \"val\": 20}}")
    for key in ("src", "dst", "val"):
        if key not in raw:
            raise NumaError(f"{where}: {key!r} is missing")
    known_keys(where, raw, ("src", "dst", "val"))
    return Distance(
        src=whole_number(f"{where}.src", raw["src"], 0, MAX_NODES - 1),
        dst=whole_number(f"{where}.dst", raw["dst"], 0, MAX_NODES - 1),
        val=whole_number(f"{where}.val", raw["val"], 0, 255),
    )


def _cpu(i: int, raw: Any) -> CpuOption:
    where = f"plan: cpus[{i}]"
    if not isinstance(raw, Mapping):
        raise NumaError(f"{where} must be an object like {{\"node-id\": 0, \"socket-id\": 0}}")
    if "node-id" not in raw:
        raise NumaError(f"{where}: \"node-id\" is missing")
    out: CpuOption = {}
    for key, value in raw.items():
        if key == "type":  # accept the literal set-numa-node arguments
            if value != "cpu":
                raise NumaError(f"{where}: type must be \"cpu\", not {json.dumps(value)}")
            continue
        if key != "node-id" and key not in PROP_ORDER:
            raise NumaError(f"{where}: unknown prop {key!r}; QEMU knows node-id, {', '.join(PROP_ORDER)}")
        high = MAX_NODES - 1 if key == "node-id" else None
        out[key] = whole_number(f"{where}.{key}", value, 0, high)
    ordered: CpuOption = {"node-id": out["node-id"]}
    ordered.update(dict(order_props(out)))
    return ordered
