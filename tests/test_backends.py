"""Any memory backend per node (issue 23, item 6): memfd (share=on) and file
nodes, checked as data, created live with object-add, kept by every export,
and a fresh QEMU started from each export has them (query-memdev and the
backend types under /objects, read on the test's own monitor)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, numa_node_args
from test_numa_nodes_tui import press

from numatui.core.vm import Vm
from numatui.model.backend import check_backend
from numatui.model.errors import NumaError
from numatui.model.libvirt import LibvirtUnsupported, libvirt_xml
from numatui.model.plan import Plan
from numatui.model.qemu_args import load_plan
from numatui.model.topology import Topology
from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.memory_editor import MemoryEditor

GIB = 1 << 30
#: 3G of RAM: nodes 0 and 1 (1G each) on QEMU's command line, 2 and 3 (512M) added.
BASE = [*[a if a != "2G" else "3G" for a in DEFAULT_ARGS], *numa_node_args(2, 2048)]


def plan_with_backends(mem_dir: Path) -> Plan:
    """Nodes 2 (memfd, shared) and 3 (a file in ``mem_dir``), one core of each socket each."""
    return Plan.from_dict({
        "nodes": [{"id": 0}, {"id": 1},
                  {"id": 2, "size": "512M", "backend": {"qom-type": "memory-backend-memfd", "share": True}},
                  {"id": 3, "size": "512M", "backend": {"qom-type": "memory-backend-file",
                                                        "mem-path": str(mem_dir)}}],
        "cpus": [{"node-id": 0, "socket-id": 0, "core-id": 0}, {"node-id": 2, "socket-id": 0, "core-id": 1},
                 {"node-id": 1, "socket-id": 1, "core-id": 0}, {"node-id": 3, "socket-id": 1, "core-id": 1}],
    })


async def backends(q: Any) -> dict[str, tuple[str, bool, int]]:
    """memdev id -> (its type, share, size) as QEMU reports them."""
    types = {o["name"]: o["type"].removeprefix("child<").removesuffix(">")
             for o in await q.qmp("qom-list", {"path": "/objects"})}
    return {m["id"]: (types[m["id"]], m["share"], m["size"]) for m in await q.qmp("query-memdev")}


async def layout(q: Any) -> dict[tuple[int, int], set[int]]:
    """(socket, core) -> node ids of its threads, from query-hotpluggable-cpus."""
    out: dict[tuple[int, int], set[int]] = {}
    for c in await q.qmp("query-hotpluggable-cpus"):
        p = c["props"]
        out.setdefault((p["socket-id"], p["core-id"]), set()).add(p.get("node-id"))
    return out


WANT_LAYOUT = {(0, 0): {0}, (0, 1): {2}, (1, 0): {1}, (1, 1): {3}}


def want_backends(*, numatui_ids: bool = True) -> dict[str, tuple[str, bool, int]]:
    return {"m0": ("memory-backend-ram", False, GIB), "m1": ("memory-backend-ram", False, GIB),
            "m2": ("memory-backend-memfd", True, GIB // 2), "m3": ("memory-backend-file", False, GIB // 2)}


def argv_of(cmdline: str) -> list[str]:
    """The exported command line as an argv for the test's QEMU: its program and
    the monitors (the test's own, which the fresh QEMU gets anew) left out."""
    words = shlex.split(cmdline.replace("\\\n", " "))[1:]
    out: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
            continue
        if w == "-qmp":
            skip = True
            continue
        out.append(w)
    return out


def test_backend_is_checked_as_data() -> None:
    memfd = check_backend({"qom-type": "memory-backend-memfd", "share": True, "hugetlbsize": "2M"}, "b")
    assert dict(memfd) == {"qom-type": "memory-backend-memfd", "share": True, "hugetlbsize": 2 << 20}
    for bad, words in [
        ({"qom-type": "memory-backend-epc"}, "b.qom-type must be one of memory-backend-ram"),
        ({"qom-type": "memory-backend-ram", "share": "yes"}, "b.share must be true or false"),
        ({"qom-type": "memory-backend-memfd", "mem-path": "/x"}, "memfd has no key 'mem-path'"),
        ({"qom-type": "memory-backend-file"}, "needs \"mem-path\""),
        ({"qom-type": "memory-backend-file", "mem-path": "/x\x1b[2J"}, "without control characters"),
        ({"qom-type": "memory-backend-ram", "size": 5}, "has no key 'size' here; known: dump, merge"),
        ("memfd", "b must be an object"),
    ]:
        with pytest.raises(NumaError) as err:
            check_backend(bad, "b")
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(NumaError, match="nodes\\[0\\]: \"backend\" is the node's memory backend, but"):
        Plan.from_dict({"nodes": [{"id": 0, "backend": {"qom-type": "memory-backend-memfd"}}], "cpus": []})


def test_numa_text_and_json_round_trip_the_backend(tmp_path: Path) -> None:
    plan = plan_with_backends(tmp_path)
    again = Plan.from_json(plan.to_json())
    assert again == plan
    text = load_plan(f"-object memory-backend-memfd,id=m2,size=512M,share=on\n"
                     f"-object memory-backend-file,id=m3,size=512M,mem-path={tmp_path}\n"
                     "-numa node,nodeid=2,memdev=m2\n-numa node,nodeid=3,memdev=m3\n")
    assert [n.backend for n in text.nodes] == [plan.nodes[2].backend, plan.nodes[3].backend]
    with pytest.raises(NumaError, match="memory-backend-memfd has no key 'pmem' here; known: dump"):
        load_plan("-object memory-backend-memfd,id=m2,size=1G,pmem=on\n-numa node,nodeid=2,memdev=m2")


def test_libvirt_says_memfd_or_refuses_in_one_line(tmp_path: Path) -> None:
    topo = Topology.from_hotpluggable([{"props": {"socket-id": s, "core-id": 0, "thread-id": 0},
                                        "vcpus-count": 1, "type": "qemu64-x86_64-cpu"} for s in range(2)])
    memfd = {"qom-type": "memory-backend-memfd", "share": True}
    plan = Plan.from_dict({"nodes": [{"id": 0, "size": GIB, "backend": memfd},
                                     {"id": 1, "size": GIB, "backend": memfd}],
                           "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]})
    xml = libvirt_xml(topo, plan)
    assert "<source type=\"memfd\" />" in xml and xml.count("memAccess=\"shared\"") == 2
    mixed = Plan.from_dict({**plan.to_dict(), "nodes": [plan.nodes[0].to_dict(), {"id": 1, "size": GIB}]})
    with pytest.raises(LibvirtUnsupported, match="one backend type for every cell"):
        libvirt_xml(topo, mixed)
    filed = plan_with_backends(tmp_path)
    with pytest.raises(LibvirtUnsupported, match="memory-backend-file"):
        libvirt_xml(topo, Plan(nodes=filed.nodes[3:], cpus=({"node-id": 3, "socket-id": 0},)))


async def test_memfd_and_file_nodes_live_and_from_every_export(qemu_factory: Any, tmp_path: Path) -> None:
    """Applied live (object-add), then numa, cmdline and JSON exports each start a fresh QEMU with them."""
    q = qemu_factory(BASE)
    session = await Session.connect(q.sock)
    try:
        vm = Vm(session)
        sent: list[dict[str, Any]] = []
        await vm.apply_plan(plan_with_backends(tmp_path), sent.append)
        assert {"qom-type": "memory-backend-memfd", "share": True, "id": "m2", "size": GIB // 2} in sent
        assert await backends(q) == want_backends()
        assert await layout(q) == WANT_LAYOUT
        numa, cmdline, plan_json = vm.export("numa"), vm.export("cmdline"), vm.export("json")
    finally:
        await session.close()
    assert "-object memory-backend-memfd,id=m2,size=512M,share=on" in numa
    assert f"memory-backend-file,id=m3,size=512M,mem-path={tmp_path}" in cmdline
    assert json.loads(plan_json)["nodes"][2]["backend"] == {"qom-type": "memory-backend-memfd", "share": True}
    for argv in ([*BASE, *shlex.split(numa)], argv_of(cmdline)):
        fresh = qemu_factory([*argv, "-S"], preconfig=False)
        assert await backends(fresh) == want_backends(), argv
        assert await layout(fresh) == WANT_LAYOUT
    fresh = qemu_factory(BASE)
    again = await Session.connect(fresh.sock)
    try:
        await Vm(again).apply_plan(Plan.from_json(plan_json), lambda args: None)
    finally:
        await again.close()
    assert await backends(fresh) == want_backends()
    assert await layout(fresh) == WANT_LAYOUT


async def test_memory_editor_picks_the_backend_and_a_relaunch_keeps_it(tmp_path: Path) -> None:
    """In the memory editor: n, 1G, b (memfd,share=on), a: object-add of a
    memfd backend on the same QEMU; then a move (relaunch-and-replay) keeps it,
    and the new split (relaunch with the argv rewritten) too."""
    launcher = Launcher(extra_args=BASE)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await press(app, pilot, "s", "0", "j", "s", "1", "m")
            editor = app.screen
            assert isinstance(editor, MemoryEditor)
            await press(app, pilot, "n", "ctrl+u", *"1G", "enter", "b", "a")
            assert editor.message.has_class("ok"), editor.message.text
            await press(app, pilot, "escape")
            memdevs = {m["id"]: (m["share"], m["size"]) for m in await session.execute("query-memdev")}
            assert memdevs["m2"] == (True, GIB)
            types = {o["name"]: o["type"] for o in await session.execute("qom-list", {"path": "/objects"})}
            assert types["m2"] == "child<memory-backend-memfd>"
            old = launcher.pid
            await press(app, pilot, "escape", "s", "2")  # socket 1 (the cursor's) to node 2: a relaunch
            assert session.launcher is not launcher and session.launcher.pid != old
            types = {o["name"]: o["type"] for o in await session.execute("qom-list", {"path": "/objects"})}
            assert types["m2"] == "child<memory-backend-memfd>"
            assert next(n for n in session.nodes if n.id == 2).backend == (
                ("qom-type", "memory-backend-memfd"), ("share", True))
            moved = session.launcher
            await press(app, pilot, "m", *"512M", "enter", "down", "down", *"1536M", "enter", "a")
            assert isinstance(app.screen, MemoryEditor) and app.screen.message.has_class("ok"), \
                app.screen.message.text
            assert session.launcher is not moved
            memdevs = {m["id"]: (m["share"], m["size"]) for m in await session.execute("query-memdev")}
            assert memdevs["m2"] == (True, 3 * GIB // 2) and memdevs["m0"] == (False, GIB // 2)
            types = {o["name"]: o["type"] for o in await session.execute("qom-list", {"path": "/objects"})}
            assert types["m2"] == "child<memory-backend-memfd>"
    finally:
        await session.close()
        for lch in {launcher, session.launcher}:
            if isinstance(lch, Launcher):
                await lch.stop()


async def test_libvirt_memfd_export_converts_to_memfd_backends(qemu_factory: Any, tmp_path: Path) -> None:
    """The libvirt export of memfd (share) nodes, through libvirt's own converter
    (qemu:///embed), starts a QEMU whose nodes are shared memfd backends."""
    from test_truth_roundtrip import DOMAIN, NO_NUMA, SYSTEM_QEMU, _libvirt_argv, _numa_options_of, need

    need("virsh")
    q = qemu_factory(NO_NUMA)
    memfd = {"qom-type": "memory-backend-memfd", "share": True}
    session = await Session.connect(q.sock)
    try:
        vm = Vm(session)
        await vm.apply_plan(Plan.from_dict({
            "nodes": [{"id": 0, "size": GIB, "backend": memfd}, {"id": 1, "size": GIB, "backend": memfd}],
            "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]}), lambda args: None)
        cpu = vm.export("libvirt")
    finally:
        await session.close()
    xml = tmp_path / "domain.xml"
    xml.write_text(DOMAIN.format(kib=2 * GIB // 1024, vcpus=8, cpu=cpu.strip(), emulator=SYSTEM_QEMU))
    fresh = qemu_factory([*NO_NUMA, *_numa_options_of(_libvirt_argv(xml)), "-S"], preconfig=False)
    assert {t for t, share, size in (await backends(fresh)).values()} == {"memory-backend-memfd"}
    assert {(share, size) for t, share, size in (await backends(fresh)).values()} == {(True, GIB)}
    assert await layout(fresh) == {(0, 0): {0}, (0, 1): {0}, (1, 0): {1}, (1, 1): {1}}
