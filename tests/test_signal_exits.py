"""SIGTERM, SIGHUP and SIGINT sent with ``kill`` end numatui within a few
seconds with 128 + the signal, in every state: during launch, at idle in
the TUI, right after boot, during a relaunch.

The real ``numatui launch`` runs in a tmux pane under ``sh -c '...; echo $?'``
so that its exit status is read from a file.  For the launch and relaunch
states QEMU is named by ``--qemu`` as a wrapper script (named
``qemu-system-x86_64`` so numatui sees the architecture) that runs the real
QEMU, or, once the test creates its marker file, only ``sleep``: numatui is
then waiting for a QEMU that does not come, the state the test kills it in.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import until_sync
from test_tui_signals import alive, children, gone_within
from test_tui_tmux import Tmux

from numatui.session.qemu_binary import qemu_binary

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
              pytest.mark.qemu]


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"numatui-exit-{os.getpid()}")
    yield t
    subprocess.run(["tmux", "-L", t.server, "kill-server"], capture_output=True, timeout=10)


class Run:
    """``numatui launch`` in the pane, its exit status written to ``rc``."""

    def __init__(self, tmux: Tmux, tmp: Path, *extra: str) -> None:
        self.tmux = tmux
        self.rc = tmp / "rc"
        command = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color",
                              sys.executable, "-m", "numatui", "launch", *extra])
        tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
                 "sh", "-c", f"{command}; echo $? > {shlex.quote(str(self.rc))}")
        shell = int(tmux.run("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        self.pid = until_sync(lambda: next(iter(children(shell)), None), 10, "numatui starting")

    def qemus(self) -> list[int]:
        return children(self.pid)

    def kill(self, sig: signal.Signals) -> int:
        """Send ``sig``; numatui's exit status (a hang fails after a generous limit)."""
        os.kill(self.pid, sig)
        text = until_sync(lambda: self.rc.exists() and self.rc.read_text().strip(), 20,
                          f"numatui ending after {sig.name}")
        return int(text)


def wrapper(tmp: Path) -> tuple[Path, Path]:
    """(the --qemu wrapper, its marker): real QEMU until the marker exists, then ``sleep``."""
    real = shutil.which("qemu-system-x86_64")
    assert real is not None
    data = " ".join(shlex.quote(a) for a in qemu_binary(real).data_args())
    marker = tmp / "slow"
    bindir = tmp / "bin"
    bindir.mkdir()
    script = bindir / "qemu-system-x86_64"
    script.write_text(f"#!/bin/sh\nif [ -e {shlex.quote(str(marker))} ]; then exec sleep 60; fi\n"
                      f"exec {shlex.quote(real)} {data} \"$@\"\n")
    script.chmod(0o755)
    return script, marker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_at_idle_in_the_tui(tmux: Tmux, tmp_path: Path, sig: signal.Signals) -> None:
    run = Run(tmux, tmp_path)
    tmux.wait_for(r"██ 1 ")
    qemus = run.qemus()
    assert run.kill(sig) == 128 + sig.value
    assert gone_within(qemus, 8)  # its QEMU (no --keep-running) went with it


def test_right_after_boot(tmux: Tmux, tmp_path: Path) -> None:
    run = Run(tmux, tmp_path)
    tmux.wait_for(r"██ 1 ")
    tmux.run("send-keys", "-t", "t", "X")
    tmux.wait_for(r"Boot \(enter\)")  # the dialog itself (the footer says "Boot" already)
    tmux.run("send-keys", "-t", "t", "Enter")
    tmux.wait_for(r"running")
    assert run.kill(signal.SIGTERM) == 128 + signal.SIGTERM.value


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_during_launch(tmux: Tmux, tmp_path: Path, sig: signal.Signals) -> None:
    script, marker = wrapper(tmp_path)
    marker.touch()
    run = Run(tmux, tmp_path, "--qemu", str(script))
    (waiting,) = until_sync(run.qemus, 10, "numatui starting its QEMU")
    assert not run.rc.exists()
    assert run.kill(sig) == 128 + sig.value
    assert gone_within([waiting], 8)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_during_a_relaunch(tmux: Tmux, tmp_path: Path, sig: signal.Signals) -> None:
    script, marker = wrapper(tmp_path)
    run = Run(tmux, tmp_path, "--qemu", str(script))
    tmux.wait_for(r"██ 1 ")
    (first,) = run.qemus()
    tmux.run("send-keys", "-t", "t", "s", "0")  # socket 0 -> node 0
    tmux.wait_for(r"node-id=0,socket-id=0")  # QEMU has it: the move below is a key of its own
    marker.touch()  # the next QEMU never comes (the digit took the selection: none is left)
    tmux.run("send-keys", "-t", "t", "1")  # the cursor slot, assigned to 0, -> node 1: a relaunch
    try:
        until_sync(lambda: len(run.qemus()) == 2, 20, "the relaunch starting a second QEMU")
    except AssertionError:
        raise AssertionError("\n".join(tmux.screen())) from None
    assert alive(first) and not run.rc.exists()
    assert run.kill(sig) == 128 + sig.value
    assert gone_within([first], 8)
