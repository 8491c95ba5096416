"""``plan_ratio``: a user's big plan through the application layer vs a raw client.

The VM: the 240-vCPU q35 of every QMP row, ``-m 4G``, no ``-numa`` option, in
preconfig.  The plan declares N nodes with memory on each (4 GiB / N: an
``object-add`` of a memory-backend-ram and a ``set-numa-node`` type node
each), puts the machine's 120 cores round robin on them (core c of socket s
on node (15 s + c) mod N, both threads together) and sets all N(N-1)/2
distances.  numatui: :meth:`numatui.core.vm.Vm.apply_plan` with a
:class:`~numatui.core.keeper.Keeper` (its checks, the fewest commands, the
record, one undo step; the Keeper saves nothing: autosave is the CLI's);
raw: :class:`~numatui.bench.raw_qmp.RawQmp` sending exactly the commands
numatui sent (read from its transcript), one after another, then one
query-hotpluggable-cpus.  Each sample on a fresh QEMU, pairs interleaved;
connecting is outside the timed span on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numatui.bench.paint import BenchError
from numatui.bench.qemu_vm import CORES, MACHINE_ARGS, QEMU, SOCKETS, VM_240
from numatui.bench.raw_qmp import RawQmp
from numatui.session.launcher import _greeted

#: -m of the plan VM: the nodes share it.
MEMORY_MIB = 4096
#: Node counts of the series; plan_ratio is the one at PLAN_NODES.
SERIES = (8, 16, 32, 64)
PLAN_NODES = 32
#: A sample that takes longer has hung (a few seconds at 64 nodes on a busy machine).
HANG = 120.0


def plan_dict(nodes: int) -> dict[str, Any]:
    """The plan file's data for ``nodes`` nodes (see the module docstring)."""
    each = MEMORY_MIB // nodes
    return {
        "nodes": [{"id": i, "size": each << 20} for i in range(nodes)],
        "cpus": [{"node-id": (s * CORES + c) % nodes, "socket-id": s, "core-id": c}
                 for s in range(SOCKETS) for c in range(CORES)],
        "distances": [{"src": a, "dst": b, "val": 20 + (b - a) % 100}
                      for a in range(nodes) for b in range(a + 1, nodes)],
    }


def vm_argv(sock: str) -> list[str]:
    """QEMU's argv for one plan VM on ``sock`` (no NUMA node: the plan brings them)."""
    return [QEMU, *MACHINE_ARGS, "-smp", VM_240.smp, "-m", f"{MEMORY_MIB}M", "-display", "none",
            "-nodefaults", "--preconfig", "-qmp", f"unix:{sock},server=on,wait=off"]


@contextlib.asynccontextmanager
async def bare_vm() -> AsyncIterator[str]:
    """A started plan VM; yields its QMP socket path; killed on exit."""
    with tempfile.TemporaryDirectory(prefix="numatui-bench-") as d:
        sock = str(Path(d) / "qmp.sock")
        proc = subprocess.Popen(vm_argv(sock), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            for _ in range(400):
                if proc.poll() is not None:
                    raise BenchError(f"the plan VM did not start: {proc.stderr.read().decode()[-300:]}"
                                     if proc.stderr else "the plan VM did not start")
                if os.path.exists(sock) and await _greeted(Path(sock), 2.0):  # as the Launcher waits
                    break
                await asyncio.sleep(0.025)
            yield sock
        finally:
            proc.kill()
            proc.wait()
            if proc.stderr:
                proc.stderr.close()


@dataclass
class PlanRun:
    numatui: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    commands: int = 0


async def _numatui(plan: dict[str, Any], record_dir: str) -> tuple[float, list[tuple[str, Any]]]:
    from numatui.core.keeper import Keeper
    from numatui.core.vm import Vm
    from numatui.model.plan import Plan
    from numatui.session.session import Session

    async with bare_vm() as sock:
        session = await Session.connect(sock, record_file=Path(record_dir) / "plan.record")
        try:
            vm = Vm(session, Keeper(session))
            parsed = Plan.from_dict(plan)
            mark = session.transcript.count()
            start = time.perf_counter()
            await vm.apply_plan(parsed, lambda args: None)
            seconds = time.perf_counter() - start
            sent = [json.loads(e.text) for e in session.transcript.since(mark) if e.kind == "cmd"]
            if len({n.id for n in session.nodes}) != len(plan["nodes"]) \
                    or any(s.node_id is None for s in session.topology.slots):
                raise BenchError("numatui's apply did not end with the plan")
        finally:
            await session.close()
    return seconds, [(m["execute"], m.get("arguments")) for m in sent
                     if not m["execute"].startswith("query-")]


async def _raw(commands: list[tuple[str, Any]]) -> float:
    async with bare_vm() as sock:
        client = await RawQmp.connect(sock)
        try:
            start = time.perf_counter()
            for name, args in commands:
                await client.execute(name, args)
            reply = await client.execute("query-hotpluggable-cpus")
            seconds = time.perf_counter() - start
        finally:
            await client.close()
    if any("node-id" not in entry["props"] for entry in reply):
        raise BenchError("the raw client's commands left a slot without a node")
    return seconds


async def plan_pairs(nodes: int, pairs: int) -> PlanRun:
    """``pairs`` samples per side (plus a warm-up pair) of the ``nodes``-node plan."""
    run = PlanRun()
    plan = plan_dict(nodes)
    with tempfile.TemporaryDirectory(prefix="numatui-bench-rec-") as records:
        for i in range(pairs + 1):
            ours, commands = await asyncio.wait_for(_numatui(plan, records), HANG)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(Path(records) / "plan.record")
            floor = await asyncio.wait_for(_raw(commands), HANG)
            if i:
                run.numatui.append(ours)
                run.raw.append(floor)
            run.commands = len(commands)
    return run

