"""Every CLI command and both plan formats driven with generated hostile input
(hypothesis): Unicode digits, huge numbers, control characters, shell words,
odd tokens.  Whatever comes in, numatui answers with a documented exit code
(0 ok, 1 QEMU refused, 2 usage/input, 3 cannot connect), a failure is one
``numatui: ...`` line, never a traceback nor ``internal error``, and every
command ends within a hang-catching limit.

Commands that talk to QEMU talk to a real one in preconfig (7.2, or 10.0
with NUMATUI_TEST_QEMU=10.0): the plans and slots are applied for real, and
whatever QEMU refuses must come back as exit 1 in one line.  Addresses are
generated so that none reaches anything but that QEMU (no TCP port that
parses, no unix path that exists): this test must never talk to a stranger.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from numatui import cli
from numatui.session.address import Address
from numatui.session.errors import BadAddress

#: The exit codes the README documents.
EXIT_CODES = {0, 1, 2, 3}
#: A command that takes longer than this hangs (a normal one takes well under a second).
HANG = 30.0

ATOMS = ["\u00b2", "\u0663", "\uff11", "\U0001d7ce", "\u2460", "9" * 40, "9" * 5000, "-1", "+1", "0x10",
         "010", "08", "1e9", "nan", "inf", "-inf", "1.5", "", " ", "\x00", "\x1b[2J", "\x1b]0;x\x07",
         "\u202e", "\x7f", "\x9b", "\n", "\r", "\t", "$(touch X)", "`touch X`", "&&", ";", "|", "'", '"',
         "\\", ",", "=", ",,", "#", "0", "1", "7", "255", "65536", "4294967296", "18446744073709551616"]
#: What Python's isdigit() or int() takes and QEMU does not (the class that crashed numatui).
DIGITS = ["\u00b2", "\u0663", "\uff11", "\U0001d7ce", "1\u00b2", "\u0967\u0966"]
hostile = st.one_of(
    st.sampled_from(DIGITS),
    st.sampled_from(ATOMS),
    st.text(max_size=12),
    st.integers(-(10**30), 10**30).map(str),
    st.lists(st.sampled_from(ATOMS), min_size=2, max_size=4).map("".join),
)

#: Words of the text plan grammar, to glue hostile atoms into near-plans.
PLAN_WORDS = ["-numa ", "--numa ", "-object ", "-m ", "-smp ", "-machine ", "node,", "cpu,", "dist,",
              "hmat-lb,", "hmat-cache,", "nodeid=", "node-id=", "socket-id=", "core-id=", "thread-id=",
              "cpus=", "cpus=0-3", "memdev=", "mem=", "src=", "dst=", "val=", "initiator=",
              "memory-backend-ram,id=m9,size=", "host-nodes=", "policy=bind", "hierarchy=memory,",
              "data-type=access-latency,", "latency=", "bandwidth=", "level=", "size=", "1G", "0", "1",
              ",", "-", "\\\n", "\n", " ", "#", "qemu-system-x86_64 "]
text_plans = st.lists(st.one_of(st.sampled_from(PLAN_WORDS), hostile), max_size=24).map("".join)

PLAN_KEYS = ["version", "nodes", "cpus", "distances", "pinning", "hmat-lb", "hmat-cache", "id", "memdev",
             "size", "created", "memdev-created", "host-nodes", "policy", "initiator", "src", "dst", "val",
             "node-id", "socket-id", "core-id", "thread-id", "type", "plan", "argv", "target", "latency"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**25), 10**25) | st.floats() | hostile,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.sampled_from(PLAN_KEYS), inner, max_size=5)),
    max_leaves=16,
)
json_plans = st.dictionaries(st.sampled_from(PLAN_KEYS), json_values, max_size=5).map(json.dumps)
plan_files = st.one_of(text_plans, json_plans, st.binary(max_size=64).map(lambda b: b.decode("latin-1")))


def stranger_free(text: str) -> bool:
    """True when ``text`` as an address reaches nothing: not TCP, no existing path."""
    try:
        address = Address.parse(text)
    except BadAddress:
        return True
    return address.kind == "unix" and not os.path.lexists(address.path or "")


addresses = hostile.map(lambda t: t if t.startswith(("tcp:", "unix:")) else f"tcp:127.0.0.1:{t}") | hostile


@contextmanager
def hang_limit(seconds: float) -> Iterator[None]:
    """TimeoutError in this (main) thread if the body runs longer than ``seconds``."""
    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a numatui command took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(*argv: str) -> tuple[int, str]:
    """numatui in-process; asserts the contract and returns (code, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with hang_limit(HANG):
        code = cli.main(list(argv), stdout=out, stderr=err)
    text = err.getvalue()
    assert code in EXIT_CODES, (argv, code, text)
    assert "Traceback" not in text and "internal error" not in text, (argv, text)
    if code != 0:
        lines = text.splitlines()
        assert len(lines) == 1 and lines[0].startswith("numatui: "), (argv, text)
    assert time.monotonic() - started < HANG
    return code, text


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def against_qemu(sock: str, plan: str, x: str) -> list[list[str]]:
    """Every command that talks to QEMU, with the hostile value ``x`` in each place it can go."""
    return [
        ["apply", sock, plan],
        ["apply", sock, plan, "--nodes", x],
        ["apply", sock, "--preset", x],
        ["apply", sock, "--preset", "split", "--into", x],
        ["show", sock, "--nodes", x],
        ["show", sock, "--timeout", x],
        ["export", sock, "--format", x],
        ["export", sock, "--format", "numa", "--nodes", x],
        ["hotplug", sock, x],
        ["hotplug", sock, f"socket-id={x},core-id=0,thread-id=0"],
        ["unplug", sock, f"socket-id=1,core-id={x}"],
        ["unplug", sock, "socket-id=1,core-id=0,thread-id=0", "--wait", x],
        ["pin", sock, "--dry-run", "--policy", x],
        ["connect", sock, "--no-tui", "--nodes", x],
    ]


def without_qemu(address: str, plan: str, x: str, root: Path) -> list[list[str]]:
    """The commands again, on an address that reaches nothing, and those that need no QEMU."""
    return [
        ["show", address, "--timeout", "0.5"],
        ["export", address, "--timeout", "0.5"],
        ["apply", address, plan, "--timeout", "0.5"],
        ["hotplug", address, x, "--timeout", "0.5"],
        ["pin", address, "--dry-run", "--timeout", "0.5"],
        ["host", "--format", x],
        ["host", "--host-root", str(root / "none"), "--vm", address],
        ["launch", "--no-tui", "--nodes", x, "--timeout", "\u0663"],  # refused before QEMU starts
        ["launch", "--no-tui", "--timeout", x, "--nodes", "0"],
        [x, x],
        ["show", address, "--", x],
    ]


@SETTINGS
@given(value=hostile, text=plan_files)
def test_commands_against_a_real_qemu(qemu: Any, tmp_path: Path, value: str, text: str) -> None:
    plan = tmp_path / "plan"
    plan.write_text(text, encoding="utf-8", errors="surrogateescape")
    for argv in against_qemu(qemu.sock, str(plan), value):
        run(*argv)
    assert qemu.proc.poll() is None  # whatever came in, QEMU is still there


@SETTINGS
@given(value=hostile, text=plan_files, address=addresses)
def test_commands_without_a_qemu(tmp_path: Path, value: str, text: str, address: str) -> None:
    assume(stranger_free(address))
    plan = tmp_path / "plan"
    plan.write_text(text, encoding="utf-8", errors="surrogateescape")
    for argv in without_qemu(address, str(plan), value, tmp_path):
        run(*argv)


@pytest.mark.parametrize("text", ["-numa cpu,node-id=0,socket-id=0 " * 300_000,
                                  "-numa cpu,node-id=0,socket-id=0\n" * 300_000,
                                  "-numa node,nodeid=0,memdev=" + "x" * 10_000_000,
                                  "\n" * 2_000_000 + "-numa node,nodeid=0,cpus=0-65535"],
                         ids=["one-line", "300k-lines", "10MB-value", "2M-blank-lines"])
def test_a_10_mb_text_plan_is_read_or_refused_in_seconds(tmp_path: Path, text: str) -> None:
    """Under the size cap, a text plan is read (or refused: too many options) in
    seconds; 60 s only catches a hang (it took over 20 s and 600 MB before)."""
    plan = tmp_path / "big.numa"
    plan.write_text(text)
    started = time.monotonic()
    code, err = run("apply", "unix:" + str(tmp_path / "no.sock"), str(plan))
    assert code in (2, 3), err  # refused as a plan, or read and then no QEMU to apply it to
    assert time.monotonic() - started < 60
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1 << 20  # KiB: under 1 GiB at peak
