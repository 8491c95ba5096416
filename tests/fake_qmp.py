"""A FAULT-INJECTING fake server, not a QMP emulator.

It exists only for the connect errors a real QEMU cannot be made to show on
demand: a server that sends garbage instead of the QMP greeting, one that
accepts and never says anything, and one that hangs up at once.  Everything
else in the session tests talks to a real QEMU.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

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
