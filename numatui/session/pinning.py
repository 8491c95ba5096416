"""Pin the vCPU threads of a booted QEMU to host CPUs and read the result back.

``query-cpus-fast`` gives each vCPU's ``thread-id`` (QEMU refuses it in
preconfig); ``os.sched_setaffinity(thread_id, cpus)`` pins it; the kernel's
``Cpus_allowed_list`` in ``/proc/PID/task/TID/status`` is the truth.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from numatui.model.host import HostTopology, format_cpulist
from numatui.model.pinning import PinPlan, PinPolicy, VCpu, binding_from_memdevs, plan_pinning
from numatui.session.errors import BadRequest, SessionError
from numatui.session.machine import RunState

if TYPE_CHECKING:
    from numatui.session.session import Session


class PinRefused(SessionError):
    """The kernel refused to pin a vCPU thread (exit 1)."""


@dataclass(frozen=True)
class PinResult:
    plan: PinPlan
    applied: Mapping[int, tuple[int, ...]]  # cpu-index -> Cpus_allowed_list read back


async def read_vcpus(session: Session) -> list[VCpu]:
    """The present vCPUs with their threads; BadRequest in preconfig."""
    if session.state is RunState.PRECONFIG:
        raise BadRequest("QEMU is in preconfig: its vCPU threads do not exist yet and it refuses "
                         "query-cpus-fast; boot it first (x-exit-preconfig, numatui apply --exit-preconfig)")
    return [VCpu.from_qmp(e) for e in await session.query_cpus_fast()]


async def read_binding(session: Session) -> dict[int, int]:
    """guest node -> host node, from the ``host-nodes`` of each node's memdev.

    ``query-memdev`` is the truth; the session read it when it connected (and
    after each backend it made).  A backend's binding cannot change after it
    is created and a booted VM gets no new nodes, so once booted the
    session's nodes are used as they are (no command); before boot it is asked."""
    node_memdevs = {n.id: n.memdev for n in session.nodes if n.memdev}
    if not node_memdevs:
        return {}
    if session.state in (RunState.RUNNING, RunState.PAUSED) and session.info.memdevs:
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


def apply_pinning(plan: PinPlan, pid: int | None = None) -> dict[int, tuple[int, ...]]:
    """sched_setaffinity for each pin, then the affinity read back from the kernel
    (``sched_getaffinity``: the mask ``/proc/PID/task/TID/status`` shows as
    ``Cpus_allowed_list``, without generating 240 status files); PinRefused on
    the first refusal."""
    applied: dict[int, tuple[int, ...]] = {}
    for pin in plan.pins:
        try:
            os.sched_setaffinity(pin.vcpu.thread_id, pin.cpus)
        except OSError as exc:
            raise _refusal(pin.vcpu, pin.cpus, exc) from None
    wanted: dict[tuple[int, ...], set[int]] = {}
    for pin in plan.pins:
        try:  # the kernel's affinity mask of the thread: what Cpus_allowed_list shows
            got = os.sched_getaffinity(pin.vcpu.thread_id)
        except OSError as exc:
            raise _refusal(pin.vcpu, pin.cpus, exc) from None
        applied[pin.vcpu.cpu_index] = tuple(sorted(got))
        if got != wanted.setdefault(pin.cpus, set(pin.cpus)):
            raise PinRefused(f"{pin.vcpu.describe()} runs on host CPUs "
                             f"{format_cpulist(applied[pin.vcpu.cpu_index])} after pinning it to "
                             f"{format_cpulist(pin.cpus)} (a cpuset or another tool changed it)")
    return applied


async def pin_vcpus(session: Session, host: HostTopology, policy: PinPolicy, *,
                    dry_run: bool = False) -> PinResult:
    """Plan the pinning of every present vCPU and (unless ``dry_run``) apply it."""
    vcpus = await read_vcpus(session)
    binding = await read_binding(session) if policy is PinPolicy.NODE else {}
    plan = plan_pinning(host, vcpus, policy, binding, allowed=os.sched_getaffinity(0))
    pid = session.peer.pid if session.peer is not None else None
    applied = {} if dry_run else apply_pinning(plan, pid)
    return PinResult(plan, applied)
