"""Pin the vCPU threads of a booted QEMU to host CPUs and read the result back.

``query-cpus-fast`` gives each vCPU's ``thread-id`` (QEMU refuses it in
preconfig); ``os.sched_setaffinity(thread_id, cpus)`` pins it; the kernel's
``Cpus_allowed_list`` in ``/proc/PID/task/TID/status`` is the truth.

Trust: a thread id is the peer's word, and ``sched_setaffinity`` takes any
thread of the host (as root: any at all).  So a thread is pinned only when
the kernel says it is a task of the QEMU numatui talks to: ``/proc/PID/task/TID``
exists, where PID is the QEMU numatui launched, else the process at the other
end of the unix socket (``SO_PEERCRED``, still the process of that start
time).  That is checked for every thread before any is pinned, and again for
all of them after the pass when one was set (an affinity set on a thread that
stopped being QEMU's in between is put back).  A thread already on its CPUs
is left as it is.  A TCP peer has no pid:
pinning over TCP needs a QEMU numatui launched.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from numatui.model import sanitise
from numatui.model.host import HostTopology, format_cpulist
from numatui.model.pinning import PinPlan, PinPolicy, VCpu, binding_from_memdevs, plan_pinning
from numatui.session.errors import BadRequest, SessionError
from numatui.session.launcher import Launcher
from numatui.session.machine import MalformedReply, RunState
from numatui.session.record import start_time

if TYPE_CHECKING:
    from numatui.session.session import Session

#: The kernel's largest pid (PID_MAX_LIMIT on 64-bit): a thread id above it is no thread.
PID_MAX = 1 << 22


class PinRefused(SessionError):
    """The kernel refused to pin a vCPU thread, or the thread is not QEMU's (exit 1)."""


@dataclass(frozen=True)
class PinResult:
    plan: PinPlan
    applied: Mapping[int, tuple[int, ...]]  # cpu-index -> Cpus_allowed_list read back


async def read_vcpus(session: Session) -> list[VCpu]:
    """The present vCPUs with their threads; BadRequest in preconfig."""
    if session.state is RunState.PRECONFIG:
        raise BadRequest("QEMU is in preconfig: its vCPU threads do not exist yet and it refuses "
                         "query-cpus-fast; boot it first (x-exit-preconfig, numatui apply --exit-preconfig)")
    cpus = await session.query_cpus_fast()
    if not all(isinstance(e, dict) and type(e.get("cpu-index")) is int and type(e.get("thread-id")) is int
               for e in cpus):
        raise MalformedReply("query-cpus-fast", "a vCPU without an integer cpu-index and thread-id")
    return [VCpu.from_qmp(e) for e in cpus]


async def read_binding(session: Session) -> dict[int, int]:
    """guest node -> host node, from the ``host-nodes`` of each node's memdev.

    ``query-memdev`` is the truth; the session read it when it connected (and
    after each backend it made).  A backend's binding cannot change after it
    is created and a booted VM gets no new nodes, so once booted the
    session's nodes are used as they are (no command); before boot it is asked."""
    node_memdevs = {n.id: n.memdev for n in session.nodes if n.memdev}
    if not node_memdevs:
        return {}
    if session.state.booted and session.info.memdevs:
        return {n.id: n.host_nodes[0] for n in session.nodes if n.memdev and len(n.host_nodes) == 1}
    memdevs = await session.execute("query-memdev")
    return binding_from_memdevs(memdevs, node_memdevs)


def _refusal(vcpu: VCpu, cpus: tuple[int, ...], exc: OSError) -> PinRefused:
    what = f"cannot pin {vcpu.describe()} to host CPUs {format_cpulist(cpus)}"
    if exc.errno == errno.EPERM:
        why = ("the kernel refuses (EPERM): the thread belongs to another user; run numatui as "
               "QEMU's user or with CAP_SYS_NICE")
    elif exc.errno == errno.EINVAL:
        why = ("the kernel refuses (EINVAL): none of these CPUs is online, or the cgroup/cpuset "
               "does not allow them")
    elif exc.errno == errno.ESRCH:
        why = "the thread no longer exists (the vCPU was unplugged or QEMU exited)"
    else:
        why = exc.strerror or str(exc)
    return PinRefused(f"{what}: {why}")


def qemu_pid(session: Session) -> int:
    """The QEMU process whose threads numatui may pin: the one it launched, else
    the peer of the unix socket.  BadRequest over TCP (exit 2), PinRefused when
    that process is numatui itself or is gone."""
    launcher = session.launcher
    if isinstance(launcher, Launcher) and launcher.pid is not None:
        if not launcher.alive():  # not reaped before this check: its pid is not reused
            raise PinRefused(f"QEMU (pid {launcher.pid}) has exited: there is no vCPU thread to pin")
        return launcher.pid
    peer = session.peer
    if peer is None:
        raise BadRequest(f"{session.address}: over TCP numatui cannot tell which process QEMU is, "
                         "so it pins no thread; connect to a unix -qmp socket of QEMU, or let "
                         "numatui launch QEMU (numatui launch)")
    if peer.pid == os.getpid():
        raise PinRefused(f"the process at the other end of {session.address} is numatui itself "
                         f"(pid {peer.pid}), not QEMU: no thread pinned")
    if peer.start is None:
        raise PinRefused(f"numatui could not read the start time of pid {peer.pid} (the other end of "
                         f"{session.address}) when it connected, so it cannot tell that process "
                         "from a later one: no thread pinned")
    if start_time(peer.pid) != peer.start:
        raise PinRefused(f"the process at the other end of {session.address} (pid {peer.pid}) is "
                         "gone: no thread pinned")
    return peer.pid


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read(64).decode(errors="replace").strip()
    except OSError:
        return "?"


def _tasks(pid: int) -> frozenset[str]:
    """The thread ids the kernel lists as tasks of process ``pid`` (one read of
    ``/proc/PID/task``; the names as the kernel writes them, never parsed)."""
    try:
        return frozenset(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return frozenset()


def _check_task(pid: int, vcpu: VCpu, tasks: frozenset[str], done: int = 0) -> None:
    if not _owned(vcpu.thread_id, tasks, os.getpid()):
        raise PinRefused(f"not pinning {vcpu.describe()}: QEMU says it runs there, but the kernel "
                         f"has no such thread in QEMU's process (pid {pid}, "
                         f"{sanitise.one_line(_comm(pid), 40)}); numatui pins only QEMU's own "
                         "threads, and " + (f"stopped after {done}" if done else "pinned none"))


def _owned(tid: int, tasks: frozenset[str], me: int) -> bool:
    return 0 < tid <= PID_MAX and tid != me and str(tid) in tasks


def apply_pinning(plan: PinPlan, pid: int) -> dict[int, tuple[int, ...]]:
    """sched_setaffinity for each pin whose thread, a task of process ``pid``,
    runs elsewhere now, then the affinity read back from the kernel
    (``sched_getaffinity``: the mask ``/proc/PID/task/TID/status`` shows as
    ``Cpus_allowed_list``, without generating 240 status files); PinRefused on
    the first refusal.  A thread already on its CPUs is left as it is (its
    affinity, read before, is the read-back): pinning again, or after a
    hot-plug, touches only the threads that need it.

    Ownership is read from the kernel twice, one ``/proc/PID/task`` listing
    each: before any thread is pinned (all must be QEMU's), and after the last
    pin when any was set, whether the pass ended or stopped on a refusal.  A
    thread pinned in between that is no longer QEMU's (it ended, and its id
    went to another process) gets its old affinity back, and the pass is refused."""
    tasks, me = _tasks(pid), os.getpid()
    for pin in plan.pins:
        if not _owned(pin.vcpu.thread_id, tasks, me):
            _check_task(pid, pin.vcpu, tasks)
    wanted: dict[tuple[int, ...], tuple[set[int], tuple[int, ...]]] = {}
    for pin in plan.pins:
        if pin.cpus not in wanted:
            wanted[pin.cpus] = set(pin.cpus), tuple(sorted(set(pin.cpus)))
    before: dict[int, set[int]] = {}  # the threads set: their affinity before
    try:
        for pin in plan.pins:
            tid = pin.vcpu.thread_id
            try:
                now = os.sched_getaffinity(tid)
                if now != wanted[pin.cpus][0]:
                    before[tid] = now
                    os.sched_setaffinity(tid, pin.cpus)
            except OSError as exc:
                raise _refusal(pin.vcpu, pin.cpus, exc) from None
    finally:
        if before:
            _put_back_foreign(plan, pid, before)
    applied: dict[int, tuple[int, ...]] = {}
    for pin in plan.pins:
        want, listed = wanted[pin.cpus]
        if pin.vcpu.thread_id in before:
            try:  # the kernel's affinity mask of the thread: what Cpus_allowed_list shows
                got = os.sched_getaffinity(pin.vcpu.thread_id)
            except OSError as exc:
                raise _refusal(pin.vcpu, pin.cpus, exc) from None
            if got != want:
                raise PinRefused(f"{pin.vcpu.describe()} runs on host CPUs {format_cpulist(got)} after "
                                 f"pinning it to {format_cpulist(pin.cpus)} (a cpuset or another tool "
                                 "changed it)")
        applied[pin.vcpu.cpu_index] = listed
    return applied


def _put_back_foreign(plan: PinPlan, pid: int, before: Mapping[int, set[int]]) -> None:
    """Restore the old affinity of each thread pinned (``before`` holds them)
    that the kernel no longer lists as QEMU's; PinRefused naming the first."""
    tasks = _tasks(pid)
    foreign = [pin.vcpu for pin in plan.pins if pin.vcpu.thread_id in before
               and str(pin.vcpu.thread_id) not in tasks]
    for vcpu in foreign:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(vcpu.thread_id, before[vcpu.thread_id])
    if foreign:
        _check_task(pid, foreign[0], tasks, len(before) - len(foreign))


async def pin_vcpus(session: Session, host: HostTopology, policy: PinPolicy, *,
                    dry_run: bool = False) -> PinResult:
    """Plan the pinning of every present vCPU and (unless ``dry_run``) apply it."""
    vcpus = await read_vcpus(session)
    binding = await read_binding(session) if policy is PinPolicy.NODE else {}
    plan = plan_pinning(host, vcpus, policy, binding, allowed=os.sched_getaffinity(0))
    applied = {} if dry_run else apply_pinning(plan, qemu_pid(session))
    return PinResult(plan, applied)
