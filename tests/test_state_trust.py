"""Tampered state and other users' QEMUs: nothing numatui did not launch itself
(or that someone else could have written) is ever started.

A fake program (a shell script that writes a marker file) stands for what an
attacker would have run; every test asserts the marker never appears.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DEFAULT_ARGS, _wait_for_socket

from numatui import cli
from numatui.core.autosave import SavedStateError, find, list_saved, save, state_dir
from numatui.model.plan import Plan

NOBODY = 65534
PLAN = Plan.from_dict({"version": 1, "cpus": [{"node-id": 0, "socket-id": 0}]})


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def evil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """``(program, marker)``: /tmp/…/qemu-system-x86_64 of uid 65534 that would
    write ``marker`` (the directory and the program are the other user's)."""
    base = tmp_path_factory.mktemp("evil")
    os.chmod(base, 0o755)
    home = base / "x"
    home.mkdir()
    marker = base / "marker"
    program = home / "qemu-system-x86_64"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexec qemu-system-x86_64 \"$@\"\n")
    program.chmod(0o755)
    os.chown(home, NOBODY, NOBODY)
    os.chown(program, NOBODY, NOBODY)
    os.chmod(home, 0o777)
    yield program, marker
    shutil.rmtree(base, ignore_errors=True)


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("numatui: "), err
    return lines[0]


def plant(directory: Path, name: str, argv: list[str], mode: int = 0o600,
          saved: str = "2099-01-01T00:00:00+00:00",
          launched: bool = True) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"version": 1, "name": name, "argv": argv, "launched": launched,
                                "address": None, "plan": PLAN.to_dict(), "saved": saved}))
    path.chmod(mode)
    return path


def test_a_planted_state_never_runs_its_program(evil: tuple[Path, Path]) -> None:
    program, marker = evil
    d = state_dir()
    # 0600 in a 0700 directory of the user's, "launched", newest by its own field:
    # still refused, because the program is another user's in a directory others write
    path = plant(d, "evil", [str(program), "-m", "1G"])
    code, _out, err = run("launch", "--resume", "--no-tui")
    assert code == 2, err
    assert "not resuming" in one_line(err) and str(program) in err
    code, _out, err = run("launch", "--resume", str(path), "--no-tui")
    assert code == 2 and "not resuming" in one_line(err)
    # a file others can read/write: refused before its program is even looked at
    path.chmod(0o644)
    code, _out, err = run("launch", "--resume", "evil", "--no-tui")
    assert code == 2 and "not 0600" in one_line(err)
    # a file numatui did not launch (attached): never started
    plant(d, "attached", ["qemu-system-x86_64"], launched=False)
    with pytest.raises(SavedStateError, match="did not launch"):
        find(str(d / "attached.json"))
    assert not marker.exists()


def test_newest_is_the_files_mtime_not_its_saved_field(tmp_path: Path) -> None:
    d = tmp_path / "numatui"
    old = plant(d, "planted", ["qemu-system-x86_64"], saved="2099-01-01T00:00:00+00:00")
    os.utime(old, (1, 1))
    real = save(d / "real.json", PLAN, argv=["qemu-system-x86_64", "-m", "1G"], launched=True)
    assert [s.path for s in list_saved(d)] == [real.path, old]
    assert find(None, d).path == real.path


@pytest.mark.parametrize("how", ["world-writable", "symlink"])
def test_an_untrusted_state_directory_is_not_used(qemu: object, how: str, tmp_path: Path) -> None:
    d = state_dir()
    d.parent.mkdir(parents=True, exist_ok=True)
    if how == "world-writable":
        d.mkdir(mode=0o700)
        d.chmod(0o777)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        d.symlink_to(elsewhere)
    sock = qemu.sock  # type: ignore[attr-defined]
    code, _out, err = run("connect", sock, "--no-tui", "--nodes", "2")
    assert code == 0, err
    line = one_line(err)
    assert "autosave is off" in line and str(d) in line
    assert ("chmod 700" in line) if how == "world-writable" else ("symlink" in line)
    assert not list(d.glob("*.json"))  # nothing saved there
    code, out, err = run("export", sock, "--format", "json", "--nodes", "2")
    assert code == 0 and json.loads(out)["version"] == 1  # exports still work


def test_another_users_qemu_is_attached_but_its_command_line_never_started(
        evil: tuple[Path, Path]) -> None:
    program, marker = evil
    run_dir = Path(tempfile.mkdtemp(prefix="numatui-test-nobody-"))  # reachable by uid 65534
    run_dir.chmod(0o755)
    os.chown(run_dir, NOBODY, NOBODY)
    sock = run_dir / "vm.qmp"
    # a REAL QEMU of uid 65534 whose argv[0] names the other user's fake program
    argv = [*DEFAULT_ARGS, "-display", "none", "-nodefaults", "--preconfig",
            "-qmp", f"unix:{sock},server=on,wait=off"]
    stderr = run_dir / "stderr"
    with open(stderr, "wb") as f:
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "bash", "-c",
             f'exec -a {program} "$0" "$@"', shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
             *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
    try:
        _wait_for_socket(str(sock), proc, stderr)
        code, _out, err = run("connect", str(sock), "--no-tui")
        assert code == 0, err
        assert "runs as user nobody (uid 65534)" in err and "never started" in err
        saved = list_saved()
        assert len(saved) == 1 and saved[0].qemu_argv and saved[0].qemu_argv[0] == str(program)
        assert saved[0].argv is None and not saved[0].launched
        code, _out, err = run("launch", "--resume", "--no-tui")
        assert code == 2 and "nothing to resume" in one_line(err)
        code, _out, err = run("launch", "--resume", str(saved[0].path), "--no-tui")
        assert code == 2 and "did not launch" in one_line(err)
        # even a hand-edited "launched": true does not start the other user's program
        data = json.loads(saved[0].path.read_text())
        data.update(launched=True, argv=data["qemu_argv"])
        saved[0].path.write_text(json.dumps(data))
        code, _out, err = run("launch", "--resume", "--no-tui")
        assert code == 2 and "not resuming" in one_line(err)
        assert proc.poll() is None  # the other user's VM is untouched
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.05)
    assert not marker.exists()
