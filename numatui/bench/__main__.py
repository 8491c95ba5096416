"""``python -m numatui.bench [--quick] [--repeat N] [--profile-keypress]``: see numatui.bench.runner."""

from __future__ import annotations

import argparse
import asyncio
import sys

from numatui.bench.keypress import profile_keypress
from numatui.bench.report import machine
from numatui.bench.runner import Config, run
from numatui.cli.parser import whole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m numatui.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run, not a measurement")
    parser.add_argument("--repeat", type=whole(1, 1000), default=None, metavar="N",
                        help="samples per side (default 10; --quick 2)")
    parser.add_argument("--profile-keypress", action="store_true",
                        help="only profile numatui's key presses (cProfile over the timed spans)")
    args = parser.parse_args(argv)
    if args.profile_keypress:
        print(asyncio.run(profile_keypress()))
        return 0
    report = asyncio.run(run(Config.make(args.quick, args.repeat)))
    info = machine()
    print(f"numatui benchmark: {info['nproc']} CPU(s), {info['cpu']}, Python {info['python']}, "
          f"textual {info['textual']}, {info['qemu']}, load {info['loadavg']}")
    print(report.table())
    print(f"bench took {report.seconds:.1f} s")
    print(report.json_line(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
