"""Records on real QEMU: they obey the state directory's trust rules, two
writers on one QEMU merge, a record that cannot be written fails the change,
and no record write goes through a planted link.

Each test asserts on the victim: the planted file's content, the record
after two writers, what a fresh numatui process exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from numatui import cli
from numatui.session import record
from numatui.session.session import Session
from numatui.session.xdg import state_dir

NOBODY = 65534
HANG = 60.0


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def plan_file(tmp_path: Path, text: str, name: str = "plan.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def record_path(qemu: Any) -> Path:
    identity = record.identify(qemu.proc.pid)
    assert identity is not None
    return record.path_for(identity)


def planted(qemu: Any, val: int = 99) -> str:
    """A record of this QEMU (its real identity) saying ``dist 0 -> 1 = val``."""
    identity = record.identify(qemu.proc.pid)
    rec = record.Record(identity=identity, distances={(0, 1): val})
    return json.dumps(rec.to_dict())


def _problem(d: Path, how: str, where: Path) -> str:
    if how == "symlink":
        return (f"state directory {d} is a symlink (to {where}), not a directory of yours: remove it "
                "(numatui makes a private one)")
    return f"state directory {d} has mode 0777, not 0700: chmod 700 {d}"


def distances(export: str) -> list[str]:
    return [line for line in export.splitlines() if line.startswith("-numa dist")]


# -- C: the state directory's trust rules ----------------------------------------
@pytest.mark.parametrize("how", ["world-writable", "symlink"])
def test_an_untrusted_state_directory_holds_no_record(qemu: Any, tmp_path: Path, how: str) -> None:
    d = state_dir()
    if how == "world-writable":
        d.mkdir(mode=0o700, parents=True)
        d.chmod(0o777)
        where = d
    else:
        where = tmp_path / "elsewhere"
        where.mkdir(mode=0o700)
        d.parent.mkdir(parents=True, exist_ok=True)
        d.symlink_to(where)
    rec = where / record_path(qemu).name
    rec.write_text(planted(qemu))
    rec.chmod(0o600)
    before = sorted(p.name for p in where.iterdir())
    # read nothing: the planted distance never reaches an export, which marks what is unknown
    code, out, err = run("export", qemu.sock, "--nodes", "2")
    assert code == 0, err
    assert "val=99" not in out and distances(out) == []
    assert [ln for ln in err.splitlines() if "unknown" in ln] == [  # said once, as what is unknown
        f"numatui: warning: records are off ({_problem(d, how, where)}): what was set over QMP "
        "before (distances, nodes added live) is unknown"]
    # write nothing: apply says so once (autosave and records), QEMU still gets the change
    code, out, err = run("apply", qemu.sock, str(plan_file(tmp_path, "-numa dist,src=0,dst=1,val=21\n")))
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "autosave is off" in ln]
    assert len(lines) == 1 and "records are off too" in lines[0], err
    assert sorted(p.name for p in where.iterdir()) == before
    assert json.loads(rec.read_text())["distances"] == [{"src": 0, "dst": 1, "val": 99}]


def test_a_record_of_another_user_is_ignored_with_one_line(qemu: Any) -> None:
    rec = record_path(qemu)
    rec.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rec.write_text(planted(qemu))
    rec.chmod(0o600)
    os.chown(rec, NOBODY, NOBODY)
    code, out, err = run("export", qemu.sock, "--nodes", "2")
    assert code == 0, err
    assert "val=99" not in out
    assert [ln for ln in err.splitlines() if f"uid {NOBODY}" in ln] == [
        f"numatui: warning: record not used: record {rec} belongs to uid {NOBODY}, not you: ignored"]


def test_a_record_in_the_trusted_directory_is_used(qemu: Any) -> None:
    """The control: the same planted record, the user's own, is what numatui reads."""
    rec = record_path(qemu)
    rec.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rec.write_text(planted(qemu, 21))
    rec.chmod(0o600)
    code, out, err = run("export", qemu.sock, "--nodes", "2")
    assert code == 0 and distances(out) == ["-numa dist,src=0,dst=1,val=21"], (out, err)


# -- D: two writers, and a record that cannot be written ---------------------------
async def test_two_writers_on_one_qemu_lose_nothing(qemu: Any, tmp_path: Path) -> None:
    """A long-lived session (the TUI's) and a CLI apply on the second monitor,
    each with its own view of the record: both distances QEMU accepted stay."""
    tui = await Session.connect(qemu.sock, nodes=2)
    try:
        plan = plan_file(tmp_path, "-numa dist,src=1,dst=0,val=31\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "numatui", "apply", qemu.check, str(plan), "--nodes", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _out, err = await asyncio.wait_for(proc.communicate(), HANG)
        assert proc.returncode == 0, err
        await tui.set_distance(0, 1, 21)  # this session never read the 31
    finally:
        await tui.close()
    saved = json.loads(record_path(qemu).read_text())
    assert saved["distances"] == [{"src": 0, "dst": 1, "val": 21}, {"src": 1, "dst": 0, "val": 31}]
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "numatui", "export", qemu.sock, "--nodes", "2"],
        capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr
    assert distances(done.stdout) == ["-numa dist,src=0,dst=1,val=21", "-numa dist,src=1,dst=0,val=31"]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last block (needs root, as the tests run)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_record_that_cannot_be_written_fails_the_change(qemu: Any, tmp_path: Path,
                                                          full_disk: Path) -> None:
    rec = full_disk / "vm.record"
    plan = plan_file(tmp_path, "-numa dist,src=0,dst=1,val=21\n")
    code, out, err = run("apply", qemu.sock, str(plan), "--nodes", "2", "--record", str(rec))
    assert code != 0, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and str(rec) in lines[0] and "cannot be written" in lines[0], err
    assert "No space left" in lines[0]
    assert not rec.exists()


# -- B: no record write goes through a planted link -------------------------------
def test_a_planted_link_at_the_record_is_replaced_not_written_through(qemu: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    rec = record_path(qemu)
    rec.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rec.symlink_to(victim)
    plan = plan_file(tmp_path, "-numa dist,src=0,dst=1,val=21\n")
    code, _out, err = run("apply", qemu.sock, str(plan), "--nodes", "2")
    assert code == 0, err
    assert victim.read_text() == "precious\n"
    assert not rec.is_symlink()
    assert json.loads(rec.read_text())["distances"] == [{"src": 0, "dst": 1, "val": 21}]
    # a user-named --record that is a dangling link: the link is replaced, its target never made
    target = tmp_path / "never"
    named = tmp_path / "named.record"
    named.symlink_to(target)
    code, _out, err = run("apply", qemu.check, str(plan), "--nodes", "2", "--record", str(named))
    assert code == 0, err
    assert not target.exists() and not named.is_symlink()
    assert json.loads(named.read_text())["distances"] == [{"src": 0, "dst": 1, "val": 21}]


async def test_the_tui_marks_what_an_untrusted_state_directory_leaves_unknown(qemu: Any) -> None:
    from tui_helpers import settle

    from numatui.tui.app import NumaApp
    from numatui.tui.cmdline import CommandPanel
    from numatui.tui.status import StatusBar

    d = state_dir()
    d.mkdir(mode=0o700, parents=True)
    d.chmod(0o777)
    rec = d / record_path(qemu).name
    rec.write_text(planted(qemu))
    session = await Session.connect(qemu.sock, nodes=2)
    try:
        assert session.book.path is None
        app = NumaApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(app, pilot)
            assert f"? {len(session.unknowns)} unknown" in str(app.query_one(StatusBar).render())
            text = app.query_one(CommandPanel).text
            assert text.startswith("# warning: records are off (state directory"), text
            assert "val=99" not in text
        await session.set_distance(0, 1, 21)  # QEMU takes it; nothing is written into that directory
    finally:
        await session.close()
    assert sorted(p.name for p in d.iterdir()) == [rec.name]
    assert json.loads(rec.read_text())["distances"] == [{"src": 0, "dst": 1, "val": 99}]
