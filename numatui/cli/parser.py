"""The command line's grammar: subcommands, options and their checks (a usage
error is one line, exit 2)."""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Iterable
from typing import NoReturn

#: The documented exit codes (README): 0 ok, 1 QEMU refused (or failed, or went
#: away), 2 bad usage or input, 3 cannot connect.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3


class UsageError(Exception):
    """Bad command line: exit 2 with one line."""


#: Exit code of a command that did part of its work (``hotplug``: some CPUs
#: plugged, then QEMU refused one): what was done is on stdout, the failure on stderr.
EXIT_PARTIAL = 4

_INVALID_CHOICE = re.compile(
    r"argument (?P<what>[^:]+): invalid choice: '(?P<given>.*)' \(choose from (?P<choices>.*)\)")


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` ("" when none is close)."""
    close = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints two and exits
    itself), a wrong choice says the closest one, and no Python list syntax."""

    def error(self, message: str) -> NoReturn:
        bad = _INVALID_CHOICE.fullmatch(message)
        if bad:
            choices = [c.strip().strip("'") for c in bad["choices"].split(",")]
            what = "unknown command" if bad["what"] == "COMMAND" else f"argument {bad['what']}: unknown value"
            message = (f"{what} {bad['given']}{did_you_mean(bad['given'], choices)}; "
                       f"choose from {', '.join(choices)}")
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from numatui.core.export import EXPORT_FORMATS

    parser = _Parser(prog="numatui", description="Map QEMU guest vCPUs to NUMA nodes, live, over QMP.")
    parser.add_argument("--version", action="version", version=f"numatui {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    common = _Parser(add_help=False)
    common.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="how long to wait for QMP to answer (default 3)")
    common.add_argument("--log", metavar="FILE", help="append the QMP transcript to FILE")
    nodes = _Parser(add_help=False)
    nodes.add_argument("--nodes", type=int, metavar="N",
                       help="how many NUMA nodes QEMU has, when numatui cannot read its command line")
    nodes.add_argument("--record", metavar="FILE",
                       help="keep the record of what numatui told this QEMU in FILE (a TCP peer "
                            "has no pid to find it by; local ones are kept in $XDG_STATE_HOME/numatui)")
    address = _Parser(add_help=False)
    address.add_argument("address", metavar="ADDRESS",
                         help="QMP monitor: unix:PATH, a socket path, tcp:HOST:PORT or HOST:PORT")

    p = sub.add_parser("launch", parents=[common],
                       help="start QEMU in preconfig and open the TUI",
                       usage="numatui launch [options] [-- QEMU ARGS...]")
    p.add_argument("--qemu", default="qemu-system-x86_64", metavar="BINARY",
                   help="the QEMU to run (default qemu-system-x86_64)")
    p.add_argument("--nodes", type=int, default=2, metavar="N",
                   help="NUMA nodes to declare when the QEMU args declare none (default 2)")
    p.add_argument("--smp", metavar="SPEC", help="-smp for QEMU (default 8,sockets=2,cores=2,threads=2)")
    p.add_argument("-m", dest="memory", metavar="SIZE", help="-m for QEMU (default 2G)")
    p.add_argument("--hmat", action="store_true",
                   help="add hmat=on to QEMU's -machine (HMAT: initiator, hmat-lb, hmat-cache)")
    p.add_argument("--keep-running", action="store_true",
                   help="leave QEMU running on exit and print its address")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="NAME",
                   help="start QEMU again with the arguments autosaved in $XDG_STATE_HOME/numatui "
                        "and replay the saved plan (NAME: the VM's -name, a saved file's name or "
                        "path; default the newest)")
    p.add_argument("--no-tui", action="store_true",
                   help="print the topology and the -numa options instead of opening the TUI")

    p = sub.add_parser("connect", parents=[address, nodes, common],
                       help="open the TUI on a QEMU someone else started")
    p.add_argument("--no-tui", action="store_true",
                   help="print the topology and the -numa options instead of opening the TUI")

    p = sub.add_parser("show", parents=[address, nodes, common],
                       help="print the topology as a text tree (or JSON)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="a text tree (default) or one JSON object: slots, nodes, distances")

    p = sub.add_parser("apply", parents=[address, nodes, common],
                       help="apply a plan file (JSON or -numa text) or a preset live")
    p.add_argument("plan", metavar="PLAN", nargs="?", help="plan file, or - for stdin")
    _add_preset_options(p)
    p.add_argument("--exit-preconfig", action="store_true", help="then boot the VM (after preflight)")
    p.add_argument("--force", action="store_true", help="boot despite blocking preflight findings")

    p = sub.add_parser("export", parents=[address, nodes, common],
                       help="print the mapping QEMU has now")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="numa",
                   help="-numa options (default), full command line, JSON plan, libvirt XML")

    for name, what in (("hotplug", "plug CPUs into empty slots (after boot)"),
                       ("unplug", "ask the guest to eject CPUs (after boot)")):
        p = sub.add_parser(name, parents=[address, nodes, common], help=what)
        p.add_argument("slots", nargs="+", metavar="SLOT",
                       help="slot props, e.g. socket-id=1,core-id=0,thread-id=1")
        if name == "unplug":
            p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                           help="wait for the guest to eject the CPUs (DEVICE_DELETED); "
                                "exit 1 if it refuses or does not answer in time")
    from numatui.cli.host import add_parsers

    add_parsers(sub, address, nodes, common)  # host, pin
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")
    return parser


def _add_preset_options(p: argparse.ArgumentParser) -> None:
    from numatui.core.presets import preset_names

    p.add_argument("--preset", metavar="NAME",
                   help=f"apply a preset instead of a plan file: {', '.join(preset_names())}")
    p.add_argument("--into", type=int, metavar="N",
                   help="split/interleave over nodes 0..N-1 (default: every node QEMU has)")
    p.add_argument("--add-nodes", action="store_true",
                   help="add the memoryless nodes the preset needs that QEMU lacks")
    p.add_argument("--host-root", default="/", metavar="DIR",
                   help="the host for --preset host and the capacity checks: a recorded "
                        "/sys + /proc tree under DIR (default /)")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("numatui")
    except Exception:
        return "unknown"


def parse(argv: list[str]) -> argparse.Namespace:
    qemu_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, qemu_args = argv[:at], argv[at + 1:]
    args = build_parser().parse_args(argv)
    if qemu_args and args.command != "launch":
        raise UsageError(f"only launch takes QEMU args after --, not {args.command}")
    args.qemu_args = qemu_args
    nodes, timeout = getattr(args, "nodes", None), getattr(args, "timeout", 3.0)  # completion has neither
    if nodes is not None and not 1 <= nodes <= 128:
        raise UsageError(f"--nodes {nodes} is out of range (1..128)")
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError(f"--timeout {timeout} is not a positive number of seconds")
    wait = getattr(args, "wait", 0.0)  # unplug only
    if not math.isfinite(wait) or wait < 0:
        raise UsageError(f"--wait {wait} is not a number of seconds")
    if args.command == "apply":
        if (args.plan is None) == (args.preset is None):
            raise UsageError("apply takes a PLAN file or --preset NAME (exactly one)")
        if args.preset is None and (args.into is not None or args.add_nodes):
            raise UsageError("--into and --add-nodes go with --preset")
    return args
