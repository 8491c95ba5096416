"""Every file numatui reads or writes goes through this module: bounded reads
of regular files, and writes that never follow a planted link.

Reading.  A path may name a FIFO (``open`` blocks until a writer comes), a
device (``/dev/zero`` never ends), or a sysfs or /proc file whose ``st_size``
is 0 whatever it holds.  So a file is looked at (``stat``) before it is
opened, opened ``O_NONBLOCK`` (a FIFO swapped in meanwhile cannot block),
checked again with ``fstat`` (still a regular file), and read up
to a cap per kind of file, counting bytes as they come rather than trusting
``st_size``.  Standard input (``-``) is read with the same cap.  Every
refusal is a :class:`FileRefused`, a one-line :class:`NumaError` (exit 2).

Writing.  A file is written as a new temporary file in the target directory
(``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600), flushed and renamed over the
target: a symlink planted at the target's name is replaced, never written
through, and a reader sees the old file or the new one, never half of one.
The ``--log`` transcript is the one file appended to instead: it is opened
``O_NOFOLLOW`` (a symlink is refused) and must be a regular file.  Files in
numatui's own directories go only into a directory that passes
:func:`numatui.session.trust.private_dir_problem`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path
from typing import IO

from numatui.model.errors import NumaError

MiB = 1 << 20
#: Plans (JSON or text), saved states and records: refused above this.
DOCUMENT_CAP = 16 * MiB
#: One sysfs or /proc file of a host tree (a CPU list, meminfo, a distance row).
SYSFS_CAP = 1 * MiB
#: ``/proc/PID/cmdline`` (the kernel bounds argv by the stack rlimit; QEMU's is kilobytes).
CMDLINE_CAP = 4 * MiB

_CHUNK = 1 << 16


class FileRefused(NumaError):
    """A file numatui will not read or write: one line naming it and why (exit 2)."""


def _refuse(what: str, path: str | Path, why: str) -> FileRefused:
    return FileRefused(f"{what} {path}: {why}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def read_fd(fd: int, cap: int, what: str, path: str | Path) -> bytes:
    """Up to ``cap`` bytes from ``fd`` until end of file; refused when there are more."""
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
        if total > cap:
            raise _refuse(what, path, f"larger than {_size(cap)}: not a {what} numatui reads")


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n} bytes"


def open_regular(path: str | Path, what: str, *, follow: bool = True) -> tuple[int, os.stat_result]:
    """An fd (read-only) of the regular file ``path`` and its fstat; OSError
    when it cannot be opened (ENOENT included), FileRefused when it is not a
    regular file (``follow=False``: a symlink is refused too)."""
    st = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(what, path, f"{_kind(st.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat
            raise _refuse(what, path, "a symlink, not a regular file") from None
        raise
    try:
        fst = os.fstat(fd)  # not compared by inode: /proc may give a file a new one per lookup
        if not stat.S_ISREG(fst.st_mode):
            raise _refuse(what, path, f"{_kind(fst.st_mode)} (swapped in while it was opened)")
    except BaseException:
        os.close(fd)
        raise
    return fd, fst


def read_bytes(path: str | Path, cap: int, what: str, *, follow: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most ``cap``.  FileRefused
    (one line) for anything else, a missing file included."""
    try:
        fd, _ = open_regular(path, what, follow=follow)
    except OSError as exc:
        raise _refuse(what, path, exc.strerror or str(exc)) from None
    try:
        return read_fd(fd, cap, what, path)
    except OSError as exc:
        raise _refuse(what, path, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def read_optional(path: str | Path, cap: int, what: str, *, follow: bool = True) -> bytes | None:
    """:func:`read_bytes`, None when ``path`` does not exist or cannot be opened
    (permissions); FileRefused when it is not a regular file or too large."""
    try:
        fd, _ = open_regular(path, what, follow=follow)
    except OSError:
        return None
    try:
        return read_fd(fd, cap, what, path)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stdin(cap: int, what: str) -> bytes:
    """Standard input up to ``cap`` bytes (a text-only stdin, as in tests, read as text)."""
    if sys.stdin is None:  # started with standard input closed
        raise _refuse(what, "-", "there is no standard input")
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        text = sys.stdin.read(cap + 1)
        data = text.encode("utf-8", "surrogateescape")
    else:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise _refuse(what, "-", f"larger than {_size(cap)} on standard input")
    return bytes(data)


def decode(data: bytes, what: str, path: str | Path) -> str:
    """``data`` as UTF-8; FileRefused naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(what, path, f"not UTF-8 text (byte {exc.start})") from None


def read_text(path: str | Path, cap: int, what: str, *, follow: bool = True) -> str:
    """:func:`read_bytes` decoded as UTF-8 (FileRefused when it is not)."""
    return decode(read_bytes(path, cap, what, follow=follow), what, path)


# -- writing ----------------------------------------------------------------------
def write_atomic(path: str | Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a new temporary file beside ``path`` (O_EXCL|O_NOFOLLOW,
    ``mode``), fsync, rename over ``path``.  A symlink at ``path`` is replaced,
    never followed; a directory there is refused (OSError)."""
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    import tempfile  # writers only: reading a plan or a record need not import it

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_append(path: str | Path) -> IO[str]:
    """``path`` opened to append text (created 0600): OSError for a symlink
    (ELOOP), FileRefused for anything but a regular file (a FIFO or device)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC | os.O_NOCTTY, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse("log file", path, "a symlink: numatui does not write through links "
                          "(name the file itself)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse("log file", path, f"{_kind(st.st_mode)}, not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8")
