"""The "like the host" preset on recorded hosts: the resulting plan, literally.
Pure, except the last test, which boots the plan on a real QEMU."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import info_numa
from host_trees import Trees, trees_fixture  # noqa: F401
from test_cli import ok

from numatui.model.host import HostCpu, HostNode, HostTopology
from numatui.model.host_preset import like_host, proportional
from numatui.model.topology import Topology
from numatui.session.host_reader import read_host

MIB = 1 << 20
GIB = 1 << 30
#: The guest: 4 sockets x 2 cores (8 vCPUs), -m 4G.
GUEST = Topology.from_smp({"sockets": 4, "cores": 2, "threads": 1}, ("socket-id", "core-id", "thread-id"))


def preset(trees: Trees, name: str) -> tuple[dict[str, Any], dict[int, int]]:
    p = like_host(read_host(trees.root(name)), GUEST, 4 * GIB)
    return p.plan.to_dict(), dict(p.binding)


@pytest.mark.pure
def test_sparse_ids_and_cpuless_nodes(trees: Trees) -> None:
    # host nodes 0 and 8 have 16 CPUs each; 250-255 are GPU memory without CPUs
    plan, binding = preset(trees, "nvidiagpunumanodes")
    assert plan == {
        "version": 1,
        "nodes": [{"id": 0, "memdev": "m0", "size": 2016 * MIB},
                  {"id": 1, "memdev": "m1", "size": 2080 * MIB}],
        "distances": [{"src": 0, "dst": 1, "val": 40}],
        "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 0, "socket-id": 1},
                 {"node-id": 1, "socket-id": 2}, {"node-id": 1, "socket-id": 3}],
    }
    assert binding == {0: 0, 1: 8}


@pytest.mark.pure
def test_memory_tiers_split_memory_by_host_memory(trees: Trees) -> None:
    # three CPU nodes of 2 CPUs with 2934, 978 and 512 MiB; the CPU-less tiers are left out
    plan, binding = preset(trees, "fakeheteromemtiers")
    assert [(n["id"], n["size"] // MIB) for n in plan["nodes"]] == [(0, 2715), (1, 906), (2, 475)]
    assert sum(n["size"] for n in plan["nodes"]) == 4 * GIB
    assert plan["distances"] == [{"src": 0, "dst": 1, "val": 20}, {"src": 0, "dst": 2, "val": 20},
                                 {"src": 1, "dst": 2, "val": 20}]
    assert plan["cpus"] == [{"node-id": 0, "socket-id": 0}, {"node-id": 0, "socket-id": 1},
                            {"node-id": 1, "socket-id": 2}, {"node-id": 2, "socket-id": 3}]
    assert binding == {0: 0, 1: 1, 2: 2}


@pytest.mark.pure
def test_more_host_nodes_than_sockets_splits_by_cores(trees: Trees) -> None:
    plan, binding = preset(trees, "64amd64-4s2n4ca2co")  # 8 nodes of 8 CPUs, node 5 has 8 GiB
    assert [n["size"] // MIB for n in plan["nodes"]] == [546, 546, 546, 546, 546, 274, 546, 546]
    assert plan["cpus"] == [{"node-id": 2 * s + c, "socket-id": s, "core-id": c}
                            for s in range(4) for c in range(2)]
    assert len(plan["distances"]) == 28  # one direction per pair: the host's matrix is symmetric
    assert {(d["src"], d["dst"]): d["val"] for d in plan["distances"]}[(0, 3)] == 22
    assert binding == {i: i for i in range(8)}


@pytest.mark.pure
def test_one_node_host(trees: Trees) -> None:
    plan, binding = preset(trees, "2arm-2c")
    assert plan == {"version": 1, "nodes": [{"id": 0, "memdev": "m0", "size": 4 * GIB}],
                    "distances": [], "cpus": [{"node-id": 0}]}
    assert binding == {0: 0}


@pytest.mark.pure
def test_distances_are_normalised_and_asymmetry_kept() -> None:
    cpus = tuple(HostCpu(c, c, 0, None, 0, (c,)) for c in range(2))
    host = HostTopology((HostNode(0, (0,), GIB, GIB), HostNode(3, (1,), GIB, GIB)),
                        ((12, 10), (300, 10)), cpus)
    plan = like_host(host, GUEST, 2 * GIB).plan
    assert [(d.src, d.dst, d.val) for d in plan.distances] == [(0, 1, 11), (1, 0, 255)]


@pytest.mark.pure
def test_proportional() -> None:
    assert proportional(4, [2, 2, 2], minimum=1) == [2, 1, 1]
    assert proportional(10, [1, 3]) == [3, 7]
    assert sum(proportional(4096, [2934, 978, 512], minimum=1)) == 4096


def test_the_preset_boots_on_qemu(trees: Trees, qemu_factory: Any, tmp_path: Path) -> None:
    plan, _ = preset(trees, "nvidiagpunumanodes")
    args = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "4G", "-smp", "8,sockets=4,cores=2"]
    for n in plan["nodes"]:
        args += ["-object", f"memory-backend-ram,id={n['memdev']},size={n['size']}",
                 "-numa", f"node,nodeid={n['id']},memdev={n['memdev']}"]
    q = qemu_factory(args)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    ok("apply", q.sock, str(path), "--exit-preconfig")
    numa = info_numa(asyncio.run(q.qmp("human-monitor-command", {"command-line": "info numa"})))
    assert numa == {0: ("0 1 2 3", 2016), 1: ("4 5 6 7", 2080)}
