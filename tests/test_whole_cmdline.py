"""``numatui launch -- <a whole command line>`` (issue 23, item 5): every
option kept (a disk, a NIC, a chardev), the legacy ``-numa node,cpus=``
layout read, moved with the Vm API (a relaunch), and ``export --format
cmdline`` gives the whole line back with the NUMA options rewritten; a
fresh QEMU started from it has the disk (query-block), the NIC and the new
layout (query-hotpluggable-cpus), read on the test's own monitor."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS
from test_backends import argv_of, layout

from numatui.core.vm import Vm
from numatui.model.argv import iter_options
from numatui.model.qemu_args import numa_kind
from numatui.session.launcher import Launcher
from numatui.session.replay import ReplayFailed
from numatui.session.session import Session


def disk_image(tmp: Path) -> tuple[Path, str]:
    """A small qcow2 (qemu-img), or a raw image where qemu-img is not installed."""
    if shutil.which("qemu-img"):
        path = tmp / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
        return path, "qcow2"
    path = tmp / "disk.img"
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    return path, "raw"


def image_of(tmp: Path) -> str:
    return str(next(p for p in (tmp / "disk.qcow2", tmp / "disk.img") if p.exists()))


async def block_files(q: Any) -> list[str]:
    """The image file of every block device QEMU has (query-block)."""
    return [b["inserted"]["file"] for b in await q.qmp("query-block") if "inserted" in b]


def whole_line(tmp: Path) -> list[str]:
    image, fmt = disk_image(tmp)
    return ["qemu-system-x86_64", *DEFAULT_ARGS,
            "-drive", f"file={image},format={fmt},if=none,id=disk0", "-device", "virtio-blk-pci,drive=disk0",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0",
            "-chardev", "null,id=c0", "-serial", "chardev:c0",
            "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
            "-numa", "node,nodeid=0,cpus=0-3,memdev=m0", "-numa", "node,nodeid=1,cpus=4-7,memdev=m1"]


async def test_whole_command_line_kept_and_rewritten(qemu_factory: Any, tmp_path: Path) -> None:
    argv = whole_line(tmp_path)
    launcher = Launcher(extra_args=argv)  # the program first, as `numatui launch -- qemu-system-...`
    assert launcher.qemu == "qemu-system-x86_64" and "qemu-system-x86_64" not in launcher.user_argv[1:]
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    try:
        slots = session.topology.slots
        assert {(s.props["socket-id"], s.node_id) for s in slots} == {(0, 0), (1, 1)}  # QEMU read cpus=
        moved = [s.key for s in slots if s.props["socket-id"] == 0 and s.props["core-id"] == 1]
        await Vm(session).assign(moved, 1)  # assigned already: a relaunch with the plan replayed
        assert session.launcher is not launcher
        cmdline = Vm(session).export("cmdline")
    finally:
        await session.close()
        for lch in {launcher, session.launcher}:
            if isinstance(lch, Launcher):
                await lch.stop()
    fresh_argv = argv_of(cmdline)
    options = list(iter_options(fresh_argv))
    numa = [o.value or "" for o in options if o.name == "numa"]
    assert not any("cpus=" in v for v in numa), numa
    assert sorted(v for v in numa if numa_kind(v) == "node") == ["node,nodeid=0,memdev=m0",
                                                                 "node,nodeid=1,memdev=m1"]
    for kept in ("netdev", "drive", "chardev", "serial"):
        assert [o for o in options if o.name == kept] == [o for o in iter_options(argv[1:]) if o.name == kept]
    assert len([o for o in options if o.name == "object"]) == 2 and "--preconfig" not in fresh_argv
    fresh = qemu_factory([*fresh_argv, "-S"], preconfig=False)
    assert image_of(tmp_path) in await block_files(fresh)
    nics = [o["name"] for o in await fresh.qmp("qom-list", {"path": "/machine/peripheral"})]
    assert "nic0" in nics
    assert await layout(fresh) == {(0, 0): {0}, (0, 1): {1}, (1, 0): {1}, (1, 1): {1}}


async def test_cli_launch_of_a_whole_line_then_export_from_another_process(qemu_factory: Any,
                                                                           tmp_path: Path) -> None:
    """``numatui launch --keep-running --no-tui -- qemu-system-x86_64 ...`` then
    ``numatui export ADDRESS --format cmdline`` in another process: the line QEMU
    runs with (read from /proc), the legacy layout as -numa cpu, the disk kept."""
    argv = whole_line(tmp_path)
    exe = shutil.which("numatui", path=os.path.dirname(sys.executable)) or "numatui"
    proc = subprocess.run([exe, "launch", "--keep-running", "--no-tui", "--", *argv],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"pid (\d+)\); reconnect with: numatui connect (unix:\S+)", proc.stderr)
    assert found, proc.stderr
    pid = int(found[1])
    try:
        export = subprocess.run([exe, "export", found[2], "--format", "cmdline"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert export.returncode == 0, export.stderr
    finally:
        os.kill(pid, signal.SIGTERM)
    fresh_argv = argv_of(export.stdout)
    assert not any("cpus=" in t for t in fresh_argv) and "disk0" in " ".join(fresh_argv)
    fresh = qemu_factory([*fresh_argv, "-S"], preconfig=False)
    assert image_of(tmp_path) in await block_files(fresh)
    assert await layout(fresh) == {(0, 0): {0}, (0, 1): {0}, (1, 0): {1}, (1, 1): {1}}


async def test_relaunch_with_a_disk_stops_the_old_qemu_first_and_goes_back_on_failure(tmp_path: Path) -> None:
    """A qcow2 is write-locked by the QEMU that opened it, so a second QEMU
    cannot start beside it: a relaunch (here a topology change) stops the old
    QEMU first; when the new one fails (an -smp over the board's CPU limit)
    a QEMU from the old arguments gets the old plan back, the disk too."""
    argv = whole_line(tmp_path)
    launcher = Launcher(extra_args=argv)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    vm = Vm(session)
    try:
        before = session.topology.mapping()
        with pytest.raises(ReplayFailed) as failed:
            await vm.set_topology("5000,sockets=5000,cores=1,threads=1", "max")
        assert failed.value.restored and "Invalid SMP CPUs" in str(failed.value), failed.value
        assert session.launcher is not launcher and not launcher.alive()  # stopped first, started again
        await session.refresh()
        assert session.topology.mapping() == before
        assert image_of(tmp_path) in [b["inserted"]["file"] for b in await session.execute("query-block")
                                      if "inserted" in b]
        gone = await vm.set_topology("4,sockets=1,cores=2,threads=2", "max")
        assert {dict(k)["socket-id"] for k in gone} == {1}
        hot = await session.execute("query-hotpluggable-cpus")
        assert {c["props"].get("node-id") for c in hot} == {0} and len(hot) == 4
        assert image_of(tmp_path) in [b["inserted"]["file"] for b in await session.execute("query-block")
                                      if "inserted" in b]
    finally:
        await session.close()
        for lch in {launcher, session.launcher}:
            if isinstance(lch, Launcher):
                await lch.stop()
