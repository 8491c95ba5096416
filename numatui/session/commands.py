"""The QMP commands numatui sends to change a plan, as data: built and
checked (BadRequest) before anything is sent, so a user action's commands
can go out as one batch (:meth:`numatui.session.session.Session.send`) and
what QEMU accepted be folded back in order.  One definition of each
argument shape: the live commands, a replay and a plan all use these.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numatui.model.backend import backend_args
from numatui.model.compact import fewest_commands, names_no_prop
from numatui.model.devices import cpu_device_id
from numatui.model.errors import NumaError
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.plan import LIVE, MAX_NODES, Distance, Node
from numatui.model.topology import Slot, SlotKey, Topology, format_key
from numatui.session.errors import BadRequest
from numatui.session.machine import MachineInfo, RunState


@dataclass(frozen=True)
class Step:
    """One command of a batch: QMP's name and arguments, and what QEMU holds
    once it accepts it: the Node, Distance, HmatLb or HmatCache; object-add's
    backend as query-memdev lists it; type cpu's option."""

    command: str
    args: dict[str, Any]
    holds: Any = None


def check_node_id(node: int) -> None:
    if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < MAX_NODES:
        raise BadRequest(f"node-id {node!r} is out of range: QEMU has at most {MAX_NODES} nodes "
                         f"(0..{MAX_NODES - 1})")


def slot_of(topology: Topology, key: SlotKey) -> Slot:
    try:
        return topology.slot(key)
    except NumaError:
        raise BadRequest(f"no CPU slot {format_key(key)} on this machine") from None


def mapping_steps(topology: Topology, mapping: Mapping[SlotKey, int]) -> list[Step]:
    """The fewest set-numa-node type cpu putting every slot of ``mapping`` on
    its node (:func:`~numatui.model.compact.fewest_commands`), given the nodes
    ``topology``'s slots carry now; node ids and slots checked first."""
    wanted = dict(mapping)
    for node in sorted(set(wanted.values())):
        check_node_id(node)
    for key in wanted:
        slot_of(topology, key)
    options = fewest_commands(topology, wanted)
    if len(wanted) != len(topology.slots) and any(names_no_prop(o) for o in options):
        raise BadRequest("numatui refuses to send a set-numa-node naming no CPU prop (it would "
                         "map every CPU) for a mapping that does not cover every slot")
    return [Step("set-numa-node", {"type": "cpu", **o}, o) for o in options]


def node_steps(nodes: Sequence[Node], have: Collection[Node], taken: set[str],
               memdev_size: Callable[[str | None], int | None]) -> list[Step]:
    """The commands declaring ``nodes`` live next to the nodes QEMU ``have``s
    (``taken``: every memdev id in use; ``memdev_size``: query-memdev's size).

    A node is memoryless without ``size`` and ``memdev``.  With ``size``
    (bytes), a new ``memory-backend-ram`` is made first by ``object-add`` (id
    ``memdev``, default ``m<N>`` unless taken) with the node's
    ``host_nodes``/``policy`` binding (of the node's ``backend`` type and
    options, :mod:`numatui.model.backend`; () = RAM); with ``memdev`` alone, an existing
    backend is used, keeping the binding QEMU reports (rebinding it needs a
    new QEMU).  ``initiator`` (HMAT, needs ``-machine hmat=on``): the node
    whose CPUs are closest to this one.
    """
    steps: list[Step] = []
    taken = set(taken)
    made: dict[str, int] = {}
    ids = {n.id for n in have}
    for want in nodes:
        node_id, size, memdev, created = want.id, want.size, want.memdev, None
        check_node_id(node_id)
        if want.initiator is not None:
            # QEMU 7.2 reports an initiator >= 128 on stderr only and answers success
            # without creating the node: refuse it here
            check_node_id(want.initiator)
        if size is not None and node_id in ids:  # before object-add
            raise BadRequest(f"node {node_id} exists already (nodes: {sorted(ids)})")
        if memdev is not None and memdev in taken:
            known = made.get(memdev, memdev_size(memdev))
            if size is not None and known is not None and known != size:
                raise BadRequest(f"node {node_id}: memory backend {memdev!r} has {known} bytes, not {size}")
            size = known if known is not None else size
        elif size is not None:
            from numatui.model.qemu_args import free_memdev_id  # the argv reader: not on show's imports

            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise BadRequest(f"node {node_id}: memory size {size!r} must be a positive number of bytes")
            memdev, created = memdev or free_memdev_id(node_id, taken), LIVE
            taken.add(memdev)
            made[memdev] = size
            backend: dict[str, Any] = {**backend_args(want.backend), "id": memdev, "size": size}
            if want.host_nodes:
                backend["host-nodes"] = sorted(set(want.host_nodes))
                backend["policy"] = want.policy or "bind"
            steps.append(Step("object-add", backend, {k: v for k, v in backend.items() if k != "qom-type"}))
        elif memdev is not None:
            raise BadRequest(f"node {node_id}: QEMU has no memory backend {memdev!r} "
                             f"(it has {', '.join(sorted(taken)) or 'none'})")
        args: dict[str, Any] = {"type": "node", "nodeid": node_id}
        if memdev is not None:
            args["memdev"] = memdev
        if want.initiator is not None:
            args["initiator"] = want.initiator
        steps.append(Step("set-numa-node", args, Node(id=node_id, memdev=memdev, size=size, created=LIVE,
                                                       memdev_created=created, initiator=want.initiator,
                                                       backend=want.backend if created else ())))
        ids.add(node_id)
    return steps


def distance_step(src: int, dst: int, val: int) -> Step:
    """``set-numa-node type dist``; QEMU checks the values."""
    check_node_id(src)
    check_node_id(dst)
    args = {"type": "dist", "src": src, "dst": dst, "val": val}
    return Step("set-numa-node", args, Distance(src, dst, val))


def hmat_step(item: HmatLb | HmatCache) -> Step:
    """``set-numa-node type hmat-lb`` or ``hmat-cache`` (see :mod:`numatui.model.hmat`)."""
    kind = "hmat-lb" if isinstance(item, HmatLb) else "hmat-cache"
    return Step("set-numa-node", {"type": kind, **item.to_args()}, item)


def plug_step(topology: Topology, key: SlotKey) -> Step:
    """``device_add`` of a CPU into the empty slot ``key`` (holds its device id)."""
    slot = slot_of(topology, key)
    if slot.present:
        raise BadRequest(f"slot {format_key(key)} already holds a CPU ({slot.qom_path})")
    if not slot.type:
        raise BadRequest(f"slot {format_key(key)}: the board names no CPU type to plug")
    dev_id = cpu_device_id(key)
    return Step("device_add", {"driver": slot.type, **slot.props, "id": dev_id}, dev_id)


def unplug_step(topology: Topology, key: SlotKey) -> Step:
    """``device_del`` of the CPU in slot ``key`` (holds its QOM path)."""
    slot = slot_of(topology, key)
    if slot.qom_path is None:
        raise BadRequest(f"slot {format_key(key)} holds no CPU")
    return Step("device_del", {"id": slot.qom_path}, slot.qom_path)


def exit_command(state: RunState, status: str, info: MachineInfo) -> str:
    """The command building the machine (x-exit-preconfig as this QEMU names it)."""
    if state is not RunState.PRECONFIG:
        raise BadRequest(f"QEMU is not in preconfig (it is {status or state.value})")
    if info.exit_command is None:
        raise BadRequest("this QEMU lists no x-exit-preconfig in query-commands")
    return info.exit_command
