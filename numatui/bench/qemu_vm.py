"""The benchmark's QEMU: a 240-vCPU q35 in preconfig on a private socket.

``-smp 240,sockets=8,cores=15,threads=2`` (the largest x86 topology TCG
boots: APIC ids above 254 need KVM), 8 NUMA nodes of 256 MiB each
(memory-backend-ram, one socket per node in the plans).  Started with
numatui's own :class:`~numatui.session.launcher.Launcher`, which waits for
the QMP greeting and leaves the monitor free for one client.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from numatui.model.topology import SlotKey
from numatui.session.launcher import Launcher

QEMU = "qemu-system-x86_64"
SMP = "240,sockets=8,cores=15,threads=2"
SOCKETS, CORES, THREADS = 8, 15, 2
NODES = 8
MEMORY = "2G"
MACHINE_ARGS = ("-machine", "q35", "-accel", "tcg", "-cpu", "max")


def launcher() -> Launcher:
    """An unstarted launcher for one fresh benchmark VM."""
    return Launcher(qemu=QEMU, nodes=NODES, smp=SMP, memory=MEMORY, extra_args=list(MACHINE_ARGS))


@contextlib.asynccontextmanager
async def fresh_vm() -> AsyncIterator[Launcher]:
    """A started QEMU in preconfig; stopped (and its socket dir removed) on exit."""
    vm = launcher()
    await vm.start()
    try:
        yield vm
    finally:
        await vm.stop()


def socket_path(vm: Launcher) -> str:
    path = vm.address.path
    assert path is not None  # the launcher always uses a unix socket
    return path


def all_keys() -> list[SlotKey]:
    """Every slot key of the benchmark VM, as QEMU names them (topology order)."""
    return [
        (("socket-id", s), ("core-id", c), ("thread-id", t))
        for s in range(SOCKETS)
        for c in range(CORES)
        for t in range(THREADS)
    ]


def socket_plan() -> dict[SlotKey, int]:
    """One socket per node: socket s on node s (the plan of ``apply_ratio``)."""
    return {key: dict(key)["socket-id"] for key in all_keys()}


def per_core_plan() -> dict[SlotKey, int]:
    """Each core on node ``core-id % 8`` (both threads of a core together)."""
    return {key: dict(key)["core-id"] % NODES for key in all_keys()}
