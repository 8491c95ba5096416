"""CPUs plugged with ``device_add`` (or ``-device``), and the ``-device``
options that recreate them.

QEMU puts a device with an ``id`` at ``/machine/peripheral/<id>`` and one
without at ``/machine/peripheral-anon/device[N]``; the CPUs ``-smp`` creates
at boot live under ``/machine/unattached``.  So a present slot whose
``qom-path`` is a peripheral one holds a CPU that can be unplugged again
(``device_del``), and a restart needs a ``-device`` option to keep it.

Pure: no Textual, no QMP, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numatui.model.argv import iter_options, split_program
from numatui.model.smp import escape_opt, split_opts_or_none
from numatui.model.topology import Slot, SlotKey, Topology

PERIPHERAL = "/machine/peripheral/"
PERIPHERAL_ANON = "/machine/peripheral-anon/"


def cpu_device_id(key: SlotKey) -> str:
    """The id numatui gives the CPU it plugs into slot ``key``: ``numatui-cpu-1-0-0``."""
    return "numatui-cpu-" + "-".join(str(v) for _, v in key)


def is_plugged_device(qom_path: str | None) -> bool:
    """True for a CPU added by ``device_add``/``-device`` (unpluggable), False for
    one ``-smp`` created at boot or an empty slot."""
    return qom_path is not None and qom_path.startswith((PERIPHERAL, PERIPHERAL_ANON))


def device_id_of(qom_path: str | None) -> str | None:
    """The device id in ``/machine/peripheral/<id>``; None for anonymous devices."""
    if qom_path is None or not qom_path.startswith(PERIPHERAL):
        return None
    return qom_path[len(PERIPHERAL):] or None


@dataclass(frozen=True)
class CpuDevice:
    """A plugged CPU as a ``-device`` option: driver, id, slot props, node-id."""

    driver: str
    id: str
    key: SlotKey
    node_id: int | None = None

    def option(self) -> str:
        """``max-x86_64-cpu,id=numatui-cpu-1-0-0,socket-id=1,core-id=0,thread-id=0,node-id=1``."""
        parts = [escape_opt(self.driver), f"id={escape_opt(self.id)}"]
        parts += [f"{name}={value}" for name, value in self.key]
        if self.node_id is not None:
            parts.append(f"node-id={self.node_id}")
        return ",".join(parts)


def _device(slot: Slot) -> CpuDevice:
    dev_id = device_id_of(slot.qom_path) or cpu_device_id(slot.key)
    return CpuDevice(driver=slot.type, id=dev_id, key=slot.key, node_id=slot.node_id)


def plugged_cpus(topology: Topology) -> list[CpuDevice]:
    """The present CPUs that were plugged as devices, in topology order.

    Anonymous ones (plugged without an id) get numatui's id for their slot.
    Boards whose slots are derived from ``-smp`` name no CPU type: nothing.
    """
    return [_device(s) for s in topology.slots if is_plugged_device(s.qom_path) and s.type]


def declared_device_ids(argv: Sequence[str]) -> set[str]:
    """The ids of the ``-device`` options of ``argv`` (program name first or not)."""
    return {v for opt in iter_options(split_program(argv)[1]) if opt.name == "device" and opt.value
            for k, v in split_opts_or_none(opt.value, "driver") or () if k == "id"}


def device_args(devices: Iterable[CpuDevice], argv: Sequence[str] = ()) -> list[str]:
    """``["-device", value, ...]`` for the devices ``argv`` does not already declare."""
    have = declared_device_ids(argv)
    return [t for dev in devices if dev.id not in have for t in ("-device", dev.option())]


def plug_refusal_reason(qemu_message: str) -> str:
    """Why QEMU refused a ``device_add`` of a CPU, in plain words."""
    if "node-id" in qemu_message:
        return "The node of this slot was fixed at boot; QEMU plugs CPUs only onto it."
    if "Duplicate" in qemu_message or "already" in qemu_message or "exists" in qemu_message:
        return "The slot or the device id is taken; the grid shows what QEMU has now."
    return "QEMU refused to plug it; the slot stays empty."


def unplug_refusal_reason(qemu_message: str) -> str:
    """Why QEMU refused a ``device_del`` of a CPU, in plain words."""
    if "not supported device type" in qemu_message:
        return ("QEMU asks the guest OS to eject a CPU (ACPI), and no guest OS has taken over "
                "CPU hot-plug yet (none is running, or it has no ACPI CPU hot-plug support). "
                "The CPU stays present.")
    if "Boot CPU" in qemu_message:
        return "The boot CPU can never be removed. It stays present."
    return "The CPU stays present."


#: ACPI _OST: the source code of an eject request, and the statuses that are no refusal.
OST_EJECT = 3
OST_NOT_REFUSED = (0x00, 0x84)  # success; ejection in progress
OST_STATUS_WORDS: dict[int, str] = {
    0x01: "non-specific failure",
    0x02: "unrecognised notify code",
    0x80: "ejection not supported by the guest",
    0x81: "the device is in use",
    0x82: "the device is busy",
    0x83: "a device that depends on it is busy",
}


@dataclass(frozen=True)
class EjectRefusal:
    """The guest's "no" to a CPU eject request, from an ``ACPI_DEVICE_OST`` event."""

    status: int
    device: str | None  # the device id, when the CPU has one
    slot: int | None  # ACPI's CPU slot: the slot's position in topology order

    def words(self) -> str:
        """``ACPI _OST status 0x81: the device is in use``."""
        return f"ACPI _OST status {self.status:#x}: {OST_STATUS_WORDS.get(self.status, 'refused')}"


def eject_refusal(info: Mapping[str, Any]) -> EjectRefusal | None:
    """The refusal in the ``info`` of an ``ACPI_DEVICE_OST`` event; None when it is
    not a CPU eject, or not a refusal (success, in progress)."""
    if info.get("slot-type") != "CPU" or info.get("source") != OST_EJECT:
        return None
    try:
        status = int(info.get("status", 0))
    except (TypeError, ValueError):
        return None
    if status in OST_NOT_REFUSED:
        return None
    try:
        slot: int | None = int(str(info.get("slot")))
    except ValueError:
        slot = None
    device = info.get("device")
    return EjectRefusal(status=status, device=str(device) if device else None, slot=slot)
