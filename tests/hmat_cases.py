"""QEMU's own HMAT test cases (tests/qtest/numa-test.c: pc_hmat_build_cfg,
pc_hmat_off_cfg, pc_hmat_erange_cfg): the command line, then each
set-numa-node argument with whether QEMU refuses it (True) or accepts it."""

from __future__ import annotations

from typing import Any

BASE = ["-machine", "q35", "-accel", "tcg", "-smp", "2,sockets=2", "-m", "128M,slots=2,maxmem=1G",
        "-object", "memory-backend-ram,size=64M,id=m0",
        "-object", "memory-backend-ram,size=64M,id=m1"]
HMAT_NODES = ["-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1,initiator=0",
              "-numa", "cpu,node-id=0,socket-id=0", "-numa", "cpu,node-id=0,socket-id=1"]


def lb(i: int, t: int, dt: str, **value: int) -> dict[str, Any]:
    return {"type": "hmat-lb", "initiator": i, "target": t, "hierarchy": "memory",
            "data-type": dt, **value}


def cache(node: int, level: int, assoc: str = "direct", policy: str = "write-back",
          line: int = 8, size: int = 10240) -> dict[str, Any]:
    return {"type": "hmat-cache", "node-id": node, "size": size, "level": level,
            "associativity": assoc, "policy": policy, "line": line}


BUILD_ARGS = [*BASE, "-machine", "hmat=on", *HMAT_NODES]
#: pc_hmat_build_cfg; the first three leave out the value (QEMU's test does; its
#: checks before the value refuse them): numatui gives them one so they are whole commands
BUILD: list[tuple[dict[str, Any], bool]] = [
    (lb(2, 0, "access-latency", latency=1), True),
    (lb(0, 2, "access-latency", latency=1), True),
    (lb(1, 0, "access-latency", latency=1), True),
    ({**lb(0, 0, "write-latency"), "bandwidth": 524288000}, True),
    ({**lb(0, 0, "read-bandwidth"), "latency": 5}, True),
    (lb(0, 0, "access-bandwidth", bandwidth=1048575), True),
    (lb(0, 0, "access-latency", latency=1), False),
    (lb(0, 0, "access-latency", latency=5), True),
    (lb(0, 0, "access-bandwidth", bandwidth=68717379584), False),
    (lb(0, 1, "access-latency", latency=65534), False),
    (lb(0, 1, "access-bandwidth", bandwidth=34358689792), False),
    (cache(2, 1), True),
    (cache(0, 4), True),
    (cache(0, 0, "direct", "none", 0), True),
    (cache(0, 0, "none", "write-back", 0), True),
    (cache(0, 0, "none", "none", 8), True),
    (cache(0, 1), False),
    (cache(0, 1), True),
    (cache(0, 2), True),
    (cache(0, 0), True),
    (cache(1, 1), False),
]

OFF_ARGS = [*BASE, "-numa", "node,nodeid=0,memdev=m0"]
#: pc_hmat_off_cfg (no hmat=on)
OFF: list[tuple[dict[str, Any], bool]] = [
    ({"type": "node", "nodeid": 1, "memdev": "m1", "initiator": 0}, True),
    ({"type": "node", "nodeid": 1, "memdev": "m1"}, False),
    (lb(0, 0, "access-latency", latency=1), True),
    (cache(0, 1), True),
]

ERANGE_ARGS = BUILD_ARGS
#: pc_hmat_erange_cfg
ERANGE: list[tuple[dict[str, Any], bool]] = [
    (lb(0, 0, "access-latency", latency=1), False),
    (lb(0, 1, "access-latency", latency=65535), True),
    (lb(0, 0, "access-bandwidth", bandwidth=0), False),
    (cache(0, 1), True),
    (lb(0, 1, "access-bandwidth", bandwidth=68718428160), True),
]

#: The README's tier example: two DRAM nodes with CPUs, one slower memory-only node.
TIER_ARGS = ["-machine", "q35,hmat=on", "-accel", "tcg", "-cpu", "max",
             "-smp", "4,sockets=2,cores=2", "-m", "3G"]
TIER_PLAN: dict[str, Any] = {
    "version": 1,
    "nodes": [{"id": 0, "size": 1073741824}, {"id": 1, "size": 1073741824},
              {"id": 2, "size": 1073741824, "initiator": 0}],
    "distances": [{"src": 0, "dst": 1, "val": 21}, {"src": 0, "dst": 2, "val": 30},
                  {"src": 1, "dst": 2, "val": 30}],
    "cpus": [{"node-id": 0, "socket-id": 0}, {"node-id": 1, "socket-id": 1}],
    "hmat-lb": [
        {"initiator": 0, "target": 0, "hierarchy": "memory", "data-type": "access-latency", "latency": 80},
        {"initiator": 0, "target": 1, "hierarchy": "memory", "data-type": "access-latency", "latency": 140},
        {"initiator": 0, "target": 2, "hierarchy": "memory", "data-type": "access-latency", "latency": 300},
        {"initiator": 1, "target": 0, "hierarchy": "memory", "data-type": "access-latency", "latency": 140},
        {"initiator": 1, "target": 1, "hierarchy": "memory", "data-type": "access-latency", "latency": 80},
        {"initiator": 1, "target": 2, "hierarchy": "memory", "data-type": "access-latency", "latency": 360},
        {"initiator": 0, "target": 0, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 21474836480},
        {"initiator": 0, "target": 1, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 10737418240},
        {"initiator": 0, "target": 2, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 5368709120},
        {"initiator": 1, "target": 0, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 10737418240},
        {"initiator": 1, "target": 1, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 21474836480},
        {"initiator": 1, "target": 2, "hierarchy": "memory", "data-type": "access-bandwidth",
         "bandwidth": 4294967296},
    ],
    "hmat-cache": [
        {"node-id": 2, "size": 268435456, "level": 1, "associativity": "direct",
         "policy": "write-back", "line": 64},
    ],
}
