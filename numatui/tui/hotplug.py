"""After boot: plug CPUs into empty slots (``p``) and ask the guest to eject
hot-plugged ones (``u``): the TUI's face of :meth:`Vm.plug`/:meth:`Vm.unplug`.

Plugging is ``device_add`` per slot, one slot after another with the
progress in the status bar; each refusal is reported by slot, in QEMU's
words.  Unplugging is ``device_del``: QEMU only *asks* the guest (ACPI
eject), so the CPU shows "unplug requested" (``~``) until the
:class:`~numatui.core.unplug.UnplugTracker` has the guest's answer
(``DEVICE_DELETED``, a refusal, or none within ``Vm.unplugs.timeout`` s).

Runs on the :class:`~numatui.tui.controller.Controller`'s work queue, so never
at the same time as another QMP step; QEMU's texts are never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from numatui.core.errors import ActionRefused
from numatui.core.vm import Targets
from numatui.model.devices import plug_refusal_reason, unplug_refusal_reason
from numatui.model.topology import Slot, SlotKey, format_key
from numatui.session.errors import Disconnected, QemuRefused, SessionError

if TYPE_CHECKING:
    from numatui.core.unplug import Answer
    from numatui.tui.controller import Controller

_UNPLUG_WHY = {
    "empty": "no CPU to unplug",
    "pending": "unplug already requested",
    "boot": "a boot CPU (from -smp); on x86 only hot-plugged CPUs can be unplugged",
}


class Hotplug:
    """The ``p`` and ``u`` actions, and the guest's answers to unplug requests."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.vm = ctl.vm
        self.vm.unplugs.on_answer = self._answered
        # a DEVICE_DELETED re-reads once, here, on the work queue
        self.vm.session.refresh_on_delete = False

    def _label(self, slot: Slot) -> str:
        index = self.vm.session.topology.cpu_indexes()[slot.key].start
        what = f"cpu-index {index}" if slot.present else "empty"
        node = f", node {slot.node_id}" if slot.node_id is not None else ""
        return f"{format_key(slot.key)} ({what}{node})"

    # -- p and u -----------------------------------------------------------------------
    async def run(self, plug: bool, keys: Sequence[SlotKey],
                  restore: Callable[[], None] | None = None) -> None:
        """``p``: hot-plug the empty slots among ``keys``; ``u`` (not ``plug``):
        ask the guest to eject the hot-plugged CPUs among them.  Queued behind
        earlier keys; once its turn comes: nothing before boot, the slots it
        cannot take are reported, the others plugged (unplugged); ``restore``
        gives the selection back when nothing can be done."""
        targets = Targets()
        try:
            self.vm.check_running("plugged" if plug else "unplugged")
            targets = self.vm.plug_targets(keys) if plug else self.vm.unplug_targets(keys)
        except ActionRefused as exc:
            self.ctl.say(str(exc), title="Not running yet", severity="warning")
        if targets.refused:
            topo = self.vm.session.topology
            lines = [self._label(topo.slot(k)) + ("" if plug else f": {_UNPLUG_WHY[w]}")
                     for k, w in targets.refused]
            head, title = (("Already present, nothing to plug there:\n", "Refused: slot holds a CPU")
                           if plug else ("", "Not unplugged"))
            self.ctl.say(head + "\n".join(lines), title=title, severity="warning",
                         timeout=10 if not targets.ok else None)
        if targets.ok:
            await (self._plug if plug else self._unplug)(targets.ok)
        elif restore:
            restore()

    async def _plug(self, keys: list[SlotKey]) -> None:
        ctl = self.ctl
        session = self.vm.session
        plugged: list[str] = []
        failed: list[str] = []
        async with ctl.step(f"plugging {len(keys)} CPU(s)"):
            for n, key in enumerate(keys, 1):
                if len(keys) > 1:
                    ctl.busy = f"plugging CPU {n}/{len(keys)}: {format_key(key)}"
                    ctl.face.sync()
                try:
                    await self.vm.plug(key)
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
                ctl.say("\n".join(plugged) + "\n(u asks the guest to eject a hot-plugged CPU)",
                        title=f"Plugged {len(plugged)} CPU(s)")
            if failed:
                head = f"{len(failed)} of {len(keys)} slot(s) refused by QEMU:\n"
                ctl.say(head + "\n".join(failed), title="Hot-plug refused", severity="error", timeout=15)

    async def _unplug(self, keys: list[SlotKey]) -> None:
        ctl = self.ctl
        asked: list[str] = []
        async with ctl.step(f"requesting unplug of {len(keys)} CPU(s)"):
            for key in keys:
                label = self._label(self.vm.session.topology.slot(key))
                try:
                    await self.vm.unplug(key)
                except Disconnected:
                    raise
                except QemuRefused as exc:
                    ctl.say(f"{label}\nQEMU said: {exc.qemu_message}\n"
                            f"{unplug_refusal_reason(exc.qemu_message)}",
                            title="Unplug refused", severity="error", timeout=20)
                    continue
                except SessionError as exc:
                    ctl.say(f"{label}: {exc}", title="Unplug failed", severity="error")
                    continue
                asked.append(label)
            if asked:
                ctl.say("\n".join(asked) + "\nThe guest must eject it: shown with ~ until "
                        "QEMU reports it deleted.", title="Unplug requested")

    # -- QEMU's answers ----------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """Called by the app for every QMP event (before it redraws)."""
        self.vm.unplugs.on_event(event)  # answers come back through _answered
        if event.get("event") == "DEVICE_DELETED" and self.vm.session.state.booted:
            self.ctl.enqueue(self._reread())

    def _answered(self, answer: Answer) -> None:
        key = format_key(answer.key)
        if answer.outcome == "deleted":
            self.ctl.say(f"{key}: the guest ejected it; QEMU deleted {answer.words}.",
                         title="CPU unplugged")
        elif answer.outcome == "refused":
            self.ctl.say(f"{key}: the guest refused to eject the CPU ({answer.words}). It stays present.",
                         title="Unplug refused by the guest", severity="error", timeout=15)
        else:
            self.ctl.say(f"{key}: the guest did not answer the eject request within "
                         f"{self.vm.unplugs.timeout:g} s. The CPU stays present (QEMU still "
                         "removes it if the guest ejects it later).",
                         title="Unplug not done", severity="warning", timeout=15)
            self.ctl.face.sync()

    async def _reread(self) -> None:
        async with self.ctl.step("reading the CPUs after an unplug"):
            await self.vm.session.refresh()

    def stop(self) -> None:
        """Forget every request (closing)."""
        self.vm.unplugs.stop()
