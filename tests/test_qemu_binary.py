"""A QEMU unpacked into a private prefix (QEMU 10.0 in .cache/qemu-10.0) runs
with its own firmware (-L, kept in the exported command line) and its own
modules (QEMU_MODULE_DIR), never the system QEMU's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import QEMU10_PREFIX

from numatui.model.plan import Plan
from numatui.session.launcher import Launcher
from numatui.session.qemu_binary import qemu_binary
from numatui.session.replay import launcher_for

QEMU10 = QEMU10_PREFIX / "usr" / "bin" / "qemu-system-x86_64"
SYSTEM_MODULES = Path("/usr/lib/x86_64-linux-gnu/qemu")


def _prefix(tmp_path: Path, modules: bool = True) -> Path:
    """A fake unpacked prefix: PREFIX/usr/bin/qemu-system-x86_64, share/qemu, modules."""
    binary = tmp_path / "usr" / "bin" / "qemu-system-x86_64"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    (tmp_path / "usr" / "share" / "qemu").mkdir(parents=True)
    if modules:
        (tmp_path / "usr" / "lib" / "x86_64-linux-gnu" / "qemu").mkdir(parents=True)
    return binary


def test_a_private_prefix_gets_its_firmware_and_modules(tmp_path: Path) -> None:
    found = qemu_binary(str(_prefix(tmp_path)))
    assert found.data_args() == ["-L", str(tmp_path / "usr" / "share" / "qemu")]
    env = found.env({"PATH": "/bin"})
    assert env == {"PATH": "/bin", "QEMU_MODULE_DIR": str(tmp_path / "usr/lib/x86_64-linux-gnu/qemu")}


def test_found_by_its_plain_name_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _prefix(tmp_path, modules=False)
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    found = qemu_binary("qemu-system-x86_64")
    assert found.data_args() == ["-L", str(tmp_path / "usr" / "share" / "qemu")]
    assert found.env() is None  # no modules of its own: nothing to point at


def test_the_systems_qemu_and_unknown_names_need_nothing(tmp_path: Path) -> None:
    for name in ("/usr/bin/qemu-system-x86_64", "qemu-system-nonesuch", str(tmp_path / "nope")):
        found = qemu_binary(name)
        assert found.data_args() == [] and found.env() is None, name
    bare = tmp_path / "bin" / "qemu-system-x86_64"  # a bin dir without share/qemu beside it
    bare.parent.mkdir()
    bare.write_text("#!/bin/sh\n")
    bare.chmod(0o755)
    assert qemu_binary(str(bare)).data_args() == []


def test_launcher_puts_l_in_the_user_argv_once(tmp_path: Path) -> None:
    binary = _prefix(tmp_path)
    launcher = Launcher(qemu=str(binary))
    data = str(tmp_path / "usr" / "share" / "qemu")
    assert launcher.user_argv[:3] == [str(binary), "-L", data]
    # a relaunch or a restart from the exported argv keeps exactly one
    again = Launcher(qemu=launcher.user_argv[0], extra_args=launcher.user_argv[1:])
    assert again.user_argv.count("-L") == 1
    assert launcher_for(launcher.user_argv, Plan())[0].user_argv.count("-L") == 1  # move/undo relaunch


def _need_qemu10() -> None:
    if not QEMU10.is_file():
        pytest.skip(f"no QEMU 10.0 in {QEMU10_PREFIX} (scripts/dev test unpacks it on Debian 12)")


@pytest.mark.qemu
async def test_launcher_runs_qemu10_with_its_own_firmware_and_modules() -> None:
    _need_qemu10()
    launcher = Launcher(qemu=str(QEMU10))
    await launcher.start()
    try:
        assert launcher.pid is not None
        cmdline = Path(f"/proc/{launcher.pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{launcher.pid}/environ").read_bytes().split(b"\0")
    finally:
        await launcher.stop()
    assert [b"-L", str(QEMU10_PREFIX / "usr/share/qemu").encode()] == cmdline[1:3]
    assert f"QEMU_MODULE_DIR={QEMU10_PREFIX}/usr/lib/x86_64-linux-gnu/qemu".encode() in environ


@pytest.mark.qemu
def test_qemu10_aborts_on_the_system_qemus_modules_and_runs_with_its_own() -> None:
    """Why QEMU_MODULE_DIR: QEMU 10.0 cannot use a module of another build
    (refused, or an abort in module_load_dso after preconfig).  The
    TCG accelerator is built in (Debian's 10.0 has no accel module), so only
    devices and displays from modules (here virtio-vga) hit it."""
    _need_qemu10()
    if not (SYSTEM_MODULES / "hw-display-virtio-vga.so").is_file():
        pytest.skip("the system QEMU has no virtio-vga module to mix up")
    argv = [str(QEMU10), "-L", str(QEMU10_PREFIX / "usr/share/qemu"), "-M", "q35", "-accel", "tcg",
            "-display", "none", "-nodefaults", "-device", "virtio-vga", "-S", "-qmp", "stdio"]
    quit_ = '{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
    env = {k: v for k, v in os.environ.items() if k != "QEMU_MODULE_DIR"}
    mixed = subprocess.run(argv, input=quit_, capture_output=True, text=True, timeout=60, env=env)
    assert mixed.returncode != 0  # 7.2's module refused: virtio-vga is "not a valid device model"
    assert "virtio-vga" in mixed.stderr, mixed.stderr
    own = subprocess.run(argv, input=quit_, capture_output=True, text=True, timeout=60,
                         env=qemu_binary(str(QEMU10)).env(env))
    assert own.returncode == 0, own.stderr
    assert not list((QEMU10_PREFIX / "usr/lib/x86_64-linux-gnu/qemu").glob("accel-*"))
    assert shutil.which("qemu-system-x86_64") is not None
