"""Which host CPUs each vCPU thread may run on: the pinning plan.  Pure.

Two policies:

- ``node``: every vCPU of a guest node bound to host node H runs on H's
  online CPUs; vCPUs of an unbound guest node are left as they are (and
  reported as such).
- ``cpu``: vCPU i runs on one host CPU of its own, chosen among the CPUs
  numatui's own process may run on (``allowed``); a guest core's threads go
  on one host core's thread siblings where the host has them, plainly in
  order where it does not.  Refused when there are fewer host CPUs than vCPUs.

The binding (guest node -> host node) comes from the caller: until plans carry
it, from the memory backends' ``host-nodes`` (:func:`binding_from_memdevs`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from numatui.model.errors import NumaError
from numatui.model.host import HostTopology, format_cpulist


class PinPolicy(StrEnum):
    NODE = "node"
    CPU = "cpu"


@dataclass(frozen=True)
class VCpu:
    """A present vCPU as ``query-cpus-fast`` reports it."""

    cpu_index: int
    thread_id: int
    props: Mapping[str, int] = field(default_factory=dict)

    @property
    def node_id(self) -> int | None:
        return self.props.get("node-id")

    @property
    def core(self) -> tuple[tuple[str, int], ...]:
        """Its core: the props without thread-id and node-id."""
        return tuple(sorted((k, v) for k, v in self.props.items() if k not in ("thread-id", "node-id")))

    @classmethod
    def from_qmp(cls, entry: Mapping[str, Any]) -> VCpu:
        props = entry.get("props") or {}
        if not all(type(v) is int for v in props.values()):  # QEMU's are ints: kept as they are
            props = {str(k): int(v) for k, v in props.items() if isinstance(v, int)}
        return cls(int(entry["cpu-index"]), int(entry["thread-id"]), props)

    def describe(self) -> str:
        return f"vCPU {self.cpu_index} (thread {self.thread_id})"


@dataclass(frozen=True)
class Pin:
    vcpu: VCpu
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class PinPlan:
    """The threads to pin, and the vCPUs left alone with the reason."""

    policy: PinPolicy
    pins: tuple[Pin, ...]
    left: tuple[tuple[VCpu, str], ...] = ()

    def lines(self) -> list[str]:
        out = [f"{p.vcpu.describe()} -> host CPUs {format_cpulist(p.cpus)}" for p in self.pins]
        out += [f"{v.describe()} left as it is: {why}" for v, why in self.left]
        return out


def binding_from_memdevs(memdevs: Iterable[Mapping[str, Any]],
                         node_memdevs: Mapping[int, str]) -> dict[int, int]:
    """guest node -> host node, from ``query-memdev``: a guest node whose
    memdev has ``host-nodes: [H]`` is bound to H (several host nodes or none:
    not bound to one node)."""
    by_id = {str(m.get("id", "")): m for m in memdevs}
    out: dict[int, int] = {}
    for node, memdev in node_memdevs.items():
        host_nodes = by_id.get(memdev, {}).get("host-nodes") or []
        if len(host_nodes) == 1:
            out[node] = int(host_nodes[0])
    return out


def plan_pinning(host: HostTopology, vcpus: Sequence[VCpu], policy: PinPolicy,
                 binding: Mapping[int, int] | None = None,
                 allowed: Collection[int] | None = None) -> PinPlan:
    """The pinning for ``vcpus``; NumaError (one line) when it cannot be done."""
    ordered = sorted(vcpus, key=lambda v: v.cpu_index)
    if policy is PinPolicy.NODE:
        return _by_node(host, ordered, binding or {})
    return _by_cpu(host, ordered, allowed)


def _by_node(host: HostTopology, vcpus: Sequence[VCpu], binding: Mapping[int, int]) -> PinPlan:
    pins: list[Pin] = []
    left: list[tuple[VCpu, str]] = []
    cpus_of: dict[int, tuple[int, ...]] = {}  # guest node -> host CPUs, checked once per node
    for v in vcpus:
        node = v.props.get("node-id")
        if node is None:
            left.append((v, "it is on no guest node"))
            continue
        if node not in binding:
            left.append((v, f"guest node {node} is bound to no host node"))
            continue
        if node not in cpus_of:
            hnode = host.node(binding[node])
            if hnode is None:
                raise NumaError(f"guest node {node} is bound to host node {binding[node]}, which this "
                                f"host does not have (it has {', '.join(map(str, host.node_ids()))})")
            if not hnode.cpus:
                raise NumaError(f"guest node {node} is bound to host node {hnode.id}, which has no "
                                "online CPU to run its vCPUs on")
            cpus_of[node] = hnode.cpus
        pins.append(Pin(v, cpus_of[node]))
    return PinPlan(PinPolicy.NODE, tuple(pins), tuple(left))


def host_cpu_order(host: HostTopology, allowed: Collection[int] | None) -> list[list[int]]:
    """The usable host CPUs grouped by core (thread siblings), cores in CPU order."""
    online = [c.cpu for c in host.cpus]
    usable = [c for c in online if allowed is None or c in allowed]
    usable_set = set(usable)
    seen: set[int] = set()
    cores: list[list[int]] = []
    for cpu in usable:
        if cpu in seen:
            continue
        info = host.cpu(cpu)
        siblings = info.siblings if info is not None else (cpu,)
        core = [c for c in sorted(set(siblings) | {cpu}) if c in usable_set and c not in seen]
        seen.update(core)
        cores.append(core)
    return cores


def _by_cpu(host: HostTopology, vcpus: Sequence[VCpu], allowed: Collection[int] | None) -> PinPlan:
    cores = host_cpu_order(host, allowed)
    total = sum(len(c) for c in cores)
    if total < len(vcpus):
        raise NumaError(f"--policy cpu needs one host CPU per vCPU: {len(vcpus)} vCPUs but numatui may "
                        f"run on {total} host CPU(s) ({format_cpulist(c for core in cores for c in core)})")
    guest: dict[tuple[tuple[str, int], ...], list[VCpu]] = {}
    for v in vcpus:
        guest.setdefault(v.core, []).append(v)
    free = [list(c) for c in cores]
    chosen: dict[int, int] = {}
    smt = any(len(c) > 1 for c in cores)
    for members in sorted(guest.values(), key=lambda m: m[0].cpu_index):
        home = next((c for c in free if len(c) >= len(members)), None) if smt and len(members) > 1 else None
        for v in members:
            pool = home if home else next(c for c in free if c)
            chosen[v.cpu_index] = pool.pop(0)
    pins = tuple(Pin(v, (chosen[v.cpu_index],)) for v in vcpus)
    return PinPlan(PinPolicy.CPU, pins)
