"""One truth (#14): every export reproduces the VM, whichever process asked.

Each test maps a real QEMU with ``numatui apply`` in one process, exports in
a *second* process (``python -m numatui``, so nothing but the record on disk
carries what the first one sent), starts a fresh QEMU from the export in
preconfig, leaves preconfig on both, and compares QEMU's own ``info numa``
(CPUs per node, sizes) or ``query-cpus-fast``.

Distances: ``info numa`` does not show them and QMP cannot read them, so
these tests check that the export carries exactly the applied matrix and
that a fresh QEMU boots with it (QEMU exits at ``x-exit-preconfig`` on an
incomplete matrix); what the guest kernel sees (the SLIT) is left to the
real-guest tests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, SYSTEM_QEMU, Qemu, info_numa, numa_node_args

from numatui.model.qemu_args import iter_options

G = 1 << 30
NO_NUMA = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
           "-smp", "8,sockets=2,cores=2,threads=2", "-m", "2G"]


def numatui(*argv: str) -> tuple[int, str, str]:
    """``numatui ARGV`` in a process of its own (same $XDG_STATE_HOME)."""
    proc = subprocess.run([sys.executable, "-m", "numatui", *argv], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    return proc.returncode, proc.stdout, proc.stderr


def ok(*argv: str) -> tuple[str, str]:
    code, out, err = numatui(*argv)
    assert code == 0, err
    return out, err


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("numatui: warning: ")]


def tokens(export: str) -> list[str]:
    """The options of a ``--format numa`` export."""
    return shlex.split(export, comments=True)


async def boot(q: Qemu) -> dict[int, tuple[str, int]]:
    """x-exit-preconfig on the test's own monitor, then ``info numa``."""
    await q.qmp("x-exit-preconfig")
    return info_numa(await q.qmp("human-monitor-command", {"command-line": "info numa"}))


async def cpu_nodes(q: Qemu) -> dict[tuple[tuple[str, Any], ...], int]:
    """props (without node-id) -> node-id of every present CPU (after boot)."""
    cpus = await q.qmp("query-cpus-fast")
    return {tuple(sorted((k, v) for k, v in c["props"].items() if k != "node-id")): c["props"]["node-id"]
            for c in cpus}


def write_plan(tmp: Path, plan: dict[str, Any], name: str = "plan.json") -> str:
    path = tmp / name
    path.write_text(json.dumps(plan))
    return str(path)


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed")


# -- live nodes, with and without memory; distances; threads split ---------------------------
async def test_nodes_with_memory_live_from_no_numa_at_all(qemu_factory: Any) -> None:
    """-m 2G and no -numa: two nodes of 1G made over QMP (object-add, set-numa-node),
    CPUs mapped, booted: info numa shows both with 1024 MB."""
    from numatui.session.session import Session

    q = qemu_factory(NO_NUMA)
    s = await Session.connect(q.sock)
    try:
        n0 = await s.add_node(0, size=G)
        n1 = await s.add_node(1, size=G)
        assert (n0.memdev, n0.memdev_created, n1.memdev) == ("m0", "live", "m1")
        memdevs = {m["id"]: m["size"] for m in await q.qmp("query-memdev")}
        assert memdevs == {"m0": G, "m1": G}  # QEMU's own word
        await s.assign([k.key for k in s.topology.slots if k.key[0] == ("socket-id", 0)], 0)
        await s.assign([k.key for k in s.topology.slots if k.key[0] == ("socket-id", 1)], 1)
        await s.exit_preconfig()
    finally:
        await s.close()
    got = info_numa(await q.qmp("human-monitor-command", {"command-line": "info numa"}))
    assert {n: size for n, (_, size) in got.items()} == {0: 1024, 1: 1024}
    assert got[0][0].split() == ["0", "1", "2", "3"] and got[1][0].split() == ["4", "5", "6", "7"]


async def test_apply_then_export_numa_in_another_process(qemu_factory: Any, tmp_path: Path) -> None:
    """A live node with memory, a live memoryless node, a full distance matrix and
    the threads of one core on two nodes: applied by one process, exported by
    another, and a fresh QEMU started from the export boots into the same info numa."""
    base = [*NO_NUMA, *numa_node_args(1, 1024)]  # node 0 holds 1G of the 2G
    q = qemu_factory(base)
    dists = [{"src": 0, "dst": 1, "val": 20}, {"src": 0, "dst": 2, "val": 30},
             {"src": 1, "dst": 2, "val": 25}]
    plan = {"nodes": [{"id": 0}, {"id": 1, "size": G}, {"id": 2}], "distances": dists,
            "cpus": [{"node-id": 1, "socket-id": 0},
                     {"node-id": 2, "socket-id": 1, "core-id": 0},
                     {"node-id": 0, "socket-id": 1, "core-id": 1, "thread-id": 0},
                     {"node-id": 2, "socket-id": 1, "core-id": 1, "thread-id": 1}]}
    out, _ = ok("apply", q.sock, write_plan(tmp_path, plan))
    assert 'object-add {"qom-type": "memory-backend-ram", "id": "m1"' in out

    export, err = ok("export", q.sock, "--format", "numa")
    assert warnings(err) == []  # the record covers what QMP cannot read
    lines = export.splitlines()
    assert "-object memory-backend-ram,id=m1,size=1G" in lines
    assert "-numa node,nodeid=1,memdev=m1" in lines and "-numa node,nodeid=2" in lines
    assert "-numa node,nodeid=0,memdev=m0" not in lines  # QEMU's command line has it
    assert {ln for ln in lines if "dist" in ln} == {
        f"-numa dist,src={d['src']},dst={d['dst']},val={d['val']}" for d in dists}

    as_json, _ = ok("export", q.sock, "--format", "json")
    data = json.loads(as_json)
    assert data["distances"] == dists
    assert {n["id"]: (n.get("created"), n.get("memdev-created"), n.get("size")) for n in data["nodes"]} == {
        0: (None, None, G), 1: ("live", "live", G), 2: ("live", None, None)}

    fresh = qemu_factory([*base, *tokens(export)])
    want = await boot(q)
    assert await boot(fresh) == want
    assert want[1][1] == 1024 and want[2][1] == 0
    assert want[0][0].split() == ["6"] and want[2][0].split() == ["4", "5", "7"]

    # the JSON plan reproduces it too, through apply on a fresh QEMU
    other = qemu_factory(base)
    ok("apply", other.sock, write_plan(tmp_path, data, "exported.json"))
    assert await boot(other) == want


async def test_export_cmdline_is_the_whole_command_line(qemu_factory: Any, tmp_path: Path) -> None:
    base = [*NO_NUMA]
    q = qemu_factory(base)
    plan = {"nodes": [{"id": 0, "size": G}, {"id": 1, "size": G}],
            "distances": [{"src": 0, "dst": 1, "val": 21}],
            "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}
    ok("apply", q.sock, write_plan(tmp_path, plan))
    text, err = ok("export", q.sock, "--format", "cmdline")
    assert warnings(err) == []
    argv = shlex.split(text.replace("\\\n", " "))
    # the test's monitors and the factory's own options come back from the factory
    kept: list[str] = []
    for opt in iter_options(argv[1:]):
        if opt.name in ("qmp", "display", "nodefaults", "preconfig"):
            continue
        kept += opt.tokens
    assert "-numa" in kept and "dist,src=0,dst=1,val=21" in kept
    fresh = qemu_factory(kept, binary=argv[0])
    assert await boot(fresh) == await boot(q)


# -- the record: found by a later process, never another VM's ---------------------------------
async def test_the_record_is_per_qemu_instance(qemu_factory: Any, tmp_path: Path) -> None:
    """Two identical VMs: what was sent to one is never shown for the other, and a
    restarted QEMU (same socket path, new pid) starts without a record."""
    from numatui.core.autosave import state_dir
    from numatui.session import record

    a = qemu_factory(NO_NUMA)
    b = qemu_factory(NO_NUMA)
    plan = {"nodes": [{"id": 0, "size": G}, {"id": 1, "size": G}],
            "distances": [{"src": 0, "dst": 1, "val": 22}],
            "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]}
    ok("apply", a.sock, write_plan(tmp_path, plan))
    files = list(state_dir().glob(f"*{record.SUFFIX}"))
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert oct(state_dir().stat().st_mode & 0o777) == "0o700"
    ident = record.identify(a.proc.pid)
    assert ident is not None and files[0] == record.path_for(ident)

    on_a, err_a = ok("export", a.sock)
    assert "-numa dist,src=0,dst=1,val=22" in on_a and warnings(err_a) == []
    on_b, err_b = ok("export", b.sock)
    assert "dist" not in on_b and "node" not in on_b
    assert warnings(err_b) == ["numatui: warning: numatui has no record of this QEMU: distances or "
                               "nodes another QMP client set are unknown (QMP cannot read them)"]
    # a restart: same socket path, another process: the old record does not apply
    a.kill()
    again = qemu_factory(NO_NUMA)
    out, err = ok("export", again.sock)
    assert "dist" not in out and len(warnings(err)) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_tcp(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open("/proc/net/tcp") as table:
                if any(f":{port:04X} " in line and line.split()[3] == "0A" for line in table):
                    return
        except OSError:
            return
        time.sleep(0.02)
    raise AssertionError(f"QEMU does not listen on port {port}")


async def test_tcp_peer_without_record_warns_and_record_file_covers_it(qemu_factory: Any,
                                                                      tmp_path: Path) -> None:
    port = _free_port()
    q = qemu_factory([*NO_NUMA, "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    _wait_tcp(port)
    address = f"tcp:127.0.0.1:{port}"
    for command in ("show", "export"):
        code, _, err = numatui(command, address)
        assert code == 0
        assert len(warnings(err)) == 1 and "--record FILE" in err, err
    plan = {"nodes": [{"id": 0, "size": G}, {"id": 1, "size": G}],
            "distances": [{"src": 0, "dst": 1, "val": 23}],
            "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}]}
    rec = tmp_path / "vm.record"
    ok("apply", address, write_plan(tmp_path, plan), "--record", str(rec))
    assert oct(rec.stat().st_mode & 0o777) == "0o600"
    out, err = ok("export", address, "--record", str(rec))
    assert warnings(err) == []
    assert "-numa dist,src=0,dst=1,val=23" in out and "-numa node,nodeid=1,memdev=m1" in out
    fresh = qemu_factory([*NO_NUMA, *tokens(out)])
    assert await boot(fresh) == await boot(q)

    # the same file named for another machine: not used, and said
    port2 = _free_port()
    other = qemu_factory([*NO_NUMA[:-4], "-smp", "4,sockets=2,cores=2", "-m", "2G",
                          "-qmp", f"tcp:127.0.0.1:{port2},server=on,wait=off"])
    _wait_tcp(port2)
    out, err = ok("export", f"tcp:127.0.0.1:{port2}", "--record", str(rec))
    assert "dist" not in out
    assert any("is of another QEMU" in w for w in warnings(err)), err
    assert other.proc.poll() is None


async def test_a_qemu_first_seen_after_boot_warns(qemu_factory: Any) -> None:
    """Booted out of preconfig by someone else: what was set there is unknown.
    Started without --preconfig: nothing can have been set over QMP, no warning."""
    never = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)], preconfig=False)
    code, out, err = numatui("export", never.sock)
    assert code == 0 and "-numa cpu" in out and warnings(err) == []
    q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    await q.qmp("x-exit-preconfig")
    code, out, err = numatui("export", q.sock)
    assert code == 0 and "-numa cpu" in out
    assert warnings(err) == ["numatui: warning: numatui did not talk to this QEMU before it booted: "
                             "distances set over QMP are unknown (QMP cannot read them)"]


async def test_node_added_by_another_client_is_said(qemu_factory: Any) -> None:
    q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
    await q.qmp("set-numa-node", {"type": "node", "nodeid": 2})
    await q.qmp("set-numa-node", {"type": "cpu", "node-id": 2, "socket-id": 1})
    code, out, err = numatui("export", q.sock)
    assert code == 0 and "-numa node,nodeid=2" in out
    assert "numatui: warning: node 2 is not in QEMU's command line and numatui did not add it: " \
        "its memory is unknown" in warnings(err)


# -- other boards ---------------------------------------------------------------------------
ARM = ["-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-m", "1G"]


async def test_arm_virt_mapping_survives_into_another_process(qemu_factory: Any, tmp_path: Path) -> None:
    """arm virt refuses query-hotpluggable-cpus: the record carries the mapping;
    QEMU's aarch64_numa_cpu case (socket 1 -> node 0, socket 0 -> node 1)."""
    need("qemu-system-aarch64")
    base = [*ARM, "-smp", "2,sockets=2,clusters=1,cores=1,threads=1", *numa_node_args(2, 1024)]
    q = qemu_factory(base, binary="qemu-system-aarch64")
    code, _, err = numatui("show", q.sock)
    assert code == 0 and "a mapping another client set is unknown" in err
    plan = {"cpus": [{"node-id": 0, "socket-id": 1, "cluster-id": 0, "core-id": 0, "thread-id": 0},
                     {"node-id": 1, "socket-id": 0, "cluster-id": 0, "core-id": 0, "thread-id": 0}]}
    ok("apply", q.sock, write_plan(tmp_path, plan))
    shown, err = ok("show", q.sock)
    assert warnings(err) == [] and "unassigned" not in shown.split("\n\n", 1)[1]
    export, _ = ok("export", q.sock)
    assert "-numa cpu,node-id=0,socket-id=1" in export and "-numa cpu,node-id=1,socket-id=0" in export
    fresh = qemu_factory([*base, *tokens(export)], binary="qemu-system-aarch64")
    await boot(q)
    await boot(fresh)
    want = {(("cluster-id", 0), ("core-id", 0), ("socket-id", 0), ("thread-id", 0)): 1,
            (("cluster-id", 0), ("core-id", 0), ("socket-id", 1), ("thread-id", 0)): 0}
    assert await cpu_nodes(q) == want
    assert await cpu_nodes(fresh) == want


async def test_pseries_spapr_numa_cpu(qemu_factory: Any, tmp_path: Path) -> None:
    """QEMU's spapr_numa_cpu: cores 0-2 on node 0, core 3 on node 1."""
    need("qemu-system-ppc64")
    base = ["-machine", "pseries", "-accel", "tcg", "-smp", "4,cores=4,threads=1", "-m", "1G",
            "-object", "memory-backend-ram,id=ram,size=1G", "-numa", "node,nodeid=0,memdev=ram",
            "-numa", "node,nodeid=1"]
    q = qemu_factory(base, binary="qemu-system-ppc64")
    plan = "".join(f"-numa cpu,node-id={0 if c < 3 else 1},core-id={c}\n" for c in range(4))
    (tmp_path / "spapr.numa").write_text(plan)
    ok("apply", q.sock, str(tmp_path / "spapr.numa"))
    export, err = ok("export", q.sock)
    assert warnings(err) == []
    fresh = qemu_factory([*base, *tokens(export)], binary="qemu-system-ppc64")
    for vm in (q, fresh):
        await boot(vm)
        assert {dict(k)["core-id"]: n for k, n in (await cpu_nodes(vm)).items()} == {0: 0, 1: 0, 2: 0, 3: 1}


# -- QEMU's own numa-test.c cases, through numatui ---------------------------------------------
QTEST = ["-m", "128M", "-object", "memory-backend-ram,id=ram,size=128M"]


async def test_qtest_pc_numa_cpu(qemu_factory: Any, tmp_path: Path) -> None:
    base = [*QTEST, "-accel", "tcg", "-cpu", "max",
            "-machine", "smp.cpus=8,smp.sockets=2,smp.cores=2,smp.threads=2",
            "-numa", "node,nodeid=0,memdev=ram", "-numa", "node,nodeid=1"]
    q = qemu_factory(base)
    (tmp_path / "pc.numa").write_text(
        "-numa cpu,node-id=1,socket-id=0\n-numa cpu,node-id=0,socket-id=1,core-id=0\n"
        "-numa cpu,node-id=0,socket-id=1,core-id=1,thread-id=0\n"
        "-numa cpu,node-id=1,socket-id=1,core-id=1,thread-id=1\n")
    ok("apply", q.sock, str(tmp_path / "pc.numa"))
    export, _ = ok("export", q.sock)
    fresh = qemu_factory([*base, *tokens(export)])

    def expected(props: dict[str, int]) -> int:
        if props["socket-id"] == 0:
            return 1
        return 1 if (props["core-id"], props["thread-id"]) == (1, 1) else 0

    for vm in (q, fresh):
        await boot(vm)
        got = await cpu_nodes(vm)
        assert len(got) == 8 and all(n == expected(dict(k)) for k, n in got.items())


async def test_qtest_pc_dynamic_cpu_cfg(qemu_factory: Any, tmp_path: Path) -> None:
    """Nodes made live on a backend of the command line; socket 1 -> node 0, 0 -> 1."""
    base = [*QTEST, "-accel", "tcg", "-machine", "smp.cpus=2,smp.sockets=2"]
    q = qemu_factory(base)
    plan = {"nodes": [{"id": 0, "memdev": "ram"}, {"id": 1}],
            "cpus": [{"node-id": 0, "socket-id": 1}, {"node-id": 1, "socket-id": 0}]}
    ok("apply", q.sock, write_plan(tmp_path, plan))
    export, err = ok("export", q.sock)
    assert warnings(err) == []
    assert "-numa node,nodeid=0,memdev=ram" in export.splitlines()
    assert "-object" not in export  # the backend is the command line's own
    fresh = qemu_factory([*base, *tokens(export)])
    for vm in (q, fresh):
        await boot(vm)
        assert {dict(k)["socket-id"]: n for k, n in (await cpu_nodes(vm)).items()} == {0: 1, 1: 0}
    assert await boot_info(fresh) == await boot_info(q)


async def boot_info(q: Qemu) -> dict[int, tuple[str, int]]:
    return info_numa(await q.qmp("human-monitor-command", {"command-line": "info numa"}))


# -- a hot-plugged CPU ------------------------------------------------------------------------
async def test_hotplugged_cpu_exports_as_device(qemu_factory: Any, tmp_path: Path) -> None:
    base = ["-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "2,maxcpus=4,sockets=2,cores=2,threads=1", "-m", "2G", *numa_node_args(2, 2048)]
    q = qemu_factory(base)
    (tmp_path / "p.numa").write_text("-numa cpu,node-id=0,socket-id=0\n-numa cpu,node-id=1,socket-id=1\n")
    ok("apply", q.sock, str(tmp_path / "p.numa"), "--exit-preconfig")
    ok("hotplug", q.sock, "socket-id=1,core-id=0,thread-id=0")
    export, err = ok("export", q.sock)
    assert warnings(err) == []
    assert any(line.startswith("-device ") and "socket-id=1" in line for line in export.splitlines())
    fresh = qemu_factory([*base, *tokens(export)])
    assert await boot(fresh) == await boot_info(q)


# -- libvirt -----------------------------------------------------------------------------------
DOMAIN = """<domain type='qemu'>
  <name>numatui-check</name>
  <memory unit='KiB'>{kib}</memory>
  <vcpu placement='static'>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  {cpu}
  <devices><emulator>{emulator}</emulator></devices>
</domain>
"""


def _libvirt_argv(xml: Path) -> list[str]:
    """``virsh domxml-to-native qemu-argv`` on libvirt's embedded QEMU driver (no daemon).

    As root, libvirt 9.0's driver insists on the ``libvirt-qemu`` user (which
    only libvirt-daemon-system creates): then it runs as ``nobody``, which
    makes the driver unprivileged, in a world-writable scratch root."""
    root = Path(tempfile.mkdtemp(prefix="nt-embed-"))
    try:
        root.chmod(0o777)
        domain = root / "domain.xml"
        shutil.copy(xml, domain)
        domain.chmod(0o644)
        command = ["virsh", "-c", f"qemu:///embed?root={root}", "domxml-to-native", "qemu-argv",
                   str(domain)]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("virsh as root needs the libvirt-qemu user, and setpriv is missing")
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "env", f"HOME={root}", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"virsh domxml-to-native refused it: {proc.stderr.strip()}")
        return shlex.split(proc.stdout.replace("\\\n", " "))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _numa_options_of(argv: Sequence[str]) -> list[str]:
    """The -object memory-backend-* and -numa options of libvirt's argv."""
    out: list[str] = []
    for opt in iter_options(list(argv)):
        if opt.name == "numa" or (opt.name == "object" and opt.value and "memory-backend" in opt.value):
            out += opt.tokens
    return out


async def _libvirt_fragment(qemu_factory: Any, tmp_path: Path) -> tuple[Qemu, Path]:
    q = qemu_factory([*NO_NUMA])
    # 21, not 20: libvirt writes no -numa dist when every distance is its default (10/20)
    plan = {"nodes": [{"id": 0, "size": G}, {"id": 1, "size": G}],
            "distances": [{"src": 0, "dst": 1, "val": 21}],
            "cpus": [{"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}]}
    ok("apply", q.sock, write_plan(tmp_path, plan))
    cpu, err = ok("export", q.sock, "--format", "libvirt")
    assert warnings(err) == []
    assert cpu.startswith("<cpu>") and "<?xml" not in cpu and "<domain" not in cpu
    assert "clusters" not in cpu and "dies" not in cpu  # libvirt 9.0 has no clusters
    xml = tmp_path / "domain.xml"
    xml.write_text(DOMAIN.format(kib=2 * G // 1024, vcpus=8, cpu=cpu.strip(),
                                 emulator=SYSTEM_QEMU))
    return q, xml


async def test_libvirt_export_passes_libvirts_schema(qemu_factory: Any, tmp_path: Path) -> None:
    need("virt-xml-validate")
    need("xmllint")  # virt-xml-validate runs it (Debian's libxml2-utils)
    _, xml = await _libvirt_fragment(qemu_factory, tmp_path)
    valid = subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr


async def test_libvirt_export_converts_and_boots(qemu_factory: Any, tmp_path: Path) -> None:
    """libvirt's own converter (no daemon: qemu:///embed) turns the fragment into
    QEMU options; a QEMU started from its -numa/-object options has the same info numa."""
    need("virsh")
    q, xml = await _libvirt_fragment(qemu_factory, tmp_path)
    argv = _libvirt_argv(xml)
    options = _numa_options_of(argv)
    assert "dist,src=0,dst=1,val=21" in options and "dist,src=1,dst=0,val=21" in options, argv
    fresh = qemu_factory([*NO_NUMA, *options])
    assert await boot(fresh) == await boot(q)


async def test_libvirt_refuses_a_memoryless_node_in_one_line(qemu_factory: Any, tmp_path: Path) -> None:
    q = qemu_factory([*NO_NUMA, *numa_node_args(1, 2048)])
    plan = {"nodes": [{"id": 0}, {"id": 1}], "cpus": [{"node-id": 1, "socket-id": 0}]}
    ok("apply", q.sock, write_plan(tmp_path, plan))
    code, out, err = numatui("export", q.sock, "--format", "libvirt")
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("numatui: node 1 has no memory: libvirt cannot express")
    assert len([ln for ln in err.splitlines() if "warning" not in ln]) == 1


# -- the TUI's face: what q prints --------------------------------------------------------------
async def test_what_q_prints_after_a_new_node_starts_the_same_vm(launched: Any, qemu_factory: Any) -> None:
    """Press n (a memoryless node, live), put socket 0 on it, q: the printed options
    added to QEMU's own command line give the same info numa."""
    from numatui.core.export import compact_text

    session = launched
    node = await session.add_node()
    assert node.id == 2
    await session.assign([s.key for s in session.topology.slots if s.key[0] == ("socket-id", 0)], 2)
    await session.set_distance(0, 1, 20)
    for a, b in ((0, 2), (1, 2)):
        await session.set_distance(a, b, 30)
    printed = compact_text(session)
    assert "-numa node,nodeid=2" in printed.splitlines() and "dist,src=1,dst=2,val=30" in printed
    user = session.launcher.user_argv
    fresh = qemu_factory([*user[1:], *tokens(printed)], binary=user[0])
    await session.exit_preconfig(force=True)  # socket 1 unassigned: the warning only
    want = info_numa(await session.execute("human-monitor-command", {"command-line": "info numa"}))
    assert await boot(fresh) == want and want[2][0].split() == ["0", "1", "2", "3"]
