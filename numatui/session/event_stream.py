"""QMP events with bounded memory: nothing keeps every event a peer sends.

qemu.qmp's default listener (``client.events``) keeps a history of every
event forever and queues every event until it is read: a peer sending
events steadily grew numatui by ~4 MB/s.  Here the default listener is told
to accept nothing (its public ``event_filter``), and :class:`LatestEvents`,
numatui's own listener, hands each event to the session as it arrives (from
its ``accept`` hook, which qemu.qmp documents as the place for custom
listener behaviour) and keeps only the last :data:`KEEP` for a look back.
Nothing is queued, so a flood costs time, not memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from qemu.qmp import EventListener, QMPClient
from qemu.qmp.message import Message

#: Events kept for a look back (the transcript keeps its own bounded copy).
KEEP = 100


class LatestEvents(EventListener):
    """Delivers each event at once; remembers the last ``keep``; stores nothing else."""

    def __init__(self, deliver: Callable[[dict[str, Any]], None], keep: int = KEEP) -> None:
        super().__init__()
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._deliver = deliver

    async def put(self, event: Message) -> None:
        """qemu.qmp's reader hands each event here: deliver it, remember it,
        queue nothing, and let the loop run (a reader with buffered data never
        waits, so a flood would otherwise starve keys, redraws and disconnect)."""
        data = dict(event)
        self.recent.append(data)
        # a failing consumer must not end qemu.qmp's reader (the connection)
        with contextlib.suppress(Exception):
            self._deliver(data)
        await asyncio.sleep(0)


def _nothing(_event: Message) -> bool:
    return False


def stream_events(client: QMPClient, deliver: Callable[[dict[str, Any]], None]) -> LatestEvents:
    """Route ``client``'s events to ``deliver`` with bounded memory (see the module)."""
    client.events.event_filter = _nothing
    for event in client.events.clear():  # arrived while connecting
        deliver(dict(event))
    listener = LatestEvents(deliver)
    client.register_listener(listener)
    return listener
