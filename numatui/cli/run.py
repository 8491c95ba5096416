"""``numatui``: launch or connect (the TUI) and the headless commands.

Exit codes: 0 ok, 2 bad usage or input, 3 cannot connect, 1 QEMU refused (or
failed, or went away), 4 part done (``hotplug``: what was plugged is on
stdout, then QEMU refused the rest).  A failure is ONE line on stderr, never a traceback
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
import atexit
import contextlib
import gc
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from numatui.cli.io import safe
from numatui.cli.parser import (
    EXIT_CONNECT,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    EXIT_USAGE,
    UsageError,
    build_parser,
    parse,
)
from numatui.cli.signals import SignalGuard, on_emergency
from numatui.model import sanitise
from numatui.model.errors import NumaError
from numatui.model.plan import Plan
from numatui.model.preflight import timeout_advice
from numatui.session.address import Address
from numatui.session.errors import BadAddress, BadRequest, CommandTimeout, ConnectFailed, SessionError

if TYPE_CHECKING:
    from numatui.session.session import Session

# Each command imports what it runs, in the function that runs it: ``numatui
# show`` is a whole process each time, and importing the launcher, the
# exporters, the presets or Textual would be most of its time
# (tests/test_cli_imports.py pins what it imports).



def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run numatui; returns the exit code.  The ONE place errors become a line.
    ``argv`` None: the process's own command line (the ``numatui`` program)."""
    if argv is None:  # numatui is the whole process: its last collection is for nothing
        atexit.register(gc.freeze)
    out = safe(stdout or sys.stdout)  # no control character from QEMU or a file reaches a terminal
    err = safe(stderr or sys.stderr)
    args_in = list(sys.argv[1:] if argv is None else argv)
    if not args_in:  # bare numatui: the usage with every command, as a usage error
        err.write(build_parser().format_help())
        return EXIT_USAGE
    try:
        with contextlib.redirect_stdout(out):  # --help, --version
            args = parse(args_in)
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
    """The exit code and the one line for any failure (the error path alone imports what it names)."""
    from numatui.cli.commands import PartialSuccess
    from numatui.core.errors import ActionRefused

    if isinstance(exc, PartialSuccess):
        return EXIT_PARTIAL, one_line(str(exc))
    if isinstance(exc, UsageError | NumaError | BadAddress | BadRequest | ActionRefused):
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
    if isinstance(exc, CommandTimeout):
        return code, one_line(f"{exc}; {timeout_advice(exc.command)}")
    return code, one_line(str(exc))


def one_line(text: str) -> str:
    """Lines joined by " | ", controls visible, bounded (the sanitiser's one-line form)."""
    parts = [ln.strip() for ln in text.split("\n") if ln.strip()]
    return sanitise.one_line(" | ".join(parts) if parts else "failed", ERROR_LIMIT)


#: The longest one-line error (QEMU's words beyond it are cut, with a marker).
ERROR_LIMIT = 1000


class Terminated(Exception):
    """SIGTERM, SIGHUP (the terminal closed) or SIGINT arrived; cleanup has run."""

    def __init__(self, sig: signal.Signals) -> None:
        super().__init__(sig.name)
        self.signal = sig


async def _main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """:func:`_dispatch`, cancelled by SIGTERM/SIGHUP/SIGINT so that ``finally``
    blocks still stop a launched QEMU and remove its socket directory; the
    exit status is then 128 + the signal, however the command ended."""
    task = asyncio.current_task()
    assert task is not None
    guard = SignalGuard(asyncio.get_running_loop(), task)  # a watchdog forces the exit if stuck
    guard.install()
    try:
        code = await _dispatch(args, out, err)
    except (asyncio.CancelledError, Exception):
        if guard.received:  # whatever the cancellation ended in, the signal says why
            raise Terminated(guard.received[0]) from None
        raise
    finally:
        guard.uninstall()
    if guard.received:  # the TUI takes the cancellation as a quit and returns 0
        raise Terminated(guard.received[0])
    return code


async def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "completion":
        from numatui.cli.completion import script

        out.write(script(build_parser(), args.shell))
        return EXIT_OK
    if args.command == "launch":
        from numatui.cli.launch import launch

        return await launch(args, out, err)
    if args.command == "domain":
        from numatui.cli.domain import domain_command

        return await domain_command(args, out, err)
    if args.command == "host" and args.vm is None:
        from numatui.cli.host import host_command

        return host_command(args, out)
    from numatui.cli.io import read_plan
    from numatui.cli.launch import connect

    plan = read_plan(args.plan) if args.command == "apply" and args.plan is not None else None  # first
    session = await connect(args, err, Address.parse(args.vm) if args.command == "host" else None)
    try:
        return await _run_command(session, args, out, err, plan)
    finally:
        await session.close()


async def _run_command(session: Session, args: argparse.Namespace, out: TextIO, err: TextIO,
                       plan: Plan | None) -> int:
    from numatui.cli import commands as cmd
    from numatui.cli.launch import make_vm, open_tui

    if args.command == "connect":
        vm = make_vm(session, err=err)
        remove = on_emergency(vm.keeper.autosave)  # a forced exit on SIGTERM/SIGHUP still saves
        try:
            return await open_tui(vm, out, tui=not args.no_tui)
        finally:
            remove()
    if args.command in ("show", "export"):  # what numatui cannot know, said (exit code unchanged)
        for unknown in session.unknowns:
            err.write(f"numatui: warning: {one_line(unknown)}\n")
    if args.command == "show":
        out.write(cmd.show_json(session) if args.format == "json" else cmd.render_show(session))
    elif args.command == "apply":
        vm = make_vm(session, err=err, host_root=args.host_root)  # autosaved after every change
        preset = None if plan is not None else (args.preset, args.into, args.add_nodes)
        await cmd.apply_plan(vm, plan, out, exit_preconfig=args.exit_preconfig,
                             force=args.force, err=err, preset=preset)
    elif args.command == "export":
        from numatui.core.export import rewritten

        out.write(make_vm(session, save=False).export(args.format, args.flavor))
        if args.format == "numa" and (note := rewritten(session)):
            err.write(f"numatui: {note}\n")
    elif args.command == "hotplug":
        await cmd.hotplug(make_vm(session, save=False), args.slots, out)
    elif args.command == "unplug":
        await cmd.unplug(make_vm(session, save=False), args.slots, out, wait=args.wait)
    elif args.command == "host":  # --vm ADDRESS
        from numatui.cli.host import host_command

        return host_command(args, out, make_vm(session, save=False, host_root=args.host_root))
    elif args.command == "pin":
        from numatui.cli.host import pin_command

        return await pin_command(make_vm(session, save=False, host_root=args.host_root), args, out)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
