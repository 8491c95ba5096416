"""``python -m numatui.bench.child SLOTS WxH [SOCKET]``: one NumaApp, headless,
on a session connected to the real QEMU at SOCKET (connecting is not timed),
or without SOCKET on a stand-in session with a synthetic topology of SLOTS slots.

Prints one JSON line: ``first_paint`` (seconds from constructing the app to
its first full paint, the grid's rows drawn), ``first_paint_cpu`` (process
CPU seconds of the same span), ``peak_rss_kib`` and ``max_rss_kib``, read
after the app has run and exited.

``peak_rss_kib`` is ``VmHWM`` of /proc/self/status: the peak RSS of this
process's own memory since exec.  ``ru_maxrss`` (``getrusage(RUSAGE_SELF)``)
is reported too but is not this interpreter's alone: Linux carries the
forking parent's RSS over exec into it, so a child of the benchmark never
shows less than the benchmark process itself.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

from numatui.bench.paint import GridPaints
from numatui.bench.synthetic import stand_in_session
from numatui.session.session import Session
from numatui.tui.app import NumaApp


async def run(slots: int, size: tuple[int, int], socket: str | None = None) -> dict[str, float | int]:
    if socket is not None:  # a real QEMU in preconfig
        session = await Session.connect(socket)
        if len(session.topology.slots) != slots:
            raise SystemExit(f"{socket}: {len(session.topology.slots)} slots, not {slots}")
    else:
        session = stand_in_session(slots)  # what a connected session holds before the app starts
    with GridPaints() as paints:
        start, cpu = time.perf_counter(), time.process_time()
        app = NumaApp(session)
        async with app.run_test(size=size):
            await paints.first_paint(app)
            first_paint = time.perf_counter() - start
            first_paint_cpu = time.process_time() - cpu
    if socket is not None:
        await session.close()
    out: dict[str, float | int] = {"first_paint": first_paint, "first_paint_cpu": first_paint_cpu}
    return out


def peak_rss_kib() -> int | None:
    """VmHWM (KiB) of this process, or None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def main(argv: list[str]) -> int:
    slots = int(argv[0])
    width, _, height = (argv[1] if len(argv) > 1 else "120x40").partition("x")
    out = asyncio.run(run(slots, (int(width), int(height)), argv[2] if len(argv) > 2 else None))
    out["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_rss_kib"] = peak_rss_kib() or out["max_rss_kib"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
