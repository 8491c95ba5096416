"""Bad inputs get the one-line error a user expects: addresses that are not
sockets, contradictory or ambiguous plans, binary plan files, NaN timeouts."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from numatui import cli
from numatui.core.autosave import SavedStateError, load
from numatui.model.errors import NumaError
from numatui.model.qemu_args import load_plan


def fails(code: int, *argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    got = cli.main(list(argv), stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    assert got == code, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("numatui: ") and "internal error" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("kind", ["directory", "regular file", "FIFO", "character device"])
def test_an_address_that_is_not_a_socket_says_what_it_is(tmp_path: Path, kind: str) -> None:
    path = {"directory": tmp_path, "regular file": tmp_path / "f", "FIFO": tmp_path / "p",
            "character device": Path("/dev/zero")}[kind]
    if kind == "regular file":
        path.write_text("x")
    elif kind == "FIFO":
        os.mkfifo(path)
    line = fails(3, "show", str(path), "--timeout", "2")
    assert f"is a {kind}" in line and "not a unix socket" in line
    assert "stale" not in line and "remove the file" not in line


@pytest.mark.parametrize("text, words", [
    ('{"distances": [{"src": 0, "dst": 1, "val": 20}, {"src": 0, "dst": 1, "val": 30}]}', "given twice"),
    ("-numa dist,src=0,dst=1,val=20\n-numa dist,src=0,dst=1,val=21\n", "given twice"),
    ('{"cpus": [{"node-id": 0, "socket-id": 0, "socket-id": 1}]}', "'socket-id' is given twice"),
    ('{"cpus": [], "cpus": [{"node-id": 1}]}', "'cpus' is given twice"),
    ("-numa cpu,node-id=0,socket-id=0,socket-id=1\n", "'socket-id' is given twice"),
    ("-numa node,nodeid=0,nodeid=1\n", "'nodeid' is given twice"),
])
def test_contradictory_or_ambiguous_plans_are_refused(text: str, words: str) -> None:
    with pytest.raises(NumaError, match=words):
        load_plan(text)


def test_the_same_distance_twice_with_the_same_value_is_fine() -> None:
    plan = load_plan('{"distances": [{"src": 0, "dst": 1, "val": 20}, {"src": 0, "dst": 1, "val": 20}]}')
    assert {(d.src, d.dst, d.val) for d in plan.distances} == {(0, 1, 20)}


def test_a_saved_state_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"version": 1, "plan": {}, "argv": ["qemu-system-x86_64"], "argv": ["/tmp/x"]}')
    with pytest.raises(SavedStateError, match="given twice"):
        load(path)


def test_a_binary_plan_file_is_exit_2_in_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.bin"
    plan.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x1b[2J")
    line = fails(2, "apply", "unix:/nonexistent/sock", str(plan))
    assert "not UTF-8" in line and "\x1b" not in line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_timeout_must_be_a_positive_finite_number(value: str) -> None:
    line = fails(2, "show", "unix:/nonexistent/sock", "--timeout", value)
    assert "--timeout" in line
