"""Existing QEMU command lines as plans: legacy ``-numa node,...,cpus=`` and the
``-object`` lines of a ``numa`` export, with QEMU as the oracle.

An oracle QEMU is started with the legacy options themselves and asked where
it put each slot (``query-hotpluggable-cpus`` in preconfig; arm virt refuses
that command, so it starts with ``-S`` and is asked ``query-cpus-fast``).  A
fresh QEMU of the same board, with the same nodes but no ``cpus=``, gets the
same lines through ``numatui apply``; both must agree, on the QEMU under test
(7.2, or 10.0 with NUMATUI_TEST_QEMU=10.0).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Qemu
from test_cli import fails, ok

from numatui.session.qemu_binary import qemu_binary

BACKENDS = ["-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G"]
X86 = ["-accel", "tcg", "-cpu", "max", "-m", "2G"]

#: name -> (binary, board args, {node: cpus= values})
BOARDS: dict[str, tuple[str, list[str], dict[int, list[str]]]] = {
    "pc": ("qemu-system-x86_64", ["-machine", "pc", *X86, "-smp", "8,sockets=2,cores=2,threads=2"],
           {0: ["0-1", "4-5"], 1: ["2-3", "6-7"]}),
    "q35-dies": ("qemu-system-x86_64",
                 ["-machine", "q35", *X86, "-smp", "16,sockets=2,dies=2,cores=2,threads=2"],
                 {0: ["0", "3-5", "9-10"], 1: ["1-2", "6-8", "11-15"]}),
    "pseries": ("qemu-system-ppc64", ["-machine", "pseries", "-accel", "tcg", "-m", "2G",
                                      "-smp", "8,cores=4,threads=2"],
                {0: ["0-1", "6-7"], 1: ["2-5"]}),
    # one thread's index names its whole core (cpu_index_to_instance_props)
    "pseries-threads": ("qemu-system-ppc64", ["-machine", "pseries", "-accel", "tcg", "-m", "2G",
                                              "-smp", "8,cores=4,threads=2"],
                        {0: ["0", "6"], 1: ["2-4"]}),
    "virt": ("qemu-system-aarch64", ["-machine", "virt", "-accel", "tcg", "-cpu", "max", "-m", "2G",
                                     "-smp", "8,sockets=2,clusters=2,cores=2"],
             {0: ["0-1", "6-7"], 1: ["2-5"]}),
}


def legacy_lines(cpus: dict[int, list[str]], memdev: bool) -> list[str]:
    """``-numa node,nodeid=N[,memdev=mN],cpus=A,cpus=B`` values."""
    return [f"node,nodeid={n}" + (f",memdev=m{n}" if memdev else "") + "".join(f",cpus={c}" for c in ranges)
            for n, ranges in cpus.items()]


def plain_nodes(count: int) -> list[str]:
    return [t for n in range(count) for t in ("-numa", f"node,nodeid={n},memdev=m{n}")]


async def cpu_nodes(q: Qemu) -> dict[int, int]:
    """cpu-index -> node-id of a running (or -S) QEMU, in its own words."""
    return {c["cpu-index"]: c["props"]["node-id"] for c in await q.qmp("query-cpus-fast")}


@pytest.mark.parametrize("memdev", [True, False], ids=["whole-lines", "cpus-only"])
@pytest.mark.parametrize("board", list(BOARDS))
def test_legacy_cpus_map_as_qemu_maps_them(qemu_factory: Any, tmp_path: Path, board: str,
                                           memdev: bool) -> None:
    binary, args, cpus = BOARDS[board]
    lines = legacy_lines(cpus, memdev=True)
    virt = board == "virt"
    oracle = qemu_factory([*args, *BACKENDS, *(t for v in lines for t in ("-numa", v)),
                           *(["-S"] if virt else [])], binary=binary, preconfig=not virt)
    fresh = qemu_factory([*args, *BACKENDS, *plain_nodes(len(cpus))], binary=binary)
    plan = tmp_path / "legacy.numa"
    text = "".join(f"-object {v}\n" for v in BACKENDS[1::2]) if memdev else ""
    plan.write_text(text + "".join(f"-numa {v}\n" for v in legacy_lines(cpus, memdev)))
    if virt:  # no slots in preconfig to read: compare the booted CPUs
        ok("apply", fresh.sock, str(plan), "--exit-preconfig")
        want = asyncio.run(cpu_nodes(oracle))
        assert sorted(want.values()) == sorted(n for n, r in cpus.items() for _ in _indexes(r))
        assert asyncio.run(cpu_nodes(fresh)) == want
    else:
        ok("apply", fresh.sock, str(plan))
        want = asyncio.run(oracle.nodes())
        assert None not in want.values()
        assert asyncio.run(fresh.nodes()) == want


def _indexes(ranges: list[str]) -> list[int]:
    out: list[int] = []
    for r in ranges:
        lo, _, hi = r.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def test_a_core_split_by_cpus_is_refused_as_qemu_refuses_it(qemu_factory: Any, tmp_path: Path) -> None:
    """pseries: indexes 2 and 3 are one core; QEMU refuses putting them on two nodes."""
    binary, args, _ = BOARDS["pseries"]
    split = {0: ["0-2"], 1: ["3-7"]}
    found = qemu_binary(binary)
    oracle = subprocess.run([binary, *found.data_args(), *args, *BACKENDS, "-display", "none",
                             *(t for v in legacy_lines(split, True) for t in ("-numa", v)), "--preconfig"],
                            capture_output=True, text=True, timeout=60, env=found.env(),
                            stdin=subprocess.DEVNULL)
    assert oracle.returncode == 1 and "CPU is already assigned to node-id: 0" in oracle.stderr
    fresh = qemu_factory([*args, *BACKENDS, *plain_nodes(2)], binary=binary)
    plan = tmp_path / "split.numa"
    plan.write_text("".join(f"-numa {v}\n" for v in legacy_lines(split, False)))
    line = fails(2, "apply", fresh.sock, str(plan))
    assert "cpus=3" in line and "core-id=2 is already on node 0" in line
    assert set(asyncio.run(fresh.nodes()).values()) == {None}  # nothing was sent


def test_cpu_index_beyond_maxcpus_is_refused(qemu: Qemu, tmp_path: Path) -> None:
    plan = tmp_path / "far.numa"
    plan.write_text("-numa node,nodeid=1,cpus=6-8\n")
    line = fails(2, "apply", qemu.sock, str(plan))
    assert "CPU index (8) should be smaller than maxcpus (8)" in line
    assert set(asyncio.run(qemu.nodes()).values()) == {None}


def test_a_numa_export_reapplies_as_a_plan(qemu_factory: Any, tmp_path: Path) -> None:
    """A live node with a backend numatui created, distances and a mapping:
    ``export --format numa`` of one QEMU, applied to a fresh one, gives the same VM."""
    args = ["-machine", "q35", *X86, "-m", "3G", "-smp", "8,sockets=2,cores=2,threads=2", *BACKENDS,
            *plain_nodes(2)]
    first = qemu_factory(args)
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({
        "nodes": [{"id": 0}, {"id": 1}, {"id": 2, "size": 512 << 20}],
        "distances": [{"src": 0, "dst": 2, "val": 31}, {"src": 2, "dst": 0, "val": 31}],
        "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 2, "socket-id": 1, "core-id": 0},
                 {"node-id": 1, "socket-id": 1, "core-id": 1}]}))
    ok("apply", first.sock, str(plan))
    exported = ok("export", first.sock, "--format", "numa")
    assert "-object memory-backend-ram,id=" in exported and "-numa node,nodeid=2" in exported
    again = tmp_path / "export.numa"
    again.write_text(exported)
    fresh = qemu_factory(args)
    ok("apply", fresh.sock, str(again))
    assert asyncio.run(fresh.nodes()) == asyncio.run(first.nodes())
    memdevs = {m["id"]: m["size"] for m in asyncio.run(fresh.qmp("query-memdev"))}
    assert memdevs == {m["id"]: m["size"] for m in asyncio.run(first.qmp("query-memdev"))}
    assert ok("export", fresh.sock, "--format", "numa") == exported


def test_a_node_line_keeps_the_binding_of_qemus_own_backend(qemu_factory: Any, tmp_path: Path) -> None:
    """``-numa node,nodeid=0,memdev=m0,cpus=...`` without m0's ``-object`` speaks of
    the CPUs only: the host-nodes= binding QEMU's command line gave m0 stays."""
    bound = ["-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind",
             "-object", "memory-backend-ram,id=m1,size=1G"]
    q = qemu_factory(["-machine", "q35", *X86, "-smp", "8,sockets=2,cores=2,threads=2", *bound,
                      *plain_nodes(2)])
    plan = tmp_path / "p.numa"
    plan.write_text("".join(f"-numa {v}\n" for v in legacy_lines({0: ["0-3"], 1: ["4-7"]}, memdev=True)))
    ok("apply", q.sock, str(plan))
    assert {dict(k)["socket-id"] for k, n in asyncio.run(q.nodes()).items() if n == 0} == {0}
    memdevs = {m["id"]: m for m in asyncio.run(q.qmp("query-memdev"))}
    assert memdevs["m0"]["host-nodes"] == [0] and memdevs["m0"]["policy"] == "bind"
