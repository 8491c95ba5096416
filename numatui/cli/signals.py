"""SIGTERM, SIGHUP and SIGINT end numatui promptly with 128 + the signal,
whatever Textual's writer thread does.

SIGINT included: inside the TUI ctrl+c is a key (the terminal is raw), so a
SIGINT there was sent with ``kill`` and ends numatui like the other two.

The first signal cancels the running command (its ``finally`` blocks stop a
launched QEMU, save state and restore the terminal), and starts a watchdog
thread.  If numatui has not ended ``GRACE`` seconds later (seen: Textual's
shutdown waiting forever on its ``textual-output`` writer thread once the
terminal is gone, with the asyncio loop blocked so that no later signal is
ever handled), the watchdog runs the emergency callbacks (save the plan,
remove numatui's socket directory) and ends the process with
``os._exit(128 + signal)``.  A launched QEMU without ``--keep-running`` then
dies with numatui (``PR_SET_PDEATHSIG``); one with ``--keep-running`` stays.

The handler is a plain :func:`signal.signal` handler, not
``loop.add_signal_handler``: the latter only wakes the loop, which does
nothing while the main thread is blocked; a Python handler runs as soon as
the blocked lock wait is interrupted, and the watchdog does not need the
main thread at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

#: Seconds between the signal and the forced exit.
GRACE = 3.0

_emergency: list[Callable[[], None]] = []


def on_emergency(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` (from the watchdog thread) before a forced exit;
    returns the remover.  Each callback must be quick and must not need the loop."""
    _emergency.append(callback)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _emergency.remove(callback)

    return remove


class SignalGuard:
    """Installed around one command by :func:`numatui.cli._main`."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object],
                 grace: float = GRACE) -> None:
        self.loop = loop
        self.task = task
        self.grace = grace
        self.received: list[signal.Signals] = []
        self._previous: dict[signal.Signals, object] = {}
        self._watchdog: threading.Thread | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal.signal works in the main thread only
        for sig in self.SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        self.received.append(sig)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the watchdog ends it
            self.loop.call_soon_threadsafe(self.task.cancel)
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._force_exit, args=(sig,),
                                              name="numatui-signal-watchdog", daemon=True)
            self._watchdog.start()

    def _force_exit(self, sig: signal.Signals) -> None:
        threading.Event().wait(self.grace)
        for callback in list(_emergency):
            with contextlib.suppress(Exception):
                callback()
        with contextlib.suppress(OSError):
            os.write(2, f"numatui: stopped by {sig.name} (forced after {self.grace:g} s)\n".encode())
        os._exit(128 + sig.value)
