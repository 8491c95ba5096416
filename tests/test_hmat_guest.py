"""The guest kernel's view of HMAT set by numatui.

The README's tier plan (DRAM nodes 0 and 1 with CPUs, node 2 memory-only
with initiator 0) goes to a QEMU with ``hmat=on`` through ``numatui apply
--exit-preconfig``; the guest prints, per node, what Linux read from the
HMAT in ``/sys/devices/system/node/nodeN/access0/initiators/``: the best
initiator(s) and their read/write latency (ns) and bandwidth (the kernel
reports MB/s, i.e. MiB/s, where QMP takes bytes per second).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import guest
import hmat_cases as cases
import pytest
from conftest import until_sync
from test_cli import ok
from test_guest import start_guest

pytestmark = [pytest.mark.guest, pytest.mark.qemu]

INIT_HMAT = guest._HEAD + guest._REPORT + r"""
report
for n in /sys/devices/system/node/node[0-9]*; do
    id=${n##*/node}
    d=$n/access0/initiators
    [ -d "$d" ] || continue
    ini=$(ls "$d" | grep '^node' | sed 's/node//' | tr '\n' ',')
    lat="rl=$(cat $d/read_latency) wl=$(cat $d/write_latency)"
    bw="rb=$(cat $d/read_bandwidth) wb=$(cat $d/write_bandwidth)"
    echo "hmat $id initiators=$ini $lat $bw"
done
echo HMAT-END
sleep 10
poweroff -f
"""

_LINE = re.compile(r"hmat (\d+) initiators=(\S*) rl=(\d+) wl=(\d+) rb=(\d+) wb=(\d+)")


@pytest.fixture(autouse=True)
def _guest_files() -> None:
    guest.require()


def test_the_guest_kernel_reads_the_latency_and_bandwidth_numatui_set(
    qemu_factory: Any, tmp_path: Path,
) -> None:
    q = start_guest(qemu_factory, tmp_path, cases.TIER_ARGS, init=INIT_HMAT)
    plan = tmp_path / "tier.json"
    plan.write_text(json.dumps(cases.TIER_PLAN))
    ok("apply", q.sock, str(plan), "--exit-preconfig")
    seen = guest.wait_report(q.extra["serial"], lambda: q.proc.poll() is None)
    # guest node ids are QEMU's here: CPUs of node 0 come first, node 2 has none
    assert seen.cpus() == {0: frozenset({0, 1}), 1: frozenset({2, 3}), 2: frozenset()}
    serial: Path = q.extra["serial"]
    until_sync(lambda: "HMAT-END" in serial.read_text(errors="replace"), 60, "the guest's HMAT lines")
    got = {int(m[1]): (m[2].strip(","), *(int(m[i]) for i in range(3, 7)))
           for m in _LINE.finditer(serial.read_text(errors="replace"))}
    mib = 1 << 20
    lbs = {(x["initiator"], x["target"], x["data-type"]): x.get("latency", x.get("bandwidth"))
           for x in cases.TIER_PLAN["hmat-lb"]}

    def want(init: int, target: int) -> tuple[str, int, int, int, int]:
        lat = lbs[(init, target, "access-latency")]
        bw = lbs[(init, target, "access-bandwidth")] // mib  # bytes/s -> the kernel's MB/s
        return (str(init), lat, lat, bw, bw)

    # the memory-only node: its initiator 0 (the better one), 300 ns, 5 GiB/s = 5120 MB/s
    assert got[2] == want(0, 2) == ("0", 300, 300, 5120, 5120)
    assert got[0] == want(0, 0) and got[1] == want(1, 1)
