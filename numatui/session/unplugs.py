"""Unplug settling: which ``device_del`` requests the guest has carried out.

A CPU unplug is a request to the guest, answered later (or never).  QEMU 7.2
sends DEVICE_DELETED for ``/machine/peripheral/<id>/lapic`` only, never for
the CPU device itself, when a guest ejects a CPU (ACPI_DEVICE_OST comes too):
so after either event the slots are re-read, and a pending slot that is now
empty is unplugged.  Each is then announced to the session's listeners as a
DEVICE_DELETED of the CPU device marked ``UNPLUG_SETTLED`` (numatui's word,
not an event QEMU sent), so every face that waits for DEVICE_DELETED sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from numatui.model.devices import cpu_device_id
from numatui.model.errors import NumaError
from numatui.model.topology import SlotKey, Topology

#: Key of the DEVICE_DELETED numatui announces itself once a pending unplug's
#: slot is empty in QEMU's query-hotpluggable-cpus.
UNPLUG_SETTLED = "numatui-settled"


class Unplugs:
    """The slots whose ``device_del`` was sent and not yet seen through, for
    a session: ``reread`` its slots (quietly), its ``topology``, ``announce``
    an event to its listeners, ``spawn`` a background task."""

    def __init__(self, reread: Callable[[], Awaitable[None]], topology: Callable[[], Topology],
                 announce: Callable[[dict[str, Any]], None],
                 spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        self._reread, self._topology, self._announce, self._spawn = reread, topology, announce, spawn
        self.pending: set[SlotKey] = set()
        self._paths: dict[str, SlotKey] = {}  # qom path -> slot

    def asked(self, key: SlotKey, path: str) -> None:
        self.pending.add(key)
        self._paths[path] = key

    def failed(self, key: SlotKey, path: str) -> None:
        self.pending.discard(key)
        self._paths.pop(path, None)

    def on_event(self, event: dict[str, Any]) -> bool:
        """True when ``event`` starts a settling re-read (pending unplugs remain)."""
        name = event.get("event")
        if name == "DEVICE_DELETED" and UNPLUG_SETTLED not in event:
            data = event.get("data") or {}
            key = self._paths.pop(str(data.get("path", "")), None)
            if key is not None:
                self.pending.discard(key)
        elif name != "ACPI_DEVICE_OST":
            return False
        if not self.pending:
            return False
        self._spawn(self.settle())
        return True

    async def settle(self) -> None:
        """Re-read the slots; each pending one that is now empty is unplugged
        and announced (see the module docstring)."""
        await self._reread()
        for key in list(self.pending):
            try:
                slot = self._topology().slot(key)
            except NumaError:
                continue
            if slot.present:
                continue
            self.pending.discard(key)
            path = next((p for p, k in self._paths.items() if k == key), None)
            if path is not None:
                del self._paths[path]
            device = path.rsplit("/", 1)[-1] if path and path.startswith("/machine/peripheral/") \
                else cpu_device_id(key)
            self._announce({
                "event": "DEVICE_DELETED",
                "data": {"device": device, "path": path or ""},
                UNPLUG_SETTLED: "the slot is empty in query-hotpluggable-cpus",
            })
