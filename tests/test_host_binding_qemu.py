"""Memory binding (host-nodes/policy), the "host" preset and the exports that
carry them, on real QEMU (this machine: one host node)."""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import SYSTEM_QEMU
from host_trees import Trees, trees_fixture  # noqa: F401
from oracles import read_affinity
from test_cli import fails, ok
from test_truth_roundtrip import DOMAIN, _libvirt_argv

from numatui.core.vm import Vm
from numatui.model.plan import Plan
from numatui.session.session import Session

BASE = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "2,sockets=2,cores=1,threads=1",
        "-m", "1G"]


def memdevs(q: Any) -> dict[str, tuple[list[int], str]]:
    return {m["id"]: (m["host-nodes"], m["policy"]) for m in asyncio.run(q.qmp("query-memdev"))}


def write(tmp: Path, data: dict[str, Any]) -> str:
    path = tmp / "plan.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_node_created_live_is_bound_and_query_memdev_says_so(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory(BASE)
    plan = {"version": 1, "nodes": [{"id": 0, "size": "1G", "host-nodes": [0], "policy": "bind"}],
            "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}
    out = ok("apply", q.sock, write(tmp_path, plan))
    assert '"host-nodes": [0], "policy": "bind"' in out
    assert memdevs(q) == {"m0": ([0], "bind")}
    exported = json.loads(ok("export", q.sock, "--format", "json"))
    assert exported["nodes"][0]["host-nodes"] == [0] and exported["nodes"][0]["policy"] == "bind"
    numa = ok("export", q.sock)
    assert "-object memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind" in numa
    # the export reproduces the binding on a fresh QEMU
    fresh = qemu_factory([*BASE, *shlex.split(numa)])
    assert memdevs(fresh) == {"m0": ([0], "bind")}


def test_a_binding_to_a_host_node_this_host_lacks_is_qemus_one_line(qemu_factory: Any,
                                                                    tmp_path: Path) -> None:
    q = qemu_factory(BASE)
    plan = {"version": 1, "nodes": [{"id": 0, "size": "1G", "host-nodes": [7]}]}
    said = fails(1, "apply", q.sock, write(tmp_path, plan))
    assert "cannot bind memory to host NUMA nodes" in said


def test_attached_existing_backend_is_read_only(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory([*BASE, "-object", "memory-backend-ram,id=m0,size=1G",
                      "-numa", "node,nodeid=0,memdev=m0"])
    plan = {"version": 1, "nodes": [{"id": 0, "memdev": "m0", "host-nodes": [0], "policy": "preferred"}]}
    said = fails(2, "apply", q.sock, write(tmp_path, plan))
    assert "node 0's memory backend exists already" in said
    assert "restart QEMU with -object memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=preferred" in said
    assert memdevs(q) == {"m0": ([], "default")}


async def test_rebinding_by_relaunch(launched: Session) -> None:
    vm = Vm(launched)
    old_pid = launched.launcher.pid if launched.launcher else None
    plan = launched.plan()
    node0 = plan.nodes[0].with_binding([0], "interleave")
    target = plan.with_nodes([node0, *plan.nodes[1:]])
    await vm.apply_plan(target, lambda _: None)
    replies = {m["id"]: m for m in await launched.execute("query-memdev")}
    memdev = launched.nodes[0].memdev
    assert (replies[memdev]["host-nodes"], replies[memdev]["policy"]) == ([0], "interleave")
    assert launched.launcher is not None and launched.launcher.pid != old_pid
    assert launched.nodes[0].host_nodes == (0,) and launched.nodes[0].policy == "interleave"
    # undo takes the binding back (another relaunch)
    await vm.undo()
    replies = {m["id"]: m for m in await launched.execute("query-memdev")}
    assert replies[memdev]["host-nodes"] == []


def test_preset_host_on_this_host_binds_boots_and_pins(qemu_factory: Any) -> None:
    q = qemu_factory(BASE)
    out = ok("apply", q.sock, "--preset", "host", "--exit-preconfig")
    assert "object-add" in out and "pinned 2 vCPU threads" in out
    assert memdevs(q) == {"m0": ([0], "bind")}
    node0 = Path("/sys/devices/system/node/node0/cpulist").read_text().strip()
    cpus = asyncio.run(q.qmp("query-cpus-fast"))
    for cpu in cpus:
        got = read_affinity(cpu["thread-id"], q.proc.pid)
        assert ",".join(map(str, got)) in (node0, node0.replace("-", ","))


def test_preset_host_of_a_recorded_two_node_host(qemu_factory: Any, trees: Trees) -> None:
    root = str(trees.root("8ia64-2n2s2c"))
    q = qemu_factory(BASE)
    said = fails(1, "apply", q.sock, "--preset", "host", "--host-root", root)
    # host node 0 is bound (this machine has it), host node 1 is QEMU's refusal: one line
    assert "cannot bind memory to host NUMA nodes" in said
    assert memdevs(q)["m0"] == ([0], "bind")


def _plan_on(q: Any) -> Plan:
    return Plan.from_json(ok("export", q.sock, "--format", "json"))


def test_libvirt_numatune_cputune_validate_and_convert(qemu_factory: Any, tmp_path: Path) -> None:
    if shutil.which("virt-xml-validate") is None or shutil.which("virsh") is None:
        pytest.skip("libvirt-clients are not installed")
    q = qemu_factory(BASE)
    ok("apply", q.sock, "--preset", "host")
    xml = ok("export", q.sock, "--format", "libvirt")
    assert "<numatune>" in xml and '<memnode cellid="0" mode="strict" nodeset="0"' in xml
    assert xml.count("<vcpupin ") == 2
    domain = tmp_path / "domain.xml"
    domain.write_text(DOMAIN.format(kib=1024 * 1024, vcpus=2, cpu=xml,
                                    emulator=SYSTEM_QEMU))
    check = subprocess.run(["virt-xml-validate", str(domain), "domain"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    argv = " ".join(_libvirt_argv(domain))
    assert "host-nodes" in argv and "bind" in argv


async def test_rebound_cmdline_export_reproduces_the_binding(launched: Session, qemu_factory: Any) -> None:
    vm = Vm(launched)
    plan = launched.plan()
    await vm.apply_plan(plan.with_nodes([plan.nodes[0].with_binding([0], "preferred"), *plan.nodes[1:]]),
                        lambda _: None)
    argv = vm.export("cmdline")
    assert "host-nodes=0,policy=preferred" in argv
    tokens = shlex.split(argv.replace("\\\n", " "))
    fresh = qemu_factory(tokens[1:])
    replies = await fresh.qmp("query-memdev")
    bound = {m["id"]: (m["host-nodes"], m["policy"]) for m in replies}
    assert bound[launched.nodes[0].memdev] == ([0], "preferred")


def test_host_with_vm_shows_bindings_and_capacity(qemu_factory: Any, trees: Trees) -> None:
    q = qemu_factory(BASE)
    ok("apply", q.sock, "--preset", "host")
    out = ok("host", "--vm", q.sock)
    assert "guest node 0: memory bound to host node(s) 0 (bind)" in out
    assert "capacity: no finding" in out or "capacity warning" in out
    # the same guest judged against a recorded 2-node host
    root = str(trees.root("8ia64-2n2s2c"))
    out = ok("host", "--vm", q.sock, "--host-root", root)
    assert "host: 2 NUMA node(s)" in out and "guest node 0: memory bound to host node(s) 0" in out


async def test_the_record_keeps_a_live_binding_and_the_pinning(qemu_factory: Any) -> None:
    q = qemu_factory(BASE)
    first = await Session.connect(q.sock)
    try:
        await Vm(first).apply_plan(Plan.from_dict({
            "version": 1, "pinning": "node",
            "nodes": [{"id": 0, "size": "1G", "host-nodes": [0], "policy": "interleave"}]}), lambda _: None)
    finally:
        await first.close()
    assert first.record is not None and first.record.nodes[0].host_nodes == (0,)
    second = await Session.connect(q.sock)  # another numatui process would read the same
    try:
        assert second.pinning == "node"
        (node,) = second.nodes
        assert (node.host_nodes, node.policy, node.live) == ((0,), "interleave", True)
        assert second.plan().to_dict()["pinning"] == "node"
    finally:
        await second.close()


async def test_resume_replays_the_pinning_and_the_binding(qemu_factory: Any) -> None:
    from numatui.session.replay import launch_with_plan

    plan = Plan.from_dict({"version": 1, "pinning": "cpu",
                           "nodes": [{"id": 0, "memdev": "m0", "host-nodes": [0], "policy": "bind"}],
                           "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]})
    saved = ["qemu-system-x86_64", *BASE, "-object", "memory-backend-ram,id=m0,size=1G",
             "-numa", "node,nodeid=0,memdev=m0"]
    session = await launch_with_plan(saved, plan)
    try:
        assert session.pinning == "cpu"
        replies = await session.execute("query-memdev")
        assert [(m["host-nodes"], m["policy"]) for m in replies] == [([0], "bind")]
        assert session.plan().nodes[0].host_nodes == (0,)
    finally:
        await session.close()
