"""numatui's vCPU index <-> slot rule (:meth:`Topology.cpu_indexes`) against QEMU's own.

libvirt's cells list vCPU indexes (``cpus='0-3'``), which it passes on as
``-numa node,cpus=``.  QEMU is the oracle: started with such options on each
board, it reports each slot's node-id (``query-hotpluggable-cpus`` in
preconfig; arm virt refuses that command, so there ``-S`` and
``query-cpus-fast``).  The node numatui's rule gives each slot must be the
node QEMU gave it, on QEMU 7.2 and 10.0.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TEST_QEMU

from numatui.model.ranges import format_ranges
from numatui.model.topology import SMP_KEYS, Topology, order_props

NODES = 3


def _node_of(slot_number: int) -> int:
    """An irregular spread of slots over the nodes (not runs, not round robin)."""
    return (slot_number * 5 + slot_number // 3) % NODES


def _numa_args(cpus_of: dict[int, list[int]]) -> list[str]:
    args: list[str] = []
    for n in range(NODES):
        args += ["-object", f"memory-backend-ram,id=m{n},size=512M", "-numa",
                 ",".join([f"node,nodeid={n}", *(f"cpus={r}" for r in
                                                 format_ranges(cpus_of.get(n, [])).split(",") if r),
                           f"memdev=m{n}"])]
    return args


BOARDS = [  # (id, binary, machine args, -smp, threads per slot, needs QEMU >= (major, minor))
    ("pc", "qemu-system-x86_64", ["-machine", "pc", "-cpu", "max"], "8,sockets=2,cores=2,threads=2", 1),
    ("q35-dies", "qemu-system-x86_64", ["-machine", "q35", "-cpu", "max"],
     "16,sockets=2,dies=2,cores=2,threads=2", 1),
    ("q35-maxcpus", "qemu-system-x86_64", ["-machine", "q35", "-cpu", "max"],
     "4,maxcpus=12,sockets=3,cores=2,threads=2", 1),
    ("pseries", "qemu-system-ppc64", ["-machine", "pseries"], "8,sockets=2,cores=2,threads=2", 2),
    ("arm-virt", "qemu-system-aarch64", ["-machine", "virt", "-cpu", "max"],
     "8,sockets=2,clusters=2,cores=2,threads=1", 1),
]
if TEST_QEMU == "10.0":
    BOARDS.append(("q35-modules", "qemu-system-x86_64", ["-machine", "q35", "-cpu", "max"],
                   "16,sockets=2,dies=1,modules=2,cores=2,threads=2", 1))


@pytest.mark.parametrize(("binary", "machine", "smp", "per_slot"),
                         [b[1:] for b in BOARDS], ids=[b[0] for b in BOARDS])
async def test_cpu_index_rule_is_qemus(qemu_factory: Any, binary: str, machine: list[str], smp: str,
                                       per_slot: int) -> None:
    total = int(dict(p.split("=") for p in smp.split(",")[1:]).get("maxcpus", smp.split(",")[0]))
    cpus_of: dict[int, list[int]] = {}
    for i in range(total):
        cpus_of.setdefault(_node_of(i // per_slot), []).append(i)
    args = [*machine, "-accel", "tcg", "-m", "1536M", "-smp", smp, *_numa_args(cpus_of)]
    arm = binary.endswith("aarch64")
    q = qemu_factory([*args, "-S"] if arm else args, binary=binary, preconfig=not arm)
    if arm:  # no query-hotpluggable-cpus: the present CPUs after machine init
        smp_now = await q.qmp("qom-get", {"path": "/machine", "property": "smp"})
        props = [p for p in ("socket-id", "cluster-id", "core-id", "thread-id")
                 if SMP_KEYS[p] in smp_now]
        topo = Topology.from_smp(smp_now, props)
        qemu = {order_props({k: v for k, v in c["props"].items() if k in props}): c["props"]["node-id"]
                for c in await q.qmp("query-cpus-fast")}
    else:
        topo = Topology.from_hotpluggable(await q.qmp("query-hotpluggable-cpus"))
        qemu = {s.key: s.node_id for s in topo.slots}
    assert len(topo.slots) * per_slot == total
    ours = {key: _node_of(r.start // per_slot) for key, r in topo.cpu_indexes().items()}
    assert qemu == ours
