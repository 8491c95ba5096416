"""The pinning plan (pure): policy node and policy cpu on recorded hosts."""

from __future__ import annotations

import pytest
from host_trees import Trees, trees_fixture  # noqa: F401

from numatui.model.errors import NumaError
from numatui.model.host import HostCpu, HostNode, HostTopology
from numatui.model.pinning import PinPolicy, VCpu, binding_from_memdevs, plan_pinning
from numatui.session.host_reader import read_host

pytestmark = pytest.mark.pure


def vcpus(sockets: int, cores: int, threads: int, nodes: dict[int, int] | None = None) -> list[VCpu]:
    out = []
    i = 0
    for s in range(sockets):
        for c in range(cores):
            for t in range(threads):
                props = {"socket-id": s, "core-id": c, "thread-id": t}
                if nodes is not None and s in nodes:
                    props["node-id"] = nodes[s]
                out.append(VCpu(i, 1000 + i, props))
                i += 1
    return out


def smt_host() -> HostTopology:
    """2 nodes x 2 cores x 2 threads, siblings numbered apart (0 and 4)."""
    cpus = tuple(HostCpu(c, c % 4 // 2, 0, None, c % 2, (c % 4, c % 4 + 4)) for c in range(8))
    nodes = (HostNode(0, (0, 1, 4, 5), 4 << 30, 2 << 30), HostNode(1, (2, 3, 6, 7), 4 << 30, 2 << 30))
    return HostTopology(nodes, ((10, 21), (21, 10)), cpus)


def test_node_policy_pins_bound_nodes_and_leaves_the_rest() -> None:
    plan = plan_pinning(smt_host(), vcpus(2, 1, 2, {0: 0, 1: 1}), PinPolicy.NODE, {0: 1})
    assert [(p.vcpu.cpu_index, p.cpus) for p in plan.pins] == [(0, (2, 3, 6, 7)), (1, (2, 3, 6, 7))]
    assert [(v.cpu_index, why) for v, why in plan.left] == [
        (2, "guest node 1 is bound to no host node"), (3, "guest node 1 is bound to no host node")]
    assert "vCPU 0 (thread 1000) -> host CPUs 2-3,6-7" in plan.lines()


def test_node_policy_refuses_a_host_node_it_does_not_have() -> None:
    with pytest.raises(NumaError, match="host node 5, which this host does not have"):
        plan_pinning(smt_host(), vcpus(1, 1, 1, {0: 0}), PinPolicy.NODE, {0: 5})


def test_cpu_policy_puts_guest_threads_on_host_siblings() -> None:
    plan = plan_pinning(smt_host(), vcpus(1, 2, 2), PinPolicy.CPU)
    assert [p.cpus for p in plan.pins] == [(0,), (4,), (1,), (5,)]


def test_cpu_policy_only_uses_allowed_cpus() -> None:
    plan = plan_pinning(smt_host(), vcpus(1, 2, 1), PinPolicy.CPU, allowed={1, 2, 3})
    assert [p.cpus for p in plan.pins] == [(1,), (2,)]


def test_cpu_policy_in_order_without_smt(trees: Trees) -> None:
    host = read_host(trees.root("16amd64-8n2c"))  # no SMT: plainly in order
    plan = plan_pinning(host, vcpus(1, 2, 2), PinPolicy.CPU)
    assert [p.cpus for p in plan.pins] == [(0,), (1,), (2,), (3,)]


def test_cpu_policy_on_a_recorded_smt_host(trees: Trees) -> None:
    host = read_host(trees.root("16em64t-4s2c2t"))
    plan = plan_pinning(host, vcpus(1, 2, 2), PinPolicy.CPU)
    got = [p.cpus[0] for p in plan.pins]
    by_cpu = {c.cpu: c for c in host.cpus}
    assert got[1] in by_cpu[got[0]].siblings and got[3] in by_cpu[got[2]].siblings
    assert len(set(got)) == 4


def test_cpu_policy_refuses_more_vcpus_than_host_cpus() -> None:
    with pytest.raises(NumaError, match="3 vCPUs but numatui may run on 2 host CPU"):
        plan_pinning(smt_host(), vcpus(1, 3, 1), PinPolicy.CPU, allowed={0, 1})


def test_binding_from_memdevs() -> None:
    memdevs = [{"id": "m0", "host-nodes": [1], "policy": "bind"}, {"id": "m1", "host-nodes": []},
               {"id": "m2", "host-nodes": [0, 1], "policy": "interleave"}]
    assert binding_from_memdevs(memdevs, {0: "m0", 1: "m1", 2: "m2"}) == {0: 1}


def test_vcpu_from_query_cpus_fast() -> None:
    v = VCpu.from_qmp({"cpu-index": 3, "qom-path": "/machine/unattached/device[3]", "thread-id": 4242,
                       "props": {"node-id": 1, "socket-id": 1, "core-id": 0, "thread-id": 1},
                       "target": "x86_64"})
    assert (v.cpu_index, v.thread_id, v.node_id) == (3, 4242, 1)
    assert v.core == (("core-id", 0), ("socket-id", 1))
