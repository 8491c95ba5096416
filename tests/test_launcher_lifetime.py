"""A launched QEMU ends with numatui however numatui ends (kill -9 included),
the socket directory it leaves is cleaned by the next launch, and -daemonize
is refused."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import until_sync

from numatui import cli
from numatui.session.child_lifetime import STALE_AFTER, _listening_sockets
from numatui.session.launcher import Launcher

CHILD = textwrap.dedent("""
    import asyncio, sys
    from numatui.session.launcher import Launcher

    async def main() -> None:
        launcher = Launcher(extra_args=["-accel", "tcg", "-cpu", "max"], keep_running=KEEP)
        await launcher.start()
        print(launcher.pid, launcher.directory, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def start_child(keep: bool) -> tuple[subprocess.Popen[str], int, Path]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD.replace("KEEP", str(keep))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid, directory = proc.stdout.readline().split()
    return proc, int(pid), Path(directory)


async def test_kill_9_of_numatui_takes_its_qemu_down_and_the_next_launch_cleans_up() -> None:
    proc, qemu_pid, directory = start_child(keep=False)
    assert alive(qemu_pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_gone(qemu_pid), "QEMU outlived numatui after kill -9"
    # its leader shows as a zombie while its other threads still exit (and hold the socket)
    until_sync(lambda: str(directory / "qmp.sock") not in (_listening_sockets() or set()),
               what="the killed QEMU's monitor to close")
    assert directory.is_dir()  # kill -9: numatui could not remove it ...
    old = time.time() - STALE_AFTER - 10
    os.utime(directory, (old, old))
    launcher = Launcher(extra_args=["-accel", "tcg", "-cpu", "max"])
    await launcher.start()  # ... the next launch does
    try:
        assert not directory.exists()
        assert launcher.directory is not None and launcher.directory.is_dir()
    finally:
        await launcher.stop()


async def test_keep_running_qemu_survives_kill_9_and_its_directory_is_kept() -> None:
    proc, qemu_pid, directory = start_child(keep=True)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        old = time.time() - STALE_AFTER - 10
        os.utime(directory, (old, old))
        launcher = Launcher(extra_args=["-accel", "tcg", "-cpu", "max"])
        await launcher.start()
        await launcher.stop()
        assert alive(qemu_pid)  # --keep-running: QEMU stays, and so does its socket
        assert (directory / "qmp.sock").exists()
    finally:
        os.kill(qemu_pid, signal.SIGKILL)
        wait_gone(qemu_pid)
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def test_daemonize_is_refused_in_one_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["launch", "--no-tui", "--", "-daemonize"], stdout=out, stderr=err)
    assert code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "-daemonize" in lines[0] and "child" in lines[0]
