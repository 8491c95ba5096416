"""Bounded reads (numatui.session.files): devices, FIFOs, huge and non-UTF-8
files as plans, records and host trees are refused in one line with exit 2,
quickly; host trees are read as the kernel writes them.

Every CLI run here happens in a child process with a hang-catching limit
(ten times what it needs), so a read that blocks or never ends fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from numatui.model.errors import NumaError
from numatui.model.host import parse_cpulist, parse_cpumask
from numatui.session import files
from numatui.session.host_reader import DirectoryFiles, read_host

MiB = 1 << 20
HANG = 60.0  # seconds: catches a hang, not a speed


def cli(*argv: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """``python -m numatui ARGV`` in a child: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "numatui", *argv], input=stdin, capture_output=True,
                          timeout=HANG, env={**os.environ, "NUMATUI_DEBUG": ""})
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("numatui: "), err
    assert "internal error" not in lines[0] and "Traceback" not in err
    return lines[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


# -- the reader itself ------------------------------------------------------------
def test_reads_only_regular_files_and_counts_bytes(tmp_path: Path, fifo: Path) -> None:
    for path, kind in ((Path("/dev/zero"), "character device"), (fifo, "FIFO"), (tmp_path, "directory")):
        with pytest.raises(files.FileRefused, match=kind):
            files.read_bytes(path, MiB, "plan")
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MiB + 1))
    with pytest.raises(files.FileRefused, match="larger than 1 MiB"):
        files.read_bytes(big, MiB, "plan")
    assert files.read_bytes(big, 2 * MiB, "plan") == b"x" * (MiB + 1)
    # /proc reports st_size 0: the bytes are counted, not the size trusted
    assert os.stat("/proc/self/status").st_size == 0
    assert b"Name:" in files.read_bytes("/proc/self/status", MiB, "status")
    with pytest.raises(files.FileRefused, match="larger than"):
        files.read_bytes("/proc/self/status", 16, "status")
    link = tmp_path / "link"
    link.symlink_to(big)
    with pytest.raises(files.FileRefused, match="symlink"):
        files.read_bytes(link, 2 * MiB, "record", follow=False)
    assert files.read_optional(tmp_path / "missing", MiB, "x") is None


def test_cpu_lists_are_bounded_by_the_kernel_before_expanding() -> None:
    start = time.monotonic()
    for text in ("0-999999999999", "0-8192", "99999999999999999999999999", "5-" + "9" * 5000):
        with pytest.raises(NumaError):
            parse_cpulist(text)
    with pytest.raises(NumaError):
        parse_cpumask("f" * 500_000)  # a 2-million-bit mask
    assert time.monotonic() - start < HANG
    assert parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpulist("0-8191")[-1] == 8191
    assert parse_cpumask("00000000,0000ff00\n") == tuple(range(8, 16))
    for junk in ("0-x", "²", "٣-4", "3-1", "-1"):
        with pytest.raises(NumaError):
            parse_cpulist(junk)


# -- plans ------------------------------------------------------------------------
def test_plans_that_are_not_regular_files_or_too_big_are_one_line(tmp_path: Path, fifo: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"# padding\n" * (16 * MiB // 10 + 1))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"-numa node,nodeid=0 # caf\xe9\n")
    for path, words in (("/dev/zero", "character device"), (str(fifo), "FIFO"),
                        (str(big), "larger than 16 MiB"), (str(latin), "not UTF-8")):
        code, _out, err = cli("apply", "unix:/nonexistent.sock", path)
        assert code == 2, err
        assert words in one_line(err) and path in err
    code, _out, err = cli("apply", "unix:/nonexistent.sock", "-", stdin=b"#" * (16 * MiB + 1))
    assert code == 2 and "larger than 16 MiB on standard input" in one_line(err)


@pytest.mark.parametrize("shape", ["one 10 MB line", "2 million lines"])
def test_a_plan_under_the_cap_is_handled_in_seconds(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "plan.txt"
    if shape == "one 10 MB line":
        path.write_text("-numa node,nodeid=0,memdev=" + "x" * 10_000_000 + "\n")
    else:
        path.write_text("# a comment\n" * 1_000_000 + "\n" * 1_000_000)
    code, _out, err = cli("apply", "unix:/nonexistent.sock", str(path))
    assert code in (2, 3), err  # refused, or a valid plan that then finds no QEMU
    one_line(err)


# -- records ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["device", "fifo", "too big", "not UTF-8"])
def test_a_record_file_that_cannot_be_one_is_refused_before_connecting(
        qemu: Any, tmp_path: Path, fifo: Path, kind: str) -> None:
    path = {"device": Path("/dev/zero"), "fifo": fifo}.get(kind, tmp_path / "rec")
    if kind == "too big":
        path.write_bytes(b" " * (16 * MiB + 1))
    elif kind == "not UTF-8":
        path.write_bytes(b'{"version": 1, "qemu": null, "\xff": 1}')
    code, _out, err = cli("show", qemu.sock, "--nodes", "2", "--record", str(path))
    assert code == 2, err
    assert str(path) in one_line(err)
    if kind == "too big":
        assert path.stat().st_size == 16 * MiB + 1  # left as it was


# -- host trees -------------------------------------------------------------------
def _tree(root: Path, online: str | bytes) -> Path:
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_bytes(online.encode() if isinstance(online, str) else online)
    for n in range(2):
        topo = cpu / f"cpu{n}" / "topology"
        topo.mkdir(parents=True)
        (topo / "core_id").write_bytes(f"{n}\0".encode())  # as some kernels write it: a NUL, no newline
        (topo / "physical_package_id").write_bytes(b"0")  # no newline at all
        (topo / "thread_siblings_list").write_bytes(f"{n}\n".encode())
        (topo / "die_id").write_bytes(b"")  # empty
    node = root / "sys/devices/system/node/node0"
    node.mkdir(parents=True)
    (node / "cpulist").write_bytes(b"0-1\0")
    (node / "distance").write_bytes(b"10")
    (node / "meminfo").write_bytes(b"Node 0 MemTotal:       1024 kB\nNode 0 MemFree:  512 kB")
    return root


def test_a_host_tree_is_read_as_the_kernel_writes_it(tmp_path: Path) -> None:
    host = read_host(_tree(tmp_path, "0-1\0"))
    assert [c.cpu for c in host.cpus] == [0, 1]
    assert [(c.core, c.package, c.die) for c in host.cpus] == [(0, 0, None), (1, 0, None)]
    assert host.nodes[0].cpus == (0, 1) and host.nodes[0].memory == 1 << 20
    assert host.distances == ((10,),)


@pytest.mark.parametrize("plant", ["fifo", "huge online", "absurd range", "device"])
def test_a_planted_host_tree_is_one_line_not_a_hang(tmp_path: Path, plant: str) -> None:
    root = _tree(tmp_path / "t", "0-1\n")
    online = root / "sys/devices/system/cpu/online"
    if plant == "fifo":
        os.unlink(online)
        os.mkfifo(online)
    elif plant == "huge online":
        online.write_bytes(b"0," * MiB)
    elif plant == "absurd range":
        online.write_bytes(b"0-999999999999\n")
    else:
        os.unlink(online)
        online.symlink_to("/dev/zero")
    code, out, err = cli("host", "--host-root", str(root))
    assert code == 2, (out, err)
    assert "online" in one_line(err)


def test_directory_files_reads_nothing_it_should_not(tmp_path: Path) -> None:
    reader = DirectoryFiles(tmp_path)
    assert reader.read("missing") is None
    assert reader.read("bad\0name") is None
    (tmp_path / "x").write_bytes(b"1\0")
    assert reader.read("x") == "1\n"


def test_proc_cmdline_is_read_bounded() -> None:
    from numatui.session.peer import read_cmdline

    sleeper = subprocess.Popen([shutil.which("sleep") or "sleep", "30"])
    try:  # right after the fork the kernel may show an empty cmdline (None) until exec is done
        deadline = time.monotonic() + HANG
        while (argv := read_cmdline(sleeper.pid)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert argv == [shutil.which("sleep") or "sleep", "30"]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert read_cmdline(2**22 + 12345) is None  # no such process


def test_host_node_ranges_are_bounded_before_expanding() -> None:
    from numatui.model.qemu_args import load_plan

    with pytest.raises(NumaError, match=r"host-nodes.*99999999999"):  # one line naming it
        load_plan("-object memory-backend-ram,id=m0,size=1G,host-nodes=0-99999999999,policy=bind\n"
                  "-numa node,nodeid=0,memdev=m0\n")
