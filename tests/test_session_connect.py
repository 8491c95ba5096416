"""Session.connect against real QEMU in preconfig: what it reads, where the
nodes come from, and every connect error (one line, saying what to do)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, TEST_QEMU, Qemu, numa_node_args
from fake_qmp import FaultyServer

from numatui.model.topology import Topology
from numatui.session.address import Address
from numatui.session.errors import BadAddress, ConnectFailed
from numatui.session.machine import RunState
from numatui.session.session import Session

GIB = 1024**3
TCG = ["-accel", "tcg", "-cpu", "max"]


async def _qemu_view(q: Qemu) -> Topology:
    return Topology.from_hotpluggable(await q.qmp("query-hotpluggable-cpus"))


@pytest.mark.parametrize(
    ("smp", "levels", "count"),
    [
        ("8,sockets=2,cores=2,threads=2", ("socket-id", "core-id", "thread-id"), 8),
        ("8,sockets=2,dies=2,cores=2,threads=1", ("socket-id", "die-id", "core-id", "thread-id"), 8),
        ("2,maxcpus=6,sockets=3,cores=2", ("socket-id", "core-id", "thread-id"), 6),
    ],
    ids=["sockets-cores-threads", "dies", "maxcpus>cpus"],
)
async def test_connect_reads_the_machine(
    qemu_factory: Any, smp: str, levels: tuple[str, ...], count: int
) -> None:
    q: Qemu = qemu_factory(["-machine", "q35", *TCG, "-smp", smp, "-m", "2G", *numa_node_args(2, 2048)])
    s = await Session.connect(q.sock)
    try:
        assert s.state is RunState.PRECONFIG and s.status == "prelaunch"
        assert s.info.qemu_version.startswith(f"{TEST_QEMU}.")
        assert s.info.machine_type == f"pc-q35-{TEST_QEMU}-machine"
        assert s.info.machine == f"pc-q35-{TEST_QEMU}"
        assert s.info.ram_size == 2 * GIB
        assert s.info.exit_command == "x-exit-preconfig"
        assert s.info.smp == await q.qmp("qom-get", {"path": "/machine", "property": "smp"})
        assert sorted(m["id"] for m in s.info.memdevs) == ["m0", "m1"]
        assert s.topology.levels == levels and len(s.topology) == count
        assert s.topology == await _qemu_view(q)
        assert not s.topology.derived and s.info.hotpluggable_cpus
    finally:
        await s.close()
    assert s.state is RunState.DISCONNECTED


async def test_connect_reads_the_machine_in_one_round_trip(qemu: Qemu) -> None:
    """Every query of a connect goes out before QEMU's first reply is read
    (QEMU in preconfig answers pipelined commands in order: the values
    above are its own), so a connect, and each relaunch, waits for QEMU once."""
    s = await Session.connect(qemu.sock)
    try:
        kinds = [e.kind for e in s.transcript.entries if e.kind in ("cmd", "reply")]
        first_reply = kinds.index("reply")
        sent = [e.text for e in s.transcript.entries if e.kind == "cmd"][:first_reply]
        for query in ("query-commands", "query-version", "qom-get", "query-memdev", "query-status",
                      "query-hotpluggable-cpus"):
            assert any(f'"{query}"' in text for text in sent), (query, sent)
        assert s.topology == await _qemu_view(qemu) and s.status == "prelaunch"
        assert s.info.memdevs == await qemu.qmp("query-memdev")
    finally:
        await s.close()


async def test_nodes_from_the_peers_command_line(qemu: Qemu) -> None:
    s = await Session.connect(qemu.sock)
    try:
        assert s.peer is not None and s.peer.pid == qemu.proc.pid
        assert s.nodes_source == f"command line of pid {qemu.proc.pid}"
        assert [(n.id, n.memdev, n.size) for n in s.nodes] == [(0, "m0", GIB), (1, "m1", GIB)]
        assert s.qemu_argv == qemu.argv
        assert s.preflight() == [] or all(f.severity != "blocking" for f in s.preflight())
    finally:
        await s.close()


async def test_nodes_from_the_launcher_win(qemu: Qemu) -> None:
    from numatui.model.plan import Node

    class Launched:
        keep_running = True

        def __init__(self) -> None:
            self.nodes = [Node(0, "m0", GIB), Node(1, "m1", GIB)]
            self.argv = qemu.argv

        def alive(self) -> bool:
            return qemu.proc.poll() is None

        def stderr_tail(self, lines: int = 10) -> str:
            return qemu.stderr()

        async def stop(self) -> None:
            raise AssertionError("keep_running: must not stop")

    s = await Session.connect(qemu.sock, launcher=Launched(), nodes=5)
    try:
        assert s.nodes_source == "launch arguments"
        assert [n.id for n in s.nodes] == [0, 1] and s.qemu_argv == qemu.argv
    finally:
        await s.close()
    assert qemu.proc.poll() is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_tcp_without_a_command_line_probes_the_nodes(qemu_factory: Any) -> None:
    port = _free_port()
    q: Qemu = qemu_factory([*DEFAULT_ARGS, *numa_node_args(3, 2048),
                            "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    s = await Session.connect(f"127.0.0.1:{port}")
    try:
        assert s.address == Address("tcp", host="127.0.0.1", port=port) and s.peer is None
        assert s.nodes_source == "probing QEMU in preconfig"
        assert [n.id for n in s.nodes] == [0, 1, 2]
        assert set((await q.nodes()).values()) == {None}  # probing changed nothing
    finally:
        await s.close()
    # the user's count is used before probing
    s = await Session.connect(f"tcp:localhost:{port}", nodes=2)
    try:
        assert s.nodes_source == "--nodes 2" and [n.id for n in s.nodes] == [0, 1]
    finally:
        await s.close()


# -- connect errors ------------------------------------------------------------


async def test_no_such_socket(tmp_path: Path) -> None:
    with pytest.raises(ConnectFailed) as err:
        await Session.connect(str(tmp_path / "nothing.qmp"), timeout=1)
    assert "no such socket" in str(err.value) and "\n" not in str(err.value)


async def test_stale_socket_file(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.qmp")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)  # bound, never listening, closed: the file stays behind
    sock.close()
    assert os.path.exists(path)
    with pytest.raises(ConnectFailed) as err:
        await Session.connect(f"unix:{path}", timeout=1)
    assert "refused" in str(err.value) and "stale" in str(err.value)


async def test_tcp_refused() -> None:
    with pytest.raises(ConnectFailed) as err:
        await Session.connect(f"tcp:127.0.0.1:{_free_port()}", timeout=1)
    assert "refused" in str(err.value)


async def test_garbage_server_is_not_qmp(tmp_path: Path) -> None:
    async with FaultyServer(tmp_path / "garbage.sock", "garbage") as server:
        with pytest.raises(ConnectFailed) as err:
            await Session.connect(server.path, timeout=2)
    assert "not a QMP server" in str(err.value) and "\n" not in str(err.value)


async def test_server_hanging_up_without_greeting(tmp_path: Path) -> None:
    async with FaultyServer(tmp_path / "hangup.sock", "hangup") as server:
        with pytest.raises(ConnectFailed) as err:
            await Session.connect(server.path, timeout=2)
    assert "hung up" in str(err.value)


async def test_silent_server_times_out(tmp_path: Path) -> None:
    async with FaultyServer(tmp_path / "hang.sock", "hang") as server:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(ConnectFailed) as err:
            await Session.connect(server.path, timeout=0.5)
        assert loop.time() - start < 2
    text = str(err.value)
    assert "no QMP greeting within 0.5 s" in text
    assert "another client" in text and "several -qmp" in text


async def test_busy_qemu_monitor_times_out(qemu: Qemu) -> None:
    """A real QEMU monitor serves one client: the second one gets no greeting."""
    first = await Session.connect(qemu.sock)
    try:
        with pytest.raises(ConnectFailed) as err:
            await Session.connect(qemu.sock, timeout=0.5)
        assert "another client may hold this monitor" in str(err.value)
        assert first.connected  # the first session is unharmed
        await first.refresh()
    finally:
        await first.close()


def test_bad_address() -> None:
    with pytest.raises(BadAddress):
        Address.parse("tcp:host:notaport")
    with pytest.raises(BadAddress):
        Address.parse("")
