"""The real ``numatui connect`` in a real terminal (tmux), driven by SGR mouse input.

Proves the drag works outside Textual's Pilot: the app runs in a tmux pane,
the test reads the screen with ``capture-pane``, types the terminal's own
mouse reports (SGR 1006: ``ESC[<b;x;yM`` press/motion, ``ESC[<b;x;ym``
release, 1-based) with ``send-keys -l``, and checks QEMU's state through its
second monitor.  tmux runs on a private server socket (``-L``) so a user's
tmux is never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import until_sync

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

SLOT0 = (("socket-id", 0), ("core-id", 0), ("thread-id", 0))


class Tmux:
    def __init__(self, server: str) -> None:
        self.server = server

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", "t").splitlines()

    def wait_for(self, pattern: str, timeout: float = 20) -> list[str]:
        seen: list[list[str]] = [[]]

        def shown() -> list[str] | None:
            seen[0] = self.screen()
            return seen[0] if any(re.search(pattern, line) for line in seen[0]) else None

        try:
            return until_sync(shown, timeout, f"{pattern!r} on screen", step=0.1)  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n" + "\n".join(seen[0])) from None

    def mouse(self, button: int, x: int, y: int, release: bool = False) -> None:
        """One SGR mouse report at 0-based screen (x, y)."""
        self.run("send-keys", "-t", "t", "-l", f"\x1b[<{button};{x + 1};{y + 1}{'m' if release else 'M'}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"numatui-test-{os.getpid()}")
    yield t
    subprocess.run(["tmux", "-L", t.server, "kill-server"], capture_output=True, timeout=10)


def find(lines: list[str], pattern: str) -> tuple[int, int]:
    """(x, y) of the first match of ``pattern``'s group 1 (or the whole match)."""
    for y, line in enumerate(lines):
        m = re.search(pattern, line)
        if m:
            group = 1 if m.groups() else 0
            return m.start(group), y
    raise AssertionError(f"{pattern!r} is not on screen:\n" + "\n".join(lines))


async def wait_for_node(qemu: Any, key: Any, node: int, timeout: float = 10) -> dict[Any, Any]:
    deadline = time.monotonic() + timeout  # an async read of QEMU each time: until() polls a plain predicate
    nodes = await qemu.nodes()
    while nodes[key] != node and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        nodes = await qemu.nodes()
    return nodes  # type: ignore[no-any-return]


async def test_drag_in_tmux_assigns_in_qemu(qemu: Any, tmux: Tmux) -> None:
    command = f"{sys.executable} -m numatui connect {qemu.sock}"
    tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
             # pytest exports COLUMNS=80/LINES=24, which would beat the pane's real size
             "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color", "COLORTERM=truecolor",
             *command.split())
    tmux.wait_for(r"██ 1 ")
    lines = tmux.wait_for(r"─{100}")  # the app took the pane's 120 columns (not pytest's 80)
    # slot 0: the first cell right of socket 0's "c0" label
    label_x, row = find(lines[find(lines, r"socket 0")[1]:], r"(c0)")
    row += find(lines, r"socket 0")[1]
    cell_x = lines[row].index("·", label_x)
    node_x, node_y = find(lines, r"██ (1) ")

    tmux.mouse(0, cell_x, row)  # press on the slot
    for step in range(1, 5):  # move away (button 1 held: 32 + 0)
        tmux.mouse(32, cell_x + step * 4, row + step)
    tmux.mouse(32, node_x, node_y)  # over node 1
    during = tmux.wait_for(r"1 slot → node 1")
    assert any("◀" in line for line in during)  # node 1 is the highlighted drop target
    assert (await qemu.nodes())[SLOT0] is None  # nothing sent before the release
    tmux.mouse(0, node_x, node_y, release=True)

    nodes = await wait_for_node(qemu, SLOT0, 1)
    assert nodes[SLOT0] == 1
    assert [v for k, v in nodes.items() if k != SLOT0] == [None] * 7
    after = tmux.wait_for(r"node-id=1")  # the -numa options panel
    assert not any("→ node 1" in line for line in after)  # the ghost is gone


async def test_key_burst_in_tmux_acts_in_order(qemu: Any, tmux: Tmux) -> None:
    """Issue 17: ``send-keys s 0 j s 1`` in ONE call (the terminal delivers them
    together) maps socket 0 to node 0 and socket 1 to node 1, nothing else."""
    command = f"{sys.executable} -m numatui connect {qemu.sock}"
    tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
             "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color", *command.split())
    tmux.wait_for(r"██ 1 ")
    tmux.run("send-keys", "-t", "t", "s", "0", "j", "s", "1")
    deadline = time.monotonic() + 20
    nodes = await qemu.nodes()
    while None in nodes.values() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        nodes = await qemu.nodes()
    by_socket: dict[int, set[int | None]] = {}
    for key, node in nodes.items():
        by_socket.setdefault(dict(key)["socket-id"], set()).add(node)
    assert by_socket == {0: {0}, 1: {1}}
