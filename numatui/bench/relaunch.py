"""``relaunch_ratio``: moving assigned CPUs by relaunch-and-replay vs starting
QEMU with the final options directly.

numatui: the 240-vCPU VM launched by numatui with the socket-per-node plan
applied; the timed span is :meth:`numatui.core.keeper.Keeper.move` of socket 0
to node 1 (a new QEMU started in preconfig, the session reconnected, the
plan replayed with the fewest commands and re-read, the old QEMU stopped).
Floor: what a person would do instead, start QEMU with the final ``-numa
cpu`` options (the same Launcher, so the same start-up wait) until its
monitor answers query-hotpluggable-cpus with the final mapping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from numatui.bench.measures import mapping_of_reply
from numatui.bench.paint import BenchError
from numatui.bench.qemu_vm import MACHINE_ARGS, MEMORY, NODES, VM_240, fresh_vm, socket_path, socket_plan
from numatui.bench.raw_qmp import RawQmp
from numatui.session.launcher import Launcher


@dataclass
class RelaunchRun:
    numatui: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


def final_plan() -> dict[tuple[tuple[str, int], ...], int]:
    """The socket plan with socket 0 moved to node 1."""
    return {k: 1 if dict(k)["socket-id"] == 0 else n for k, n in socket_plan().items()}


async def _numatui() -> float:
    from numatui.core.keeper import Keeper
    from numatui.session.session import Session

    async with fresh_vm() as vm:
        session = await Session.connect(vm.address, launcher=vm)
        try:
            await session.apply_mapping(socket_plan())
            keeper = Keeper(session)
            keys = [k for k in socket_plan() if dict(k)["socket-id"] == 0]
            start = time.perf_counter()
            await keeper.move(keys, 1)
            seconds = time.perf_counter() - start
            if session.topology.mapping() != final_plan():
                raise BenchError("the relaunch did not end with the moved plan")
        finally:
            await session.close()  # stops the new QEMU too
    return seconds


async def _floor() -> float:
    each = f"{2048 // NODES}M"
    args = list(MACHINE_ARGS)
    for i in range(NODES):
        args += ["-object", f"memory-backend-ram,id=m{i},size={each}",
                 "-numa", f"node,nodeid={i},memdev=m{i}"]
    for s in range(VM_240.sockets):
        args += ["-numa", f"cpu,node-id={1 if s == 0 else s},socket-id={s}"]
    vm = Launcher(qemu=VM_240.qemu, nodes=NODES, smp=VM_240.smp, memory=MEMORY, extra_args=args)
    start = time.perf_counter()
    try:
        await vm.start()
        client = await RawQmp.connect(socket_path(vm))
        try:
            reply = await client.execute("query-hotpluggable-cpus")
        finally:
            await client.close()
        seconds = time.perf_counter() - start
    finally:
        await vm.stop()
    if mapping_of_reply(reply) != final_plan():
        raise BenchError("QEMU started with the final options has another mapping")
    return seconds


async def relaunch_pairs(pairs: int) -> RelaunchRun:
    """``pairs`` samples per side, plus a warm-up pair."""
    run = RelaunchRun()
    for i in range(pairs + 1):
        a = await _numatui()
        b = await _floor()
        if i:
            run.numatui.append(a)
            run.floor.append(b)
    return run
