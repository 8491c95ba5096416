"""A hostile peer against the TUI in a real terminal (tmux with
``set-clipboard on``): its OSC 52 clipboard writes, screen clears and OSC 8
links are shown visibly and never reach the terminal (no tmux buffer appears,
the raw pane output holds none of them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_qmp import HostileProxy, in_thread
from test_tui_tmux import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PAYLOAD = "ZXZpbA=="
OSC52 = f"\x1b]52;c;{PAYLOAD}\x07"
HOSTILE = f"{OSC52}\x1b]52;p;{PAYLOAD}\x1b\\\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\x1b[2J\x07"
#: raw sequences only the peer's text could put in the pane's output (numatui
#: writes OSC 52 only when the user copies, never here; Textual's own OSC 22
#: pointer-shape sequence ends in BEL, so BEL alone proves nothing)
FORBIDDEN = [b"\x1b]52;", b"\x1b]8;;http://evil", b"\x1b[2J\x07", b"link\x1b]8"]


def hostile(command: str, msg: dict[str, Any]) -> dict[str, Any]:
    ret = msg.get("return")
    if command == "greeting":
        msg["QMP"]["version"]["package"] = HOSTILE
    elif command == "query-version" and isinstance(ret, dict):
        ret["package"] = HOSTILE
    elif command == "qom-get" and isinstance(ret, str):
        msg["return"] = ret + HOSTILE
    elif command == "query-hotpluggable-cpus" and isinstance(ret, list):
        for entry in ret:
            entry["type"] = HOSTILE + entry["type"]
    return msg


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"numatui-hostile-{os.getpid()}")
    yield t
    subprocess.run(["tmux", "-L", t.server, "kill-server"], capture_output=True, timeout=10)


def test_no_peer_escape_reaches_the_terminal(qemu: Any, tmux: Tmux, tmp_path: Path) -> None:
    proxy = HostileProxy(Path(qemu.extra["dir"]) / "hostile.sock", qemu.sock, HOSTILE, rewrite=hostile)
    raw = tmp_path / "pane.raw"
    with in_thread(proxy):
        tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "160", "-y", "45",
                 "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color",
                 "sh", "-c", f"sleep 0.5; exec {sys.executable} -m numatui connect {proxy.path} --nodes 2")
        tmux.run("set-option", "-g", "set-clipboard", "on")
        tmux.run("pipe-pane", "-o", "-t", "t", f"cat >> {raw}")  # every byte numatui writes
        tmux.wait_for(r"██ 1 ")
        tmux.run("send-keys", "-t", "t", "0")  # accepted: slot 0 on node 0
        tmux.wait_for(r"node-id=0")
        tmux.run("send-keys", "-t", "t", "1")  # refused; the peer makes QEMU's words hostile
        screen = tmux.wait_for(r"\\x1b\]52;c;ZXZpbA==\\x07")  # shown visibly, as text
        tmux.run("send-keys", "-t", "t", "l")  # the QMP log, with the hostile replies
        tmux.wait_for(r"set-numa-node")  # the log is drawn
        escaped = tmux.run("capture-pane", "-p", "-e", "-t", "t")
        buffers = tmux.run("list-buffers")
        tmux.run("send-keys", "-t", "t", "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # numatui quits; the session (and server) end
            try:
                tmux.run("list-panes")
            except subprocess.CalledProcessError:
                break
            time.sleep(0.2)
    assert any("\\x1b]52" in line for line in screen)
    assert buffers == "", f"the peer wrote the clipboard: {buffers!r}"
    assert "\x1b]52" not in escaped and "\x1b]8;" not in escaped  # capture-pane -e: no OSC
    data = raw.read_bytes()
    assert data, "pipe-pane caught nothing"
    for bad in FORBIDDEN:
        assert bad not in data, f"{bad!r} reached the terminal"
    assert b"\\x1b]52;c;" in data  # what was written is the visible form
