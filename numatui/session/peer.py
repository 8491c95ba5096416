"""Who is at the other end of a local unix socket: pid and command line.

A QEMU monitor serves one client, so numatui cannot open a second connection
to ask; it connects its own socket, reads the peer's pid with
``SO_PEERCRED`` and hands the socket to the QMP client.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from numatui.session.files import CMDLINE_CAP, FileRefused, read_optional
from numatui.session.record import start_time

_UCRED = struct.Struct("3i")  # struct ucred { pid_t pid; uid_t uid; gid_t gid; }


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    #: its start time (``/proc/PID/stat`` field 22) when numatui connected: a pid
    #: the kernel gave to another process since then has another
    start: int | None = None


def peer_of(sock: socket.socket) -> Peer | None:
    """The process at the other end of a connected AF_UNIX socket (Linux), else None."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None or sock.family != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, opt, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    if pid <= 0:  # the peer lives in another pid namespace
        return None
    return Peer(pid=pid, uid=uid, gid=gid, start=start_time(pid))


def read_cmdline(pid: int, proc: str | Path = "/proc") -> list[str] | None:
    """``/proc/PID/cmdline`` as argv, or None when it cannot be read."""
    try:
        raw = read_optional(Path(proc) / str(pid) / "cmdline", CMDLINE_CAP, "/proc cmdline")
    except FileRefused:
        return None
    if not raw:
        return None  # a zombie or a kernel thread
    return [part.decode(errors="surrogateescape") for part in raw.rstrip(b"\0").split(b"\0")]


def looks_like_qemu(argv: list[str]) -> bool:
    """True when argv[0] is a QEMU system emulator (not e.g. a socat proxy)."""
    if not argv:
        return False
    name = os.path.basename(argv[0])
    return name.startswith("qemu") or "qemu-system" in name or name.startswith("kvm")


def peer_owner_line(peer: Peer | None) -> str | None:
    """One line naming the user a peer of another user runs as (None for the
    user's own QEMU): attaching is allowed, its command line is never started."""
    if peer is None or peer.uid == os.geteuid():
        return None
    import pwd

    try:
        user = pwd.getpwuid(peer.uid).pw_name
    except KeyError:
        user = f"uid {peer.uid}"
    return (f"QEMU pid {peer.pid} runs as user {user} (uid {peer.uid}), not you: attached; "
            "its command line is shown and exported, never started by numatui")
