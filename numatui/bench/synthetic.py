"""Synthetic machines for the scaling measurements (no QEMU needed).

Built as QEMU 9.0+ would report a q35 of that shape (one slot per thread,
type ``max-x86_64-cpu``), with numatui's own model.  The "app" side uses a
stand-in session: a real, never-connected :class:`Session` carrying the
synthetic topology and 8 nodes, so ``NumaApp`` draws exactly as it would for
a live QEMU in preconfig.
"""

from __future__ import annotations

import json

from numatui.model.plan import Node
from numatui.model.topology import Slot, SlotKey, Topology
from numatui.session.address import Address
from numatui.session.machine import MachineInfo, RunState
from numatui.session.session import Session

#: slots -> (sockets, cores, threads)
SHAPES: dict[int, tuple[int, int, int]] = {16: (2, 4, 2), 4096: (16, 128, 2)}
NODES = 8


def topology(slots: int) -> Topology:
    sockets, cores, threads = SHAPES[slots]
    return Topology.build(
        Slot(key=(("socket-id", s), ("core-id", c), ("thread-id", t)), type="max-x86_64-cpu")
        for s in range(sockets)
        for c in range(cores)
        for t in range(threads)
    )


def with_group_on(topo: Topology, prefix: SlotKey, node: int) -> Topology:
    """``topo`` after an assignment: every slot under ``prefix`` (a socket:
    ``(("socket-id", 0),)``; a core: ``(("socket-id", 0), ("core-id", 0))``) on ``node``.

    Made as the app gets it: after a set-numa-node the session re-reads
    query-hotpluggable-cpus and parses QEMU's JSON reply into a new
    :class:`Topology` (:meth:`Topology.from_hotpluggable`), so it shares no
    slot or key object with ``topo``.
    """
    reply = [s.to_qmp() for s in reversed(topo.slots)]  # x86 QEMU lists them in reverse
    for entry, slot in zip(reply, reversed(topo.slots), strict=True):
        if slot.key[: len(prefix)] == prefix:
            entry["props"]["node-id"] = node
    return Topology.from_hotpluggable(json.loads(json.dumps(reply)))


def stand_in_session(slots: int) -> Session:
    """A stand-in for a connected session: never connected, no QEMU behind it."""
    sockets, cores, threads = SHAPES[slots]
    session = Session(Address.parse("unix:/nonexistent/numatui-bench-stand-in.sock"))
    session.topology = topology(slots)
    session.nodes = [Node(id=i) for i in range(NODES)]
    session.nodes_source = "the benchmark's stand-in session"
    session.status = "prelaunch"
    session.state = RunState.PRECONFIG
    smp = {"cpus": slots, "maxcpus": slots, "sockets": sockets, "dies": 1, "clusters": 1,
           "cores": cores, "threads": threads}
    session.info = MachineInfo(qemu_version="9.2.0", machine_type="pc-q35-9.2-machine", smp=smp,
                               exit_command="x-exit-preconfig")
    return session
