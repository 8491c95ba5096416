"""The command line's grammar: subcommands, options and their checks (a usage
error is one line, exit 2)."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, NoReturn

from numatui.cli.choices import EXPORT_FORMATS, PIN_POLICIES, PRESET_NAMES
from numatui.model.errors import NumaError
from numatui.model.numbers import parse_decimal, parse_int

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
    import difflib  # on a usage error only: not on every command's imports

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

    #: within add_argument (see _get_formatter)
    _adding = False

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        self._adding = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._adding = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        """argparse checks each argument's metavar as it is added with a help
        formatter, which asks the terminal its width through shutil (whose
        import, with the compression modules it loads, was ~3 ms of every
        command).  That check lays nothing out: it gets a formatter of a
        fixed width; help and usage get the terminal's."""
        if self._adding:
            return self.formatter_class(prog=self.prog, width=80)  # type: ignore[call-arg]
        return super()._get_formatter()


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type=`` reading a whole number lo..hi through numatui's one
    number parser (``int`` would take ``\u0663`` and refuse ``²`` in its own words)."""
    return lambda text: _number(parse_int, text, "value", lo, hi)


def seconds(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse ``type=`` for seconds lo..hi (``float`` would take ``nan``, ``inf``, ``1e9``)."""
    return lambda text: _number(parse_decimal, text, "seconds", lo, hi)


def _number(parse: Callable[..., Any], text: str, what: str, lo: float, hi: float) -> Any:
    """``parse`` (numbers.py), its one-line refusal made argparse's."""
    try:
        return parse(text, what, lo=lo, hi=hi)
    except NumaError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The most seconds any wait may be given (a day).
MAX_SECONDS = 86400.0


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole grammar; with ``only`` (a command's name), the grammar of that
    command alone: ``parse`` builds just the one a command line names, a
    whole ``numatui show`` process being measured against a plain script (each
    argument built costs argparse a help formatter and a gettext lookup)."""
    parser = _Parser(prog="numatui", description="Map QEMU guest vCPUs to NUMA nodes, live, over QMP.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show numatui's version and exit")
    # prog given: argparse would make a help formatter to work it out (and import shutil)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, prog="numatui")
    sub.required = True

    common = _Parser(add_help=False)
    common.add_argument("--timeout", type=seconds(0.001, MAX_SECONDS), default=3.0, metavar="SECONDS",
                        help="how long to wait for QMP to answer (default 3)")
    common.add_argument("--log", metavar="FILE", help="append the QMP transcript to FILE")
    nodes = _Parser(add_help=False)
    nodes.add_argument("--nodes", type=whole(1, 128), metavar="N",
                       help="how many NUMA nodes QEMU has, when numatui cannot read its command line")
    nodes.add_argument("--record", metavar="FILE",
                       help="keep the record of what numatui told this QEMU in FILE (a TCP peer "
                            "has no pid to find it by; local ones are kept in $XDG_STATE_HOME/numatui)")
    address = _Parser(add_help=False)
    address.add_argument("address", metavar="ADDRESS",
                         help="QMP monitor: unix:PATH, a socket path, tcp:HOST:PORT or HOST:PORT")
    parents = _Parents(common, address, nodes)
    for name, add in _COMMANDS.items():
        if only is None or only == name:
            add(sub, parents)
    return parser


_Sub = Any  # argparse's _SubParsersAction (private)


class _Parents(NamedTuple):
    """The options commands share: every command's, and those of a command on a QEMU."""

    common: argparse.ArgumentParser
    address: argparse.ArgumentParser
    nodes: argparse.ArgumentParser

    @property
    def on_qemu(self) -> list[argparse.ArgumentParser]:
        return [self.address, self.nodes, self.common]


def _add_launch(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("launch", parents=[parents.common],
                       help="start QEMU in preconfig and open the TUI",
                       usage="numatui launch [options] [-- QEMU ARGS...]")
    p.add_argument("--qemu", default="qemu-system-x86_64", metavar="BINARY",
                   help="the QEMU to run (default qemu-system-x86_64)")
    p.add_argument("--nodes", type=whole(1, 128), default=2, metavar="N",
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


def _add_connect(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("connect", parents=parents.on_qemu,
                       help="open the TUI on a QEMU someone else started")
    p.add_argument("--no-tui", action="store_true",
                   help="print the topology and the -numa options instead of opening the TUI")


def _add_show(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("show", parents=parents.on_qemu,
                       help="print the topology as a text tree (or JSON)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="a text tree (default) or one JSON object: slots, nodes, distances")


def _add_apply(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("apply", parents=parents.on_qemu,
                       help="apply a plan file (JSON or -numa text) or a preset live")
    p.add_argument("plan", metavar="PLAN", nargs="?", help="plan file, or - for stdin")
    _add_preset_options(p)
    p.add_argument("--exit-preconfig", action="store_true", help="then boot the VM (after preflight)")
    p.add_argument("--force", action="store_true", help="boot despite blocking preflight findings")


def _add_export(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("export", parents=parents.on_qemu,
                       help="print the mapping QEMU has now")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="numa",
                   help="-numa options (default), full command line, JSON plan, libvirt XML, "
                        "openstack flavor set line")
    p.add_argument("--flavor", metavar="NAME",
                   help="the flavor's name in --format openstack (default FLAVOR)")


def _add_hotplug(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("hotplug", parents=parents.on_qemu, help="plug CPUs into empty slots (after boot)")
    p.add_argument("slots", nargs="+", metavar="SLOT",
                   help="slot props, e.g. socket-id=1,core-id=0,thread-id=1")


def _add_unplug(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("unplug", parents=parents.on_qemu, help="ask the guest to eject CPUs (after boot)")
    p.add_argument("slots", nargs="+", metavar="SLOT",
                   help="slot props, e.g. socket-id=1,core-id=0,thread-id=1")
    p.add_argument("--wait", type=seconds(0, MAX_SECONDS), default=0.0, metavar="SECONDS",
                   help="wait for the guest to eject the CPUs (DEVICE_DELETED); "
                        "exit 1 if it refuses or does not answer in time")


def _add_host(sub: _Sub, parents: _Parents) -> None:
    """``host`` (numatui.cli.host runs it, and ``pin``)."""
    p = sub.add_parser("host", help="print the host's NUMA nodes, distances and CPUs")
    p.add_argument("--host-root", default="/", metavar="DIR",
                   help="read a recorded /sys + /proc tree under DIR (like HWLOC_FSROOT; default /)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")
    p.add_argument("--vm", metavar="ADDRESS",
                   help="also the guest nodes of this QEMU bound to each host node, and the "
                        "capacity findings (text format)")
    p.set_defaults(timeout=3.0, log=None, nodes=None, record=None)


def _add_pin(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("pin", parents=parents.on_qemu,
                       help="pin the vCPU threads of a booted QEMU to host CPUs")
    p.add_argument("--policy", choices=PIN_POLICIES, default="node",
                   help="node (default): each vCPU to the CPUs of the host node its guest node's "
                        "memory is bound to (host-nodes=); cpu: each vCPU to a host CPU of its own")
    p.add_argument("--dry-run", action="store_true", help="print the pinning, change nothing")
    p.add_argument("--host-root", default="/", metavar="DIR", help=argparse.SUPPRESS)


def _add_preset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", metavar="NAME",
                   help=f"apply a preset instead of a plan file: {', '.join(PRESET_NAMES)}")
    p.add_argument("--into", type=whole(1, 128), metavar="N",
                   help="split/interleave over nodes 0..N-1 (default: every node QEMU has)")
    p.add_argument("--add-nodes", action="store_true",
                   help="add the memoryless nodes the preset needs that QEMU lacks")
    p.add_argument("--host-root", default="/", metavar="DIR",
                   help="the host for --preset host and the capacity checks: a recorded "
                        "/sys + /proc tree under DIR (default /)")


def _add_domain(sub: _Sub, parents: _Parents) -> None:
    """``domain`` (numatui.cli.domain runs it)."""
    p = sub.add_parser("domain", parents=[parents.common],
                       help="lay out a libvirt domain's NUMA (a domain XML file or a name)")
    p.add_argument("source", metavar="SOURCE", help="a domain XML file, or a domain's name on --connect")
    p.add_argument("--connect", "-c", metavar="URI",
                   help="libvirt URI (default: libvirt's own default), e.g. qemu:///system")
    p.add_argument("--qemu", metavar="BINARY",
                   help="the scratch QEMU (default qemu-system-ARCH for the domain's arch)")
    p.add_argument("--apply", metavar="PLAN", help="apply this plan (JSON or -numa text) headless")
    _add_preset_options(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--output", "-o", metavar="FILE",
                       help="write the new domain XML here (default stdout)")
    where.add_argument("--in-place", action="store_true", help="rewrite the SOURCE file (atomically)")
    where.add_argument("--define", action="store_true",
                       help="redefine the domain on its connection (virsh define)")
    p.add_argument("--nodes", type=int, default=None, help=argparse.SUPPRESS)


def _add_completion(sub: _Sub, parents: _Parents) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")


#: Each command's grammar, in the order ``numatui --help`` lists them.
_COMMANDS: dict[str, Callable[[_Sub, _Parents], None]] = {
    "launch": _add_launch, "connect": _add_connect, "show": _add_show, "apply": _add_apply,
    "export": _add_export, "hotplug": _add_hotplug, "unplug": _add_unplug, "host": _add_host,
    "pin": _add_pin, "domain": _add_domain, "completion": _add_completion,
}


def _check_domain_args(args: argparse.Namespace) -> None:
    """Usage errors of ``domain`` (one line, exit 2)."""
    if args.apply is not None and args.preset is not None:
        raise UsageError("domain takes --apply PLAN or --preset NAME, not both")
    if args.preset is None and (args.into is not None or args.add_nodes):
        raise UsageError("--into and --add-nodes go with --preset")
    if args.in_place and not is_file_source(args.source):
        raise UsageError(f"--in-place rewrites a file; {args.source!r} is not one")
    if args.define and is_file_source(args.source):
        raise UsageError("--define redefines a domain by name: give its name (and --connect URI), "
                         "or write the file with --output / --in-place")


def is_file_source(source: str) -> bool:
    """``numatui domain SOURCE``: a file (it exists, or looks like a path), else a domain name."""
    return os.path.exists(source) or "/" in source or source.endswith(".xml")


class _Version(argparse.Action):
    """``--version``, its package metadata read only when asked (importlib.metadata
    costs every headless command ~10 ms to import)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        try:
            from importlib.metadata import version

            text = version("numatui")
        except Exception:
            text = "unknown"
        parser.exit(message=f"numatui {text}\n")


def parse(argv: list[str]) -> argparse.Namespace:
    qemu_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, qemu_args = argv[:at], argv[at + 1:]
    # the grammar of the command named (the whole one for --help, --version or a mistyped command)
    args = build_parser(argv[0] if argv and argv[0] in _COMMANDS else None).parse_args(argv)
    if qemu_args and args.command != "launch":
        raise UsageError(f"only launch takes QEMU args after --, not {args.command}")
    args.qemu_args = qemu_args
    if getattr(args, "flavor", None) is not None and args.format != "openstack":
        raise UsageError("--flavor goes with --format openstack")
    if args.command == "apply":
        if (args.plan is None) == (args.preset is None):
            raise UsageError("apply takes a PLAN file or --preset NAME (exactly one)")
        if args.preset is None and (args.into is not None or args.add_nodes):
            raise UsageError("--into and --add-nodes go with --preset")
    if args.command == "domain":
        _check_domain_args(args)
    return args
