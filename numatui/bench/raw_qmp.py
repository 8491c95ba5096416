"""The floor: the least a client can do to talk QMP.

Plain ``asyncio.open_unix_connection``, no qemu.qmp, no numatui: read the
greeting, send ``qmp_capabilities``, then one command at a time, reading
lines until its reply (events are skipped).  Whatever numatui takes beyond
this is numatui's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

#: Replies of query-hotpluggable-cpus grow with the slots (4096 slots: ~0.5 MB).
_LINE_LIMIT = 1 << 24


class RawQmpError(Exception):
    """QEMU answered ``{"error": ...}``, or the connection closed."""


class RawQmp:
    """One QMP monitor connection, commands strictly one after the other."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.sent = 0  # commands sent after the capabilities handshake

    @classmethod
    async def connect(cls, path: str) -> RawQmp:
        reader, writer = await asyncio.open_unix_connection(path, limit=_LINE_LIMIT)
        client = cls(reader, writer)
        greeting = json.loads(await reader.readline())
        if "QMP" not in greeting:
            raise RawQmpError(f"not a QMP greeting: {greeting!r}")
        await client.execute("qmp_capabilities")
        client.sent = 0
        return client

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._writer.write(json.dumps(msg).encode() + b"\n")
        self.sent += 1
        while True:
            line = await self._reader.readline()
            if not line:
                raise RawQmpError(f"QEMU closed the connection during {command}")
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RawQmpError(f"{command}: {reply['error'].get('desc')}")
            # an event: skip it

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
