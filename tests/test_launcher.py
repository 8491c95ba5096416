"""The launcher against a real QEMU: preconfig on a private socket, memory per node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import QMPClient

from numatui.model.errors import NumaError
from numatui.model.plan import Node, Plan
from numatui.session.launcher import Launcher, LaunchFailed
from numatui.session.replay import launcher_for

GIB = 1024**3
TCG = ["-accel", "tcg", "-cpu", "max"]


async def qmp(launcher: Launcher, command: str, args: dict[str, Any] | None = None) -> Any:
    """One command on the launcher's own monitor (the test plays the session)."""
    client = QMPClient("test")
    await asyncio.wait_for(client.connect(launcher.address.target()), 5)
    try:
        return await asyncio.wait_for(client.execute(command, args), 10)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


@pytest.fixture
async def launched() -> AsyncIterator[list[Launcher]]:
    """Launchers started in a test are stopped at teardown."""
    started: list[Launcher] = []
    yield started
    for launcher in started:
        await launcher.stop()


async def start(started: list[Launcher], **kwargs: Any) -> Launcher:
    launcher = Launcher(**kwargs)
    started.append(launcher)
    await launcher.start()
    return launcher


async def test_defaults_preconfig_two_nodes_of_1g_private_socket(launched: list[Launcher]) -> None:
    launcher = await start(launched)
    assert launcher.alive()
    directory = launcher.directory
    assert directory is not None
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert launcher.address.kind == "unix"
    assert Path(str(launcher.address.path)).parent == directory
    status = await qmp(launcher, "query-status")
    assert status["status"] == "prelaunch"
    memdevs = sorted(await qmp(launcher, "query-memdev"), key=lambda m: m["id"])
    assert [(m["id"], m["size"]) for m in memdevs] == [("m0", GIB), ("m1", GIB)]
    smp = await qmp(launcher, "qom-get", {"path": "/machine", "property": "smp"})
    assert (smp["cpus"], smp["sockets"], smp["cores"], smp["threads"]) == (8, 2, 2, 2)
    machine = await qmp(launcher, "qom-get", {"path": "/machine", "property": "type"})
    assert machine.startswith("pc-q35")
    assert launcher.nodes == [Node(0, "m0", GIB), Node(1, "m1", GIB)]
    # the full argv has numatui's monitor, the user's does not
    assert "--preconfig" in launcher.argv and "-qmp" in launcher.argv
    assert "--preconfig" not in launcher.user_argv and "-qmp" not in launcher.user_argv
    assert "-display" in launcher.user_argv and "none" in launcher.user_argv
    assert not any(a.startswith("tcp:") for a in launcher.argv)
    # the argv QEMU really runs with is ours
    assert Path(f"/proc/{launcher.pid}/cmdline").read_bytes().split(b"\0")[:-1] == [
        a.encode() for a in launcher.argv
    ]
    await launcher.stop()
    assert not launcher.alive()
    assert not directory.exists()


async def test_bad_qemu_args_raise_launch_failed_with_qemus_words(launched: list[Launcher]) -> None:
    launcher = Launcher(smp="3,sockets=2", extra_args=TCG)
    launched.append(launcher)  # stopped at teardown should it start after all
    with pytest.raises(LaunchFailed) as info:
        await launcher.start()
    message = str(info.value)
    assert message.startswith("qemu-system-x86_64: ")
    assert "Invalid CPU topology" in message
    assert "\n" not in message
    assert "Invalid CPU topology" in info.value.stderr
    assert launcher.directory is not None and not launcher.directory.exists()


async def test_missing_binary_is_launch_failed() -> None:
    with pytest.raises(LaunchFailed, match="cannot run qemu-system-nonesuch"):
        await Launcher(qemu="qemu-system-nonesuch").start()


async def test_keep_running_starts_its_own_session_and_survives_the_launcher_object() -> None:
    launcher = Launcher(keep_running=True, extra_args=TCG)
    await launcher.start()
    try:
        pid = launcher.pid
        assert pid is not None
        # its own session: ctrl+c in numatui's terminal does not reach it
        assert os.getsid(pid) == pid
        assert (await qmp(launcher, "query-status"))["status"] == "prelaunch"
    finally:
        await launcher.stop()
    assert not launcher.alive()


async def test_seed_era_memoryless_nodes_get_memory(launched: list[Launcher]) -> None:
    launcher = await start(launched, extra_args=[
        *TCG, "-numa", "node,nodeid=0", "-numa", "node,nodeid=1", "-numa", "node,nodeid=2",
    ], memory="3G")
    memdevs = sorted(await qmp(launcher, "query-memdev"), key=lambda m: m["id"])
    assert [(m["id"], m["size"]) for m in memdevs] == [("m0", GIB), ("m1", GIB), ("m2", GIB)]
    assert [n.id for n in launcher.nodes] == [0, 1, 2]
    assert "node,nodeid=1,memdev=m1" in launcher.user_argv
    # and the machine really builds with them
    await qmp(launcher, "x-exit-preconfig")
    assert (await qmp(launcher, "query-status"))["status"] == "running"


async def test_new_backends_are_named_as_every_new_backend(launched: list[Launcher]) -> None:
    """The launcher names the backends it adds with model.qemu_args.free_memdev_id
    (its own copy took numatui-m0 even when the user's object had that id)."""
    from numatui.model.qemu_args import free_memdev_id

    taken = ["-object", "memory-backend-ram,id=m0,size=64M",
             "-object", "memory-backend-ram,id=numatui-m0,size=64M"]
    nodes = ["-numa", "node,nodeid=0", "-numa", "node,nodeid=1"]
    launcher = await start(launched, extra_args=[*TCG, *taken, *nodes], memory="2G")
    used = {"m0", "numatui-m0"}
    assert [n.memdev for n in launcher.nodes] == [free_memdev_id(0, used), free_memdev_id(1, used)] \
        == ["numatui-numatui-m0", "m1"]
    memdevs = {m["id"]: m["size"] for m in await qmp(launcher, "query-memdev")}  # QEMU's own view
    assert memdevs == {"m0": 64 << 20, "numatui-m0": 64 << 20, "numatui-numatui-m0": GIB, "m1": GIB}


async def test_nodes_and_memory_split_evenly_with_remainder_on_the_last(
    launched: list[Launcher],
) -> None:
    launcher = await start(launched, nodes=3, memory="1000M", extra_args=TCG)
    sizes = [m["size"] for m in sorted(await qmp(launcher, "query-memdev"), key=lambda m: m["id"])]
    assert sizes == [333 * 2**20, 333 * 2**20, 334 * 2**20]
    await qmp(launcher, "x-exit-preconfig")  # the split sums to -m
    assert (await qmp(launcher, "query-status"))["status"] == "running"


def test_user_nodes_with_memory_are_left_alone() -> None:
    extra = ["-object", "memory-backend-ram,id=big,size=2G", "-numa", "node,nodeid=0,memdev=big"]
    launcher = Launcher(extra_args=extra)
    assert launcher.user_argv.count("-numa") == 1
    assert launcher.nodes == [Node(0, "big", 2 * GIB)]


def test_defaults_are_only_added_when_the_args_do_not_say() -> None:
    launcher = Launcher(extra_args=["-M", "pc", "-accel", "tcg", "-cpu", "Skylake-Server",
                                    "-smp", "4", "-m", "1G", "-nographic"])
    argv = launcher.user_argv
    assert "q35" not in argv and "max" not in argv and "-display" not in argv
    assert argv.count("-smp") == 1 and argv.count("-m") == 1 and argv.count("-accel") == 1
    assert [n.size for n in launcher.nodes] == [GIB // 2, GIB // 2]
    ppc = Launcher(qemu="qemu-system-ppc64").user_argv
    assert "-machine" not in ppc and "tcg" in ppc  # no KVM for another architecture
    assert "8,sockets=2,cores=4,threads=1" in ppc  # pseries under TCG: one thread per core
    arm = Launcher(qemu="/usr/bin/qemu-system-aarch64", extra_args=["-accel", "tcg"]).user_argv
    assert arm[:3] == ["/usr/bin/qemu-system-aarch64", "-machine", "virt"]  # no default board
    assert arm[arm.index("-cpu") + 1] == "max"


def test_bad_requests_are_numa_errors() -> None:
    with pytest.raises(NumaError, match="--smp or -smp"):
        Launcher(smp="4", extra_args=["-smp", "2"])
    with pytest.raises(NumaError, match="out of range"):
        Launcher(nodes=0)
    with pytest.raises(NumaError, match="too small"):
        Launcher(nodes=4, memory="2M")


def test_relaunch_has_the_same_arguments() -> None:
    launcher = Launcher(nodes=3, smp="6", memory="3G", extra_args=TCG, keep_running=True, hmat=True)
    again, _ = launcher_for(launcher.user_argv, Plan(), keep_running=launcher.keep_running)
    assert again is not launcher
    assert again.user_argv == launcher.user_argv and again.keep_running and again.nodes == launcher.nodes


def test_kvm_when_usable_else_tcg_with_cpu_max(monkeypatch: pytest.MonkeyPatch) -> None:
    from numatui.session import launcher as module

    monkeypatch.setattr(module, "kvm_usable", lambda: False)
    argv = Launcher().user_argv
    assert argv[argv.index("-accel") + 1] == "tcg" and argv[argv.index("-cpu") + 1] == "max"
    monkeypatch.setattr(module, "kvm_usable", lambda: True)
    monkeypatch.setattr(module.platform, "machine", lambda: "x86_64")
    argv = Launcher().user_argv
    assert argv[argv.index("-accel") + 1] == "kvm" and "-cpu" not in argv
    assert argv[:2] == ["qemu-system-x86_64", "-machine"]
    assert [argv[i + 1] for i, t in enumerate(argv) if t == "-numa"] == [
        "node,nodeid=0,memdev=m0", "node,nodeid=1,memdev=m1"]
