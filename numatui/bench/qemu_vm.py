"""The benchmark's QEMU: a 240-vCPU q35 in preconfig on a private socket.

``-smp 240,sockets=8,cores=15,threads=2`` (the largest x86 topology TCG
boots: APIC ids above 254 need KVM), 8 NUMA nodes of 256 MiB each
(memory-backend-ram, one socket per node in the plans).  Started with
numatui's own :class:`~numatui.session.launcher.Launcher`, which waits for
the QMP greeting and leaves the monitor free for one client.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from numatui.model.topology import SlotKey
from numatui.session.launcher import Launcher

QEMU = "qemu-system-x86_64"
SOCKETS, CORES, THREADS = 8, 15, 2
NODES = 8
MEMORY = "2G"
MACHINE_ARGS = ("-machine", "q35", "-accel", "tcg", "-cpu", "max")


@dataclass(frozen=True)
class VmSpec:
    """The shape of a benchmark VM: ``sockets`` x ``cores`` x ``threads`` on a
    q35 with ``nodes`` equal memory-backend-ram nodes."""

    sockets: int
    cores: int
    threads: int
    nodes: int
    memory: str
    qemu: str = QEMU

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores * self.threads

    @property
    def smp(self) -> str:
        return f"{self.vcpus},sockets={self.sockets},cores={self.cores},threads={self.threads}"


#: The 240-vCPU VM of every QMP measurement.
VM_240 = VmSpec(SOCKETS, CORES, THREADS, NODES, MEMORY)
#: QEMU's largest x86 machine (QEMU >= 9.0; preconfig only under TCG), one 256 MiB node per socket.
BIG_SHAPE = (16, 128, 2)
BIG_NODES = 16
BIG_MEMORY = "4G"
#: The oldest QEMU taking -smp 4096 on q35.
BIG_MIN_VERSION = (9, 0)


def launcher(spec: VmSpec = VM_240) -> Launcher:
    """An unstarted launcher for one fresh benchmark VM."""
    return Launcher(qemu=spec.qemu, nodes=spec.nodes, smp=spec.smp, memory=spec.memory,
                    extra_args=list(MACHINE_ARGS))


@contextlib.asynccontextmanager
async def fresh_vm(spec: VmSpec = VM_240) -> AsyncIterator[Launcher]:
    """A started QEMU in preconfig; stopped (and its socket dir removed) on exit."""
    vm = launcher(spec)
    with _module_dir(spec.qemu):
        await vm.start()
    try:
        yield vm
    finally:
        await vm.stop()


def big_vm() -> VmSpec | str:
    """The 4096-vCPU VM on the first QEMU >= 9.0 found, or why there is none.

    Looked for: ``$NUMATUI_BENCH_BIG_QEMU`` (a binary), the QEMU 10.0 that
    ``scripts/dev`` unpacks into ``.cache/qemu-10.0``, then ``qemu-system-x86_64``.
    """
    candidates = [os.environ.get("NUMATUI_BENCH_BIG_QEMU", ""),
                  str(Path(__file__).resolve().parents[2] / ".cache" / "qemu-10.0" / "usr" / "bin" / QEMU),
                  QEMU]
    found: list[str] = []
    for binary in filter(None, candidates):
        version = qemu_version(binary)
        if version is None:
            continue
        found.append(f"{'.'.join(map(str, version))} at {binary}")
        if version >= BIG_MIN_VERSION:
            return VmSpec(*BIG_SHAPE, BIG_NODES, BIG_MEMORY, qemu=binary)
    need = ".".join(map(str, BIG_MIN_VERSION))
    return f"skipped: needs QEMU >= {need} (found {'; '.join(found) or 'none'})"


def qemu_version(binary: str) -> tuple[int, int] | None:
    """(major, minor) from ``binary --version``; None when it does not run."""
    try:
        with _module_dir(binary):
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version (\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else None


@contextlib.contextmanager
def _module_dir(binary: str) -> Iterator[None]:
    """A QEMU unpacked into a private prefix (PREFIX/usr/bin) must load its own
    build's modules (PREFIX/usr/lib/<triplet>/qemu), not the system's:
    ``QEMU_MODULE_DIR`` for the processes started inside."""
    path = Path(binary)
    modules = sorted(path.parent.parent.glob("lib/*/qemu")) if path.parent.name == "bin" else []
    if "/" not in binary or path.parent.parent in (Path("/usr"), Path("/usr/local")) or not modules \
            or "QEMU_MODULE_DIR" in os.environ:
        yield
        return
    os.environ["QEMU_MODULE_DIR"] = str(modules[0])
    try:
        yield
    finally:
        del os.environ["QEMU_MODULE_DIR"]


def socket_path(vm: Launcher) -> str:
    path = vm.address.path
    assert path is not None  # the launcher always uses a unix socket
    return path


def all_keys(spec: VmSpec = VM_240) -> list[SlotKey]:
    """Every slot key of the benchmark VM, as QEMU names them (topology order)."""
    return [(("socket-id", s), ("core-id", c), ("thread-id", t))
            for s in range(spec.sockets) for c in range(spec.cores) for t in range(spec.threads)]


def socket_plan() -> dict[SlotKey, int]:
    """One socket per node: socket s on node s (the plan of ``apply_ratio``)."""
    return {key: dict(key)["socket-id"] for key in all_keys()}


def per_core_plan() -> dict[SlotKey, int]:
    """Each core on node ``core-id % 8`` (both threads of a core together)."""
    return {key: dict(key)["core-id"] % NODES for key in all_keys()}


def sockets_in_runs_plan(spec: VmSpec, nodes: int) -> dict[SlotKey, int]:
    """``nodes`` nodes holding equal runs of whole sockets: socket s on node
    s // (sockets / nodes) (what ``split --into nodes`` must make when the
    sockets divide evenly; written here without numatui's preset code)."""
    per = spec.sockets // nodes
    assert per * nodes == spec.sockets
    return {key: dict(key)["socket-id"] // per for key in all_keys(spec)}


#: The small side of the scaling rows on a real QEMU: 16 slots (2 x 4 x 2), 2 nodes.
SMALL_SHAPE = (2, 4, 2)


@contextlib.asynccontextmanager
async def real_machines(big: VmSpec | str) -> AsyncIterator[dict[int, str] | str]:
    """Slots -> QMP socket of a real QEMU in preconfig for the scaling rows:
    4096 (``big``, QEMU >= 9.0: ``-smp 4096,sockets=16,cores=128,threads=2``,
    16 nodes) and 16 on the same binary; or, when ``big`` says why there is
    none, that reason (the rows then use the synthetic topology)."""
    if not isinstance(big, VmSpec):
        yield big
        return
    small = VmSpec(*SMALL_SHAPE, 2, "2G", qemu=big.qemu)
    async with fresh_vm(big) as large, fresh_vm(small) as little:
        yield {big.vcpus: socket_path(large), small.vcpus: socket_path(little)}
