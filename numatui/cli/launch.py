"""Starting or reaching a QEMU: ``launch`` (and ``--resume``), connecting a
session with its transcript, the application layer on it, and the TUI."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from numatui.cli.parser import EXIT_OK, UsageError
from numatui.cli.signals import on_emergency
from numatui.session.address import Address
from numatui.session.peer import peer_owner_line
from numatui.session.transcript import Transcript

if TYPE_CHECKING:
    import argparse

    from numatui.core.autosave import SavedState
    from numatui.core.vm import Vm
    from numatui.session.launcher import Launcher
    from numatui.session.session import Session

async def connect(args: argparse.Namespace, err: TextIO, address: Address | None = None,
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


def make_vm(session: Session, path: Path | None = None, *, save: bool = True,
            err: TextIO | None = None, host_root: str = "/", resumed: SavedState | None = None) -> Vm:
    """The application layer on ``session``: with ``save``, undo history +
    autosave after every change (a failing save is noted in the QMP log,
    never fatal; an untrusted state directory turns autosave off, said once
    on ``err``, and numatui works on).  ``resumed``: the state file
    ``--resume`` started from, whose undo history goes on."""
    from numatui.core.autosave import Autosaver, usable_state_dir
    from numatui.core.keeper import Keeper
    from numatui.core.vm import Vm

    if not save:
        return Vm(session, host_root=host_root)
    problem = usable_state_dir(path.parent if path is not None else None)
    if problem is not None:  # numatui works on, without autosave; exports still work
        (err or sys.stderr).write(f"numatui: {problem}\n")
        return Vm(session, host_root=host_root)
    saver = Autosaver(path) if path is not None else Autosaver.for_session(session)
    keeper = Keeper(session, history=resumed.undo_history() if resumed is not None else None,
                    resumed=f"resumed {resumed.key}" if resumed is not None else None)
    keeper.save = lambda s: saver.save_session(s, keeper.history)
    keeper.autosave()
    return Vm(session, keeper, host_root=host_root)


async def launch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from numatui.session.launcher import Launcher  # not on the headless commands' imports

    saved: SavedState | None = None
    if args.resume is not None:
        session, launcher, saved = await _resume(args, err)
    else:
        launcher = Launcher(qemu=args.qemu, nodes=args.nodes, smp=args.smp, memory=args.memory,
                            extra_args=args.qemu_args, keep_running=args.keep_running,
                            hmat=args.hmat)
        await launcher.start()
        try:
            session = await connect(args, err, launcher.address, launcher)
        except BaseException:
            await launcher.stop()
            raise
    vm: Vm | None = None
    removers = []
    try:
        vm = make_vm(session, saved.path if saved is not None else None, err=err, resumed=saved)
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


async def _resume(args: argparse.Namespace, err: TextIO) -> tuple[Session, Launcher, SavedState]:
    """``launch --resume [NAME]``: QEMU again with the saved arguments, the plan
    replayed (the undo history comes back in :func:`make_vm`)."""
    from numatui.core import autosave
    from numatui.session.launcher import Launcher
    from numatui.session.replay import launch_with_plan

    if args.qemu_args or args.smp or args.memory:
        raise UsageError("--resume starts QEMU with the saved arguments: give no QEMU args, --smp or -m")
    state = autosave.find(args.resume or None)  # only trusted files numatui launched
    if not state.argv:
        raise UsageError(f"{state.path} holds no QEMU command line to start (numatui attached to that QEMU)")
    _refuse_if_running(state)
    err.write(f"numatui: resuming {state.key} (saved {state.saved}) from {state.path}\n")
    with _transcript(args) as transcript:
        session = await launch_with_plan(state.argv, state.plan, timeout=args.timeout,
                                         keep_running=args.keep_running, transcript=transcript)
    launcher = session.launcher
    assert isinstance(launcher, Launcher)
    return session, launcher, state


def _refuse_if_running(state: SavedState) -> None:
    """UsageError when the saved QEMU still runs: its process (the pid with the
    start time and boot the state file saved) exists, or a process listens on
    a unix socket its command line binds or on the monitor numatui had.  A
    second QEMU from the same command line would take those sockets away
    (QEMU unlinks a path before binding it) and re-create its files: nothing
    is started, nothing removed."""
    from numatui.session.child_lifetime import is_zombie, listening_at, socket_paths
    from numatui.session.record import identify

    assert state.argv is not None
    saved = state.qemu or {}
    pid = saved.get("pid")
    alive = identify(pid) if type(pid) is int and pid > 0 and not is_zombie(pid) else None
    address = state.address
    monitor = address.removeprefix("unix:") if address and address.startswith("unix:") else None
    live = listening_at(socket_paths(state.argv) | ({monitor} if monitor else set()))
    if not live and (alive is None or alive.to_dict() != saved):
        return
    why = [f"pid {pid}"] if alive is not None and alive.to_dict() == saved else []
    if live:
        more = f" and {len(live) - 1} more" if len(live) > 1 else ""
        why.append(f"a process listens on {live[0]}{more}, which a second QEMU would take away")
    how = (f"connect to it (numatui connect unix:{monitor})" if monitor in live
           else "connect to one of its monitors (numatui connect unix:PATH)")
    raise UsageError(f"not resuming {state.key}: its QEMU still runs ({'; '.join(why)}); {how}, "
                     "or stop it first")


async def open_tui(vm: Vm, out: TextIO, tui: bool = True) -> int:
    """The TUI on ``vm``; with ``--no-tui``: print ``show`` and the ``-numa`` options."""
    if tui:
        from numatui.tui.app import run_tui  # Textual loads only for the TUI

        return await run_tui(vm)
    from numatui.cli import commands as cmd

    out.write(cmd.render_show(vm.session) + "\n" + vm.export("numa"))
    return EXIT_OK
