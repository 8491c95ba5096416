"""Headless hot-plug and unplug: ``numatui hotplug|unplug ADDRESS SLOT...``, against a real QEMU."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import numa_node_args
from test_cli import fails, ok

ARGS = [
    "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2G",
    "-smp", "4,maxcpus=8,sockets=2,cores=2,threads=2", *numa_node_args(2, 2048),
    "-numa", "cpu,node-id=0,socket-id=0", "-numa", "cpu,node-id=1,socket-id=1",
]


def test_each_refused_slot_is_named_and_the_others_are_plugged(qemu_factory: Any) -> None:
    q = qemu_factory(ARGS)
    asyncio.run(q.qmp("x-exit-preconfig"))
    # someone else takes numatui's id for socket 1 core 1 thread 0
    asyncio.run(q.qmp("device_add", {"driver": "max-x86_64-cpu", "id": "numatui-cpu-1-1-0",
                                     "socket-id": 1, "core-id": 0, "thread-id": 1}))
    said = fails(4, "hotplug", q.sock, "socket-id=1,core-id=0,thread-id=0",  # 4: partly done
                 "socket-id=1,core-id=1,thread-id=0", "socket-id=1,core-id=1,thread-id=1")
    assert "\n" not in said.strip()  # one line
    assert said.startswith("numatui: plugged 2 CPUs of 3; QEMU refused device_add of ")
    assert "socket-id=1,core-id=1,thread-id=0: Duplicate device ID 'numatui-cpu-1-1-0'" in said
    assert "socket-id=1,core-id=1,thread-id=1: Duplicate device ID 'numatui-cpu-1-1-1'" not in said
    cpus = asyncio.run(q.qmp("query-cpus-fast"))
    nodes = {(c["props"]["core-id"], c["props"]["thread-id"]): c["props"]["node-id"]
             for c in cpus if c["props"]["socket-id"] == 1}
    assert nodes == {(0, 0): 1, (0, 1): 1, (1, 1): 1}
    # a restart keeps them: export adds a -device option per hot-plugged CPU
    out = ok("export", q.sock)
    assert "-device max-x86_64-cpu,id=numatui-cpu-1-0-0,socket-id=1,core-id=0,thread-id=0,node-id=1\n" in out
    assert "id=numatui-cpu-1-1-0,socket-id=1,core-id=0,thread-id=1,node-id=1\n" in out
    assert "-device max-x86_64-cpu,id=numatui-cpu-1-0-0" in ok("export", q.sock, "--format", "cmdline")
    # unplug: boot CPUs are refused before QEMU; QEMU's refusal is explained
    assert "boot CPU (from -smp)" in fails(2, "unplug", q.sock, "socket-id=0,core-id=1,thread-id=0")
    said = fails(1, "unplug", q.sock, "socket-id=1,core-id=0,thread-id=0")
    assert "acpi: device unplug request for not supported device type: max-x86_64-cpu" in said
    assert "no guest OS has taken over CPU hot-plug" in said
    assert len(asyncio.run(q.qmp("query-cpus-fast"))) == 7


def test_unplug_wait_reports_a_guest_that_does_not_answer(qemu_factory: Any) -> None:
    q = qemu_factory(ARGS)
    asyncio.run(q.qmp("x-exit-preconfig"))
    ok("hotplug", q.sock, "socket-id=1,core-id=0,thread-id=0")

    async def guest_takes_over_cpu_hotplug() -> None:  # what a Linux guest's ACPI does
        for entry in await q.qmp("qom-list", {"path": "/machine/unattached"}):
            if entry["type"] == "child<ICH9-LPC>":
                await q.qmp("qom-set", {"path": f"/machine/unattached/{entry['name']}",
                                        "property": "cpu-hotplug-legacy", "value": False})

    asyncio.run(guest_takes_over_cpu_hotplug())
    said = fails(1, "unplug", q.sock, "socket-id=1,core-id=0,thread-id=0", "--wait", "0.5")
    assert "socket-id=1,core-id=0,thread-id=0: the guest did not answer in 0.5 s" in said
    assert len(asyncio.run(q.qmp("query-cpus-fast"))) == 5
