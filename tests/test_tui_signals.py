"""The terminal goes away (tmux kill-server: SIGHUP) or SIGTERM arrives: the
TUI ends within a few seconds at any moment, and the QEMU it launched without
--keep-running ends with it (with it, QEMU stays)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"numatui-sig-{os.getpid()}")
    yield t
    subprocess.run(["tmux", "-L", t.server, "kill-server"], capture_output=True, timeout=10)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def start(tmux: Tmux, *extra: str) -> tuple[int, int]:
    tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
             "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color",
             sys.executable, "-m", "numatui", "launch", *extra)
    tmux.wait_for(r"██ 1 ")
    pid = int(tmux.run("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
    qemu = [c for c in children(pid) if "qemu" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
    assert len(qemu) == 1
    return pid, qemu[0]


@pytest.mark.parametrize("moment", ["idle", "during-a-command", "right-after-boot"])
def test_killing_the_terminal_ends_numatui_and_its_qemu(tmux: Tmux, moment: str) -> None:
    pid, qemu = start(tmux)
    if moment == "during-a-command":
        tmux.run("send-keys", "-t", "t", "s", "0", "j", "s", "1")
    elif moment == "right-after-boot":
        tmux.run("send-keys", "-t", "t", "X")
        tmux.wait_for(r"Boot \(enter\)")  # the dialog's button (the footer's "X Boot" is there before)
        tmux.run("send-keys", "-t", "t", "Enter")
        tmux.wait_for(r"running")
    tmux.run("kill-server")
    assert gone_within([pid, qemu], 8), f"still running after the terminal went away ({moment})"


def test_sigterm_with_keep_running_leaves_qemu(tmux: Tmux) -> None:
    pid, qemu = start(tmux, "--keep-running")
    try:
        os.kill(pid, signal.SIGTERM)
        assert gone_within([pid], 8)
        assert alive(qemu)  # --keep-running: QEMU stays
    finally:
        if alive(qemu):
            os.kill(qemu, signal.SIGKILL)


STUCK = """
import asyncio, queue, sys
from pathlib import Path
from numatui.cli.signals import SignalGuard, on_emergency

async def main() -> None:
    guard = SignalGuard(asyncio.get_running_loop(), asyncio.current_task(), grace=1.0)
    guard.install()
    on_emergency(lambda: Path(sys.argv[1]).write_text("saved"))
    print("ready", flush=True)
    try:
        await asyncio.sleep(3600)
    finally:  # the shutdown that never completes: Textual's writer queue, full
        q = queue.Queue(maxsize=1)
        q.put(None)
        q.put(None)

asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_shutdown_stuck_in_the_main_thread_is_forced_out(tmp_path: Path, sig: signal.Signals) -> None:
    marker = tmp_path / "saved"
    proc = subprocess.Popen([sys.executable, "-c", STUCK, str(marker)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    assert gone_within([proc.pid], 8)
    assert proc.wait(5) == 128 + sig.value
    assert marker.read_text() == "saved"  # the emergency save ran
    assert proc.stderr is not None and f"stopped by {sig.name}" in proc.stderr.read()
