"""``numatui launch -- <a whole command line>`` (issue 23, item 5): every
option kept (a disk, a NIC, a chardev), the legacy ``-numa node,cpus=``
layout read, moved with the Vm API (a relaunch), and ``export --format
cmdline`` gives the whole line back with the NUMA options rewritten; a
fresh QEMU started from it has the disk (query-block), the NIC and the new
layout (query-hotpluggable-cpus), read on the test's own monitor."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import DEFAULT_ARGS
from test_backends import argv_of, layout

from numatui.core.vm import Vm
from numatui.model.argv import iter_options
from numatui.model.qemu_args import numa_kind
from numatui.session.launcher import Launcher
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
    blocks = {b["device"] or b["qdev"]: b for b in await fresh.qmp("query-block")}
    assert any(b.get("inserted", {}).get("file") == argv[argv.index("-drive") + 1].split(",")[0][5:]
               for b in blocks.values()), blocks
    nics = [o["name"] for o in await fresh.qmp("qom-list", {"path": "/machine/peripheral"})]
    assert "nic0" in nics
    assert await layout(fresh) == {(0, 0): {0}, (0, 1): {1}, (1, 0): {1}, (1, 1): {1}}
