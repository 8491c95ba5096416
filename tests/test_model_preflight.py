"""Preflight: every finding, and silence when QEMU would be happy."""

from __future__ import annotations

import pytest
from conftest import load_data

from numatui.model.plan import Distance, Node, Plan
from numatui.model.preflight import Finding, Severity, check
from numatui.model.topology import Topology

G = 1 << 30


def q35(name: str = "q35-default.json") -> Topology:
    return Topology.from_hotpluggable(load_data(name)["query-hotpluggable-cpus"])


def two_nodes(**kw: object) -> Plan:
    base = {"nodes": (Node(0, "m0", G), Node(1, "m1", G)),
            "cpus": ({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1})}
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, codes(findings)
    return hits[0]


def test_a_good_plan_has_no_findings() -> None:
    assert check(q35(), two_nodes(), 2 * G) == []
    # distances one way only are fine: QEMU fills in the other direction
    assert check(q35(), two_nodes(distances=(Distance(0, 1, 20),)), 2 * G) == []
    # both ways, different: fine when every direction is given
    assert check(q35(), two_nodes(distances=(Distance(0, 1, 20), Distance(1, 0, 30))), 2 * G) == []
    # the plan of what QEMU holds now
    topo = q35()
    topo = topo.with_mapping({s.key: s.prop("socket-id") for s in topo})
    assert check(topo, Plan.from_topology(topo, [Node(0, "m0", G), Node(1, "m1", G)]), 2 * G) == []


def test_unknown_nodes_skip_what_needs_the_node_list() -> None:
    assert check(q35(), Plan(cpus=({"node-id": 0},)), 2 * G) == []


def test_node_id_gap() -> None:
    f = check(q35(), two_nodes(nodes=(Node(0, "m0", G), Node(2, "m2", G)),
                               cpus=({"node-id": 0},)), 2 * G)
    gap = only(f, "node-id-gap")
    assert gap.severity is Severity.BLOCKING
    assert "Node 1 is missing" in gap.message and "numa: Node ID missing: 1" in gap.message


def test_node_id_too_high() -> None:
    f = check(q35(), Plan(nodes=(Node(0), Node(200)), cpus=({"node-id": 0},)))
    assert only(f, "node-id-range").severity is Severity.BLOCKING
    assert "0 to 127" in only(f, "node-id-range").message


def test_cpus_naming_an_undeclared_node() -> None:
    f = check(q35(), two_nodes(cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 5, "socket-id": 1})), 2 * G)
    assert "node 5" in only(f, "cpu-node-unknown").message


def test_memory_total_differs_from_ram() -> None:
    f = check(q35(), two_nodes(), 4 * G)
    m = only(f, "memory-total")
    assert m.severity is Severity.BLOCKING
    assert "2 GiB" in m.message and "4 GiB" in m.message and "(0x80000000)" in m.message
    # unknown RAM or an unknown backend size: nothing to say
    assert check(q35(), two_nodes(), None) == []
    unknown = two_nodes(nodes=(Node(0, "m0", G), Node(1, "m1", None)))
    assert "memory-total" not in codes(check(q35(), unknown, 4 * G))


def test_distances_missing_for_a_pair() -> None:
    plan = two_nodes(nodes=(Node(0, "m0", G), Node(1, "m1", G), Node(2)),
                     distances=(Distance(0, 1, 20),))
    m = only(check(q35(), plan, 2 * G), "distance-missing")
    assert "0\u20132, 1\u20132" in m.message
    assert "The distance between node 0 and 2 is missing" in m.message


def test_asymmetric_pair_needs_every_direction() -> None:
    nodes = (Node(0, "m0", G), Node(1, "m1", G), Node(2))
    plan = two_nodes(nodes=nodes, distances=(Distance(0, 1, 20), Distance(1, 0, 30),
                                             Distance(0, 2, 20), Distance(1, 2, 20)))
    f = check(q35(), plan, 2 * G)
    assert only(f, "distance-asymmetric").severity is Severity.BLOCKING
    assert "node 2 to node 0" in only(f, "distance-asymmetric").message
    complete = (*plan.distances, Distance(2, 0, 20), Distance(2, 1, 20))
    assert "distance-asymmetric" not in codes(check(q35(), two_nodes(nodes=nodes, distances=complete), 2 * G))


def test_the_last_value_given_for_a_pair_counts() -> None:
    plan = two_nodes(distances=(Distance(0, 1, 20), Distance(1, 0, 30), Distance(1, 0, 20)))
    assert check(q35(), plan, 2 * G) == []


@pytest.mark.parametrize(
    "distance, code, words",
    [(Distance(0, 1, 9), "distance-too-small", "NUMA distance (9) is invalid"),
     (Distance(1, 1, 20), "distance-local", "Local distance of node 1 should be 10."),
     (Distance(1, 1, 5), "distance-too-small", "NUMA distance (5)"),  # QEMU checks < 10 first
     (Distance(0, 1, 256), "distance-too-large", "Parameter 'val' expects uint8_t"),  # one SLIT byte
     (Distance(0, 4, 20), "distance-node-unknown", "Source/Destination NUMA node is missing")],
)
def test_bad_distances(distance: Distance, code: str, words: str) -> None:
    f = check(q35(), two_nodes(distances=(Distance(0, 1, 20), distance)), 2 * G)
    assert words in only(f, code).message and only(f, code).severity is Severity.BLOCKING


def test_unassigned_cpus_go_to_node_0() -> None:
    plan = two_nodes(cpus=({"node-id": 1, "socket-id": 1},))
    w = only(check(q35(), plan, 2 * G), "cpus-unassigned")
    assert w.severity is Severity.WARNING
    assert "4 possible CPUs" in w.message and "cpu-index 0, 1, 2, 3" in w.message and "node 0" in w.message


def test_nothing_assigned_means_qemu_default_mapping() -> None:
    w = only(check(q35(), two_nodes(cpus=()), 2 * G), "cpus-default")
    assert w.severity is Severity.WARNING and "modulo" in w.message


def test_threads_of_one_core_split() -> None:
    topo = q35()
    plan = two_nodes(cpus=({"node-id": 0, "socket-id": 0},
                           {"node-id": 1, "socket-id": 1, "core-id": 0, "thread-id": 0},
                           {"node-id": 0, "socket-id": 1, "core-id": 0, "thread-id": 1},
                           {"node-id": 1, "socket-id": 1, "core-id": 1}))
    w = only(check(topo, plan, 2 * G), "core-split")
    assert w.severity is Severity.WARNING and "socket-id=1,core-id=0" in w.message


def test_cores_of_one_cluster_split_on_arm_virt() -> None:
    props = ("socket-id", "cluster-id", "core-id", "thread-id")
    topo = Topology.from_smp(load_data("arm-virt.json")["smp"], props)
    plan = two_nodes(cpus=({"node-id": 0, "socket-id": 0, "cluster-id": 0, "core-id": 0},
                           {"node-id": 1, "socket-id": 0, "cluster-id": 0, "core-id": 1},
                           {"node-id": 0, "socket-id": 0, "cluster-id": 1},
                           {"node-id": 1, "socket-id": 1}))
    f = check(topo, plan, 2 * G)
    assert codes(f) == ["cluster-split"]
    assert "socket-id=0,cluster-id=0" in f[0].message


def test_empty_node() -> None:
    plan = two_nodes(nodes=(Node(0, "m0", 2 * G), Node(1), Node(2, "m2", None)),
                     cpus=({"node-id": 0},))
    f = check(q35(), plan, 2 * G)
    assert codes(f) == ["node-empty"] and "Node 1 has neither CPUs nor memory" in f[0].message


def test_a_slot_qemu_already_holds_elsewhere_and_bad_entries() -> None:
    topo = q35()
    topo = topo.with_mapping({topo.slots[0].key: 1})
    f = check(topo, two_nodes(), 2 * G)
    assert "CPU is already assigned to node-id: 1" in only(f, "cpu-mapping").message
    f = check(q35(), two_nodes(cpus=({"node-id": 0, "die-id": 0},)), 2 * G)
    assert "die-id is not supported" in only(f, "cpu-mapping").message


def test_blocking_first() -> None:
    plan = two_nodes(nodes=(Node(0, "m0", G), Node(1), Node(3)),
                     cpus=({"node-id": 0, "socket-id": 0},))
    f = check(q35(), plan, 2 * G)
    sev = [x.severity for x in f]
    assert sev == sorted(sev, key=lambda s: s is not Severity.BLOCKING)
    assert sev[0] is Severity.BLOCKING and sev[-1] is Severity.WARNING
    assert all(x.message.endswith(".") and "\n" not in x.message for x in f)


def test_node_booting_with_no_cpus_is_a_warning() -> None:
    """-smp 4,maxcpus=8: cpu-index 4-7 are empty at boot; a node holding only them warns."""
    from numatui.model.preflight import present_at_boot

    topo = Topology.from_smp({"cpus": 4, "maxcpus": 8, "sockets": 2, "cores": 2, "threads": 2},
                             ("socket-id", "core-id", "thread-id"))
    plan = Plan(nodes=(Node(0, size=1 << 30), Node(1, size=1 << 30)),
                cpus=({"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}))  # socket n: node n
    assert len(present_at_boot(topo, 4)) == 4 and len(present_at_boot(topo, None)) == 8
    found = [f for f in check(topo, plan, 2 << 30, boot_cpus=4) if f.code == "node-no-boot-cpus"]
    assert [f.severity for f in found] == [Severity.WARNING]
    assert "Node 1 will boot with no CPUs" in found[0].message and "4, 5, 6, 7" in found[0].message
    assert not [f for f in check(topo, plan, 2 << 30, boot_cpus=None) if f.code == "node-no-boot-cpus"]


# -- the guest's numbering and known QEMU bugs (issue #16) ----------------------------
def test_a_note_when_the_guest_numbers_the_nodes_differently() -> None:
    swapped = two_nodes(cpus=({"node-id": 1, "socket-id": 0}, {"node-id": 0, "socket-id": 1}))
    found = check(q35(), swapped, 2 * G, qemu_version="7.2.22", machine_type="pc-q35-7.2-machine")
    note = only(found, "guest-numbering")
    assert note.severity is Severity.INFO and found[-1] is note  # notes come last, nothing blocks
    assert note.message.startswith("QEMU node 1 will be the guest's node0: Linux numbers nodes in the order")
    assert "QEMU node 0 \u2192 guest node1" in note.message
    # QEMU's order = the guest's: no note; a board whose guest keeps QEMU's ids: no note
    assert check(q35(), two_nodes(), 2 * G, machine_type="pc-q35-7.2-machine") == []
    assert codes(check(q35(), swapped, 2 * G, machine_type="pseries-7.2-machine")) == []
    assert codes(check(q35(), swapped, 2 * G)) == []  # board unknown: nothing said


def _riscv(nodes: list[int | None], declared: int = 2) -> tuple[Topology, Plan]:
    from numatui.model.topology import Slot

    slots = [Slot(key=(("core-id", i),), node_id=None, vcpus_count=1, type="rv64-riscv-cpu", qom_path=None)
             for i in range(len(nodes))]
    topo = Topology.build(slots)
    plan = Plan(nodes=tuple(Node(i, f"m{i}", G) for i in range(declared)),
                cpus=tuple({"node-id": n, "core-id": i} for i, n in enumerate(nodes) if n is not None))
    return topo, plan


def _riscv_codes(nodes: list[int | None], version: str = "10.0.2", declared: int = 2,
                 machine_type: str = "virt-machine") -> list[str]:
    topo, plan = _riscv(nodes, declared)
    return [c for c in codes(check(topo, plan, declared * G, qemu_version=version, machine_type=machine_type))
            if c.startswith("qemu-bug-riscv")]


def test_riscv_virt_needs_one_run_of_cores_per_node_in_node_order() -> None:
    """What QEMU 7.2.22 and 10.0.2 both do at x-exit-preconfig (tests/test_riscv.py runs them)."""
    topo, plan = _riscv([1, 0, 0, 1])  # segfaults on both
    bug = only(check(topo, plan, 2 * G, qemu_version="10.0.2", machine_type="virt-machine"),
               "qemu-bug-riscv-numa-runs")
    assert bug.severity is Severity.BLOCKING
    assert "the nodes come in the order 1, 0, 1 along the core ids" in bug.message
    assert "discontinuous hartids" in bug.message and "segmentation fault" in bug.message
    for version in ("7.2.22", "10.0.2"):
        for broken in ([1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1], [0, 2, 1, 1]):
            assert _riscv_codes(broken, version, declared=3 if 2 in broken else 2) == \
                ["qemu-bug-riscv-numa-runs"], (version, broken)
        assert _riscv_codes([0, 0, 1, 1], version) == []
        assert _riscv_codes([0, 1, 2, 2], version, declared=3) == []
        # unassigned CPUs are node 0's
        assert _riscv_codes([0, 0, None, None], version) == ["qemu-bug-riscv-numa-runs"]
    topo, plan = _riscv([0, 0, 0, 0])  # node 1 declared, without CPUs
    found = check(topo, plan, 2 * G, qemu_version="7.2.22", machine_type="virt-machine")
    assert "node 1 has no CPUs" in only(found, "qemu-bug-riscv-numa-runs").message
    # arm virt (socket/cluster/core/thread, versioned type), an unknown version, nothing mapped: not said
    assert _riscv_codes([1, 0, 0, 1], machine_type="virt-10.0-machine") == []
    assert _riscv_codes([1, 0, 0, 1], version="") == []
    assert _riscv_codes([None, None, None, None]) == []  # QEMU's own default: runs in node order


def test_qemu_7_2_riscv_virt_aborts_when_a_node_starts_past_its_cpu_count() -> None:
    topo, plan = _riscv([0, 0, 0, 1])
    bug = only(check(topo, plan, 2 * G, qemu_version="7.2.22", machine_type="virt-machine"),
               "qemu-bug-riscv-plic")
    assert bug.severity is Severity.BLOCKING
    assert "Node 1 starts at core 3 but has only 1 CPU(s)" in bug.message and "QEMU 7.2.22" in bug.message
    assert _riscv_codes([0, 0, 0, 1], "10.0.2") == []  # fixed there
    assert _riscv_codes([0, 0, 1, 2], "7.2.22", declared=3) == ["qemu-bug-riscv-plic"]
    assert _riscv_codes([0, 0, 0, 1, 1], "7.2.22") == ["qemu-bug-riscv-plic"]
    assert _riscv_codes([0, 0, 0, 1, 1, 1], "7.2.22") == []
    assert _riscv_codes([0, 1, 1, 1], "7.2.22") == []
