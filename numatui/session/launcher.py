"""Start a QEMU in preconfig for numatui, on a private unix socket.

QEMU runs from an argv (no shell), with ``--preconfig`` and one ``-qmp
unix:`` monitor in a new directory only the user can enter (mode 0700); never
TCP.  Its stderr goes to a file in that directory so that QEMU's own words
are at hand when it fails to start or dies later (:meth:`Launcher.stderr_tail`).

Without ``--keep-running`` QEMU dies with numatui, however numatui ends
(``PR_SET_PDEATHSIG``, :mod:`numatui.session.child_lifetime`), and a launch
removes the socket directories of QEMUs that are gone.  ``-daemonize`` is
refused: numatui needs QEMU as its child.

The process is a :class:`subprocess.Popen`, not an asyncio subprocess: an
asyncio subprocess transport kills its child when it is closed or collected,
which would take ``--keep-running`` QEMUs down with numatui.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from numatui.model.argv import split_program
from numatui.model.errors import NumaError
from numatui.model.numbers import parse_qemu_int
from numatui.model.plan import MAX_NODES, Node
from numatui.model.qemu_args import free_memdev_id, iter_options, parse_qemu_args
from numatui.model.smp import split_opts
from numatui.model.units import format_size, parse_size
from numatui.session.address import Address
from numatui.session.child_lifetime import die_with_parent, remove_stale_dirs
from numatui.session.errors import SessionError
from numatui.session.peer import looks_like_qemu
from numatui.session.qemu_binary import qemu_binary

DEFAULT_QEMU = "qemu-system-x86_64"
#: ``-machine`` when the args name none (aarch64 has no default board).
DEFAULT_MACHINES = {"x86_64": "q35", "i386": "q35", "aarch64": "virt"}
DEFAULT_SMP = "8,sockets=2,cores=2,threads=2"
#: pseries under TCG cannot boot threads>1 (``TCG cannot support more than 1 thread/core``).
DEFAULT_SMP_PPC64_TCG = "8,sockets=2,cores=4,threads=1"
DEFAULT_MEMORY = "2G"
DEFAULT_NODES = 2

#: How long QEMU may take to create its QMP socket.
START_TIMEOUT = 15.0

#: How often :meth:`Launcher.start` looks for QEMU's socket and :meth:`Launcher.stop`
#: for its exit: short, since a relaunch (a move, an undo) waits on both, and
#: each look is one stat or waitpid.
POLL_SECONDS = 0.002

_MIB = 1024 * 1024

#: QEMU's own architecture names for the host's ``platform.machine()``.
_HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
              "ppc64le": "ppc64", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64"}


class LaunchFailed(SessionError):
    """QEMU did not start.  ``str()`` is QEMU's own error line; ``.stderr`` all it said."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened read-write (what QEMU needs)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def binary_arch(binary: str) -> str | None:
    """``qemu-system-x86_64`` -> ``x86_64``; None for a name that does not say."""
    name = os.path.basename(binary)
    prefix = "qemu-system-"
    return name[len(prefix):] if name.startswith(prefix) else None


def _names(argv: Sequence[str]) -> set[str]:
    """The option names (no dashes) in ``argv``: ``-smp 4`` and ``--smp=4`` give ``smp``."""
    return {opt.name for opt in iter_options(argv) if opt.name is not None}


def _values(argv: Sequence[str], *names: str) -> list[str]:
    return [opt.value or "" for opt in iter_options(argv) if opt.name in names]


def _split_memory(total: int, count: int) -> list[int]:
    """``total`` bytes over ``count`` nodes, whole MiB each, the rest on the last."""
    each = (total // count) // _MIB * _MIB
    if each == 0:
        raise NumaError(
            f"-m {format_size(total)} is too small for {count} nodes: give each node at least 1M"
        )
    return [each] * (count - 1) + [total - each * (count - 1)]


def with_hmat(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``hmat=on`` added to its (first) ``-machine`` option, or a
    ``-machine hmat=on`` of its own when it has none."""
    out = list(argv)
    for i, tok in enumerate(out[:-1]):
        if tok in ("-machine", "-M", "--machine"):
            if "hmat=" not in out[i + 1]:
                out[i + 1] += ",hmat=on"
            return out
    return [*out, "-machine", "hmat=on"]


class Launcher:
    """A QEMU that numatui starts in preconfig (see the module docstring)."""

    def __init__(
        self,
        qemu: str = DEFAULT_QEMU,
        nodes: int = DEFAULT_NODES,
        smp: str | None = None,
        memory: str | None = None,
        extra_args: Sequence[str] = (),
        keep_running: bool = False,
        hmat: bool = False,
    ) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise NumaError(f"--nodes {nodes} is out of range (1..{MAX_NODES})")
        program, rest = split_program(extra_args)
        if program is not None and looks_like_qemu([program]):  # a whole command line, program first
            if qemu not in (DEFAULT_QEMU, program):
                raise NumaError(f"give the QEMU once: --qemu {qemu} or {program} after --, not both")
            qemu, extra_args = program, rest
        self.qemu = qemu
        self.binary = qemu_binary(qemu)  # a private prefix's -L and QEMU_MODULE_DIR
        self.node_count = nodes
        self.smp = smp
        self.memory = memory
        self.extra_args = list(extra_args)
        self.keep_running = keep_running
        self.hmat = hmat
        self.nodes: list[Node] = []
        self.user_argv: list[str] = self._build_user_argv()
        #: the command line the user started from; a relaunch's launcher keeps its
        #: predecessor's (numatui.session.replay.relaunch), so exports see what numatui rewrote
        self.origin_argv: list[str] = list(self.user_argv)
        self._dir: Path | None = None
        self._address: Address | None = None
        self._argv: list[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_path: Path | None = None

    # -- the command line -------------------------------------------------------
    def _build_user_argv(self) -> list[str]:
        """QEMU's argv without --preconfig and numatui's monitor: what exports use."""
        extra = [t for opt in iter_options(self.extra_args) if opt.name != "preconfig"
                 for t in opt.tokens]
        given = _names(extra)
        if "daemonize" in given:
            raise NumaError("-daemonize: numatui needs QEMU as its child (to stop it and read its "
                            "errors); leave it out (--keep-running leaves QEMU running on exit)")
        arch = binary_arch(self.qemu)
        x86 = arch in ("x86_64", "i386")
        head: list[str] = [self.qemu]
        if "L" not in given:
            head += self.binary.data_args()
        machines = _values(extra, "machine", "M")
        if not machines and arch in DEFAULT_MACHINES:
            head += ["-machine", DEFAULT_MACHINES[arch]]
        accels = _values(extra, "accel") + [m for m in machines if "accel=" in m]
        accel_given = bool(accels) or "enable-kvm" in given
        tcg = any("tcg" in a for a in accels)
        if not accel_given:
            if arch is not None and _same_arch(arch) and kvm_usable():
                head += ["-accel", "kvm"]
            else:
                head += ["-accel", "tcg"]
                tcg = True
        if "cpu" not in given and tcg and (x86 or arch == "aarch64"):
            head += ["-cpu", "max"]  # TCG's default x86 model warns about threads
        if self.smp is not None:
            if "smp" in given:
                raise NumaError("give the CPU topology once: --smp or -smp after --, not both")
            head += ["-smp", self.smp]
        elif "smp" not in given:
            head += ["-smp", DEFAULT_SMP_PPC64_TCG if arch == "ppc64" and tcg else DEFAULT_SMP]
        if self.memory is not None:
            if "m" in given:
                raise NumaError("give the RAM size once: -m before -- or after it, not both")
            head += ["-m", self.memory]
        elif "m" not in given:
            head += ["-m", DEFAULT_MEMORY]
        if not given & {"display", "nographic", "vnc", "curses", "sdl"}:
            head += ["-display", "none"]
        argv = head + extra
        if self.hmat:
            argv = with_hmat(argv)
        return self._declare_nodes(argv)

    def _declare_nodes(self, argv: list[str]) -> list[str]:
        """Give every NUMA node memory (machine types >= 5.1 need memdev=).

        No ``-numa node`` at all: declare ``self.node_count`` nodes splitting
        ``-m`` evenly.  Nodes without memory (the seed-era ``-numa
        node,nodeid=0``): give them memory.  Nodes with memory: leave them.
        """
        # -smp is QEMU's to judge (LaunchFailed carries its own words); memory
        # and nodes are read here to size the backends.
        memory_args = [tok for opt in iter_options(argv[1:]) if opt.name != "smp" for tok in opt.tokens]
        config = parse_qemu_args(memory_args, strict=False)
        ram = config.ram_size
        if ram is None:
            ram = parse_size(DEFAULT_MEMORY, default_unit="m")
        options = list(iter_options(argv[1:]))
        numa = [(i, dict(split_opts(opt.value or "", "type", "-numa")))
                for i, opt in enumerate(options) if opt.name == "numa"]
        numa_at = [i for i, keys in numa if keys.get("type") == "node"]
        declared = [keys for _, keys in numa if keys.get("type") == "node"]
        if any("memdev" in d or "mem" in d for d in declared):
            self.nodes = sorted(config.nodes, key=lambda n: n.id)
            return argv
        used = set(config.memdev_ids)

        names: dict[int, str] = {}

        def memdev_id(node: int) -> str:  # one name per node, as every new backend is named
            if node not in names:
                names[node] = free_memdev_id(node, used)
            return names[node]

        if not declared:
            ids = list(range(self.node_count))
            sizes = _split_memory(ram, len(ids))
            out = list(argv)
            for node, size in zip(ids, sizes, strict=True):
                out += ["-object", f"memory-backend-ram,id={memdev_id(node)},size={format_size(size)}",
                        "-numa", f"node,nodeid={node},memdev={memdev_id(node)}"]
            self.nodes = [Node(id=n, memdev=memdev_id(n), size=s)
                          for n, s in zip(ids, sizes, strict=True)]
            return out
        # the user's own nodes, with memory added
        ids = []
        for i, d in zip(numa_at, declared, strict=True):
            ids.append(parse_qemu_int(d.get("nodeid", str(len(ids))), "nodeid", options[i].text, 0xFFFF))
        sizes = _split_memory(ram, len(ids))
        memdev_of = dict(zip(numa_at, ids, strict=True))
        out = [argv[0]]
        for i, opt in enumerate(options):
            if i in memdev_of:
                out += ["-numa", f"{opt.value},memdev={memdev_id(memdev_of[i])}"]
            else:
                out += opt.tokens
        for node, size in zip(ids, sizes, strict=True):
            out += ["-object", f"memory-backend-ram,id={memdev_id(node)},size={format_size(size)}"]
        self.nodes = sorted(
            (Node(id=n, memdev=memdev_id(n), size=s) for n, s in zip(ids, sizes, strict=True)),
            key=lambda n: n.id,
        )
        return out

    @property
    def argv(self) -> list[str]:
        """The full argv, with --preconfig and numatui's -qmp (after :meth:`start`)."""
        if self._argv is None:
            raise RuntimeError("Launcher.argv is known once start() has made the socket directory")
        return list(self._argv)

    @property
    def address(self) -> Address:
        """``unix:`` address of numatui's monitor (after :meth:`start`)."""
        if self._address is None:
            raise RuntimeError("Launcher.address is known once start() has made the socket directory")
        return self._address

    @property
    def directory(self) -> Path | None:
        """The private directory holding the socket and QEMU's stderr."""
        return self._dir

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- running ----------------------------------------------------------------
    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start QEMU and wait for its socket.  Raises :class:`LaunchFailed`."""
        if self._proc is not None:
            raise RuntimeError("this Launcher has already started a QEMU; make a new one")
        base = None
        if len(tempfile.gettempdir()) > 60:  # unix socket paths are limited to 107 bytes
            base = "/tmp"
        remove_stale_dirs(base or tempfile.gettempdir())  # left by a numatui killed with -9
        self._dir = Path(tempfile.mkdtemp(prefix="numatui-", dir=base))
        os.chmod(self._dir, 0o700)
        sock = self._dir / "qmp.sock"
        self._address = Address.parse(f"unix:{sock}")
        self._argv = [*self.user_argv, "--preconfig", "-qmp", f"unix:{sock},server=on,wait=off"]
        self._stderr_path = self._dir / "qemu.stderr"
        try:
            with open(self._stderr_path, "wb") as err:
                self._proc = subprocess.Popen(
                    self._argv,
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    close_fds=True,
                    env=self.binary.env(),
                    # --keep-running: keep the terminal's ctrl+c from reaching QEMU
                    start_new_session=self.keep_running,
                    # otherwise QEMU dies with numatui, however numatui ends (kill -9 too)
                    preexec_fn=None if self.keep_running else die_with_parent(),
                )
        except OSError as exc:
            self._remove_dir()
            what = exc.strerror or str(exc)
            raise LaunchFailed(
                f"cannot run {self.qemu}: {what}; install QEMU or name it with --qemu"
            ) from None
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                stderr = self._read_stderr()
                self._remove_dir()
                raise LaunchFailed(_error_line(stderr, self.qemu, code), stderr)
            if sock.exists() and await _greeted(sock, max(0.05, deadline - time.monotonic())):
                return
            if time.monotonic() > deadline:
                stderr = self._read_stderr()
                await self.stop()
                raise LaunchFailed(
                    f"{self.qemu} did not open its QMP socket within {timeout:g} s"
                    + (f": {_error_line(stderr, self.qemu, None)}" if stderr.strip() else ""),
                    stderr,
                )
            await asyncio.sleep(POLL_SECONDS)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def _read_stderr(self) -> str:
        if self._stderr_path is None:
            return ""
        try:
            return self._stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = 10) -> str:
        """QEMU's last ``lines`` lines of stderr (and stdout)."""
        text = self._read_stderr().rstrip("\n")
        return "\n".join(text.splitlines()[-lines:]) if text else ""

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL) and remove the socket directory."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(POLL_SECONDS)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.to_thread(proc.wait)
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __repr__(self) -> str:
        where = str(self._address) if self._address else "not started"
        return f"<Launcher {self.qemu} {where} pid={self.pid}>"


async def _greeted(sock: Path, timeout: float) -> bool:
    """True once QEMU's monitor sends its QMP greeting on ``sock``.

    QEMU creates the socket while it still reads its options (and may then
    exit on a bad one); the greeting comes only from its main loop, i.e. in
    preconfig.  The connection is closed at once, so the monitor is free for
    the session (a monitor serves one client at a time).
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(sock)), timeout)
    except (OSError, TimeoutError):
        return False  # not listening yet, or gone
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return line.lstrip().startswith(b'{"QMP"')


def _same_arch(arch: str) -> bool:
    host = _HOST_ARCH.get(platform.machine().lower())
    return host is not None and (arch == host or (host == "x86_64" and arch == "i386"))


def _error_line(stderr: str, binary: str, code: int | None) -> str:
    """QEMU's own error line: its last non-warning ``qemu-system-...:`` line."""
    prefix = os.path.basename(binary) + ":"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(prefix) and ": warning:" not in ln]
    if errors:
        return errors[-1]
    if lines:
        return lines[-1]
    return f"{binary} exited with code {code} before opening its QMP socket and said nothing"
