"""QEMU 7.2's HMAT behaviour, pinned (what numatui/model/hmat.py relies on).

Each test talks raw QMP to a real QEMU in preconfig (the test's own
monitor); numatui's own sending is tested in test_hmat_apply.py.
"""

from __future__ import annotations

from typing import Any

import hmat_cases as cases
import pytest
from conftest import until_sync
from qemu.qmp import ExecuteError


async def _send(q: Any, args: dict[str, Any]) -> str | None:
    """None when QEMU accepts the command, else its message."""
    try:
        await q.qmp("set-numa-node", args)
    except ExecuteError as exc:
        return str(exc.error.error.desc)
    return None


async def _exit(q: Any) -> None:
    """x-exit-preconfig; QEMU either runs (status running) or exits."""
    try:
        await q.qmp("x-exit-preconfig")
    except Exception:  # QEMU exited: the monitor went away with the command in flight
        return


def _died_with(q: Any, message: str) -> None:
    until_sync(lambda: q.proc.poll() is not None, 20, "QEMU exiting at x-exit-preconfig")
    assert q.proc.returncode == 1
    assert message in q.stderr()


async def _runs(q: Any) -> None:
    status = await q.qmp("query-status")
    assert status["status"] == "running", q.stderr()


@pytest.mark.parametrize("name", ["BUILD", "OFF", "ERANGE"])
async def test_qemus_own_hmat_cases(qemu_factory: Any, name: str) -> None:
    """numa-test.c's pc_hmat_*_cfg: what QEMU refuses at set time, then it boots."""
    q = qemu_factory(getattr(cases, f"{name}_ARGS"))
    refused = [await _send(q, args) is not None for args, _ in getattr(cases, name)]
    assert refused == [want for _, want in getattr(cases, name)]
    await _exit(q)
    await _runs(q)


async def test_memory_only_node_without_initiator_boots(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0",
                      "-numa", "node,nodeid=1,memdev=m1", "-numa", "cpu,node-id=0"])
    await _exit(q)
    await _runs(q)


async def test_initiator_is_accepted_on_a_node_added_live(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0"])
    assert await _send(q, {"type": "node", "nodeid": 1, "memdev": "m1", "initiator": 0}) is None
    assert await _send(q, {"type": "cpu", "node-id": 0}) is None
    await _exit(q)
    await _runs(q)


async def test_initiator_without_cpus_kills_qemu_at_exit(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0",
                      "-numa", "node,nodeid=1,memdev=m1"])
    assert await _send(q, {"type": "node", "nodeid": 2, "initiator": 1}) is None
    assert await _send(q, {"type": "cpu", "node-id": 0}) is None
    await _exit(q)
    _died_with(q, "The initiator of NUMA node 2 is invalid")


async def test_initiator_naming_no_node_kills_qemu_at_exit(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0",
                      "-numa", "node,nodeid=1,memdev=m1,initiator=5", "-numa", "cpu,node-id=0"])
    await _exit(q)
    _died_with(q, "NUMA node 5 is missing, use '-numa node' option to declare it first")


async def test_cpu_on_a_node_with_another_initiator_is_refused(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0",
                      "-numa", "node,nodeid=1,memdev=m1,initiator=0"])
    assert await _send(q, {"type": "cpu", "node-id": 0, "socket-id": 0}) is None
    message = await _send(q, {"type": "cpu", "node-id": 1, "socket-id": 1})
    assert message == "The initiator of CPU NUMA node 1 should be itself (got 0)"


async def test_hmat_lb_needs_the_cpus_first(qemu_factory: Any) -> None:
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0",
                      "-numa", "node,nodeid=1,memdev=m1,initiator=0"])
    lb = cases.lb(0, 1, "access-latency", latency=20)
    assert await _send(q, lb) == "Invalid initiator=0, it isn't an initiator proximity domain"
    assert await _send(q, {"type": "cpu", "node-id": 0}) is None
    assert await _send(q, lb) is None
    await _exit(q)  # an incomplete matrix boots
    await _runs(q)


async def test_cache_levels_in_order(qemu_factory: Any) -> None:
    q = qemu_factory(cases.BUILD_ARGS)
    for args in (cases.lb(0, 0, "access-latency", latency=10),
                 cases.lb(0, 0, "access-bandwidth", bandwidth=1 << 30)):
        assert await _send(q, args) is None
    assert await _send(q, cases.cache(0, 2)) == "Cache level=1 shall be defined first"
    assert await _send(q, cases.cache(0, 1, size=4096)) is None
    assert await _send(q, cases.cache(0, 2, size=8192)) is None
    await _exit(q)
    await _runs(q)


async def test_out_of_range_initiator_is_dropped_silently(qemu_factory: Any) -> None:
    """QEMU reports it on stderr only: QMP says success but there is no node (so
    numatui refuses initiator >= 128 itself)."""
    q = qemu_factory([*cases.BASE, "-machine", "hmat=on", "-numa", "node,nodeid=0,memdev=m0"])
    assert await _send(q, {"type": "node", "nodeid": 1, "memdev": "m1", "initiator": 200}) is None
    assert "The initiator id 200 expects an integer between 0 and 127" in q.stderr()
    # not created: the same node id is accepted again
    assert await _send(q, {"type": "node", "nodeid": 1, "memdev": "m1", "initiator": 0}) is None
