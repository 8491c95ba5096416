"""Absurd machine values from a peer are refused in one line.

A FAKE QMP PEER (tests/fake_qmp.py's HostileProxy in front of a real QEMU)
answers ``qom-get /machine memory`` with 10^30 bytes, ``smp`` with a
maxcpus of 10^9 (or 10^5000: a number Python will not even print), or
``query-memdev`` with a 10^30-byte backend.  No QEMU can have these (a
process cannot map more than 2^57 bytes, no board takes more than 4096
vCPUs): connecting fails (exit 3) with one line naming the reply, never
"internal error" and never a size like "909494701772928256 TiB".  The same
QEMU without the proxy is shown, so the bounds refuse nothing real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_qmp import HostileProxy
from test_hostile_cli import assert_inert, numatui


def absurd(what: str, value: int) -> Any:
    """A rewrite: the qom-get reply holding ``what`` (memory's ``size``, smp's
    ``maxcpus``) or query-memdev's first ``size`` becomes ``value``."""
    def rewrite(command: str, msg: dict[str, Any]) -> dict[str, Any]:
        reply = msg.get("return")
        if command == "qom-get" and isinstance(reply, dict) and what in reply:
            reply[what] = value
        if command == "query-memdev" and what == "memdev" and isinstance(reply, list) and reply:
            reply[0]["size"] = value
        return msg
    return rewrite


@pytest.mark.parametrize("what, value, words", [
    ("size", 10**30, "qom-get /machine memory: malformed reply (a RAM size out of range"),
    ("size", -1, "qom-get /machine memory: malformed reply"),
    ("maxcpus", 10**9, "qom-get /machine smp: malformed reply (maxcpus is out of range"),
    ("maxcpus", 10**4000, "maxcpus is out of range"),
    ("memdev", 10**30, "query-memdev: malformed reply"),
], ids=["ram-1e30", "ram-negative", "maxcpus-1e9", "maxcpus-1e4000", "memdev-1e30"])
async def test_an_absurd_machine_is_refused_in_one_line(qemu: Any, what: str, value: int, words: str) -> None:
    path = Path(qemu.extra["dir"]) / "absurd.sock"
    async with HostileProxy(path, qemu.sock, "refused", keep_errors=True, rewrite=absurd(what, value)):
        code, out, err = await numatui("show", str(path), "--nodes", "2")
    assert code == 3, err
    assert_inert(err)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert "internal error" not in lines[0] and "TiB" not in out.decode() + lines[0].split("0 to")[0]
    assert out == b""


async def test_the_real_machine_passes_the_bounds(qemu: Any) -> None:
    code, out, err = await numatui("show", qemu.sock, "--nodes", "2")
    assert code == 0, err
    shown = out.decode().splitlines()
    assert "RAM      2 GiB" in shown and any(line.startswith("smp      cpus=8,maxcpus=8,") for line in shown)
