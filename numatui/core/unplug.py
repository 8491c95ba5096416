"""Unplug requests waiting for the guest: one tracker for both faces.

``device_del`` only *asks* the guest to eject a CPU (ACPI).  A request ends
when QEMU sends ``DEVICE_DELETED`` (deleted), ``ACPI_DEVICE_OST`` with a
failure status (refused by the guest), or when ``timeout`` seconds pass
without an answer (expired; QEMU still deletes it if the guest ejects later).
The TUI feeds the tracker its events and shows the answers (``~`` until
then, :data:`UNPLUG_TIMEOUT`); ``numatui unplug --wait S`` waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from numatui.model.devices import device_id_of, eject_refusal
from numatui.model.topology import SlotKey

if TYPE_CHECKING:
    from numatui.session.session import Session

#: Seconds the TUI waits for the guest's answer to an unplug request.
UNPLUG_TIMEOUT = 10.0

Outcome = Literal["deleted", "refused", "expired"]


@dataclass
class Answer:
    """How one unplug request ended; ``words``: the guest's refusal, or what QEMU deleted."""

    key: SlotKey
    outcome: Outcome
    words: str = ""


@dataclass
class _Request:
    key: SlotKey
    qom_path: str
    dev_id: str | None
    index: int  # the slot's position: what ACPI calls the CPU slot
    timer: asyncio.TimerHandle | None = None


class UnplugTracker:
    """The unplug requests in flight on ``session``; ``on_answer`` hears each ending."""

    def __init__(self, session: Session, timeout: float = UNPLUG_TIMEOUT,
                 on_answer: Callable[[Answer], None] | None = None) -> None:
        self.session = session
        self.timeout = timeout
        self.on_answer = on_answer
        self.requests: dict[SlotKey, _Request] = {}
        self.answers: dict[SlotKey, Answer] = {}

    def track(self, key: SlotKey) -> None:
        """Start waiting for the guest's answer about ``key`` (device_del was accepted)."""
        topo = self.session.topology
        slot = topo.slot(key)
        assert slot.qom_path is not None
        request = _Request(key=key, qom_path=slot.qom_path, dev_id=device_id_of(slot.qom_path),
                           index=topo.index(key))
        old = self.requests.pop(key, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        self.answers.pop(key, None)
        if self.timeout > 0:
            request.timer = asyncio.get_running_loop().call_later(
                self.timeout, self._end, request, "expired", "")
        self.requests[key] = request

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

    def _end(self, request: _Request, outcome: Outcome, words: str) -> Answer | None:
        if self.requests.get(request.key) is not request:
            return None
        del self.requests[request.key]
        if request.timer is not None:
            request.timer.cancel()
        self.session.pending_unplug.discard(request.key)
        answer = self.answers[request.key] = Answer(request.key, outcome, words)
        if self.on_answer is not None:
            self.on_answer(answer)
        return answer

    def on_event(self, event: dict[str, Any]) -> Answer | None:
        """Feed one QMP event; returns the answer it gave (None: not about a request)."""
        name = event.get("event")
        data = event.get("data") or {}
        if name == "DEVICE_DELETED":
            path = str(data.get("path") or "")
            request = self._find(path=path, dev_id=data.get("device"))
            if request is not None:
                return self._end(request, "deleted", str(data.get("device") or path))
        elif name == "ACPI_DEVICE_OST":
            refusal = eject_refusal(data.get("info") or {})
            if refusal is not None:
                request = self._find(dev_id=refusal.device, index=refusal.slot)
                if request is not None:
                    return self._end(request, "refused", refusal.words())
        elif name == "NUMATUI_DISCONNECTED":
            self.stop()  # no guest to wait for: QEMU is gone
        return None

    def stop(self) -> None:
        """Forget every request and stop its timer (closing, or QEMU went away)."""
        for request in self.requests.values():
            if request.timer is not None:
                request.timer.cancel()
        self.requests.clear()

    async def wait(self, keys: Iterable[SlotKey]) -> dict[SlotKey, Answer]:
        """Until every one of ``keys`` has an answer (the timeout gives one)."""
        keys = list(keys)
        changed = asyncio.Event()

        def on_event(event: dict[str, Any]) -> None:
            self.on_event(event)
            changed.set()

        remove = self.session.add_listener(on_event)
        for key in keys:  # deleted before this wait began (the session saw DEVICE_DELETED)
            request = self.requests.get(key)
            if request is not None and key not in self.session.pending_unplug:
                self._end(request, "deleted", request.dev_id or request.qom_path)
        previous = self.on_answer

        def answered(answer: Answer) -> None:
            changed.set()
            if previous is not None:
                previous(answer)

        self.on_answer = answered
        try:
            while any(k in self.requests for k in keys):
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.timeout + 1)
        finally:
            remove()
            self.on_answer = previous
        return {k: self.answers[k] for k in keys if k in self.answers}
