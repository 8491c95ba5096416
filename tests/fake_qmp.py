"""A FAULT-INJECTING fake server, not a QMP emulator.

It exists only for the connect errors a real QEMU cannot be made to show on
demand: a server that sends garbage instead of the QMP greeting, one that
accepts and never says anything, and one that hangs up at once; and a proxy
in front of a real QEMU that turns its error texts and events hostile.  Everything
else in the session tests talks to a real QEMU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

#: ``rewrite(command, message)``: the message the client gets instead (``command``
#: is ``"greeting"`` for QEMU's greeting, else the name of the command answered).
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]

Fault = Literal["garbage", "hang", "hangup"]


class FaultyServer:
    """``async with FaultyServer(path, "garbage"):`` listens on a unix socket."""

    def __init__(self, path: str | Path, fault: Fault) -> None:
        self.path = str(path)
        self.fault = fault
        self.accepted = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        if self.fault == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2 not a QMP server\r\n")
            await writer.drain()
        elif self.fault == "hangup":
            writer.close()

    async def __aenter__(self) -> FaultyServer:
        self._server = await asyncio.start_unix_server(self._client, path=self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class HostileProxy:
    """A fault-injecting proxy in front of a REAL QEMU monitor.

    Everything passes through unchanged, except: the ``desc`` of every error
    reply is replaced by ``text`` (unless ``keep_errors``), ``rewrite`` (when given) replaces the greeting
    and any reply (malformed or hostile replies QEMU never sends), and before the reply to the first command
    whose name contains ``event_after`` an event named ``text`` with ``text``
    in its data is sent.  It shows how numatui copes with hostile strings
    (markup, terminal escapes, huge messages) without emulating QMP.
    """

    def __init__(self, path: str | Path, upstream: str, text: str,
                 event_after: str = "set-numa-node", rewrite: Rewrite | None = None,
                 flood: threading.Event | None = None, flood_rate: int = 10_000,
                 keep_errors: bool = False, reply_delay: float = 0.0) -> None:
        self.path = str(path)
        #: seconds before each reply goes on: a slow but steady QEMU (a loaded host)
        self.reply_delay = reply_delay
        #: QEMU's own error texts pass unchanged (a peer that lies elsewhere only)
        self.keep_errors = keep_errors
        self.rewrite = rewrite
        #: once set, ``flood_rate`` events per second go to every client
        self.flood = flood
        self.flood_rate = flood_rate
        self.flooded = 0
        self.upstream = upstream
        self.text = text
        self.event_after = event_after
        self._server: asyncio.AbstractServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream, limit=1 << 24)
        self._writers += [writer, up_writer]
        pending: list[str] = []

        async def to_qemu() -> None:
            # qemu.qmp sends JSON objects with no newline: decode a stream
            decoder = json.JSONDecoder()
            buf = ""
            while chunk := await reader.read(65536):
                buf += chunk.decode()
                while buf.strip():
                    try:
                        msg, end = decoder.raw_decode(buf.lstrip())
                    except ValueError:
                        break
                    buf = buf.lstrip()[end:]
                    if isinstance(msg, dict):
                        pending.append(str(msg.get("execute", "")))
                up_writer.write(chunk)
                await up_writer.drain()
            up_writer.close()

        async def to_client() -> None:
            sent_event = False
            while line := await up_reader.readline():
                msg = json.loads(line)
                command = "greeting" if "QMP" in msg else ""
                if "return" in msg or "error" in msg:
                    command = pending.pop(0) if pending else ""
                    if self.reply_delay and command != "qmp_capabilities":
                        await asyncio.sleep(self.reply_delay)
                    if not sent_event and self.event_after in command:
                        sent_event = True
                        event = {"event": self.text, "data": {"text": self.text},
                                 "timestamp": {"seconds": 0, "microseconds": 0}}
                        writer.write(json.dumps(event).encode() + b"\r\n")
                if "error" in msg and not self.keep_errors:
                    msg["error"]["desc"] = self.text
                    line = json.dumps(msg).encode() + b"\r\n"
                if self.rewrite is not None and command:
                    line = json.dumps(self.rewrite(command, msg)).encode() + b"\r\n"
                writer.write(line)
                await writer.drain()
            writer.close()

        async def flood() -> None:
            assert self.flood is not None
            while not self.flood.is_set():
                await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            start = loop.time()
            while not writer.is_closing():
                due = int((loop.time() - start) * self.flood_rate) - self.flooded
                for _ in range(max(due, 0)):
                    event = {"event": "NUMATUI_FAKE_FLOOD", "data": {"n": self.flooded, "pad": "x" * 40},
                             "timestamp": {"seconds": 0, "microseconds": 0}}
                    writer.write(json.dumps(event).encode() + b"\r\n")
                    self.flooded += 1
                await writer.drain()
                await asyncio.sleep(0.005)

        self._tasks += [asyncio.ensure_future(to_qemu()), asyncio.ensure_future(to_client())]
        if self.flood is not None:
            self._tasks.append(asyncio.ensure_future(flood()))

    async def __aenter__(self) -> HostileProxy:
        self._server = await asyncio.start_unix_server(self._client, path=self.path, limit=1 << 24)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self._writers:
            w.close()
        for t in self._tasks:
            t.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.contextmanager
def in_thread(proxy: HostileProxy) -> Iterator[HostileProxy]:
    """Serve ``proxy`` from a thread of its own (its own event loop), for tests
    that drive a real terminal with blocking calls meanwhile."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with proxy:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
