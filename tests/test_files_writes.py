"""Files numatui writes never go through a planted link: the copy fallback
only in a private cache directory and renamed into place, the --log
transcript opened O_NOFOLLOW, every other file a new file renamed over the
target.  The assertions are on the victim file's content."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from numatui import cli
from numatui.session import files
from numatui.tui.clipboard import fallback_path, save_copy

HANG = 60.0


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_text("precious\n")
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return fallback_path().parent


def test_the_copy_fallback_refuses_a_cache_directory_others_can_write(cache: Path, victim: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    (cache / "copied.txt").symlink_to(victim)
    with pytest.raises(OSError, match="not 0700"):
        save_copy("-numa dist,src=0,dst=1,val=99\n")
    assert victim.read_text() == "precious\n"


def test_the_copy_fallback_replaces_a_planted_link(cache: Path, victim: Path) -> None:
    cache.mkdir(mode=0o700, parents=True)
    (cache / "copied.txt").symlink_to(victim)
    path = save_copy("-numa node,nodeid=0\n")
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text() == "-numa node,nodeid=0\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_copy_fallback_makes_a_private_cache_directory(cache: Path) -> None:
    path = save_copy("x")
    assert path.read_text() == "x" and cache.stat().st_mode & 0o777 == 0o700


def test_write_atomic_replaces_links_and_refuses_directories(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to(victim)
    files.write_atomic(link, "new\n", mode=0o644)
    assert victim.read_text() == "precious\n"
    assert link.read_text() == "new\n" and (link.stat().st_mode & 0o777) == 0o644
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        files.write_atomic(tmp_path / "dir", "x")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_log_is_never_written_through_a_link(qemu: Any, tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "qmp.log"
    link.symlink_to(victim)
    code, _out, err = run("show", qemu.sock, "--nodes", "2", "--log", str(link))
    assert code == 2, err
    assert "symlink" in err and len(err.splitlines()) == 1
    assert victim.read_text() == "precious\n"
    # a regular log is appended to, what was there kept
    log = tmp_path / "real.log"
    log.write_text("earlier\n")
    code, _out, err = run("show", qemu.sock, "--nodes", "2", "--log", str(log))
    assert code == 0, err
    text = log.read_text()
    assert text.startswith("earlier\n") and '"query-status"' in text


def test_a_fifo_as_the_log_is_refused_not_a_hang(qemu: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # with a reader, opening it would succeed
    try:
        proc = subprocess.run([sys.executable, "-m", "numatui", "show", qemu.sock, "--nodes", "2",
                               "--log", str(fifo)], capture_output=True, text=True, timeout=HANG)
    finally:
        os.close(reader)
    assert proc.returncode == 2, proc.stderr
    assert "FIFO" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_screenshot_goes_only_into_a_private_state_directory(
        session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: bool) -> None:
    from tui_helpers import Notes

    from numatui.session.xdg import state_dir
    from numatui.tui.app import NumaApp

    d = state_dir()
    d.mkdir(mode=0o700, parents=True, exist_ok=True)  # the session keeps its record there
    if not trusted:
        d.chmod(0o777)
    before = sorted(p.name for p in d.iterdir())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    app = NumaApp(session)
    notes = Notes(app)
    async with app.run_test(size=(100, 30)) as pilot:
        next(c for c in app.get_system_commands(app.screen) if c.title == "Screenshot").callback()
        await pilot.pause()
    path = Path(notes.text().split("Screenshot saved to ")[1].split()[0])
    assert path.read_text().startswith("<svg")
    if trusted:
        assert path.parent == d / "screenshots" and (d / "screenshots").stat().st_mode & 0o777 == 0o700
        assert d.stat().st_mode & 0o777 == 0o700
    else:
        assert path.parent == cwd and sorted(p.name for p in d.iterdir()) == before
