"""A real Linux guest for the tests: what the guest kernel itself sees.

``scripts/dev test`` puts Debian's kernel (``vmlinuz``) and a static busybox
into ``.cache/guest``.  The initramfs is made here at test time (newc cpio,
written by Python): a ``/init`` that mounts proc, sysfs and devtmpfs and
prints a report on ttyS0::

    NUMATUI-REPORT-BEGIN 1
    online 0-7
    node 0 cpus=0-3 dist=10,21 memkb=1003440
    node 1 cpus=4-7 dist=21,10 memkb=1013720
    NUMATUI-REPORT-END 1

then powers off 10 s later (``report`` mode), or (``answer`` mode) keeps running: every
0.3 s it writes 1 to each offline ``cpu*/online`` (so hot-plugged CPUs come
online, as udev would do) and prints a new report (numbered) whenever the
CPU list changes, so hot-plug tests can watch the guest take CPUs and give
them back.  The guest boots with ``-accel tcg`` (a nested KVM guest makes no
progress on the test machines).
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

GUEST_DIR = Path(__file__).resolve().parent.parent / ".cache" / "guest"
KERNEL = GUEST_DIR / "vmlinuz"
BUSYBOX = GUEST_DIR / "busybox"

#: How long a guest may take to boot and report (about 13 s when the machine is idle).
BOOT_TIMEOUT = 90.0

_REPORT = r"""
report() {
    seq=$((seq + 1))
    echo "NUMATUI-REPORT-BEGIN $seq"
    echo "online $(cat /sys/devices/system/cpu/online)"
    for n in /sys/devices/system/node/node[0-9]*; do
        id=${n##*/node}
        mem=$(awk '/MemTotal/ {print $4}' $n/meminfo)
        dist=$(cat $n/distance | tr ' ' ',')
        echo "node $id cpus=$(cat $n/cpulist) dist=$dist memkb=$mem"
    done
    echo "NUMATUI-REPORT-END $seq"
}
"""

_HEAD = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec >/dev/ttyS0 2>&1
seq=0
"""

# poweroff -f does not wait for ttyS0 to drain: a report written just before
# it was lost once under load, so the guest gives the UART time (the tests
# read the report and kill QEMU without waiting for the power-off)
INIT_REPORT = _HEAD + _REPORT + """
report
sleep 10
poweroff -f
"""

INIT_ANSWER = _HEAD + _REPORT + """
last=""
while true; do
    for c in /sys/devices/system/cpu/cpu[0-9]*; do
        [ -f "$c/online" ] && [ "$(cat "$c/online")" = 0 ] && echo 1 > "$c/online"
    done
    now="$(cat /sys/devices/system/cpu/online) $(cat /sys/devices/system/node/node[0-9]*/cpulist)"
    if [ "$now" != "$last" ]; then
        report
        last="$now"
    fi
    sleep 0.3
done
"""


def available() -> bool:
    return KERNEL.is_file() and BUSYBOX.is_file()


def require() -> None:
    """Skip (with the reason) when scripts/dev could not fetch the guest."""
    if not available():
        pytest.skip(f"no guest kernel/busybox in {GUEST_DIR} (scripts/dev test fetches them on Debian)")


# -- the initramfs -------------------------------------------------------------
def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc entry (the format the kernel unpacks)."""
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(directory: Path, init: str) -> Path:
    """``directory/initrd.gz`` holding busybox and ``init`` as ``/init``."""
    dirs = ["bin", "dev", "proc", "sys"]
    blob = b"".join(_cpio_entry(d, 0o040755) for d in dirs)
    blob += _cpio_entry("dev/console", 0o020600, rdev=(5, 1))
    blob += _cpio_entry("dev/ttyS0", 0o020600, rdev=(4, 64))
    blob += _cpio_entry("bin/busybox", 0o100755, BUSYBOX.read_bytes())
    blob += _cpio_entry("init", 0o100755, init.encode())
    blob += _cpio_entry("TRAILER!!!", 0)
    path = directory / "initrd.gz"
    path.write_bytes(gzip.compress(blob, compresslevel=1))
    return path


def kernel_args(directory: Path, serial: Path, init: str = INIT_REPORT) -> list[str]:
    """The QEMU options that boot the guest with its console in ``serial``."""
    return [
        "-kernel", str(KERNEL), "-initrd", str(build_initramfs(directory, init)),
        "-append", "console=ttyS0 quiet panic=-1", "-serial", f"file:{serial}", "-no-reboot",
    ]


# -- the report ----------------------------------------------------------------
@dataclass(frozen=True)
class GuestNode:
    cpus: frozenset[int]
    distances: tuple[int, ...]
    mem_kb: int


@dataclass(frozen=True)
class Report:
    seq: int
    online: frozenset[int]
    nodes: dict[int, GuestNode]

    def cpus(self) -> dict[int, frozenset[int]]:
        return {n: node.cpus for n, node in self.nodes.items()}


def cpu_list(text: str) -> frozenset[int]:
    """``0-3,6`` -> {0, 1, 2, 3, 6}."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


_BLOCK = re.compile(r"NUMATUI-REPORT-BEGIN (\d+)\r?\n(.*?)NUMATUI-REPORT-END \1", re.S)


def reports(text: str) -> list[Report]:
    out = []
    for m in _BLOCK.finditer(text):
        online: frozenset[int] = frozenset()
        nodes = {}
        for line in m[2].splitlines():
            line = line.strip()
            if line.startswith("online "):
                online = cpu_list(line[len("online "):])
            elif n := re.fullmatch(r"node (\d+) cpus=(\S*) dist=(\S*) memkb=(\d*)", line):
                nodes[int(n[1])] = GuestNode(cpu_list(n[2]), tuple(int(d) for d in n[3].split(",") if d),
                                             int(n[4] or 0))
        out.append(Report(int(m[1]), online, nodes))
    return out


def wait_report(
    serial: Path,
    alive: Callable[[], bool],
    after: int = 0,
    until: Callable[[Report], bool] = lambda r: True,
    timeout: float = BOOT_TIMEOUT,
) -> Report:
    """The first report numbered above ``after`` for which ``until`` holds.

    Polls the serial file with a deadline; fails with the serial's tail when
    the guest dies (``alive()`` false) or does not report in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        running = alive()  # before reading: a guest that reports and powers off is read whole
        text = serial.read_text(errors="replace") if serial.exists() else ""
        for r in reports(text):
            if r.seq > after and until(r):
                return r
        if not running or time.monotonic() > deadline:
            why = "QEMU exited" if not running else f"no matching report in {timeout:g} s"
            tail = "\n".join(text.splitlines()[-25:])
            pytest.fail(f"guest: {why}; serial tail:\n{tail}")
        time.sleep(0.1)
