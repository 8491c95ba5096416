"""riscv ``virt`` on real QEMU (qemu-system-riscv64, both versions of the matrix).

The board refuses ``query-hotpluggable-cpus`` and names its CPU slots by
``core-id`` only (numbered over sockets x cores x threads): numatui derives
the slots from ``-smp``, maps them in preconfig, and every export starts a
fresh QEMU in another process with the same CPUs on the same nodes (QEMU's
own ``query-cpus-fast`` after boot).  The board also takes only mappings
whose nodes come as one run of cores each, in node order: QEMU exits or
crashes at ``x-exit-preconfig`` otherwise, and 7.2 aborts on more (see
``numatui.model.preflight.known_bugs``); the last test pins what each
version does and that the preflight blocks exactly those.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_QEMU, Qemu, numa_node_args
from qemu.qmp import ExecuteError
from test_truth_roundtrip import (
    _libvirt_argv,
    _numa_options_of,
    boot,
    cpu_nodes,
    need,
    numatui,
    ok,
    tokens,
    warnings,
    write_plan,
)

from numatui.model.qemu_args import iter_options
from numatui.session.errors import QemuRefused
from numatui.session.session import Session

RISCV = "qemu-system-riscv64"
#: -bios none: no firmware needed to leave preconfig (the harts then spin on an empty RAM)
BASE = ["-machine", "virt", "-accel", "tcg", "-bios", "none", "-smp", "4,sockets=2,cores=2", "-m", "512M",
        *numa_node_args(2, 512)]
SPLIT = {(("core-id", 0),): 0, (("core-id", 1),): 0, (("core-id", 2),): 1, (("core-id", 3),): 1}


def core_nodes(mapping: list[int | None]) -> dict[str, Any]:
    return {"cpus": [{"node-id": n, "core-id": c} for c, n in enumerate(mapping) if n is not None]}


async def test_every_export_starts_the_same_riscv_virt(qemu_factory: Any, tmp_path: Path) -> None:
    """``apply --preset split`` (``socket`` has no level to use here), then each
    export in a second process, each into a fresh QEMU that boots the same mapping."""
    q = qemu_factory(BASE, binary=RISCV)
    shown, err = ok("show", q.sock)
    assert "machine  virt-machine" in shown and "derived from -smp" in shown
    assert [line.split()[:2] for line in shown.splitlines() if line.startswith("  core ")] == \
        [["core", str(i)] for i in range(4)]
    assert "a mapping another client set is unknown" in err
    code, _, err = numatui("apply", q.sock, "--preset", "socket")
    assert code == 2 and "this board has no socket level (its CPU slots are named by core)" in err
    ok("apply", q.sock, "--preset", "split")

    export, err = ok("export", q.sock, "--format", "numa")
    assert warnings(err) == []
    assert export.splitlines() == [f"-numa cpu,node-id={c // 2},core-id={c}" for c in range(4)]
    from_numa = qemu_factory([*BASE, *tokens(export)], binary=RISCV)

    text, _ = ok("export", q.sock, "--format", "cmdline")
    argv = shlex.split(text.replace("\\\n", " "))
    assert argv[0].endswith(RISCV)
    own = ("qmp", "display", "nodefaults", "preconfig")  # the factory's own options come back from it
    kept = [t for opt in iter_options(argv[1:]) if opt.name not in own for t in opt.tokens]
    from_cmdline = qemu_factory(kept, binary=argv[0])

    plan, _ = ok("export", q.sock, "--format", "json")
    assert json.loads(plan)["cpus"] == [{"node-id": c // 2, "core-id": c} for c in range(4)]
    from_json = qemu_factory(BASE, binary=RISCV)
    ok("apply", from_json.sock, write_plan(tmp_path, json.loads(plan)), "--exit-preconfig")

    for vm in (q, from_numa, from_cmdline):
        await boot(vm)
    for vm in (q, from_numa, from_cmdline, from_json):
        assert await cpu_nodes(vm) == SPLIT


async def test_libvirt_export_of_a_riscv_virt(qemu_factory: Any, tmp_path: Path) -> None:
    """The fragment passes libvirt's schema; libvirt 9.0 (Debian 12) has no
    riscv64 CPU driver, so its converter refuses any domain with a ``<cpu>``."""
    need("virt-xml-validate")
    q = qemu_factory(BASE, binary=RISCV)
    ok("apply", q.sock, "--preset", "split")
    cpu, err = ok("export", q.sock, "--format", "libvirt")
    assert warnings(err) == []
    assert '<cell id="0" cpus="0-1"' in cpu and '<cell id="1" cpus="2-3"' in cpu
    xml = tmp_path / "domain.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>numatui-riscv</name>
  <memory unit='KiB'>524288</memory>
  <vcpu placement='static'>4</vcpu>
  <os><type arch='riscv64' machine='virt'>hvm</type></os>
  {cpu.strip()}
  <devices><emulator>/usr/bin/{RISCV}</emulator></devices>
</domain>
""")
    valid = subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    need("virsh")
    try:
        argv = _libvirt_argv(xml)
    except AssertionError as exc:
        if "'riscv64' architecture is not supported by CPU driver" in str(exc):
            pytest.skip(f"libvirt cannot convert a riscv64 domain with <cpu> here: {exc}")
        raise
    nodes = numa_node_args(2, 512)
    fresh = qemu_factory([*BASE[:-len(nodes)], *_numa_options_of(argv)], binary=RISCV)  # libvirt's nodes
    await boot(fresh)
    assert await cpu_nodes(fresh) == SPLIT


async def test_session_on_riscv_virt(qemu_factory: Any) -> None:
    """Slots derived from -smp, core-id only; QEMU's refusals in its own words."""
    q: Qemu = qemu_factory(BASE, binary=RISCV)
    s = await Session.connect(q.sock)
    try:
        assert s.topology.derived and not s.info.hotpluggable_cpus
        refusal = {"7.2": "not enabled", "10.0": "machine does not support hot-plugging CPUs"}[TEST_QEMU]
        assert any(refusal in e.text for e in s.transcript.entries if e.kind == "error")  # the QMP log
        assert s.topology.levels == ("core-id",) and len(s.topology) == 4
        with pytest.raises(ExecuteError) as refused:  # no socket level, though -smp has sockets=2
            await q.qmp("set-numa-node", {"type": "cpu", "node-id": 1, "socket-id": 1})
        assert "socket-id is not supported" in str(refused.value)
        keys = [sl.key for sl in s.topology]
        assert await s.assign(keys[:2], 0) == [{"type": "cpu", "node-id": 0, "core-id": c} for c in (0, 1)]
        with pytest.raises(QemuRefused) as err:
            await s.assign(keys[:1], 1)
        assert err.value.qemu_message == "CPU is already assigned to node-id: 0"
        await s.assign(keys[2:], 1)
        assert s.preflight() == []
        await s.exit_preconfig()
        assert await cpu_nodes(q) == SPLIT
    finally:
        await s.close()


#: core 0.. -> node; what x-exit-preconfig does per version (None: boots; else exit status, stderr)
CRASHES: dict[str, tuple[list[int | None], dict[str, tuple[int, str] | None]]] = {
    "runs in node order": ([0, 0, 1, 1], {"7.2": None, "10.0": None}),
    "node 1 split": ([1, 0, 0, 1], {"7.2": (-11, ""), "10.0": (-11, "")}),
    "runs out of order": ([1, 1, 0, 0], {"7.2": (-11, ""), "10.0": (-11, "")}),
    "node 0 split": ([0, 1, 1, 0], {v: (1, "discontinuous hartids in socket0") for v in ("7.2", "10.0")}),
    "node 1 without CPUs": ([0, 0, None, None],  # unassigned CPUs go to node 0
                            {v: (1, "discontinuous hartids in socket1") for v in ("7.2", "10.0")}),
    "node 1 past its count": ([0, 0, 0, 1], {
        "7.2": (-6, "Property 'riscv.sifive.plic.unnamed-gpio-out[3]' not found"), "10.0": None}),
}


@pytest.mark.parametrize("name", list(CRASHES))
async def test_preflight_blocks_exactly_the_mappings_riscv_virt_dies_on(
        qemu_factory: Any, tmp_path: Path, name: str) -> None:
    mapping, by_version = CRASHES[name]
    dies = by_version[TEST_QEMU]
    q: Qemu = qemu_factory(["-machine", "virt", "-accel", "tcg", "-bios", "none", "-smp", "4", "-m", "512M",
                            *numa_node_args(2, 512)], binary=RISCV)
    code, out, err = numatui("apply", q.sock, write_plan(tmp_path, core_nodes(mapping)), "--exit-preconfig")
    if dies is None:
        assert code == 0 and "left preconfig: QEMU is running" in out, err
        want = [0 if n is None else n for n in mapping]
        assert await cpu_nodes(q) == {(("core-id", c),): n for c, n in enumerate(want)}
        return
    assert code == 1 and "riscv virt board" in err, (out, err)
    assert (await q.qmp("query-status"))["status"] == "prelaunch"  # blocked: QEMU untouched
    with pytest.raises(Exception):  # noqa: B017  (the monitor goes away with QEMU)
        await q.qmp("x-exit-preconfig")
    status, words = dies
    assert q.proc.wait(10) == status
    assert words in q.stderr()
