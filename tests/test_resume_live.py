"""``launch --resume NAME`` never touches the VM's QEMU while it still runs.

A real ``numatui launch --keep-running`` (the console script, a process of
its own) leaves QEMU running with an extra ``-qmp`` monitor and a
``-chardev socket`` server; resuming that VM is refused in one line (exit 2)
and the live QEMU's sockets still exist and its monitors still answer (the
test's own QMP client).  Once that QEMU is gone the same resume works.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import until_sync
from qemu.qmp import QMPClient

from numatui.cli.launch import _refuse_if_running
from numatui.cli.parser import UsageError
from numatui.core import autosave
from numatui.model.plan import Plan
from numatui.session.child_lifetime import is_zombie
from numatui.session.record import identify

pytestmark = pytest.mark.qemu


def numatui(*argv: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("numatui", path=os.path.dirname(sys.executable)) or "numatui"
    return subprocess.run([exe, *argv], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


async def _status(path: str) -> str:
    client = QMPClient("test")
    await asyncio.wait_for(client.connect(path), 10)
    try:
        return str((await client.execute("query-status"))["status"])
    finally:
        await client.disconnect()


def answers(path: str) -> str:
    return asyncio.run(_status(path))


def is_socket(path: str) -> bool:
    return stat.S_ISSOCK(os.stat(path).st_mode)


def test_resume_of_a_running_vm_is_refused_and_leaves_its_sockets() -> None:
    short = Path(f"/tmp/nt-live-{os.getpid()}")
    short.mkdir(mode=0o700)
    extra, chardev = str(short / "extra.qmp"), str(short / "serial.sock")
    started = numatui("launch", "--keep-running", "--no-tui", "--", "-accel", "tcg", "-name", "live1",
                      "-qmp", f"unix:{extra},server=on,wait=off",
                      "-chardev", f"socket,id=ser0,path={chardev},server=on,wait=off",
                      "-serial", "chardev:ser0")
    assert started.returncode == 0, started.stderr
    found = re.search(r"pid (\d+)\); reconnect with: numatui connect unix:(\S+)", started.stderr)
    assert found, started.stderr
    pid, monitor = int(found[1]), found[2]
    try:
        assert answers(extra) == "prelaunch"
        (saved,) = [s for s in autosave.list_saved() if s.name == "live1"]
        assert saved.qemu == identify(pid).to_dict()  # type: ignore[union-attr]
        resumed = numatui("launch", "--resume", "live1", "--no-tui")
        lines = resumed.stderr.splitlines()
        assert resumed.returncode == 2 and len(lines) == 1, resumed.stderr
        assert lines[0].startswith("numatui: not resuming live1-")
        assert f"its QEMU still runs (pid {pid};" in lines[0]
        assert f"numatui connect unix:{monitor}" in lines[0]
        # the live QEMU keeps every socket, and its monitors answer
        assert is_socket(extra) and is_socket(chardev) and is_socket(monitor)
        assert answers(extra) == "prelaunch" and answers(monitor) == "prelaunch"
        os.kill(pid, 0)
    finally:
        os.kill(pid, signal.SIGKILL)
        until_sync(lambda: not Path(f"/proc/{pid}").exists() or is_zombie(pid), 10, "QEMU gone")
        shutil.rmtree(Path(monitor).parent, ignore_errors=True)
    try:  # the QEMU is gone: the same resume starts it again (and stops it on exit)
        again = numatui("launch", "--resume", "live1", "--no-tui")
        assert again.returncode == 0, again.stderr
        assert "resuming live1-" in again.stderr
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_the_saved_pid_alone_refuses_when_its_start_time_matches(tmp_path: Path) -> None:
    """A QEMU whose sockets are all gone still runs: its saved identity says so
    (a ``sleep`` stands in for it); the same pid with another start time is
    another process, and does not."""
    proc = subprocess.Popen(["sleep", "600"])
    try:
        me = identify(proc.pid)
        assert me is not None
        state = autosave.SavedState(path=tmp_path / "vm-1.json", name=None, argv=["qemu-system-x86_64"],
                                    plan=Plan(), saved="", launched=True, qemu=me.to_dict())
        with pytest.raises(UsageError, match=rf"its QEMU still runs \(pid {proc.pid}\)"):
            _refuse_if_running(state)
        _refuse_if_running(replace(state, qemu={**me.to_dict(), "start": me.start + 1}))
    finally:
        proc.kill()
        proc.wait()
    _refuse_if_running(state)  # gone: nothing refuses
