"""Shared fixtures: real QEMU processes in preconfig on private unix sockets.

Every QEMU gets two monitors: ``sock`` for the code under test and ``check``
for the test's own independent look (``await qemu.qmp(...)``), so assertions
read what QEMU itself reports, not what numatui believes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import QMPClient

from numatui.core.autosave import Autosaver
from numatui.core.keeper import Keeper
from numatui.model.topology import SlotKey, Topology
from numatui.session.launcher import Launcher
from numatui.session.qemu_binary import qemu_binary
from numatui.session.session import Session

DATA = Path(__file__).parent / "data"

#: The distribution's QEMU, whatever NUMATUI_TEST_QEMU put first on PATH: what
#: libvirt's converter may probe (a private prefix's QEMU needs its -L and modules).
SYSTEM_QEMU = shutil.which("qemu-system-x86_64", path=os.defpath) or "/usr/bin/qemu-system-x86_64"

# -- the QEMU version matrix ---------------------------------------------------
# NUMATUI_TEST_QEMU=10.0 runs the tests on the QEMU 10.0 that scripts/dev
# unpacks into .cache/qemu-10.0: its bin dir goes first on PATH, so the tests,
# the Launcher and CLI subprocesses all run it by the plain name
# qemu-system-x86_64; start_qemu and the Launcher add its -L and
# QEMU_MODULE_DIR (numatui.session.qemu_binary).  Default: the system's QEMU.
ROOT = Path(__file__).resolve().parent.parent
QEMU10_PREFIX = ROOT / ".cache" / "qemu-10.0"
TEST_QEMU = os.environ.get("NUMATUI_TEST_QEMU", "7.2")
if TEST_QEMU == "10.0":
    _bindir = QEMU10_PREFIX / "usr" / "bin"
    if not (_bindir / "qemu-system-x86_64").is_file():
        raise pytest.UsageError(
            f"NUMATUI_TEST_QEMU=10.0: no {_bindir}/qemu-system-x86_64 (scripts/dev test unpacks it)")
    os.environ["PATH"] = f"{_bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    # safety net for tests that run QEMU by a bare subprocess: every
    # qemu-system-* the tests name (x86_64, aarch64, ppc64) is now 10.0's
    _modules = qemu_binary("qemu-system-x86_64").module_dir
    if _modules is not None:
        os.environ["QEMU_MODULE_DIR"] = str(_modules)
elif TEST_QEMU != "7.2":
    raise pytest.UsageError(f"NUMATUI_TEST_QEMU={TEST_QEMU}: give 7.2 (the system's QEMU) or 10.0")

#: Fixtures that start QEMU: a test using one (directly or through another
#: fixture) gets the ``qemu`` marker, so ``pytest -m "not qemu"`` runs the pure tests.
QEMU_FIXTURES = frozenset({
    "qemu", "qemu_factory", "session", "launched", "vm", "rig", "proxy_dir", "tmux",
    "libvirtd",  # the domain tests: numatui's scratch QEMU (tests/libvirt_fixtures.py)
})
#: Tests that start QEMU themselves (Launcher, CLI subprocesses, bare
#: subprocess.run), found by running ``-m "not qemu"`` with no QEMU on PATH.
QEMU_TESTS = frozenset({
    "test_autosave.py::test_autosave_follows_every_step_and_resume_restores_it",
    "test_autosave.py::test_launch_resume_restores_the_saved_plan_in_a_fresh_qemu",
    "test_cli.py::test_launch_prints_without_tui_and_stops_qemu",
    "test_cli.py::test_launch_failure_is_qemus_line",
    "test_cli.py::test_sigterm_stops_the_launched_qemu_and_removes_its_directory",
    "test_launcher.py::test_keep_running_starts_its_own_session_and_survives_the_launcher_object",
    "test_model_qemu_roundtrip.py::test_preflight_blocks_exactly_when_qemu_refuses",
    "test_resilience_faults.py::test_qemu_exits_at_exit_preconfig_with_its_own_words",
    "test_resilience_replay.py::test_move_on_a_board_without_query_hotpluggable_cpus",
    "test_session_boot.py::test_with_numatuis_launcher",
    "test_bench_smoke.py::test_quick_bench_prints_every_ratio",
})


def qemu_version() -> tuple[int, int]:
    """(major, minor) of the qemu-system-x86_64 the tests run."""
    out = subprocess.run(["qemu-system-x86_64", "--version"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    assert m, out
    return int(m[1]), int(m[2])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        test = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if names & QEMU_FIXTURES or test in QEMU_TESTS or item.get_closest_marker("guest"):
            item.add_marker(pytest.mark.qemu)
        if TEST_QEMU != "7.2" and "snap_compare" in names:
            item.add_marker(pytest.mark.skip(
                reason="screen snapshots are of QEMU 7.2 (its version and machine type are on screen)"))
# -- end of the QEMU version matrix ---------------------------------------------

#: The topology numatui launches by default, with two 1G nodes.
DEFAULT_ARGS = [
    "-machine", "q35", "-accel", "tcg", "-cpu", "max",
    "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G",
]


def numa_node_args(count: int, ram_mib: int) -> list[str]:
    """``-object memory-backend-ram`` + ``-numa node,memdev=`` for ``count`` equal nodes."""
    args: list[str] = []
    each = ram_mib // count
    for i in range(count):
        size = each if i < count - 1 else ram_mib - each * (count - 1)
        args += ["-object", f"memory-backend-ram,id=m{i},size={size}M",
                 "-numa", f"node,nodeid={i},memdev=m{i}"]
    return args


@dataclass
class Qemu:
    """A QEMU under test."""

    proc: subprocess.Popen[bytes]
    sock: str
    check: str
    argv: list[str]
    stderr_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    async def qmp(self, command: str, args: dict[str, Any] | None = None) -> Any:
        """Run one command on the test's own monitor (a fresh client each call)."""
        client = QMPClient("check")
        await asyncio.wait_for(client.connect(self.check), 5)
        try:
            return await asyncio.wait_for(client.execute(command, args), 10)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def nodes(self) -> dict[tuple[tuple[str, int], ...], int | None]:
        """slot key -> node-id as QEMU's own query-hotpluggable-cpus says."""
        from numatui.model.topology import Topology

        topo = Topology.from_hotpluggable(await self.qmp("query-hotpluggable-cpus"))
        return topo.mapping()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _listening(path: str) -> bool:
    """True once QEMU listens on the unix socket ``path``.

    The file appears at bind(), a moment before listen(): a client that
    connects in between gets ECONNREFUSED.  /proc/net/unix shows the
    listening flag (__SO_ACCEPTCON, 0x10000) without taking the monitor's one
    client slot.
    """
    try:
        with open("/proc/net/unix") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                    return True
        return False
    except (OSError, ValueError):  # no procfs: fall back to the file
        return os.path.exists(path)


# -- waiting: every test waits by polling a condition with a deadline ------------------
POLL = 0.01


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> Any:
    """Poll ``predicate`` on the running loop until it returns something true
    (returned); AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(POLL)
    return value


def until_sync(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition",
               step: float = POLL) -> Any:
    """:func:`until` for code without an event loop (subprocesses, tmux)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(step)
    return value


def _wait_for_socket(path: str, proc: subprocess.Popen[bytes], stderr: Path) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"QEMU exited: {stderr.read_text(errors='replace')}")
        return os.path.exists(path) and _listening(path)

    until_sync(up, 10, "QEMU creating its QMP socket")


def start_qemu(
    tmp: Path,
    args: list[str],
    binary: str = "qemu-system-x86_64",
    preconfig: bool = True,
    name: str = "vm",
) -> Qemu:
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed (scripts/dev test installs it)")
    sock = str(tmp / f"{name}.qmp")
    check = str(tmp / f"{name}.check")
    stderr_path = tmp / f"{name}.stderr"
    found = qemu_binary(binary)  # a private prefix (QEMU 10.0 in .cache): its -L and modules
    argv = [binary, *found.data_args(), *args, "-display", "none", "-nodefaults"]
    if preconfig:
        argv.append("--preconfig")
    argv += ["-qmp", f"unix:{sock},server=on,wait=off", "-qmp", f"unix:{check},server=on,wait=off"]
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env=found.env())
    _wait_for_socket(check, proc, stderr_path)
    _wait_for_socket(sock, proc, stderr_path)
    return Qemu(proc=proc, sock=sock, check=check, argv=argv, stderr_path=stderr_path)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """numatui autosaves to $XDG_STATE_HOME/numatui: never the real one in tests."""
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def qemu_factory() -> Iterator[Any]:
    """``qemu_factory(args, binary=..., preconfig=...)`` starts a QEMU killed at teardown."""
    started: list[Qemu] = []
    # unix socket paths are limited to 107 bytes: keep them short
    short = Path(os.environ.get("NUMATUI_TEST_SOCKDIR", "/tmp"))
    counter = iter(range(1000))

    def factory(args: list[str], binary: str = "qemu-system-x86_64", preconfig: bool = True) -> Qemu:
        d = Path(short) / f"nt-{os.getpid()}-{id(started)}-{next(counter)}"
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        q = start_qemu(d, args, binary=binary, preconfig=preconfig)
        q.extra["dir"] = d
        started.append(q)
        return q

    yield factory
    for q in started:
        q.kill()
        shutil.rmtree(q.extra["dir"], ignore_errors=True)


@pytest.fixture
def qemu(qemu_factory: Any) -> Qemu:
    """The default q35 VM (2 sockets x 2 cores x 2 threads, 2 nodes of 1G) in preconfig."""
    q: Qemu = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    return q


def load_data(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
async def session(qemu: Qemu) -> AsyncIterator[Session]:
    """A Session on the ``qemu`` fixture's monitor."""
    s = await Session.connect(qemu.sock)
    yield s
    await s.close()


@asynccontextmanager
async def session_on(launcher: Launcher) -> AsyncIterator[Session]:
    """``launcher`` started and a Session on it; stops every QEMU it ended up
    with, the first and any relaunched one (also when connecting fails)."""
    await launcher.start()
    s: Session | None = None
    try:
        s = await Session.connect(launcher.address, launcher=launcher)
        yield s
    finally:
        if s is not None:
            await s.close()
        for x in {id(x): x for x in (s and s.launcher, launcher)}.values():
            if isinstance(x, Launcher):
                await x.stop()


def launched_session(**launcher_args: Any) -> Any:
    """:func:`session_on` a QEMU numatui launches itself (``Launcher(**launcher_args)``)."""
    return session_on(Launcher(**launcher_args))


@pytest.fixture
async def launched() -> AsyncIterator[Session]:
    """A Session on a QEMU numatui launched itself (``DEFAULT_ARGS``)."""
    async with launched_session(extra_args=DEFAULT_ARGS) as s:
        yield s


@asynccontextmanager
async def launched_with_keeper(tmp_path: Path) -> AsyncIterator[tuple[Session, Keeper, Autosaver]]:
    """A Session on a QEMU numatui launched (``DEFAULT_ARGS``) with a Keeper
    autosaving to ``tmp_path / "vm.json"``; stops every QEMU it ended up with."""
    async with launched_session(extra_args=DEFAULT_ARGS) as session:
        saver = Autosaver(tmp_path / "vm.json")
        keeper = Keeper(session, save=saver.save_session)
        keeper.autosave()
        yield session, keeper, saver


def socket(topo: Topology, n: int) -> list[SlotKey]:
    """The slots of socket ``n``."""
    return [s.key for s in topo.slots if s.key[0] == ("socket-id", n)]


def info_numa(text: str) -> dict[int, tuple[str, int]]:
    """node -> (cpus, size MB) from HMP ``info numa``."""
    cpus = {int(m[1]): m[2].strip() for m in re.finditer(r"^node (\d+) cpus:(.*)$", text, re.M)}
    sizes = {int(m[1]): int(m[2]) for m in re.finditer(r"^node (\d+) size: (\d+) MB", text, re.M)}
    return {n: (cpus.get(n, ""), sizes[n]) for n in sizes}
