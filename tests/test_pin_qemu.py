"""``numatui pin`` on a real, booted QEMU: vCPU threads pinned and read back
from /proc.  The test sets each thread's affinity to one CPU first, so that a
pinning that did nothing cannot pass."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from oracles import read_affinity
from test_cli import fails, ok

HOST_CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(HOST_CPUS) < 2, reason="needs 2 host CPUs numatui may run on")


def args(cpus: str) -> list[str]:
    return ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", cpus,
            "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind",
            "-numa", "node,nodeid=0,memdev=m0"]


def threads(q: Any) -> dict[int, int]:
    """cpu-index -> thread-id, as QEMU says on the test's own monitor."""
    return {c["cpu-index"]: c["thread-id"] for c in asyncio.run(q.qmp("query-cpus-fast"))}


def affinities(q: Any) -> dict[int, tuple[int, ...]]:
    return {i: read_affinity(t, q.proc.pid) for i, t in threads(q).items()}


def squeeze(q: Any, cpu: int) -> None:
    """Every vCPU thread on ``cpu`` only."""
    for t in threads(q).values():
        os.sched_setaffinity(t, {cpu})


def booted(qemu_factory: Any, cpus: str) -> Any:
    q = qemu_factory(args(cpus))
    asyncio.run(q.qmp("x-exit-preconfig"))
    return q


def test_memory_bound_to_host_node_0_is_what_query_memdev_says(qemu_factory: Any) -> None:
    q = qemu_factory(args("2"))
    (m0,) = asyncio.run(q.qmp("query-memdev"))
    assert (m0["id"], m0["host-nodes"], m0["policy"]) == ("m0", [0], "bind")


def test_refused_in_preconfig(qemu_factory: Any) -> None:
    q = qemu_factory(args("2"))
    said = fails(2, "pin", q.sock)
    assert "QEMU is in preconfig" in said and "query-cpus-fast" in said


def test_policy_node_pins_every_vcpu_to_the_bound_host_node(qemu_factory: Any) -> None:
    q = booted(qemu_factory, "2")
    squeeze(q, HOST_CPUS[-1])
    out = ok("pin", q.sock)
    node0 = tuple(sorted(set(HOST_CPUS) & set(_node0_cpus())))
    assert affinities(q) == {0: node0, 1: node0}
    assert f"vCPU 1: Cpus_allowed_list {_fmt(node0)}" in out


def test_policy_cpu_gives_each_vcpu_its_own_cpu(qemu_factory: Any) -> None:
    q = booted(qemu_factory, "2")
    squeeze(q, HOST_CPUS[-1])
    ok("pin", q.sock, "--policy", "cpu")
    assert affinities(q) == {0: (HOST_CPUS[0],), 1: (HOST_CPUS[1],)}


def test_policy_cpu_refuses_more_vcpus_than_host_cpus(qemu_factory: Any) -> None:
    q = booted(qemu_factory, str(len(HOST_CPUS) + 1))
    before = affinities(q)
    said = fails(2, "pin", q.sock, "--policy", "cpu")
    assert f"{len(HOST_CPUS) + 1} vCPUs but numatui may run on {len(HOST_CPUS)} host CPU" in said
    assert affinities(q) == before


def test_dry_run_changes_nothing(qemu_factory: Any) -> None:
    q = booted(qemu_factory, "2")
    squeeze(q, HOST_CPUS[-1])
    out = ok("pin", q.sock, "--policy", "cpu", "--dry-run")
    assert f"would pin vCPU 0 (thread {threads(q)[0]}) -> host CPUs {HOST_CPUS[0]}" in out
    assert affinities(q) == {0: (HOST_CPUS[-1],), 1: (HOST_CPUS[-1],)}


def test_a_hot_plugged_cpu_is_pinned_on_the_next_pin(qemu_factory: Any) -> None:
    q = booted(qemu_factory, "2,maxcpus=3")
    ok("pin", q.sock)
    slots = asyncio.run(q.qmp("query-hotpluggable-cpus"))
    empty = next(s for s in slots if "qom-path" not in s)
    asyncio.run(q.qmp("device_add", {"driver": empty["type"], "id": "cpu2", **empty["props"]}))
    assert len(threads(q)) == 3
    squeeze(q, HOST_CPUS[-1])
    ok("pin", q.sock)
    node0 = tuple(sorted(set(HOST_CPUS) & set(_node0_cpus())))
    assert affinities(q) == {0: node0, 1: node0, 2: node0}


def _node0_cpus() -> tuple[int, ...]:
    from numatui.session.host_reader import read_host

    node = read_host("/").node(0)
    assert node is not None
    return node.cpus


def _fmt(cpus: tuple[int, ...]) -> str:
    from numatui.model.host import format_cpulist

    return format_cpulist(cpus)


def test_a_refusal_names_the_thread_and_the_reason() -> None:
    import subprocess

    from numatui.model.pinning import Pin, PinPlan, PinPolicy, VCpu
    from numatui.session.pinning import PinRefused, apply_pinning

    proc = subprocess.Popen(["sleep", "600"])  # stands in for QEMU: its one thread is its own task
    try:
        me = proc.pid
        before = os.sched_getaffinity(me)
        plan = PinPlan(PinPolicy.CPU, (Pin(VCpu(0, me), (4000,)),))  # no such CPU: EINVAL
        with pytest.raises(PinRefused) as exc:
            apply_pinning(plan, proc.pid)
        said = str(exc.value)
        assert "\n" not in said
        assert f"cannot pin vCPU 0 (thread {me}) to host CPUs 4000" in said and "EINVAL" in said
        assert os.sched_getaffinity(me) == before
        gone = PinPlan(PinPolicy.CPU, (Pin(VCpu(1, 2**22 - 7), (HOST_CPUS[0],)),))
        with pytest.raises(PinRefused, match=r"thread 4194297.*no such thread in QEMU's process"):
            apply_pinning(gone, proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_a_thread_already_on_its_cpus_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinning again sets no affinity: every thread already runs where the plan
    says (the kernel's mask, read first, is the read-back); a thread moved
    since is the one set again."""
    import subprocess

    import numatui.session.pinning as pinning
    from numatui.model.pinning import Pin, PinPlan, PinPolicy, VCpu

    qemu = subprocess.Popen(["sleep", "600"])  # stands in for QEMU: its one thread is its own task
    try:
        plan = PinPlan(PinPolicy.CPU, (Pin(VCpu(0, qemu.pid), (HOST_CPUS[-1],)),))
        os.sched_setaffinity(qemu.pid, {HOST_CPUS[0], HOST_CPUS[-1]})
        assert pinning.apply_pinning(plan, qemu.pid) == {0: (HOST_CPUS[-1],)}
        set_calls: list[int] = []
        setaffinity = os.sched_setaffinity
        monkeypatch.setattr(os, "sched_setaffinity",
                            lambda tid, cpus: set_calls.append(tid) or setaffinity(tid, cpus))
        assert pinning.apply_pinning(plan, qemu.pid) == {0: (HOST_CPUS[-1],)}
        assert set_calls == []
        setaffinity(qemu.pid, {HOST_CPUS[0]})  # moved by another tool
        assert pinning.apply_pinning(plan, qemu.pid) == {0: (HOST_CPUS[-1],)}
        assert set_calls == [qemu.pid] and os.sched_getaffinity(qemu.pid) == {HOST_CPUS[-1]}
    finally:
        qemu.kill()
        qemu.wait()


def test_a_thread_that_stops_being_qemus_during_the_pass_gets_its_affinity_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel race the second /proc/PID/task listing is for, injected (it
    cannot be produced on demand): the first listing names a thread as QEMU's,
    by the second it is another process's.  A real ``sleep`` is that thread;
    its affinity, set to one CPU before, is what the kernel reports after."""
    import subprocess

    import numatui.session.pinning as pinning
    from numatui.model.pinning import Pin, PinPlan, PinPolicy, VCpu

    qemu = subprocess.Popen(["sleep", "600"])
    victim = subprocess.Popen(["sleep", "600"])
    try:
        os.sched_setaffinity(victim.pid, {HOST_CPUS[0]})
        listings = iter([frozenset({str(victim.pid)}), pinning._tasks(qemu.pid)])
        monkeypatch.setattr(pinning, "_tasks", lambda pid: next(listings))
        plan = PinPlan(PinPolicy.CPU, (Pin(VCpu(3, victim.pid), (HOST_CPUS[-1],)),))
        with pytest.raises(pinning.PinRefused, match=rf"not pinning vCPU 3 \(thread {victim.pid}\).*"
                                                     "no such thread in QEMU's process"):
            pinning.apply_pinning(plan, qemu.pid)
        assert os.sched_getaffinity(victim.pid) == {HOST_CPUS[0]}
    finally:
        for proc in (qemu, victim):
            proc.kill()
            proc.wait()


def test_unbound_guest_nodes_are_left_alone_and_said_so(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "2",
                      "-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,memdev=m0"])
    asyncio.run(q.qmp("x-exit-preconfig"))
    squeeze(q, HOST_CPUS[-1])
    out = ok("pin", q.sock)
    assert f"vCPU 0 (thread {threads(q)[0]}) left as it is: guest node 0 is bound to no host node" in out
    assert "nothing to pin" in out
    assert affinities(q) == {0: (HOST_CPUS[-1],), 1: (HOST_CPUS[-1],)}
