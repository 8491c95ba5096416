"""Capacity findings on recorded hosts (pure)."""

from __future__ import annotations

import pytest
from host_trees import Trees, trees_fixture  # noqa: F401

from numatui.model.host import HostTopology
from numatui.model.host_checks import GuestNodeNeeds, check_capacity, needs_from
from numatui.model.plan import Node, Plan
from numatui.model.preflight import Severity
from numatui.model.topology import Topology
from numatui.session.host_reader import read_host

pytestmark = pytest.mark.pure
GIB = 1 << 30


def codes(findings: list) -> list[tuple[str, str]]:
    return [(f.severity.value, f.code) for f in findings]


@pytest.fixture
def amd(trees: Trees) -> HostTopology:
    return read_host(trees.root("16amd64-8n2c"))  # 8 nodes x 2 CPUs, ~8 GiB each


def test_a_fitting_binding_has_no_finding(amd: HostTopology) -> None:
    needs = [GuestNodeNeeds(0, 2, GIB), GuestNodeNeeds(1, 2, GIB)]
    assert check_capacity(amd, needs, {0: 0, 1: 1}) == []


def test_overcommit_counts_every_guest_node_on_the_host_node(amd: HostTopology) -> None:
    needs = [GuestNodeNeeds(0, 2, GIB), GuestNodeNeeds(1, 1, GIB)]
    (f,) = check_capacity(amd, needs, {0: 3, 1: 3})
    assert (f.severity, f.code) == (Severity.WARNING, "host-cpu-overcommit")
    assert f.message.startswith("The guest nodes 0, 1 have 3 vCPUs bound to host node 3, which has 2")


def test_memory_beyond_free(amd: HostTopology) -> None:
    free = amd.node(1).free  # type: ignore[union-attr]
    (f,) = check_capacity(amd, [GuestNodeNeeds(0, 1, free + GIB)], {0: 1})
    assert f.code == "host-memory-short" and "host node 1 has" in f.message


def test_hugepages_are_counted_by_their_size(trees: Trees) -> None:
    host = read_host(trees.root("64amd64-4s2n4ca2co"))
    node = host.nodes[0]
    assert node.hugepages and node.hugepages[0].free == 0
    size = node.hugepages[0].size
    (f,) = check_capacity(host, [GuestNodeNeeds(0, 1, GIB, size)], {0: 0})
    assert f.code == "host-memory-short" and "hugepages" in f.message


def test_unknown_memoryless_and_cpuless_host_nodes(trees: Trees) -> None:
    host = read_host(trees.root("nvidiagpunumanodes"))  # nodes 250-255 have memory, no CPU
    needs = [GuestNodeNeeds(0, 2, GIB), GuestNodeNeeds(1, 2, GIB)]
    found = check_capacity(host, needs, {0: 7, 1: 250})
    assert codes(found) == [("blocking", "host-node-unknown"), ("warning", "host-node-cpuless")]
    assert "host node 7, which this host does not have (it has 0, 8, 250" in found[0].message
    mem_less = read_host(trees.root("fakememinitiators-1np2c+1npp+gi"))  # node 0: CPUs, no memory
    assert mem_less.node(0).memory == 0 and mem_less.node(0).cpus  # type: ignore[union-attr]
    assert codes(check_capacity(mem_less, [GuestNodeNeeds(0, 1, GIB)], {0: 0})) == [
        ("blocking", "host-node-memoryless")]


def test_needs_from_a_plan() -> None:
    topo = Topology.from_smp({"sockets": 2, "cores": 2, "threads": 1}, ("socket-id", "core-id", "thread-id"))
    plan = Plan(nodes=(Node(0, size=GIB), Node(1, size=2 * GIB)),
                cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}))
    assert needs_from(topo, plan, {1: 2 << 20}) == [GuestNodeNeeds(0, 2, GIB),
                                                    GuestNodeNeeds(1, 2, 2 * GIB, 2 << 20)]
