"""The numatui command line against real QEMUs.

Commands run in-process through ``main(argv, stdout=, stderr=)`` (fast); the
``--keep-running`` test runs the real console script, since what it checks is
that QEMU outlives the numatui process.  Assertions read QEMU's own answers on
the fixture's second monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, TEST_QEMU, Qemu, numa_node_args

from numatui import cli
from numatui.cli import launch as cli_launch
from numatui.model.plan import Plan

NODE_ARGS = numa_node_args(2, 2048)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def ok(*argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0, err
    return out


def fails(expected: int, *argv: str) -> str:
    """The one stderr line of a failing command."""
    code, out, err = run(*argv)
    assert code == expected, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("numatui: "), err
    assert "Traceback" not in err
    return lines[0]


def mapping(q: Qemu) -> dict[Any, int | None]:
    return asyncio.run(q.nodes())


def status(q: Qemu) -> str:
    return str(asyncio.run(q.qmp("query-status"))["status"])


def by_socket(q: Qemu) -> dict[int, set[int | None]]:
    out: dict[int, set[int | None]] = {}
    for key, node in mapping(q).items():
        out.setdefault(dict(key)["socket-id"], set()).add(node)
    return out


OPEN_TUI = cli_launch.open_tui


@pytest.fixture(autouse=True)
def _no_tui(monkeypatch: pytest.MonkeyPatch) -> None:
    """launch/connect in these tests print instead of opening the TUI."""
    async def no_tui(vm: Any, out: Any, tui: bool = True) -> int:
        return await OPEN_TUI(vm, out, tui=False)

    monkeypatch.setattr(cli_launch, "open_tui", no_tui)


def test_show_default_topology_as_a_tree(qemu: Qemu) -> None:
    out = ok("show", qemu.sock)
    assert "state    preconfig" in out
    assert re.search(rf"machine  pc-q35-{re.escape(TEST_QEMU)}", out)
    assert re.search(r"nodes    0 \(memdev m0, 1 GiB, 0 vCPUs, guest node0\), "
                     r"1 \(memdev m1, 1 GiB, 0 vCPUs, guest node1\)"
                     r"  \[from command line of pid \d+\]", out)
    tree = out[out.index("Machine\n"):].splitlines()
    assert tree[1:4] == ["  socket 0", "    core 0",
                         "      thread 0           unassigned  socket-id=0,core-id=0,thread-id=0"]
    assert sum(1 for ln in tree if "thread-id=" in ln) == 8
    assert "  socket 1" in tree


def test_apply_json_then_export_round_trips_through_a_fresh_qemu(
    qemu: Qemu, qemu_factory: Any, tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}))
    out = ok("apply", qemu.sock, str(plan))
    assert out.count("set-numa-node ") == 2  # the fewest commands: one per socket
    assert by_socket(qemu) == {0: {1}, 1: {0}}
    exported = ok("export", qemu.sock)
    assert exported == "-numa cpu,node-id=1,socket-id=0\n-numa cpu,node-id=0,socket-id=1\n"
    fresh = qemu_factory([*DEFAULT_ARGS, *NODE_ARGS, *exported.split()], preconfig=False)
    assert status(fresh) == "running"
    assert mapping(fresh) == mapping(qemu)


def test_apply_numa_text_mixed_and_partial_round_trip(
    qemu: Qemu, qemu_factory: Any, tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.numa"
    plan.write_text(
        "# per core, one thread left out\n"
        "-numa cpu,node-id=0,socket-id=0,core-id=0\n"
        "-numa cpu,node-id=1,socket-id=0,core-id=1\n"
        "-numa cpu,node-id=1,socket-id=1,core-id=0,thread-id=0\n"
    )
    ok("apply", qemu.sock, str(plan))
    got = mapping(qemu)
    assert sum(1 for n in got.values() if n is None) == 3  # a partial mapping
    exported = ok("export", qemu.sock)
    assert "-numa cpu,node-id=1,socket-id=0,core-id=1" in exported
    # preconfig keeps unassigned slots unassigned (booting would put them on node 0)
    fresh = qemu_factory([*DEFAULT_ARGS, *NODE_ARGS, *exported.split()])
    assert mapping(fresh) == got


def test_invalid_plans_send_nothing_and_exit_2(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "qmp.log"
    before = mapping(qemu)
    cases = {
        # the second entry is valid: nothing may be sent before the bad one is found
        "die.json": json.dumps({"cpus": [{"node-id": 0, "socket-id": 0},
                                         {"node-id": 1, "die-id": 0}]}),
        "overlap.json": json.dumps({"cpus": [{"node-id": 0, "socket-id": 0},
                                             {"node-id": 1, "socket-id": 0, "core-id": 1}]}),
        "nomatch.numa": "-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=7\n",
        "broken.json": '{"cpus": [',
        "undeclared.numa": "-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=5,socket-id=1\n",
        "memnode.json": json.dumps({"nodes": [{"id": 0}, {"id": 1}, {"id": 2, "memdev": "m2", "size": "1G"}],
                                    "cpus": [{"node-id": 2, "socket-id": 1}]}),
        "dist.json": json.dumps({"distances": [{"src": 0, "dst": 1, "val": 5}],
                                 "cpus": [{"node-id": 0, "socket-id": 0}]}),
        "node.json": json.dumps({"nodes": [{"id": 0}, {"id": 1}],
                                 "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 3, "socket-id": 1}]}),
    }
    messages = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        messages[name] = fails(2, "apply", qemu.sock, str(tmp_path / name), "--log", str(log))
    assert "die-id is not supported" in messages["die.json"]
    assert "already on node 0" in messages["overlap.json"]
    assert "no CPU slot matches" in messages["nomatch.numa"]
    assert "not valid JSON" in messages["broken.json"]
    assert "node 3" in messages["node.json"]
    assert "the plan uses node 5, but QEMU has nodes 0, 1 (" in messages["undeclared.numa"]
    assert "bring node memory to 3 GiB, more than QEMU's RAM (2 GiB)" in messages["memnode.json"]
    assert "distance 0 to 1: distance 5 is refused: distances start at 10" in messages["dist.json"]
    assert mapping(qemu) == before
    assert '"set-numa-node"' in log.read_text()  # query-commands was logged ...
    assert '"execute": "set-numa-node"' not in log.read_text()  # ... but none was sent
    assert fails(2, "apply", qemu.sock, str(tmp_path / "missing.json")).endswith(
        "missing.json: No such file or directory")


def test_refused_move_exits_1_with_qemus_words_and_changes_nothing(qemu: Qemu, tmp_path: Path) -> None:
    first = tmp_path / "first.numa"
    first.write_text("-numa cpu,node-id=0,socket-id=0\n")
    ok("apply", qemu.sock, str(first))
    before = mapping(qemu)
    move = tmp_path / "move.numa"
    move.write_text("-numa cpu,node-id=1,socket-id=1\n-numa cpu,node-id=1,socket-id=0\n")
    line = fails(1, "apply", qemu.sock, str(move))
    assert "CPU is already assigned to node-id: 0" in line
    assert mapping(qemu) == before  # socket 1 was not sent either
    # re-applying what QEMU already has is fine and sends nothing
    assert "nothing to send" in ok("apply", qemu.sock, str(first))
    added = tmp_path / "added.json"  # a memoryless node the plan declares is added first
    added.write_text(json.dumps({"nodes": [{"id": 0}, {"id": 1}, {"id": 2}],
                                 "cpus": [{"node-id": 2, "socket-id": 1}]}))
    out = ok("apply", qemu.sock, str(added))
    assert out.startswith('set-numa-node {"type": "node", "nodeid": 2}\n')
    assert by_socket(qemu) == {0: {0}, 1: {2}}


def test_export_formats(qemu: Qemu, tmp_path: Path) -> None:
    plan = tmp_path / "p.numa"
    plan.write_text("-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1\n")
    ok("apply", qemu.sock, str(plan))
    as_json = Plan.from_json(ok("export", qemu.sock, "--format", "json"))
    assert as_json.cpus == ({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1})
    assert [n.id for n in as_json.nodes] == [0, 1]
    cmdline = ok("export", qemu.sock, "--format", "cmdline")
    assert cmdline.startswith("qemu-system-x86_64")
    assert "-numa cpu,node-id=1,socket-id=1" in cmdline
    assert "--preconfig" not in cmdline
    assert f"-qmp unix:{qemu.sock}" in cmdline  # the user's own monitors stay
    xml = ok("export", qemu.sock, "--format", "libvirt")
    assert "<numa>" in xml and "<cell" in xml
    assert fails(2, "export", qemu.sock, "--format", "yaml").startswith("numatui: argument --format")


def test_pseries_show_apply_export(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory(["-machine", "pseries", "-accel", "tcg", "-smp", "4,cores=4,threads=1",
                      "-m", "1G", *numa_node_args(2, 1024)], binary="qemu-system-ppc64")
    out = ok("show", q.sock)
    assert "core 0 " in out and "core-id=3" in out and "thread" not in out.split("Machine")[1]
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"cpus": [{"node-id": 0, "core-id": 0}, {"node-id": 0, "core-id": 1},
                                         {"node-id": 1, "core-id": 2}, {"node-id": 1, "core-id": 3}]}))
    ok("apply", q.sock, str(plan))
    assert sorted(mapping(q).values()) == [0, 0, 1, 1]
    assert ok("export", q.sock) == (
        "-numa cpu,node-id=0,core-id=0\n-numa cpu,node-id=0,core-id=1\n"
        "-numa cpu,node-id=1,core-id=2\n-numa cpu,node-id=1,core-id=3\n")
    bad = tmp_path / "bad.numa"
    bad.write_text("-numa cpu,node-id=0,thread-id=0\n")
    assert "thread-id is not supported" in fails(2, "apply", q.sock, str(bad))


def test_arm_virt_without_query_hotpluggable_cpus(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory(["-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a57",
                      "-smp", "4,sockets=2,cores=2", "-m", "1G", *numa_node_args(2, 1024)],
                     binary="qemu-system-aarch64")
    out = ok("show", q.sock)
    assert "derived from -smp" in out and "socket 1" in out
    plan = tmp_path / "p.numa"
    plan.write_text("-numa cpu,node-id=1,socket-id=0\n-numa cpu,node-id=0,socket-id=1\n")
    ok("apply", q.sock, str(plan), "--exit-preconfig")
    assert status(q) == "running"
    # QEMU's own view after boot: cpu-index 0,1 on socket 0 -> node 1
    cpus = asyncio.run(q.qmp("query-cpus-fast"))
    assert {c["cpu-index"]: c["props"]["node-id"] for c in cpus} == {0: 1, 1: 1, 2: 0, 3: 0}
    assert "-numa cpu,node-id=1,socket-id=0" in ok("export", q.sock)


def test_exit_preconfig_then_hotplug_on_the_node_qemu_reports(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2G",
                      "-smp", "2,maxcpus=4,sockets=2,cores=2,threads=1", *NODE_ARGS])
    plan = tmp_path / "p.numa"
    plan.write_text("-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1\n")
    out = ok("apply", q.sock, str(plan), "--exit-preconfig")
    assert "running" in out
    assert status(q) == "running"
    out = ok("hotplug", q.sock, "socket-id=1,core-id=0,thread-id=0")
    assert "node 1" in out
    cpus = asyncio.run(q.qmp("query-cpus-fast"))
    plugged = [c["props"] for c in cpus if c["props"]["socket-id"] == 1]
    assert plugged == [{"node-id": 1, "socket-id": 1, "core-id": 0, "thread-id": 0}]
    assert "present" in ok("show", q.sock)
    # no guest OS to eject it: QEMU 7.2 refuses, in its own words
    assert "device unplug request" in fails(1, "unplug", q.sock, "socket-id=1,core-id=0,thread-id=0")
    assert "holds no CPU" in fails(2, "unplug", q.sock, "socket-id=1,core-id=1,thread-id=0")
    assert "already holds a CPU" in fails(2, "hotplug", q.sock, "socket-id=0,core-id=0,thread-id=0")
    assert "no CPU slot" in fails(2, "hotplug", q.sock, "socket-id=5,core-id=0,thread-id=0")
    assert "unknown CPU prop 'socket'" in fails(2, "hotplug", q.sock, "socket=1")
    assert "bad slot" in fails(2, "hotplug", q.sock, "socket-id=x")


def test_blocking_preflight_refuses_exit_unless_forced(qemu: Qemu, tmp_path: Path) -> None:
    plan = tmp_path / "gap.json"  # node 3 without node 2: QEMU would die at exit
    plan.write_text(json.dumps({"nodes": [{"id": 0}, {"id": 1}, {"id": 3}],
                                "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 3, "socket-id": 1}]}))
    line = fails(1, "apply", qemu.sock, str(plan), "--exit-preconfig")
    assert "Node 2 is missing" in line and "force" in line
    assert status(qemu) == "prelaunch"
    assert by_socket(qemu) == {0: {0}, 1: {3}}  # the mapping was applied, the exit refused
    line = fails(1, "apply", qemu.sock, str(plan), "--exit-preconfig", "--force")
    qemu.proc.wait(10)
    assert "numa: Node ID missing: 2" in qemu.stderr()


def test_connect_errors_exit_3_with_one_line(tmp_path: Path) -> None:
    missing = fails(3, "show", str(tmp_path / "nope.sock"))
    assert "nope.sock" in missing
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # the file stays, nobody listens
    fails(3, "connect", str(stale))
    fails(3, "export", f"unix:{stale}")
    assert "port" in fails(2, "show", "tcp:localhost:notaport")


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[Any]:
    """``fake_server(reply)``: a unix socket that accepts and sends ``reply`` (or nothing)."""
    servers: list[socket.socket] = []

    def start(reply: bytes | None) -> str:
        path = str(tmp_path / f"fake{len(servers)}.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(4)
        servers.append(srv)

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = srv.accept()
                    if reply is not None:
                        conn.sendall(reply)
                        conn.close()
                    else:
                        servers.append(conn)  # hold it open, say nothing

        threading.Thread(target=serve, daemon=True).start()
        return path

    yield start
    for s in servers:
        s.close()


def test_not_a_qmp_server_and_no_greeting_exit_3(fake_server: Any) -> None:
    assert "not a QMP server" in fails(3, "show", fake_server(b"SSH-2.0-OpenSSH\r\n"))
    hang = fails(3, "show", fake_server(None), "--timeout", "0.3")
    assert "no QMP greeting within 0.3 s" in hang and "-qmp" in hang
    fails(3, "show", "tcp:127.0.0.1:1")


def test_the_tui_seam_gets_the_session(
    qemu: Qemu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "fake_tui_app.py").write_text(
        "SEEN = []\n"
        "async def run_tui(vm):\n"
        "    SEEN.append((vm.session.state.value, len(vm.session.topology.slots)))\n"
        "    return 5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_tui_app  # type: ignore[import-not-found]

    monkeypatch.setattr(cli_launch, "open_tui", OPEN_TUI)
    monkeypatch.setattr("numatui.tui.app.run_tui", fake_tui_app.run_tui)
    code, out, err = run("connect", qemu.sock)
    assert (code, out, err) == (5, "", "")

    assert fake_tui_app.SEEN == [("preconfig", 8)]
    code, out, _ = run("connect", qemu.sock, "--no-tui")
    assert code == 0 and "Machine" in out and fake_tui_app.SEEN == [("preconfig", 8)]


def test_usage_errors_are_one_line() -> None:
    assert "required" in fails(2, "apply")
    code, out, err = run()  # bare numatui: the usage with every command (#25), exit 2
    assert code == 2 and not out and "usage: numatui" in err and "completion" in err and "hotplug" in err
    fails(2, "frobnicate")
    assert "only launch" in fails(2, "show", "x.sock", "--", "-smp", "2")
    code, out, _ = run("--help")
    assert code == 0 and "launch" in out


def test_launch_prints_without_tui_and_stops_qemu() -> None:
    out = ok("launch", "--nodes", "2", "--smp", "4,sockets=2,cores=2,threads=1", "-m", "1G",
             "--", "-accel", "tcg", "-cpu", "max")
    assert "state    preconfig" in out and "[from launch arguments]" in out
    socket_path = re.search(r"QMP      unix:(\S+)", out)
    assert socket_path is not None
    assert not Path(socket_path[1]).parent.exists()  # stopped, directory removed


def test_launch_failure_is_qemus_line() -> None:
    line = fails(1, "launch", "--smp", "3,sockets=2", "--", "-accel", "tcg")
    assert line.startswith("numatui: qemu-system-x86_64: Invalid CPU topology")


def test_keep_running_outlives_numatui(tmp_path: Path, qemu_factory: Any) -> None:
    exe = shutil.which("numatui", path=os.path.dirname(sys.executable)) or "numatui"
    proc = subprocess.run([exe, "launch", "--keep-running", "--no-tui", "--", "-accel", "tcg"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"pid (\d+)\); reconnect with: numatui connect (unix:\S+)", proc.stderr)
    assert found, proc.stderr
    pid, address = int(found[1]), found[2]
    try:
        os.kill(pid, 0)  # still alive
        out = ok("show", address)
        assert f"command line of pid {pid}" in out
        plan = tmp_path / "p.numa"
        plan.write_text("-numa cpu,node-id=1\n")
        ok("apply", address, str(plan))
        assert ok("export", address) == "-numa cpu,node-id=1\n"
        # the full command line starts the same VM without numatui
        cmdline = ok("export", address, "--format", "cmdline")
        assert "-numa node,nodeid=1,memdev=m1" in cmdline and "--preconfig" not in cmdline
        assert "numatui-" not in cmdline  # numatui's own monitor is gone
        argv = shlex.split(cmdline.replace("\\\n", " "))
        assert argv[0] == "qemu-system-x86_64"
        fresh = qemu_factory(argv[1:])  # the same VM, started without numatui
        assert set(mapping(fresh).values()) == {1}
    finally:
        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(Path(address.removeprefix("unix:")).parent, ignore_errors=True)


def test_python_dash_m_runs_main() -> None:
    proc = subprocess.run([sys.executable, "-m", "numatui", "show", "/nonexistent/x.sock"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3
    assert len(proc.stderr.splitlines()) == 1


def test_apply_reads_the_plan_from_stdin(qemu: Qemu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"cpus": [{"node-id": 1}]}'))
    assert "with 1 command\n" in ok("apply", qemu.sock, "-")
    assert set(mapping(qemu).values()) == {1}


def test_sigterm_stops_the_launched_qemu_and_removes_its_directory(tmp_path: Path) -> None:
    (tmp_path / "sleepy_tui.py").write_text(
        "import asyncio, sys\n"
        "async def run_tui(vm):\n"
        "    print(vm.session.launcher.address, vm.session.launcher.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "    return 0\n"
    )
    code = ("import sys, sleepy_tui, numatui.tui.app as app; from numatui import cli; "
            "app.run_tui = sleepy_tui.run_tui; "
            "sys.exit(cli.main(['launch', '--', '-accel', 'tcg']))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        address, pid = proc.stdout.readline().split()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err == "numatui: stopped by SIGTERM\n"
    assert not Path(address.removeprefix("unix:")).parent.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
