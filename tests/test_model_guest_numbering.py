"""Linux's own NUMA node numbering (numatui.model.guest_numbering); the guest
itself proves the rule in tests/test_guest.py."""

from __future__ import annotations

from numatui.model.guest_numbering import cpu_nodes, guest_node_ids, guest_numbering
from numatui.model.topology import Slot, Topology


def _topo(nodes: list[int | None]) -> Topology:
    """Slot i is socket i // 2, thread i % 2, on node ``nodes[i]``."""
    slots = [Slot(key=(("socket-id", i // 2), ("core-id", 0), ("thread-id", i % 2)), node_id=n,
                  vcpus_count=1, type="max-x86_64-cpu", qom_path=None)
             for i, n in enumerate(nodes)]
    return Topology.build(slots)


def test_identity_when_cpu_order_agrees() -> None:
    assert guest_node_ids([0, 0, 1, 1], [0, 1]) == {0: 0, 1: 1}


def test_cpu0_on_node_1_makes_it_the_guests_node_0() -> None:
    assert guest_node_ids([1, 1, 1, 1, 0, 0, 0, 0], [0, 1]) == {1: 0, 0: 1}


def test_memory_only_nodes_come_after_every_cpu_node_in_id_order() -> None:
    # node 0 memory only, nodes 3 and 1 with CPUs, node 2 memory only
    assert guest_node_ids([3, 3, 1, 1], [0, 1, 2, 3]) == {3: 0, 1: 1, 0: 2, 2: 3}


def test_memoryless_cpu_nodes_keep_their_place_and_empty_nodes_vanish() -> None:
    assert guest_node_ids([2, 0], [0]) == {2: 0, 0: 1}
    assert 5 not in guest_node_ids([0, 1], [0, 1])


def test_unassigned_cpus_count_as_node_0_and_vcpus_count_repeats() -> None:
    topo = _topo([1, None, 0, 0])
    assert cpu_nodes(topo) == [1, 0, 0, 0]
    assert guest_numbering(topo, {0: 1, 1: 1}) == {1: 0, 0: 1}
    assert guest_numbering(topo, {0: 1, 1: 0, 2: 1}) == {1: 0, 0: 1, 2: 2}


def test_node_numbering_from_plan_nodes_and_the_boards_it_applies_to() -> None:
    from numatui.model.guest_numbering import applies, node_numbering, renumbered
    from numatui.model.plan import Node

    topo = _topo([1, 1, 0, 0])
    # a memdev of unknown size has memory; a node with neither is not the guest's
    numbering = node_numbering(topo, [Node(0, "m0", None), Node(1, None, None), Node(2, None, None)])
    assert numbering == {1: 0, 0: 1}
    assert renumbered(numbering) == [(0, 1), (1, 0)]
    assert renumbered(node_numbering(_topo([0, 0, 1, 1]), [Node(0, "m0", 1), Node(1, "m1", 1)])) == []
    assert applies("pc-q35-7.2-machine") and applies("pc-i440fx-10.0-machine")
    assert not applies("pseries-7.2-machine") and not applies("virt-7.2-machine")
    assert not applies("virt-machine")
