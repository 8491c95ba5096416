"""Opening a QMP connection, with one-line errors that say what to do.

For a unix socket numatui connects the socket itself, to learn the peer's
pid (``SO_PEERCRED``) before handing it to ``QMPClient``: a QEMU monitor
serves one client, so there is no second look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from typing import Any

from qemu.qmp import ConnectError, QMPClient
from qemu.qmp.qmp_client import GreetingError, NegotiationError

from numatui.session.address import Address
from numatui.session.errors import ConnectFailed
from numatui.session.peer import Peer, peer_of

#: The longest QMP message numatui reads (any QEMU reply fits: a 4096-slot
#: query-hotpluggable-cpus is ~0.7 MB); asyncio keeps at most twice this unread.
READBUFLEN = 4 * 1024 * 1024


class Client(QMPClient):
    """``QMPClient`` whose message hooks (documented for subclasses to
    override) format a message for the debug log only when that log is on.
    The base hooks pretty-print every message first (``json.dumps(indent=2)``,
    pure Python): ~1 ms for a 240-slot query-hotpluggable-cpus reply, on
    every key press.

    It is made with ``readbuflen`` :data:`READBUFLEN` (qemu.qmp's documented
    read-buffer limit, 10 MB by default): asyncio buffers up to twice the
    limit of unread data, which a peer flooding events faster than numatui
    reads fills (20 MB of RSS)."""

    def _cb_outbound(self, msg: Any) -> Any:
        if self.logger.isEnabledFor(logging.DEBUG):
            return super()._cb_outbound(msg)
        return msg

    def _cb_inbound(self, msg: Any) -> Any:
        if self.logger.isEnabledFor(logging.DEBUG):
            return super()._cb_inbound(msg)
        return msg


async def open_client(
    address: Address, timeout: float
) -> tuple[QMPClient, Peer | None]:
    """Connect and negotiate within ``timeout`` seconds.  Raises ConnectFailed.

    The caller must route ``client.events`` (:func:`numatui.session.event_stream.stream_events`):
    they queue forever otherwise.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    client = Client("numatui", readbuflen=READBUFLEN)
    peer: Peer | None = None
    target: str | tuple[str, int] | socket.socket = address.target()
    sock: socket.socket | None = None
    try:
        if address.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, str(address.path)), timeout)
            peer = peer_of(sock)
            target = sock
        await asyncio.wait_for(client.connect(target), max(0.01, deadline - loop.time()))
    except TimeoutError:
        _close(sock)
        raise ConnectFailed(
            f"{address}: no QMP greeting within {timeout:g} s; another client may hold this "
            "monitor (a QEMU monitor serves one client at a time; QEMU accepts several -qmp "
            "options, so give it another one for numatui)"
        ) from None
    except ConnectError as exc:
        _close(sock)
        raise ConnectFailed(_explain(address, exc.exc)) from None
    except OSError as exc:
        _close(sock)
        raise ConnectFailed(_explain(address, exc)) from None
    return client, peer


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _explain(address: Address, exc: BaseException) -> str:
    """One line for why the connection failed."""
    if isinstance(exc, FileNotFoundError):
        return (f"{address}: no such socket; is QEMU running with "
                f"-qmp unix:{address.path},server=on,wait=off?")
    kind = _not_a_socket(address) if isinstance(exc, OSError) else None
    if kind is not None:
        return (f"{address}: {address.path} is {kind}, not a unix socket; give the path QEMU's "
                f"-qmp unix:PATH,server=on,wait=off created")
    if isinstance(exc, ConnectionRefusedError):
        if address.kind == "unix":
            return (f"{address}: connection refused: the socket file is stale (the QEMU that "
                    "made it is gone); start QEMU again, or remove the file")
        return f"{address}: connection refused: nothing listens there (QEMU gone, or a wrong port?)"
    if isinstance(exc, PermissionError):
        return f"{address}: permission denied: the socket belongs to another user"
    if isinstance(exc, GreetingError | NegotiationError):
        why = exc.exc if isinstance(exc.exc, BaseException) else exc
        if isinstance(why, EOFError):
            return f"{address}: the server hung up before the QMP greeting; is it a QMP monitor?"
        return f"{address}: not a QMP server (it did not send a QMP greeting: {_summary(why)})"
    if isinstance(exc, EOFError):
        return (f"{address}: the server hung up without a QMP greeting; is it a QMP monitor? "
                "(QEMU may also be exiting)")
    if isinstance(exc, OSError):
        return f"{address}: cannot connect: {exc.strerror or exc}"
    return f"{address}: not a QMP server ({_summary(exc)})"


def _not_a_socket(address: Address) -> str | None:
    """What the unix address's path is when it is not a socket (None otherwise)."""
    if address.kind != "unix":
        return None
    try:
        mode = os.stat(str(address.path)).st_mode
    except OSError:
        return None
    for test, kind in ((stat.S_ISSOCK, None), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISREG, "a regular file"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a socket"


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__
