"""Hot-plugged CPUs as -device options: which CPUs, their ids, the text, no duplicates."""

from __future__ import annotations

from dataclasses import replace

from conftest import load_data

from numatui.model.devices import (
    CpuDevice,
    EjectRefusal,
    cpu_device_id,
    declared_device_ids,
    device_args,
    device_id_of,
    eject_refusal,
    is_plugged_device,
    plug_refusal_reason,
    plugged_cpus,
    unplug_refusal_reason,
)
from numatui.model.topology import Slot, Topology

KEY = (("socket-id", 1), ("core-id", 0), ("thread-id", 1))


def booted() -> Topology:
    """q35 2x2x2 after boot: 4 CPUs from -smp, one plugged with an id, one anonymous."""
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    slots = list(topo.slots)
    for i in range(4):
        slots[i] = replace(slots[i], qom_path=f"/machine/unattached/device[{i}]", node_id=0)
    slots[5] = replace(slots[5], qom_path="/machine/peripheral/cpu5", node_id=1)
    slots[6] = replace(slots[6], qom_path="/machine/peripheral-anon/device[3]")
    return Topology(slots=tuple(slots), levels=topo.levels)


def test_only_cpus_plugged_as_devices_count() -> None:
    assert not is_plugged_device(None)
    assert not is_plugged_device("/machine/unattached/device[0]")
    assert is_plugged_device("/machine/peripheral/numatui-cpu-1-0-0")
    assert is_plugged_device("/machine/peripheral-anon/device[2]")
    assert device_id_of("/machine/peripheral/cpu,x") == "cpu,x"
    assert device_id_of("/machine/peripheral-anon/device[2]") is None
    assert device_id_of("/machine/unattached/device[0]") is None


def test_device_id() -> None:
    assert cpu_device_id(KEY) == "numatui-cpu-1-0-1"


def test_plugged_cpus_in_topology_order_with_ids() -> None:
    topo = booted()
    devices = plugged_cpus(topo)
    assert [d.id for d in devices] == ["cpu5", cpu_device_id(topo.slots[6].key)]
    assert devices[0].option() == (
        f"{topo.slots[5].type},id=cpu5,socket-id=1,core-id=0,thread-id=1,node-id=1"
    )
    assert devices[1].node_id is None and "node-id" not in devices[1].option()


def test_option_escapes_commas() -> None:
    dev = CpuDevice(driver="max-x86_64-cpu", id="a,b", key=KEY, node_id=0)
    assert dev.option() == "max-x86_64-cpu,id=a,,b,socket-id=1,core-id=0,thread-id=1,node-id=0"


def test_device_args_skip_what_the_command_line_declares() -> None:
    devices = plugged_cpus(booted())
    argv = ["qemu-system-x86_64", "-device", "max-x86_64-cpu,id=cpu5,socket-id=1",
            "-device=virtio-net,id=n0", "-device", "bad,,=x,=y"]
    assert declared_device_ids(argv) == {"cpu5", "n0"}
    assert device_args(devices, argv) == ["-device", devices[1].option()]
    assert device_args(devices) == ["-device", devices[0].option(), "-device", devices[1].option()]


def test_derived_boards_name_no_type_so_no_device() -> None:
    topo = Topology(slots=(Slot(key=KEY, qom_path="/machine/peripheral/x", derived=True),),
                    levels=("socket-id", "core-id", "thread-id"), derived=True)
    assert plugged_cpus(topo) == []


def test_eject_refusal_from_acpi_device_ost() -> None:
    info = {"device": "numatui-cpu-1-0-0", "slot": "4", "slot-type": "CPU", "source": 3,
            "status": 0x81}
    refusal = eject_refusal(info)
    assert refusal == EjectRefusal(status=0x81, device="numatui-cpu-1-0-0", slot=4)
    assert refusal.words() == "ACPI _OST status 0x81: the device is in use"
    assert eject_refusal({**info, "status": 0}) is None  # ejected
    assert eject_refusal({**info, "status": 0x84}) is None  # in progress
    assert eject_refusal({**info, "source": 1}) is None  # an insert, not an eject
    assert eject_refusal({**info, "slot-type": "DIMM"}) is None
    anon = eject_refusal({"slot": "6", "slot-type": "CPU", "source": 3, "status": 1})
    assert anon is not None and anon.device is None and anon.slot == 6
    assert "non-specific failure" in anon.words()


def test_plain_words_for_qemus_refusals() -> None:
    assert "no guest OS has taken over CPU hot-plug" in unplug_refusal_reason(
        "acpi: device unplug request for not supported device type: qemu64-x86_64-cpu")
    assert "never be removed" in unplug_refusal_reason("Boot CPU is unpluggable")
    assert "fixed at boot" in plug_refusal_reason("invalid node-id, must be 2")
    assert "taken" in plug_refusal_reason("Duplicate device ID 'numatui-cpu-1-0-0'")
