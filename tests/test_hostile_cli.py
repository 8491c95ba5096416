"""A hostile QMP peer against the CLI: no control character it sends reaches
stdout or stderr (the bytes of a real ``numatui`` process are checked).

The peer is tests/fake_qmp.py's HostileProxy in front of a real QEMU: it
rewrites QEMU's version package, machine type, CPU types and error texts into
terminal escapes (OSC 52 clipboard writes, clear screen, OSC 8 links), which
QEMU itself never sends.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from conftest import DEFAULT_ARGS, numa_node_args
from fake_qmp import HostileProxy

from numatui.model import sanitise

OSC52 = "\x1b]52;c;ZXZpbA==\x07"
ESCAPES = f"{OSC52}\x1b[2J\x1b[H\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\x9b31m\r\u202e"
LONG = ESCAPES + "E" * 5000


def hostile(command: str, msg: dict[str, Any]) -> dict[str, Any]:
    ret = msg.get("return")
    if command == "greeting":
        msg["QMP"]["version"]["package"] = LONG
    elif command == "query-version" and isinstance(ret, dict):
        ret["package"] = LONG
    elif command == "qom-get" and isinstance(ret, str):
        msg["return"] = ret + LONG
    elif command == "query-hotpluggable-cpus" and isinstance(ret, list):
        for entry in ret:
            entry["type"] = ESCAPES + entry["type"]
    return msg


async def numatui(*argv: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "numatui", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out, err


def assert_inert(data: bytes) -> None:
    text = data.decode("utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text
    line = text.replace("\n", "").replace("\t", "")
    assert sanitise.one_line(line, None) == line  # nothing left to escape


async def test_show_and_errors_never_emit_a_peer_escape(qemu_factory: Any) -> None:
    # 4 of 8 CPUs present at boot: socket 1 core 0 is an empty slot to plug into
    args = [a.replace("8,sockets", "4,maxcpus=8,sockets") for a in DEFAULT_ARGS]
    qemu = qemu_factory([*args, *numa_node_args(2, 2048)])
    path = Path(qemu.extra["dir"]) / "hostile.sock"
    async with HostileProxy(path, qemu.sock, LONG, rewrite=hostile):
        code, out, err = await numatui("show", str(path), "--nodes", "2")
        assert code == 0, err
        assert_inert(out)
        assert_inert(err)
        text = out.decode()
        assert "\\x1b]52;c;ZXZpbA==\\x07" in text  # shown visibly, not emitted
        assert "more characters cut" in text  # 5000 characters of it are bounded
        assert max(len(line) for line in text.splitlines()) < 1200

        # QEMU refuses device_add of the peer's hostile CPU type (after boot: numatui
        # itself refuses hotplug in preconfig), in words that carry the escapes
        await qemu.qmp("x-exit-preconfig")
        code, out, err = await numatui("hotplug", str(path), "socket-id=1,core-id=0,thread-id=0",
                                       "--nodes", "2")
        assert code == 1, err
        assert_inert(out)
        assert_inert(err)
        lines = err.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("numatui: "), lines
        assert "\\x1b[2J" in lines[0] and len(lines[0]) < 1200 and "more characters cut" in lines[0]

        for fmt in ("numa", "json", "libvirt"):  # cmdline: the peer is no QEMU (unit-tested)
            code, out, err = await numatui("export", str(path), "--format", fmt, "--nodes", "2")
            # libvirt needs every node's memory, which counted nodes (--nodes) do not give: exit 2
            assert code == (2 if fmt == "libvirt" else 0), (fmt, err)
            assert_inert(out)
            assert_inert(err)
