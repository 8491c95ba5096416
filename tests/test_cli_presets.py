"""``numatui apply ADDRESS --preset NAME [--into N] [--add-nodes]`` on real QEMU
in preconfig; every mapping is read back through the test's own monitor."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_ARGS, Qemu, info_numa, numa_node_args
from test_cli import _no_tui, fails, mapping, ok  # noqa: F401  (autouse: print instead of the TUI)

Q240 = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "240,sockets=8,cores=15,threads=2",
        "-m", "2G", *numa_node_args(8, 2048)]


def sent(out: str) -> list[dict[str, Any]]:
    """The set-numa-node arguments ``apply`` printed, one line per command sent."""
    lines = [line for line in out.splitlines() if line.startswith("set-numa-node ")]
    return [json.loads(line.split(" ", 1)[1]) for line in lines]


def groups(q: Qemu, *props: str) -> dict[tuple[int, ...], set[int | None]]:
    out: dict[tuple[int, ...], set[int | None]] = {}
    for key, node in mapping(q).items():
        d = dict(key)
        out.setdefault(tuple(d[p] for p in props), set()).add(node)
    return out


@pytest.fixture
def q240(qemu_factory: Any) -> Qemu:
    q: Qemu = qemu_factory(Q240)
    return q


def test_socket_on_the_240_vcpu_q35(q240: Qemu) -> None:
    out = ok("apply", q240.sock, "--preset", "socket")
    assert sent(out) == [{"type": "cpu", "node-id": s, "socket-id": s} for s in range(8)]  # the fewest
    assert groups(q240, "socket-id") == {(s,): {s} for s in range(8)}
    assert out.endswith("applied: 240 slots (240 vCPUs) on 8 nodes with 8 commands\n")


def test_split_into_4_on_the_240_vcpu_q35(q240: Qemu) -> None:
    out = ok("apply", q240.sock, "--preset", "split", "--into", "4")
    assert len(sent(out)) == 8  # two whole sockets per node; no pattern covers exactly two sockets
    assert groups(q240, "socket-id") == {(s,): {s // 2} for s in range(8)}


def test_die_numbered_across_the_machine(qemu_factory: Any) -> None:
    q = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                      "-smp", "16,sockets=2,dies=2,cores=2,threads=2", "-m", "2G", *numa_node_args(4, 2048)])
    out = ok("apply", q.sock, "--preset", "die")
    assert len(sent(out)) == 4
    assert groups(q, "socket-id", "die-id") == {(0, 0): {0}, (0, 1): {1}, (1, 0): {2}, (1, 1): {3}}


def test_interleave_sends_patterns_without_socket_id(qemu: Qemu) -> None:
    out = ok("apply", qemu.sock, "--preset", "interleave")  # 2 sockets x 2 cores, 2 nodes
    assert sent(out) == [{"type": "cpu", "node-id": 0, "core-id": 0},
                         {"type": "cpu", "node-id": 1, "core-id": 1}]
    assert groups(qemu, "socket-id", "core-id") == {(0, 0): {0}, (0, 1): {1}, (1, 0): {0}, (1, 1): {1}}


def test_split_and_interleave_on_pseries(qemu_factory: Any) -> None:
    args = ["-machine", "pseries", "-accel", "tcg", "-smp", "8,cores=8,threads=1", "-m", "1G",
            *numa_node_args(2, 1024)]
    q = qemu_factory(args, binary="qemu-system-ppc64")
    ok("apply", q.sock, "--preset", "split")
    assert {dict(k)["core-id"]: n for k, n in mapping(q).items()} == {c: c // 4 for c in range(8)}
    q2 = qemu_factory(args, binary="qemu-system-ppc64")
    ok("apply", q2.sock, "--preset", "interleave")
    assert {dict(k)["core-id"]: n for k, n in mapping(q2).items()} == {c: c % 2 for c in range(8)}
    assert "this board has no socket level" in fails(2, "apply", q2.sock, "--preset", "socket")


@pytest.fixture
def four_sockets_two_nodes(qemu_factory: Any) -> Qemu:
    q: Qemu = qemu_factory(["-machine", "q35", "-accel", "tcg", "-cpu", "max",
                            "-smp", "8,sockets=4,cores=2,threads=1", "-m", "2G", *numa_node_args(2, 2048)])
    return q


def test_not_enough_nodes_is_one_line_exit_2_and_sends_nothing(four_sockets_two_nodes: Qemu,
                                                               tmp_path: Path) -> None:
    q = four_sockets_two_nodes
    log = tmp_path / "qmp.log"
    line = fails(2, "apply", q.sock, "--preset", "socket", "--log", str(log))
    assert line.startswith("numatui: preset socket needs 4 NUMA node(s) (one node per socket); QEMU has 2 "
                           "(0-1, from command line of pid ")
    assert line.endswith("add node(s) 2-3 memoryless (--add-nodes), or start QEMU with 4 nodes")
    assert '"execute": "set-numa-node"' not in log.read_text()
    assert set(mapping(q).values()) == {None}
    assert "needs 3 NUMA node(s)" in fails(2, "apply", q.sock, "--preset", "split", "--into", "3")


def test_add_nodes_adds_memoryless_nodes_live(four_sockets_two_nodes: Qemu) -> None:
    q = four_sockets_two_nodes
    out = ok("apply", q.sock, "--preset", "socket", "--add-nodes", "--exit-preconfig")
    assert sent(out)[:2] == [{"type": "node", "nodeid": 2}, {"type": "node", "nodeid": 3}]
    assert sent(out)[2:] == [{"type": "cpu", "node-id": s, "socket-id": s} for s in range(4)]
    # QEMU's own view after boot: 4 nodes, the added two without memory
    numa = info_numa(asyncio.run(q.qmp("human-monitor-command", {"command-line": "info numa"})))
    assert numa == {0: ("0 1", 1024), 1: ("2 3", 1024), 2: ("4 5", 0), 3: ("6 7", 0)}


def test_usage_errors(qemu: Qemu, tmp_path: Path) -> None:
    plan = tmp_path / "p.numa"
    plan.write_text("-numa cpu,node-id=0,socket-id=0\n")
    assert "exactly one" in fails(2, "apply", qemu.sock)
    assert "exactly one" in fails(2, "apply", qemu.sock, str(plan), "--preset", "socket")
    assert "--into and --add-nodes go with --preset" in fails(2, "apply", qemu.sock, str(plan), "--into", "2")
    line = fails(2, "apply", qemu.sock, "--preset", "sockets")
    assert "unknown preset 'sockets'; choose socket, die" in line
    assert "takes no --into" in fails(2, "apply", qemu.sock, "--preset", "socket", "--into", "2")
    assert "no die level" in fails(2, "apply", qemu.sock, "--preset", "die")
    assert set(mapping(qemu).values()) == {None}
    assert DEFAULT_ARGS  # the qemu fixture's shape: 2 sockets x 2 cores x 2 threads


def test_cluster_on_arm_virt_derived_slots(qemu_factory: Any) -> None:
    """arm virt refuses query-hotpluggable-cpus: the slots are derived; QEMU's
    own view after boot (query-cpus-fast) shows the clusters on their nodes."""
    q = qemu_factory(["-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a57",
                      "-smp", "8,sockets=2,clusters=2,cores=2", "-m", "1G", *numa_node_args(4, 1024)],
                     binary="qemu-system-aarch64")
    out = ok("apply", q.sock, "--preset", "cluster", "--exit-preconfig")
    assert sent(out) == [{"type": "cpu", "node-id": s * 2 + c, "socket-id": s, "cluster-id": c}
                         for s in (0, 1) for c in (0, 1)]
    cpus = asyncio.run(q.qmp("query-cpus-fast"))
    assert {c["cpu-index"]: c["props"]["node-id"] for c in cpus} == {i: i // 2 for i in range(8)}
