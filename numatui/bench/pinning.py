"""``pin_ratio``: ``numatui pin --policy node`` of a booted 240-vCPU VM vs a raw floor.

One VM (:data:`~numatui.bench.qemu_vm.VM_240`) whose 8 nodes' memory is bound
to host node 0 (``host-nodes=0,policy=bind``), socket s on node s, booted;
two monitors.  numatui: :meth:`numatui.core.vm.Vm.pin` with policy "node"
(``query-cpus-fast``, the plan from the binding ``query-memdev`` reported at
connect, ``sched_setaffinity`` per vCPU thread, the affinity read back with
``sched_getaffinity``).  The floor: a raw
asyncio client's one ``query-cpus-fast``, then a plain loop of
``os.sched_setaffinity(thread_id, host node 0's CPUs)``.  Pinning is
idempotent, so the samples alternate on the same VM; connecting is not timed.
After the warm-up pair every thread is where both sides pin it: numatui reads
each thread's affinity and sets none, the floor sets them all again.  Moving
every thread away before each sample (so that both set all 240) was tried:
240 TCG threads migrating between two CPUs made the ratio swing from 0.55 to
2.5 between runs of the same code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from numatui.bench.paint import BenchError
from numatui.bench.qemu_vm import MACHINE_ARGS, VM_240, socket_plan
from numatui.bench.raw_qmp import RawQmp
from numatui.core.vm import Vm
from numatui.model.host import parse_cpulist
from numatui.session.launcher import Launcher
from numatui.session.session import Session


@dataclass
class PinRun:
    numatui: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    vcpus: int = 0


def _bound_nodes() -> list[str]:
    size = 2048 // VM_240.nodes
    out: list[str] = []
    for n in range(VM_240.nodes):
        out += ["-object", f"memory-backend-ram,id=m{n},size={size}M,host-nodes=0,policy=bind",
                "-numa", f"node,nodeid={n},memdev=m{n}"]
    return out


async def pin_run(samples: int) -> PinRun:
    """``samples`` pins each side (after one warm-up pair) on one booted VM."""
    target = parse_cpulist(Path("/sys/devices/system/node/node0/cpulist").read_text())
    if not target:
        raise BenchError("host node 0 has no CPU to pin on")
    floor_dir = tempfile.mkdtemp(prefix="numatui-bench-pin-")
    floor_sock = os.path.join(floor_dir, "floor.sock")
    vm = Launcher(qemu=VM_240.qemu, smp=VM_240.smp, memory=VM_240.memory,
                  extra_args=[*MACHINE_ARGS, *_bound_nodes(),
                              "-qmp", f"unix:{floor_sock},server=on,wait=off"])
    await vm.start()
    run = PinRun()
    session: Session | None = None
    raw: RawQmp | None = None
    try:
        session = await Session.connect(vm.address, launcher=vm)
        await session.apply_mapping(socket_plan())
        await session.exit_preconfig()
        numatui = Vm(session)
        raw = await RawQmp.connect(floor_sock)
        for i in range(samples + 1):
            start = time.perf_counter()
            result = await numatui.pin("node")
            ours = time.perf_counter() - start
            start = time.perf_counter()
            for cpu in await raw.execute("query-cpus-fast"):
                os.sched_setaffinity(cpu["thread-id"], target)
            floor = time.perf_counter() - start
            if i:
                run.numatui.append(ours)
                run.floor.append(floor)
            run.vcpus = len(result.plan.pins)
        if run.vcpus != VM_240.vcpus:
            raise BenchError(f"numatui pinned {run.vcpus} vCPUs, not {VM_240.vcpus}")
    finally:
        if raw is not None:
            await raw.close()
        if session is not None:
            await session.close()
        await vm.stop()
        shutil.rmtree(floor_dir, ignore_errors=True)
    return run
