"""The host model's parsing, from a mapping of path -> text (pure, no files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from numatui.model.errors import NumaError
from numatui.model.host import format_cpulist, parse_cpulist, parse_cpumask, parse_host

pytestmark = pytest.mark.pure
N = "sys/devices/system/node"
C = "sys/devices/system/cpu"


@dataclass(frozen=True)
class MappingFiles:
    """``numatui.model.host.HostFiles`` over a mapping of path -> text (directories are implied)."""

    files: Mapping[str, str]

    def read(self, path: str) -> str | None:
        return self.files.get(path.strip("/"))

    def list(self, path: str) -> Sequence[str]:
        prefix = path.strip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self.files if p.startswith(prefix)})


def test_cpu_lists_and_masks() -> None:
    assert parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpulist("\n") == ()
    assert parse_cpumask("00000000,00000f01\n") == (0, 8, 9, 10, 11)
    assert parse_cpumask("1,00000000") == (32,)
    assert format_cpulist((0, 1, 2, 3, 8, 10, 11)) == "0-3,8,10-11"
    with pytest.raises(NumaError, match="not a CPU list item"):
        parse_cpulist("0-x")


def test_an_old_tree_with_cpumap_offline_cpus_and_a_bad_distance_row() -> None:
    files = MappingFiles({
        f"{C}/online": "0-2\n",
        **{f"{C}/cpu{i}/topology/physical_package_id": "0\n" for i in range(4)},
        **{f"{C}/cpu{i}/topology/core_id": f"{i}\n" for i in range(4)},
        **{f"{C}/cpu{i}/topology/thread_siblings": f"{1 << i:x}\n" for i in range(4)},
        f"{N}/node0/cpumap": "3\n", f"{N}/node2/cpumap": "c\n",
        f"{N}/node0/meminfo": "Node 0 MemTotal:  1024 kB\nNode 0 MemFree:   512 kB\n",
        f"{N}/node2/meminfo": "Node 2 MemTotal:  2048 kB\nNode 2 MemFree:   0 kB\n",
        f"{N}/node2/hugepages/hugepages-2048kB/nr_hugepages": "4\n",
        f"{N}/node2/hugepages/hugepages-2048kB/free_hugepages": "3\n",
        f"{N}/node0/distance": "10 20\n", f"{N}/node2/distance": "20 10 30\n",
    })
    host = parse_host(files)
    assert [(n.id, n.cpus, n.memory, n.free) for n in host.nodes] == [
        (0, (0, 1), 1 << 20, 1 << 19), (2, (2,), 2 << 20, 0)]  # cpu 3 is offline
    assert [(h.size, h.total, h.free) for h in host.nodes[1].hugepages] == [(2 << 20, 4, 3)]
    assert [c.cpu for c in host.cpus] == [0, 1, 2]
    assert host.cpus[2].siblings == (2,) and host.cpus[2].die is None
    assert host.distances == () and "node2/distance has 3 values for 2 nodes" in host.note


def test_no_cpu_is_one_line() -> None:
    with pytest.raises(NumaError, match="no CPU found"):
        parse_host(MappingFiles({}))
