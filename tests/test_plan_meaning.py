"""Plans say what they mean (#24 item 8), on real QEMU: every word of a text
plan is understood or refused in one line naming it, an empty plan is an
error, and a node's memdev other than QEMU's is refused; each refusal leaves
QEMU untouched (read on its second monitor)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import Qemu
from test_cli import fails, ok


def untouched(q: Qemu) -> bool:
    return set(asyncio.run(q.nodes()).values()) == {None}


@pytest.mark.parametrize(("text", "named"), [
    ("-numa cpu,node-id=1,socket-id=1 && touch {x}\n", "plan line 1: '&&'"),
    ("-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1 $(touch {x})\n",
     "plan line 2: '$(touch'"),
    ("-numa cpu,node-id=1,socket-id=1 ; touch {x}\n", "plan line 1: ';'"),
    ("-numa cpu,node-id=1,socket-id=1 `touch {x}`\n", "plan line 1: '`touch'"),
])
def test_stray_words_are_refused_by_name(qemu: Qemu, tmp_path: Path, text: str, named: str) -> None:
    victim = tmp_path / "x"
    plan = tmp_path / "p.numa"
    plan.write_text(text.format(x=victim))
    line = fails(2, "apply", qemu.sock, str(plan))
    assert named in line and "nothing was applied" in line
    assert untouched(qemu) and not victim.exists()


@pytest.mark.parametrize("text", ["", "\n# only a comment\n\n", "{}", '{"version": 1, "cpus": []}'])
def test_an_empty_plan_is_an_error(qemu: Qemu, tmp_path: Path, text: str) -> None:
    plan = tmp_path / "empty.plan"
    plan.write_text(text)
    assert "plan: it is empty" in fails(2, "apply", qemu.sock, str(plan))
    assert untouched(qemu)


def test_a_memdev_other_than_the_nodes_is_refused(qemu: Qemu, tmp_path: Path) -> None:
    plan = tmp_path / "p.numa"
    plan.write_text("-numa node,nodeid=0,memdev=m1\n-numa cpu,node-id=0,socket-id=0\n")
    line = fails(2, "apply", qemu.sock, str(plan))
    assert "node 0 memdev 'm1'" in line and "has memdev 'm0'" in line
    assert untouched(qemu)
    # naming no memdev, or QEMU's own, only maps CPUs
    plan.write_text("-numa node,nodeid=0\n-numa node,nodeid=1,memdev=m1\n"
                    "-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1\n")
    ok("apply", qemu.sock, str(plan))
    assert {dict(k)["socket-id"]: n for k, n in asyncio.run(qemu.nodes()).items()} == {0: 0, 1: 1}
