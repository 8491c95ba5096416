"""Pinning touches only the VM's own threads.

A FAKE QMP PEER (tests/fake_qmp.py's HostileProxy, in front of a real QEMU)
lies in ``query-cpus-fast``: each vCPU's ``thread-id`` names an unrelated
process the test started (a ``sleep``), 0 (the calling thread: numatui
itself), a negative or an impossible id.  numatui runs as a real process
(``python -m numatui``), so the proxy in the test process is the peer its
socket names.  Each test asserts on the VICTIM (its ``Cpus_allowed_list`` in
/proc, squeezed to one CPU first so that any pinning would show) and on
QEMU's own vCPU threads (none pinned either: every thread is checked before
any is pinned), and on the exit code and the one line.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import until_sync
from fake_qmp import HostileProxy, in_thread
from oracles import read_affinity
from test_cli import fails, ok

from numatui.session.launcher import Launcher
from numatui.session.session import Session

HOST_CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(HOST_CPUS) < 2, reason="needs 2 host CPUs numatui may run on")

#: Two vCPUs bound (memory and, with --preset host, pinning) to host node 0.
BOUND = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "2",
         "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind",
         "-numa", "node,nodeid=0,memdev=m0"]
UNBOUND = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "2,sockets=2,cores=1,threads=1",
           "-m", "1G"]
SQUEEZED = HOST_CPUS[-1]


@pytest.fixture
def victim() -> Iterator[int]:
    """An unrelated process, on one CPU only."""
    proc = subprocess.Popen(["sleep", "600"])
    os.sched_setaffinity(proc.pid, {SQUEEZED})
    yield proc.pid
    proc.kill()
    proc.wait()


def threads(q: Any) -> dict[int, int]:
    return {c["cpu-index"]: c["thread-id"] for c in asyncio.run(q.qmp("query-cpus-fast"))}


def squeeze(q: Any) -> dict[int, tuple[int, ...]]:
    """Every vCPU thread of ``q`` on one CPU; their affinities."""
    for t in threads(q).values():
        os.sched_setaffinity(t, {SQUEEZED})
    return qemu_affinities(q)


def qemu_affinities(q: Any) -> dict[int, tuple[int, ...]]:
    return {i: read_affinity(t, q.proc.pid) for i, t in threads(q).items()}


def lying(*ids: int) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """A rewrite giving vCPU i the thread id ``ids[i]`` (the last one for the rest)."""
    def rewrite(command: str, msg: dict[str, Any]) -> dict[str, Any]:
        if command == "query-cpus-fast" and isinstance(msg.get("return"), list):
            for i, cpu in enumerate(msg["return"]):
                cpu["thread-id"] = ids[min(i, len(ids) - 1)]
        return msg
    return rewrite


def numatui(*argv: str) -> tuple[int, list[str]]:
    """numatui as a process of its own: (exit code, stderr lines)."""
    done = subprocess.run([sys.executable, "-m", "numatui", *argv], capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr.splitlines()


def booted(qemu_factory: Any, args: list[str]) -> Any:
    q = qemu_factory(args)
    asyncio.run(q.qmp("x-exit-preconfig"))
    return q


def proxy_for(q: Any, rewrite: Callable[[str, dict[str, Any]], dict[str, Any]] | None) -> HostileProxy:
    return HostileProxy(Path(q.extra["dir"]) / "fake.sock", q.sock, "fake peer",
                        event_after="never-sent", rewrite=rewrite, keep_errors=True)


@pytest.mark.parametrize("lie", ["victim", "zero", "negative", "huge", "victim-after-a-true-one"])
def test_numatui_pin_refuses_a_thread_id_that_is_not_qemus(qemu_factory: Any, victim: int, lie: str) -> None:
    q = booted(qemu_factory, BOUND)
    before = squeeze(q)
    true_id = threads(q)[0]
    ids = {"victim": (victim,), "zero": (0,), "negative": (-1,), "huge": (1 << 40,),
           "victim-after-a-true-one": (true_id, victim)}[lie]
    with in_thread(proxy_for(q, lying(*ids))) as proxy:
        code, lines = numatui("pin", f"unix:{proxy.path}", "--policy", "cpu")
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("numatui: not pinning vCPU ") and "pinned none" in lines[0]
    assert read_affinity(victim) == (SQUEEZED,)  # the victim is untouched
    assert qemu_affinities(q) == before  # and no thread of QEMU was pinned either


def test_a_proxy_passing_qemus_true_threads_is_not_qemu(qemu_factory: Any) -> None:
    """The peer of the socket is the proxy: QEMU's threads are not its tasks."""
    q = booted(qemu_factory, BOUND)
    before = squeeze(q)
    with in_thread(proxy_for(q, None)) as proxy:
        code, lines = numatui("pin", f"unix:{proxy.path}", "--policy", "cpu")
    assert code == 1 and "not pinning vCPU 0" in lines[0], lines
    assert qemu_affinities(q) == before


def test_in_process_the_peer_is_numatui_itself(qemu_factory: Any) -> None:
    """A peer in numatui's own process (the proxy here): thread 0, numatui's
    own threads are never pinned."""
    q = booted(qemu_factory, BOUND)
    before, mine = squeeze(q), os.sched_getaffinity(0)
    with in_thread(proxy_for(q, lying(0))) as proxy:
        said = fails(1, "pin", f"unix:{proxy.path}", "--policy", "cpu")
    assert "is numatui itself" in said
    assert os.sched_getaffinity(0) == mine and qemu_affinities(q) == before


def test_pinning_at_boot_refused_is_an_error(qemu_factory: Any, victim: int) -> None:
    """``apply --preset host --exit-preconfig``: the VM boots, the lying
    peer's pinning is refused, and the command fails (exit 1), not a warning."""
    q = qemu_factory(UNBOUND)
    with in_thread(proxy_for(q, lying(victim))) as proxy:
        code, lines = numatui("apply", f"unix:{proxy.path}", "--preset", "host", "--exit-preconfig")
    assert code == 1 and len(lines) == 1 and "not pinning vCPU 0" in lines[0], lines
    assert asyncio.run(q.qmp("query-status"))["status"] == "running"
    assert read_affinity(victim) == (SQUEEZED,)


def test_over_tcp_pinning_needs_a_launched_qemu(qemu_factory: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    q = booted(qemu_factory, [*BOUND, "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    before = squeeze(q)
    said = fails(2, "pin", f"tcp:127.0.0.1:{port}", "--policy", "cpu")
    assert "over TCP numatui cannot tell which process QEMU is" in said
    assert qemu_affinities(q) == before
    out = ok("pin", f"tcp:127.0.0.1:{port}", "--policy", "cpu", "--dry-run")  # planning needs no trust
    assert f"would pin vCPU 0 (thread {threads(q)[0]})" in out and qemu_affinities(q) == before


@pytest.mark.qemu
async def test_a_launched_qemu_is_pinned_by_its_own_pid() -> None:
    """The happy path through the launcher's pid: QEMU's threads are pinned."""
    from numatui.core.vm import Vm

    launcher = Launcher(extra_args=BOUND)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        await session.exit_preconfig()
        assert launcher.pid is not None
        pid = launcher.pid
        tids = {c["cpu-index"]: c["thread-id"] for c in await session.query_cpus_fast()}
        for t in tids.values():
            os.sched_setaffinity(t, {SQUEEZED})
        result = await Vm(session).pin("node")
        node0 = tuple(c for c in HOST_CPUS if c in _node0())
        assert {i: read_affinity(t, pid) for i, t in tids.items()} == {0: node0, 1: node0}
        assert dict(result.applied) == {0: node0, 1: node0}
    finally:
        await session.close()
        await launcher.stop()
        until_sync(lambda: not launcher.alive(), 10, "QEMU stopping")


def _node0() -> tuple[int, ...]:
    from numatui.session.host_reader import read_host

    node = read_host("/").node(0)
    assert node is not None
    return node.cpus
