"""The QMP link under a session: commands with timeouts and a transcript,
events consumed and offered to listeners, and losing QEMU noticed promptly.

Losing QEMU (killed, quit, crashed at x-exit-preconfig) becomes the state
``DISCONNECTED`` plus a synthetic ``NUMATUI_DISCONNECTED`` event, and a
:class:`~numatui.session.errors.Disconnected` from the command in flight:
never a traceback from a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from qemu.qmp import ExecInterruptedError, ExecuteError, QMPClient, QMPError, Runstate, StateError

from numatui.model.plan import Node
from numatui.session.address import Address
from numatui.session.connect import open_client
from numatui.session.errors import CommandTimeout, Disconnected, QemuRefused
from numatui.session.event_stream import stream_events
from numatui.session.listeners import Listeners
from numatui.session.machine import RunState
from numatui.session.peer import Peer
from numatui.session.transcript import Transcript, reply_text

#: The synthetic event sent to listeners when QEMU goes away.
DISCONNECTED_EVENT = "NUMATUI_DISCONNECTED"

EventCallback = Callable[[dict[str, Any]], None]
StateCallback = Callable[[RunState], None]


#: A batched command's own limit: the batch's watchdog (no reply for ``timeout``) decides first.
_BATCH_COMMAND_LIMIT = 24 * 3600.0


class LauncherLike(Protocol):
    """What the session uses of :class:`numatui.session.launcher.Launcher`."""

    nodes: list[Node]
    keep_running: bool

    @property
    def argv(self) -> list[str]: ...

    def alive(self) -> bool: ...

    def stderr_tail(self, lines: int = 10) -> str: ...

    async def stop(self) -> None: ...


def compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


class Connection:
    """One QMPClient, its event pump and its disconnect watcher."""

    address: Address
    transcript: Transcript
    state: RunState
    status: str  # query-status "status" as QEMU spells it ("prelaunch", "running", ...)
    launcher: LauncherLike | None
    peer: Peer | None  # the process at the other end of a unix socket

    #: told (replies so far, commands) as a batch's replies come in (:meth:`execute_all`): a
    #: face showing long work (``applying 120/496``) sets it; None: nobody listens
    progress: Callable[[int, int], None] | None = None

    def __init__(
        self,
        address: Address,
        *,
        timeout: float = 3.0,
        launcher: LauncherLike | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.transcript = transcript if transcript is not None else Transcript()
        self.launcher = launcher
        self.state = RunState.DISCONNECTED
        self.status = ""
        self.peer = None
        self._event_listeners: Listeners[dict[str, Any]] = Listeners()
        self._state_listeners: Listeners[RunState] = Listeners()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._client: QMPClient | None = None
        self._forget_loss()

    def _forget_loss(self) -> None:
        self._lost_task: asyncio.Task[None] | None = None
        self._lost_reason = "not connected to QEMU"
        self._lost_tail: str | None = None
        self._closing = False

    # -- the link ------------------------------------------------------------------
    async def _open(self) -> None:
        """Connect (ConnectFailed on failure) and start consuming events."""
        logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)
        self._forget_loss()
        if (warning := self.address.warning()) is not None:
            self.transcript.note(warning)
        client, peer = await open_client(self.address, self.timeout)
        self._client = client
        self.peer = peer
        self.transcript.note(f"connected to {self.address}" + (f" (pid {peer.pid})" if peer else ""))
        stream_events(client, self._on_event)  # bounded: no history, no queue
        self._spawn(self._watch(client))

    async def _drop_client(self) -> None:
        """Stop the background tasks and disconnect quietly."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        client, self._client = self._client, None
        if client is not None and client.runstate != Runstate.IDLE:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)

    @property
    def connected(self) -> bool:
        """True while the QMP connection is up."""
        client = self._client
        return client is not None and client.runstate == Runstate.RUNNING and self._lost_task is None

    async def execute(self, command: str, args: dict[str, Any] | None = None,
                      *, timeout: float | None = None) -> Any:
        """Run one QMP command, recorded in the transcript.

        Raises QemuRefused (QEMU's text verbatim), CommandTimeout, Disconnected.
        """
        client = self._client
        if client is None or self._lost_task is not None or client.runstate != Runstate.RUNNING:
            if client is not None and self._lost_task is None and not self._closing:
                await asyncio.shield(self._lose("QEMU closed the QMP connection"))
            raise Disconnected(self._lost_reason, self._lost_tail)
        msg: dict[str, Any] = {"execute": command}
        if args:
            msg["arguments"] = args
        self.transcript.append("cmd", compact_json(msg))
        limit = timeout if timeout is not None else self.timeout
        try:
            async with asyncio.timeout(limit):  # no extra task, unlike wait_for
                reply = await client.execute(command, args)
        except ExecuteError as exc:
            text = str(exc)
            self.transcript.append("error", compact_json({"error": {"class": exc.error_class, "desc": text}}))
            raise QemuRefused(command, text, exc.error_class) from None
        except TimeoutError:
            self.transcript.note(f"no answer to {command} within {limit:g} s")
            raise CommandTimeout(command, limit) from None
        except (ExecInterruptedError, StateError, QMPError, OSError, EOFError):
            reason = f"QEMU closed the QMP connection during {command}"
            await asyncio.shield(self._lose(reason))
            raise Disconnected(reason, self._lost_tail) from None
        self.transcript.append("reply", *reply_text(reply, compact_json))
        return reply

    async def execute_all(self, commands: Sequence[tuple[str, dict[str, Any]]],
                          *, tail: int = 0) -> list[Any]:
        """Send ``commands`` back to back and return each reply, or the error
        it raised, in order.  qemu.qmp keeps several commands in flight (tasks
        created in order enqueue in order) and QEMU runs them in the order
        received, so a batch costs about one round trip, not one per command.
        QEMU runs the commands after a refused one all the same.
        :attr:`progress` counts all but the last ``tail`` (a re-read sent with
        them is not work the user asked for).

        The timeout measures time without progress, not time since each
        command was sent: a batch of thousands is answered one by one, and
        on a busy host its last replies come long after they were sent while
        QEMU is answering all along.  Only when no reply at all arrives for
        ``timeout`` seconds do the commands still waiting time out.  One
        command (a digit key's set-numa-node) is awaited as it is: a task and
        a wait set cost a key press two more turns of the app's event loop."""
        if len(commands) == 1:
            (cmd, args), = commands
            try:
                return [await self.execute(cmd, args)]
            except Exception as exc:  # as a task's: QemuRefused, CommandTimeout, Disconnected
                return [exc]
        tasks = [asyncio.ensure_future(self.execute(cmd, args, timeout=_BATCH_COMMAND_LIMIT))
                 for cmd, args in commands]
        waiting = set(tasks)
        while waiting:
            done, waiting = await asyncio.wait(waiting, timeout=self.timeout,
                                               return_when=asyncio.FIRST_COMPLETED)
            if self.progress is not None:
                asked = len(tasks) - tail
                self.progress(min(len(tasks) - len(waiting), asked), asked)
            if not done:  # no reply for a whole timeout: what is left will not come
                for task in waiting:
                    task.cancel()
                await asyncio.gather(*waiting, return_exceptions=True)
                break
        out: list[Any] = []
        for (cmd, _), task in zip(commands, tasks, strict=True):
            if task.cancelled():
                self.transcript.note(f"no answer to {cmd} within {self.timeout:g} s of the last reply")
                out.append(CommandTimeout(cmd, self.timeout))
            else:
                out.append(task.exception() or task.result())
        return out

    async def _try(self, command: str, args: dict[str, Any] | None = None) -> Any:
        """execute(), None when QEMU refuses."""
        try:
            return await self.execute(command, args)
        except QemuRefused:
            return None

    # -- events and state -------------------------------------------------------------
    def add_listener(self, cb: EventCallback) -> Callable[[], None]:
        """Call ``cb(event)`` for every QMP event, and for the synthetic
        ``{"event": "NUMATUI_DISCONNECTED", "data": {"reason", "stderr"}}``.
        Returns a function removing it."""
        return self._event_listeners.add(cb)

    def add_state_listener(self, cb: StateCallback) -> Callable[[], None]:
        """Call ``cb(state)`` whenever the run state changes.  Returns a remover."""
        return self._state_listeners.add(cb)

    def _set_state(self, state: RunState, force: bool = False) -> None:
        if state is self.state and not force:
            return
        self.state = state
        self._state_listeners.call(state,
                                   lambda _, exc: self.transcript.note(f"a state listener failed: {exc!r}"))

    def _on_event(self, event: dict[str, Any]) -> None:
        self.transcript.append("event", compact_json(event))
        name = event.get("event")
        if name == "STOP":
            self.status = "paused"
            self._set_state(RunState.PAUSED)
        elif name == "RESUME":
            self.status = "running"
            self._set_state(RunState.RUNNING)
        elif name == "SHUTDOWN":
            self.status = "shutdown"
            self._set_state(RunState.OTHER)
        self._handle_event(event)
        self._event_listeners.call(event,
                                   lambda _, exc: self.transcript.note(f"an event listener failed: {exc!r}"))

    def _handle_event(self, event: dict[str, Any]) -> None:
        """Subclasses react to events here, before the listeners."""

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- losing QEMU ------------------------------------------------------------------
    async def _watch(self, client: QMPClient) -> None:
        """Notice promptly when QEMU closes the connection."""
        while client.runstate == Runstate.RUNNING:
            await client.runstate_changed()
        if not self._closing and client is self._client:
            await asyncio.shield(self._lose("QEMU closed the QMP connection"))

    def _lose(self, reason: str) -> asyncio.Task[None]:
        """Handle losing QEMU once, however many callers notice it."""
        if self._lost_task is None:
            self._lost_reason = reason
            self._lost_task = asyncio.get_running_loop().create_task(self._do_lose(reason))
        return self._lost_task

    async def _do_lose(self, reason: str) -> None:
        client = self._client
        if client is not None and client.runstate != Runstate.IDLE:
            with contextlib.suppress(Exception):  # re-raises the cause, e.g. EOFError
                await asyncio.wait_for(client.disconnect(), 2)
        tail = await self._stderr_tail()
        self._lost_tail = tail
        self.status = "disconnected"
        self.transcript.note(reason + (f"; QEMU's last words: {tail.strip()}" if tail else ""))
        self._set_state(RunState.DISCONNECTED)
        now = time.time()
        self._on_event({
            "event": DISCONNECTED_EVENT,
            "data": {"reason": reason, "stderr": tail},
            "timestamp": {"seconds": int(now), "microseconds": int((now % 1) * 1e6)},
        })

    async def _stderr_tail(self) -> str | None:
        """QEMU's last stderr lines, once its process has exited (launched QEMU only)."""
        launcher = self.launcher
        if launcher is None:
            return None
        with contextlib.suppress(Exception):
            for _ in range(40):
                if not launcher.alive():
                    break
                await asyncio.sleep(0.05)
            return launcher.stderr_tail() or None
        return None
