"""What ``q`` prints builds this VM after any relaunch (#25 item 1).

A relaunch that rewrites options of the user's own command line (a node's
memory, a new node with memory, a backend's host binding) makes "options to
add" wrong: appended to the old command line QEMU refuses them (a distance to
a node it lacks) or silently keeps the old split and binding.  Then ``q``
prints the whole command line.  Each test starts a fresh QEMU from exactly
what ``q`` printed and compares what both QEMUs report: ``query-memdev``
(sizes, binding), ``query-hotpluggable-cpus`` (each slot's node) and, after
both boot, ``info numa``.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, info_numa, launched_session, socket

from numatui.core import export
from numatui.core.vm import Vm
from numatui.model.hmat import HmatLb
from numatui.model.qemu_args import iter_options
from numatui.model.topology import Topology
from numatui.session.session import Session

M = 1 << 20
Execute = Callable[..., Awaitable[Any]]


def command_line(printed: str) -> tuple[str, list[str]]:
    """(program, options) of a printed whole command line, without what the
    test's QEMU factory adds itself (display, monitors, preconfig)."""
    argv = shlex.split(printed.replace("\\\n", " "), comments=True)
    assert argv and not argv[0].startswith("-"), f"not a whole command line: {printed[:200]!r}"
    kept = [t for opt in iter_options(argv[1:])
            if opt.name not in ("qmp", "display", "nodefaults", "preconfig") for t in opt.tokens]
    return argv[0], kept


async def facts(execute: Execute) -> tuple[dict[str, Any], dict[Any, int | None]]:
    """Memory backends (size, host-nodes, policy) and each slot's node, as QEMU reports them."""
    memdevs = {m["id"]: (m["size"], m["host-nodes"], m["policy"]) for m in await execute("query-memdev")}
    return memdevs, Topology.from_hotpluggable(await execute("query-hotpluggable-cpus")).mapping()


async def numa_after_boot(execute: Execute) -> dict[int, tuple[str, int]]:
    return info_numa(await execute("human-monitor-command", {"command-line": "info numa"}))


async def same_vm_from_q(session: Session, vm: Vm, qemu_factory: Any) -> str:
    """Start a fresh QEMU from what ``q`` prints; assert it is this VM before and after boot."""
    printed = vm.quit_text()
    assert export.rewritten(session) is not None
    program, options = command_line(printed)
    fresh = qemu_factory(options, binary=program)
    assert await facts(fresh.qmp) == await facts(session.execute)
    await session.exit_preconfig(force=True)
    await fresh.qmp("x-exit-preconfig")
    assert await numa_after_boot(fresh.qmp) == await numa_after_boot(session.execute)
    return printed


async def test_memory_split_with_no_cpu_assigned_prints_the_whole_command_line(
        launched: Session, qemu_factory: Any) -> None:
    vm = Vm(launched)
    assert export.rewritten(launched) is None and vm.quit_text() == ""  # nothing to add yet
    await vm.set_memory({0: 1536 * M, 1: 512 * M})  # a relaunch
    printed = await same_vm_from_q(launched, vm, qemu_factory)
    assert "size=1536M" in printed or "size=1.5G" in printed
    assert export.render("compact", launched).startswith("# numatui relaunched QEMU")


async def test_a_new_node_with_memory_and_its_distances(launched: Session, qemu_factory: Any) -> None:
    vm = Vm(launched)
    await vm.set_memory({0: 1024 * M, 1: 512 * M, 2: 512 * M})  # node 2 with memory: a relaunch
    await launched.assign(socket(launched.topology, 0), 0)
    await launched.assign(socket(launched.topology, 1), 2)
    for src, dst, val in ((0, 1, 20), (0, 2, 30), (1, 2, 25)):
        await launched.set_distance(src, dst, val)
    printed = await same_vm_from_q(launched, vm, qemu_factory)
    assert "dist,src=1,dst=2,val=25" in printed


async def test_a_host_binding_by_relaunch(launched: Session, qemu_factory: Any) -> None:
    vm = Vm(launched)
    plan = launched.plan()
    await vm.apply_plan(plan.with_nodes([plan.nodes[0].with_binding([0], "bind"), *plan.nodes[1:]]),
                        lambda _: None)
    await launched.assign(socket(launched.topology, 1), 1)
    printed = await same_vm_from_q(launched, vm, qemu_factory)
    assert "host-nodes=0,policy=bind" in printed


@pytest.fixture
async def launched_hmat() -> AsyncIterator[Session]:
    """A QEMU numatui launched with ``hmat=on`` (``numatui launch --hmat``)."""
    async with launched_session(extra_args=DEFAULT_ARGS, hmat=True) as s:
        yield s


async def test_hmat_survives_a_memory_relaunch(launched_hmat: Session, qemu_factory: Any) -> None:
    session = launched_hmat
    vm = Vm(session)
    await session.assign(socket(session.topology, 0), 0)
    await session.assign(socket(session.topology, 1), 1)
    for i in (0, 1):
        for t in (0, 1):
            await vm.set_hmat_lb(HmatLb(i, t, "memory", "access-latency", 10 if i == t else 20))
    await vm.set_memory({0: 1536 * M, 1: 512 * M})  # the relaunch replays the HMAT entries
    assert len(session.hmat_lb) == 4
    printed = await same_vm_from_q(session, vm, qemu_factory)
    assert "hmat=on" in printed and printed.count("hmat-lb,") == 4


async def test_a_move_by_relaunch_rewrites_nothing(launched: Session) -> None:
    """Moving an assigned slot relaunches with the same options: ``q`` still
    prints the options to add, starting with ``-numa``."""
    vm = Vm(launched)
    keys = socket(launched.topology, 0)
    await vm.assign(keys, 0)
    await vm.assign(keys, 1)  # a move: a relaunch
    assert export.rewritten(launched) is None
    assert vm.quit_text().startswith("-numa ")
