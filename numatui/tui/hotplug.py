"""After boot: plug CPUs into empty slots (``p``) and ask the guest to eject
hot-plugged ones (``u``).

Plugging is ``device_add`` per slot (:meth:`Session.hotplug`), one slot after
another with the progress in the status bar; each refusal is reported by
slot, in QEMU's words.  Unplugging is ``device_del``: QEMU only *asks* the
guest (ACPI eject), so the CPU shows "unplug requested" until QEMU's
``DEVICE_DELETED`` event, and returns to present when the guest refuses
(``ACPI_DEVICE_OST`` with a failure status) or does not answer within
:attr:`Hotplug.unplug_timeout` seconds.

Runs through the app's :class:`~numatui.tui.operations.Operations` lock, so
never at the same time as another QMP step; QEMU's texts are never parsed as
markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from numatui.model.devices import (
    device_id_of,
    eject_refusal,
    is_plugged_device,
    plug_refusal_reason,
    unplug_refusal_reason,
)
from numatui.model.topology import Slot, SlotKey, format_key
from numatui.session.errors import Disconnected, QemuRefused, SessionError
from numatui.tui.status import is_booted

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.timer import Timer

    from numatui.tui.app import NumaApp

#: Seconds to wait for the guest's answer to an unplug request.
UNPLUG_TIMEOUT = 10.0


@dataclass
class _Request:
    """One unplug request waiting for the guest."""

    key: SlotKey
    qom_path: str
    dev_id: str | None
    index: int  # the slot's position: what ACPI calls the CPU slot
    timer: Timer | None = None


class Hotplug:
    """The ``p`` and ``u`` actions and the unplug requests in flight."""

    def __init__(self, app: NumaApp, unplug_timeout: float = UNPLUG_TIMEOUT) -> None:
        self.app = app
        self.unplug_timeout = unplug_timeout
        self.requests: dict[SlotKey, _Request] = {}

    # -- helpers -----------------------------------------------------------------------
    def _label(self, slot: Slot) -> str:
        index = self.app.session.topology.cpu_indexes()[slot.key].start
        what = f"cpu-index {index}" if slot.present else "empty"
        node = f", node {slot.node_id}" if slot.node_id is not None else ""
        return f"{format_key(slot.key)} ({what}{node})"

    def _say(self, text: str, *, title: str, severity: SeverityLevel = "information",
             timeout: float | None = None) -> None:
        app = self.app
        app.notify(app.mask(text), title=title, severity=severity, timeout=timeout, markup=False)

    def _not_booted(self, verb: str) -> bool:
        if is_booted(self.app.session):
            return False
        self._say(f"CPUs can be {verb} once the VM runs: press X to boot it first "
                  "(QEMU refuses device_add and device_del in preconfig).",
                  title="Not running yet", severity="warning")
        return True

    # -- p: plug -----------------------------------------------------------------------
    def plug_targets(self, keys: Sequence[SlotKey]) -> tuple[list[SlotKey], list[str]]:
        """The empty slots among ``keys``, and a line per slot that holds a CPU already."""
        topo = self.app.session.topology
        empty: list[SlotKey] = []
        taken: list[str] = []
        for key in keys:
            slot = topo.slot(key)
            if slot.present:
                taken.append(self._label(slot))
            else:
                empty.append(key)
        return empty, taken

    def plug(self, keys: Sequence[SlotKey]) -> None:
        """``p``: hot-plug the empty slots among ``keys`` (a worker does the QMP)."""
        if self._not_booted("plugged"):
            return
        empty, taken = self.plug_targets(keys)
        if taken:
            self._say("Already present, nothing to plug there:\n" + "\n".join(taken),
                      title="Refused: slot holds a CPU", severity="warning",
                      timeout=10 if not empty else None)
        if empty:
            self.app.run_worker(self._plug(empty), group="qmp")

    async def _plug(self, keys: list[SlotKey]) -> None:
        app = self.app
        session = app.session
        plugged: list[str] = []
        failed: list[str] = []
        async with app.ops.step(f"plugging {len(keys)} CPU(s)"):
            for n, key in enumerate(keys, 1):
                if len(keys) > 1:
                    app.ops.busy = f"plugging CPU {n}/{len(keys)}: {format_key(key)}"
                    app.sync()
                try:
                    await session.hotplug(key)
                except Disconnected:
                    raise
                except QemuRefused as exc:
                    failed.append(f"{format_key(key)}: {exc.qemu_message}\n  "
                                  f"{plug_refusal_reason(exc.qemu_message)}")
                except SessionError as exc:
                    failed.append(f"{format_key(key)}: {exc}")
                else:
                    plugged.append(self._label(session.topology.slot(key)))
            if plugged:
                app.grid.clear_selection()
                self._say("\n".join(plugged) + "\n(u asks the guest to eject a hot-plugged CPU)",
                          title=f"Plugged {len(plugged)} CPU(s)")
            if failed:
                head = f"{len(failed)} of {len(keys)} slot(s) refused by QEMU:\n"
                self._say(head + "\n".join(failed), title="Hot-plug refused",
                          severity="error", timeout=15)

    # -- u: unplug ---------------------------------------------------------------------
    def unplug_targets(self, keys: Sequence[SlotKey]) -> tuple[list[SlotKey], list[str]]:
        """The hot-plugged CPUs among ``keys``, and a line for each other slot saying why not."""
        session = self.app.session
        topo = session.topology
        ok: list[SlotKey] = []
        why: list[str] = []
        for key in keys:
            slot = topo.slot(key)
            if not slot.present:
                why.append(f"{self._label(slot)}: no CPU to unplug")
            elif key in session.pending_unplug:
                why.append(f"{self._label(slot)}: unplug already requested")
            elif not is_plugged_device(slot.qom_path):
                why.append(f"{self._label(slot)}: a boot CPU (from -smp); on x86 only "
                           "hot-plugged CPUs can be unplugged")
            else:
                ok.append(key)
        return ok, why

    def unplug(self, keys: Sequence[SlotKey]) -> None:
        """``u``: ask the guest to eject the hot-plugged CPUs among ``keys``."""
        if self._not_booted("unplugged"):
            return
        ok, why = self.unplug_targets(keys)
        if why:
            self._say("\n".join(why), title="Not unplugged", severity="warning",
                      timeout=10 if not ok else None)
        if ok:
            self.app.run_worker(self._unplug(ok), group="qmp")

    async def _unplug(self, keys: list[SlotKey]) -> None:
        app = self.app
        session = app.session
        asked: list[str] = []
        async with app.ops.step(f"requesting unplug of {len(keys)} CPU(s)"):
            for key in keys:
                slot = session.topology.slot(key)
                label = self._label(slot)
                try:
                    await session.unplug(key)
                except Disconnected:
                    raise
                except QemuRefused as exc:
                    self._say(f"{label}\nQEMU said: {exc.qemu_message}\n"
                              f"{unplug_refusal_reason(exc.qemu_message)}",
                              title="Unplug refused", severity="error", timeout=20)
                    continue
                except SessionError as exc:
                    self._say(f"{label}: {exc}", title="Unplug failed", severity="error")
                    continue
                self._track(slot)
                asked.append(label)
            if asked:
                app.grid.clear_selection()
                self._say("\n".join(asked) + "\nThe guest must eject it: shown with ~ until "
                          "QEMU reports it deleted.", title="Unplug requested")

    def _track(self, slot: Slot) -> None:
        assert slot.qom_path is not None
        index = self.app.session.topology.index(slot.key)
        request = _Request(key=slot.key, qom_path=slot.qom_path,
                           dev_id=device_id_of(slot.qom_path), index=index)
        old = self.requests.pop(slot.key, None)
        if old is not None and old.timer is not None:
            old.timer.stop()
        request.timer = self.app.set_timer(self.unplug_timeout,
                                           lambda: self._expired(request))
        self.requests[slot.key] = request

    def _finish(self, request: _Request) -> None:
        if self.requests.get(request.key) is request:
            del self.requests[request.key]
        if request.timer is not None:
            request.timer.stop()
        self.app.session.pending_unplug.discard(request.key)

    def _expired(self, request: _Request) -> None:
        if self.requests.get(request.key) is not request:
            return
        self._finish(request)
        self._say(f"{format_key(request.key)}: the guest did not answer the eject request "
                  f"within {self.unplug_timeout:g} s. The CPU stays present (QEMU still "
                  "removes it if the guest ejects it later).",
                  title="Unplug not done", severity="warning", timeout=15)
        self.app.sync()

    # -- QEMU's answers ----------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """Called by the app for every QMP event (before it redraws)."""
        name = event.get("event")
        data = event.get("data") or {}
        if name == "DEVICE_DELETED":
            self._deleted(data)
        elif name == "ACPI_DEVICE_OST":
            self._ost(data.get("info") or {})
        elif name == "NUMATUI_DISCONNECTED":
            self.stop()  # no guest to wait for: QEMU is gone

    def _find(self, *, path: str | None = None, dev_id: str | None = None,
              index: int | None = None) -> _Request | None:
        for request in self.requests.values():
            if path is not None and request.qom_path == path:
                return request
            if dev_id and request.dev_id == dev_id:
                return request
            if index is not None and request.index == index and not dev_id:
                return request
        return None

    def _deleted(self, data: dict[str, Any]) -> None:
        path = str(data.get("path") or "")
        request = self._find(path=path, dev_id=data.get("device"))
        if request is None:
            if path.startswith("/machine/peripheral"):
                self.app.run_worker(self._reread(), group="qmp")
            return
        self._finish(request)
        self._say(f"{format_key(request.key)}: the guest ejected it; QEMU deleted "
                  f"{data.get('device') or path}.", title="CPU unplugged")
        self.app.run_worker(self._reread(), group="qmp")

    def _ost(self, info: dict[str, Any]) -> None:
        refusal = eject_refusal(info)
        if refusal is None:
            return
        request = self._find(dev_id=refusal.device, index=refusal.slot)
        if request is None:
            return
        self._finish(request)
        self._say(f"{format_key(request.key)}: the guest refused to eject the CPU "
                  f"({refusal.words()}). It stays present.",
                  title="Unplug refused by the guest", severity="error", timeout=15)

    async def _reread(self) -> None:
        async with self.app.ops.step("reading the CPUs after an unplug"):
            await self.app.session.refresh()

    def stop(self) -> None:
        """Forget every request and stop its timer (closing, or QEMU went away)."""
        for request in list(self.requests.values()):
            if request.timer is not None:
                request.timer.stop()
        self.requests.clear()

