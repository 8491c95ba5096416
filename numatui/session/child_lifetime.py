"""A launched QEMU never outlives numatui, and leaves no socket directory behind.

- :func:`die_with_parent`: a ``preexec_fn`` for :class:`subprocess.Popen`
  that asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill the
  child when numatui dies, however it dies (``kill -9`` included).  The
  kernel ties the signal to the THREAD that forked: numatui starts QEMU from
  its asyncio thread (the main thread), which lives as long as numatui.  If
  numatui died between fork and prctl, the child kills itself at once.
  The ctypes function is looked up before the fork, so the child only calls
  it (no import, no allocation after fork in a threaded process).
- :func:`remove_stale_dirs`: ``kill -9`` gives numatui no chance to remove
  its private ``numatui-*`` directory; the next launch removes those of the
  user's whose QEMU is gone (nobody listens on their ``qmp.sock`` any more,
  per ``/proc/net/unix``) and that are older than a launch can take.
- :func:`listening_at`: which of the unix socket paths a saved command line
  names some process listens on now.  QEMU removes whatever is at a socket
  path before it binds it, so ``launch --resume`` must not start a saved
  command line while its QEMU still runs: its monitors would be lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from numatui.model.errors import NumaError
from numatui.model.qemu_args import iter_options
from numatui.model.smp import split_opts_or_none

PR_SET_PDEATHSIG = 1
#: A directory younger than this may belong to a numatui that is starting QEMU now.
STALE_AFTER = 120.0


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once: from the symbols already in this process
    (``ctypes.util.find_library`` runs ``ldconfig -p``, ~5 ms on every launch, move and undo)."""
    with contextlib.suppress(OSError, AttributeError):
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return fn
    return None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with this process (None off Linux)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    sig = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # numatui died before prctl: follow it now
            os.kill(os.getpid(), sig)

    return preexec


def _listening_sockets() -> set[str] | None:
    out = set()
    try:
        with open("/proc/net/unix") as table:
            next(table, None)  # the header
            for line in table:
                f = line.split()
                with contextlib.suppress(ValueError):
                    if len(f) >= 8 and int(f[3], 16) & 0x10000:  # __SO_ACCEPTCON: listening
                        out.add(f[7])
    except OSError:
        return None
    return out


def remove_stale_dirs(base: str | Path, now: float | None = None) -> list[Path]:
    """Remove ``base/numatui-*`` directories of the user's whose QEMU is gone;
    returns them.  Nothing is removed when ``/proc/net/unix`` cannot be read."""
    listening = _listening_sockets()
    if listening is None:
        return []
    now = time.time() if now is None else now
    removed = []
    try:
        candidates = list(Path(base).glob("numatui-*"))
    except OSError:
        return []
    for d in candidates:  # one going away meanwhile (another numatui's) does not stop the rest
        try:
            st = os.lstat(d)
        except OSError:
            continue
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()
                or now - st.st_mtime < STALE_AFTER):
            continue
        sock = d / "qmp.sock"
        if str(sock) in listening:
            continue  # a QEMU (--keep-running, or another numatui's) still serves it
        if not (sock.exists() or (d / "qemu.stderr").exists()):
            continue  # not a directory numatui made
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def socket_paths(argv: Sequence[str]) -> set[str]:
    """The unix socket paths a QEMU command line (program first) may bind:
    ``unix:PATH`` values (``-qmp``, ``-monitor``, ``-serial``, ``-vnc``,
    ``-incoming``, ...) and ``path=``/``addr.path=`` (``-chardev socket``,
    ``-netdev stream``).  Generous: a path that is no socket is left out by
    :func:`listening_at`."""
    out: set[str] = set()
    try:
        options = list(iter_options(list(argv[1:])))
    except NumaError:
        return out
    for opt in options:
        for key, value in split_opts_or_none(opt.value or "", "type") or ():
            if value.startswith("unix:"):
                out.add(value.removeprefix("unix:"))
            elif key in ("path", "addr.path") and value:
                out.add(value)
    return out


def listening_at(paths: Iterable[str]) -> list[str]:
    """The ``paths`` some process listens on now (``/proc/net/unix``); when that
    table cannot be read, every path that is a socket (it may be live)."""
    listening = _listening_sockets()
    out = []
    for path in sorted(set(paths)):
        if listening is not None:
            if path in listening or os.path.abspath(path) in listening:
                out.append(path)
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                out.append(path)
    return out


def is_zombie(pid: int) -> bool:
    """True when process ``pid`` has exited and awaits its parent (state Z in
    ``/proc/PID/stat``; in a container whose init does not reap, for good)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read(4096)
    except OSError:
        return False
    return text[text.rfind(b")") + 1:].split()[:1] == [b"Z"]
