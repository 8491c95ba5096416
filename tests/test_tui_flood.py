"""An event flood (a fake peer sending ~10,000 QMP events a second for 20 s)
keeps the TUI alive and its memory bounded: RSS grows < 30 MB after start-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_qmp import HostileProxy, in_thread
from test_tui_tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

MIB = 1024 * 1024


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"numatui-flood-{os.getpid()}")
    yield t
    subprocess.run(["tmux", "-L", t.server, "kill-server"], capture_output=True, timeout=10)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def steady_rss(pid: int, timeout: float = 10) -> int:
    """The RSS once two samples 0.2 s apart differ by less than 1 MiB (start-up
    allocations done), or the last one when that takes longer than ``timeout``."""
    last = rss(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss(pid)
        if abs(now - last) < MIB:
            return now
        last = now
    return last


def test_an_event_flood_keeps_the_tui_alive_with_bounded_memory(qemu: Any, tmux: Tmux) -> None:
    start_flood = threading.Event()
    proxy = HostileProxy(Path(qemu.extra["dir"]) / "flood.sock", qemu.sock, "x", flood=start_flood)
    with in_thread(proxy):
        tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
                 "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color",
                 sys.executable, "-m", "numatui", "connect", proxy.path, "--nodes", "2")
        tmux.wait_for(r"██ 1 ")
        pid = int(tmux.run("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        tmux.run("send-keys", "-t", "t", "l")  # the QMP log shown: the costliest case
        tmux.wait_for(r"QMP log \(l hides\)")  # (a connect's replies fill its tail: one pipelined round)
        tmux.wait_for(r'← \{"return"')
        baseline = steady_rss(pid)  # start-up done (first paint, the first re-reads, the log drawn)
        start_flood.set()
        peak = baseline
        samples: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert Path(f"/proc/{pid}").exists(), "the TUI died under the flood"
            peak = max(peak, rss(pid))
            samples.append(rss(pid))
            time.sleep(0.5)
        sent = proxy.flooded
        assert sent > 10_000, f"the peer could send only {sent} events (the TUI stopped reading)"
        assert peak - baseline < 30 * MIB, (
            f"RSS grew {(peak - baseline) / MIB:.1f} MiB under {sent} events: "
            f"{[round((s - baseline) / MIB) for s in samples]}")
        print(f"RSS growth under {sent} events, MiB: {[round((s - baseline) / MIB) for s in samples]}")
        tmux.wait_for(r"NUMATUI_FAKE_FLOOD")  # the log follows the flood: the app kept up
        tmux.run("send-keys", "-t", "t", "q")
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "the TUI did not quit during the flood:\n" + "\n".join(
            tmux.screen()) + Path(f"/proc/{pid}/status").read_text()
