"""``numatui``: launch or connect (the TUI) and the headless commands.

Exit codes: 0 ok, 2 bad usage or input, 3 cannot connect, 1 QEMU refused (or
failed, or went away).  A failure is ONE line on stderr, never a traceback
(``NUMATUI_DEBUG=1`` shows it); every error is turned into that line in
:func:`main` only.

``launch`` and ``connect`` run the TUI (:func:`numatui.tui.app.run_tui`, which
prints the ``-numa`` options on quit itself); with ``--no-tui`` they print
``show`` and the ``-numa`` options.  Every action goes through
:class:`numatui.core.vm.Vm`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from numatui.cli_signals import SignalGuard, on_emergency
from numatui.cli_stream import safe
from numatui.model import sanitise
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.qemu_args import load_plan
from numatui.session.address import Address
from numatui.session.errors import BadAddress, BadRequest, ConnectFailed, SessionError
from numatui.session.launcher import Launcher
from numatui.session.peer import peer_owner_line
from numatui.session.transcript import Transcript

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.session.session import Session

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3


class UsageError(Exception):
    """Bad command line: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints two and exits itself)."""

    def error(self, message: str) -> NoReturn:
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

    sub.add_parser("show", parents=[address, nodes, common],
                   help="print the topology as a text tree")

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
    from numatui.cli_host import add_parsers

    add_parsers(sub, address, nodes, common)  # host, pin
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


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run numatui; returns the exit code.  The ONE place errors become a line."""
    out = safe(stdout or sys.stdout)  # no control character from QEMU or a file reaches a terminal
    err = safe(stderr or sys.stderr)
    args_in = list(sys.argv[1:] if argv is None else argv)
    try:
        with contextlib.redirect_stdout(out):  # --help, --version
            args = _parse(args_in)
        return asyncio.run(_main(args, out, err))
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # `numatui show ... | head`: the reader left, nothing to say
        if out is sys.stdout:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_REFUSED
    except KeyboardInterrupt:
        err.write("numatui: interrupted\n")
        return 130
    except Terminated as exc:
        err.write(f"numatui: stopped by {exc.signal.name}\n")
        return 128 + exc.signal.value
    except BaseException as exc:
        code, message = describe_error(exc)
        err.write(f"numatui: {message}\n")
        if os.environ.get("NUMATUI_DEBUG"):
            traceback.print_exception(exc, file=err)
        return code


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line for any failure."""
    if isinstance(exc, UsageError | NumaError | BadAddress | BadRequest):
        code = EXIT_USAGE
    elif isinstance(exc, ConnectFailed):
        code = EXIT_CONNECT
    elif isinstance(exc, SessionError):
        code = EXIT_REFUSED  # QemuRefused, Disconnected, PreflightBlocked, LaunchFailed, ...
    elif isinstance(exc, OSError):
        name = f"{exc.filename}: " if exc.filename else ""
        return EXIT_USAGE, f"{name}{exc.strerror or exc}"
    else:
        return EXIT_REFUSED, (f"internal error: {type(exc).__name__}: {one_line(str(exc))} "
                              "(NUMATUI_DEBUG=1 shows the traceback)")
    return code, one_line(str(exc))


def one_line(text: str) -> str:
    """Lines joined by " | ", controls visible, bounded (the sanitiser's one-line form)."""
    parts = [ln.strip() for ln in text.split("\n") if ln.strip()]
    return sanitise.one_line(" | ".join(parts) if parts else "failed", ERROR_LIMIT)


#: The longest one-line error (QEMU's words beyond it are cut, with a marker).
ERROR_LIMIT = 1000


def _parse(argv: list[str]) -> argparse.Namespace:
    qemu_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, qemu_args = argv[:at], argv[at + 1:]
    args = build_parser().parse_args(argv)
    if qemu_args and args.command != "launch":
        raise UsageError(f"only launch takes QEMU args after --, not {args.command}")
    args.qemu_args = qemu_args
    if args.nodes is not None and not 1 <= args.nodes <= 128:
        raise UsageError(f"--nodes {args.nodes} is out of range (1..128)")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout} is not a positive number of seconds")
    wait = getattr(args, "wait", 0.0)  # unplug only
    if not math.isfinite(wait) or wait < 0:
        raise UsageError(f"--wait {wait} is not a number of seconds")
    if args.command == "apply":
        if (args.plan is None) == (args.preset is None):
            raise UsageError("apply takes a PLAN file or --preset NAME (exactly one)")
        if args.preset is None and (args.into is not None or args.add_nodes):
            raise UsageError("--into and --add-nodes go with --preset")
    return args


class Terminated(Exception):
    """SIGTERM or SIGHUP (the terminal closed) arrived; cleanup has run."""

    def __init__(self, sig: signal.Signals) -> None:
        super().__init__(sig.name)
        self.signal = sig


async def _main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """:func:`_dispatch`, cancelled by SIGTERM/SIGHUP so that ``finally`` blocks
    still stop a launched QEMU and remove its socket directory."""
    task = asyncio.current_task()
    assert task is not None
    guard = SignalGuard(asyncio.get_running_loop(), task)  # a watchdog forces the exit if stuck
    guard.install()
    try:
        return await _dispatch(args, out, err)
    except asyncio.CancelledError:
        if guard.received:
            raise Terminated(guard.received[0]) from None
        raise
    finally:
        guard.uninstall()


async def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "launch":
        return await _launch(args, out, err)
    if args.command == "host" and args.vm is None:
        from numatui.cli_host import host_command

        return host_command(args, out)
    plan = _read_plan(args.plan) if args.command == "apply" and args.plan is not None else None  # first
    session = await _connect(args, err, Address.parse(args.vm) if args.command == "host" else None)
    try:
        return await _run_command(session, args, out, err, plan)
    finally:
        await session.close()


async def _run_command(session: Session, args: argparse.Namespace, out: TextIO, err: TextIO,
                       plan: Plan | None) -> int:
    from numatui import cli_commands as cmd

    if args.command == "connect":
        vm = _vm(session, err=err)
        remove = on_emergency(vm.keeper.autosave)  # a forced exit on SIGTERM/SIGHUP still saves
        try:
            return await open_tui(vm, out, tui=not args.no_tui)
        finally:
            remove()
    if args.command in ("show", "export"):  # what numatui cannot know, said (exit code unchanged)
        for unknown in session.unknowns:
            err.write(f"numatui: warning: {one_line(unknown)}\n")
    if args.command == "show":
        out.write(cmd.render_show(session))
    elif args.command == "apply":
        vm = _vm(session, err=err, host_root=args.host_root)  # autosaved after every change
        preset = None if plan is not None else (args.preset, args.into, args.add_nodes)
        await cmd.apply_plan(vm, plan, out, exit_preconfig=args.exit_preconfig,
                             force=args.force, err=err, preset=preset)
    elif args.command == "export":
        out.write(_vm(session, save=False).export(args.format))
    elif args.command == "hotplug":
        await cmd.hotplug(_vm(session, save=False), args.slots, out)
    elif args.command == "unplug":
        await cmd.unplug(_vm(session, save=False), args.slots, out, wait=args.wait)
    elif args.command == "host":  # --vm ADDRESS
        from numatui.cli_host import host_command

        return host_command(args, out, _vm(session, save=False, host_root=args.host_root))
    elif args.command == "pin":
        from numatui.cli_host import pin_command

        return await pin_command(_vm(session, save=False, host_root=args.host_root), args, out)
    return EXIT_OK


def _read_plan(path: str) -> Plan:
    """A plan file (JSON or ``-numa`` text), ``-`` for stdin; NumaError/OSError when bad."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # a text-only stdin (tests) reads as text
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    else:
        data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NumaError(f"plan {path}: not UTF-8 text (byte {exc.start}); a plan is JSON or -numa "
                        "options") from None
    return load_plan(text)


async def _connect(args: argparse.Namespace, err: TextIO, address: Address | None = None,
                   launcher: Launcher | None = None) -> Session:
    """A session on ``args.address`` (or the launcher's), with ``--log`` attached."""
    from numatui.session.session import Session

    if address is None:
        address = Address.parse(args.address)
    with _transcript(args) as transcript:
        if launcher is not None:
            session = await Session.connect(address, timeout=args.timeout, launcher=launcher,
                                            qemu_argv=launcher.user_argv, transcript=transcript)
        else:
            session = await Session.connect(address, timeout=args.timeout, nodes=args.nodes,
                                            transcript=transcript,
                                            record_file=getattr(args, "record", None))
    warning = address.warning()  # after connecting, so that a failure stays one line
    if warning:
        err.write(f"numatui: warning: {warning}\n")
    owner = peer_owner_line(session.peer)
    if owner:
        err.write(f"numatui: {owner}\n")
    return session


@contextlib.contextmanager
def _transcript(args: argparse.Namespace) -> Iterator[Transcript]:
    """The session's transcript, writing to ``--log`` from the first QMP line
    (OSError when the file cannot be opened); closed when connecting fails."""
    transcript = Transcript()
    if args.log:
        transcript.write_to(args.log)
    try:
        yield transcript
    except BaseException:
        transcript.close()
        raise


def _vm(session: Session, path: Path | None = None, *, save: bool = True,
        err: TextIO | None = None, host_root: str = "/") -> Vm:
    """The application layer on ``session``: with ``save``, undo history +
    autosave after every change (a failing save is noted in the QMP log,
    never fatal; an untrusted state directory turns autosave off, said once
    on ``err``, and numatui works on)."""
    from numatui.autosave import Autosaver, usable_state_dir
    from numatui.core.keeper import Keeper
    from numatui.core.vm import Vm

    if not save:
        return Vm(session, host_root=host_root)
    problem = usable_state_dir(path.parent if path is not None else None)
    if problem is not None:  # numatui works on, without autosave; exports still work
        (err or sys.stderr).write(f"numatui: {problem}\n")
        return Vm(session, host_root=host_root)
    saver = Autosaver(path) if path is not None else Autosaver.for_session(session)
    keeper = Keeper(session, save=saver.save_session)
    keeper.autosave()
    return Vm(session, keeper, host_root=host_root)


async def _launch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    saved_path: Path | None = None
    if args.resume is not None:
        session, launcher, saved_path = await _resume(args, err)
    else:
        launcher = Launcher(qemu=args.qemu, nodes=args.nodes, smp=args.smp, memory=args.memory,
                            extra_args=args.qemu_args, keep_running=args.keep_running,
                            hmat=args.hmat)
        await launcher.start()
        try:
            session = await _connect(args, err, launcher.address, launcher)
        except BaseException:
            await launcher.stop()
            raise
    vm: Vm | None = None
    removers = []
    try:
        vm = _vm(session, saved_path, err=err)
        removers.append(on_emergency(vm.keeper.autosave))  # a forced exit on SIGTERM/SIGHUP still saves
        if not args.keep_running:  # QEMU dies with numatui (PDEATHSIG); its directory goes too
            removers.append(on_emergency(lambda: _remove_socket_dirs(launcher, vm)))
        return await open_tui(vm, out, tui=not args.no_tui)
    finally:
        for remove in removers:
            remove()
        # moves and undo relaunch QEMU: the one running now may not be the first
        current = vm.launcher if vm is not None and vm.launcher is not None else launcher
        await session.close()
        if args.keep_running and current.alive():
            err.write(f"numatui: QEMU keeps running (pid {current.pid}); "
                      f"reconnect with: numatui connect {current.address}\n")
        else:
            await current.stop()
        if current is not launcher:
            await launcher.stop()


def _remove_socket_dirs(*owners: object) -> None:
    """The private socket directories of the launched QEMUs (forced exit only)."""
    import shutil

    for owner in owners:
        launcher = getattr(owner, "launcher", owner)
        directory = getattr(launcher, "directory", None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


async def _resume(args: argparse.Namespace, err: TextIO) -> tuple[Session, Launcher, Path]:
    """``launch --resume [NAME]``: QEMU again with the saved arguments, the plan replayed."""
    from numatui import autosave
    from numatui.session.replay import launch_with_plan

    if args.qemu_args or args.smp or args.memory:
        raise UsageError("--resume starts QEMU with the saved arguments: give no QEMU args, --smp or -m")
    state = autosave.find(args.resume or None)  # only trusted files numatui launched
    if not state.argv:
        raise UsageError(f"{state.path} holds no QEMU command line to start (numatui attached to that QEMU)")
    err.write(f"numatui: resuming {state.key} (saved {state.saved}) from {state.path}\n")
    with _transcript(args) as transcript:
        session = await launch_with_plan(state.argv, state.plan, timeout=args.timeout,
                                         keep_running=args.keep_running, transcript=transcript)
    launcher = session.launcher
    assert isinstance(launcher, Launcher)
    return session, launcher, state.path


async def open_tui(vm: Vm, out: TextIO, tui: bool = True) -> int:
    """The TUI on ``vm``; with ``--no-tui``: print ``show`` and the ``-numa`` options."""
    if tui:
        from numatui.tui.app import run_tui  # Textual loads only for the TUI

        return await run_tui(vm.session, keeper=vm.keeper)
    from numatui import cli_commands as cmd

    out.write(cmd.render_show(vm.session))
    out.write("\n")
    out.write(vm.export("numa"))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
