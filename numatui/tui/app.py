"""The numatui app: the CPU grid over a live QEMU session.

The app receives a connected :class:`~numatui.session.session.Session`; every
user action goes through :class:`numatui.core.vm.Vm`, run by the
:class:`~numatui.tui.controller.Controller` as an async worker on the app's
own event loop, one at a time (a lock), with the status bar saying what is
going on; afterwards every panel is redrawn from what QEMU reports.

The CLI runs it with ``await run_tui(session)``, which prints the ``-numa``
options once the screen is restored (``run_async`` returns them instead).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from textual.actions import parse
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer

from numatui.core import export
from numatui.core.actions import State, available
from numatui.core.keeper import Keeper
from numatui.core.vm import ActionRefused, Vm, is_booted
from numatui.model import sanitise
from numatui.session.errors import SessionError
from numatui.tui.banner import DisconnectedBanner
from numatui.tui.clip import MAX_NOTICE, clip
from numatui.tui.clipboard import copy_text
from numatui.tui.cmdline import CommandPanel
from numatui.tui.commands import bindings, numatui_commands
from numatui.tui.controller import Controller
from numatui.tui.distance_editor import DistanceEditor
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.gestures import NEW_NODE
from numatui.tui.grid import CpuGrid
from numatui.tui.help import HelpScreen
from numatui.tui.hmat_editor import HmatEditor
from numatui.tui.hotplug import Hotplug
from numatui.tui.info_line import InfoLine
from numatui.tui.legend import Legend
from numatui.tui.log_panel import QmpLog
from numatui.tui.memory_editor import MemoryEditor
from numatui.tui.messages import SessionChanged, TranscriptAppended
from numatui.tui.nodes import NodesPanel
from numatui.tui.status import StatusBar, cursor_text, hover_text

if TYPE_CHECKING:
    from numatui.session.session import Session


#: Events waiting for the next redraw (older ones of a flood are dropped).
MAX_PENDING_EVENTS = 1000


class NumaApp(App[str]):
    """Map QEMU guest vCPUs to NUMA nodes, live."""

    TITLE = "numatui"
    CSS = """
    #main { height: 1fr; }
    #grid-box { width: 1fr; }
    #cursor-info { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    #side { width: 30; border-left: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(grid=False)  # from core.actions

    def __init__(self, session: Session, *, mask: Mapping[str, str] | None = None,
                 keeper: Keeper | None = None) -> None:
        """``mask`` replaces strings (socket paths, pids) wherever they are shown:
        for screenshots and snapshot tests.  ``keeper`` holds the undo history
        and autosave (the CLI gives one that saves; default: history only)."""
        super().__init__()
        self.session = session
        self.vm = Vm(session, keeper)
        self.keeper = self.vm.keeper
        self._masks = dict(mask or {})
        self._bindings_key: tuple[bool, Screen[Any]] | None = None  # what the footer last showed
        self._log_shown = False
        self.ctl = Controller(self, self.vm)
        self.hotplug = Hotplug(self.ctl)
        self._removers: list[Callable[[], None]] = []
        self._pending_events: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING_EVENTS)
        self._events_posted = False
        self._log_posted = False

    def mask(self, text: str) -> str:
        """``text`` as shown: masked strings replaced, controls made visible (the sanitiser)."""
        for old, new in self._masks.items():
            text = text.replace(old, new)
        return sanitise.multi_line(text, limit=None)

    def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
        """Every notification through the sanitiser: no control character from
        QEMU reaches the terminal, whoever calls this."""
        super().notify(sanitise.multi_line(message, MAX_NOTICE), title=sanitise.one_line(title, 200),
                       **kwargs)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield DisconnectedBanner(id="disconnected")
        with Horizontal(id="main"):
            with Vertical(id="grid-box"):
                yield CpuGrid(self.session.topology, id="grid")
                yield InfoLine(id="cursor-info")
            with VerticalScroll(id="side"):
                yield NodesPanel(id="nodes")
                yield Legend(id="legend")
        yield CommandPanel(id="cmdline")
        yield QmpLog(self.session.transcript, self.mask, id="log")
        yield Footer()

    def grid_mounted(self) -> bool:
        """False once the app's widgets are gone (closing), when a queued message may still come."""
        return bool(self.query(CpuGrid))

    @property
    def grid(self) -> CpuGrid:
        return self.query_one(CpuGrid)

    def on_mount(self) -> None:
        self._removers = [
            self.session.transcript.add_listener(self._on_entry),
            self.session.add_listener(self._on_event),
            self.session.add_state_listener(self._on_state),
        ]
        self.grid.focus()
        self.sync()

    # session callbacks run on this loop; messages keep widget work in handlers
    def _on_entry(self, entry: Any) -> None:
        if self._log_shown and not self._log_posted:  # a hidden log catches up when shown
            self._log_posted = True  # a burst is one message (catch_up reads them all)
            self.post_message(TranscriptAppended(entry))

    def _on_event(self, event: dict[str, Any]) -> None:
        # a burst of events is one message and one redraw; at most the last
        # MAX_PENDING_EVENTS wait (an event flood costs time, not memory)
        self._pending_events.append(event)
        if not self._events_posted:
            self._events_posted = True
            self.post_message(SessionChanged(None))

    def _on_state(self, state: Any) -> None:
        if not self._events_posted:
            self._events_posted = True
            self.post_message(SessionChanged(None))

    def on_unmount(self) -> None:
        self.hotplug.stop()
        for remove in self._removers:
            remove()

    # -- redrawing from the session -------------------------------------------------
    def sync(self) -> None:
        """Redraw every panel from what the session (QEMU) says now."""
        s = self.session
        booted = is_booted(s)
        self.grid.set_topology(s.topology, booted=booted, pending=s.pending_unplug)
        self.show_status()
        self.query_one(DisconnectedBanner).show(self.vm, self.mask)
        self.query_one(NodesPanel).show(s, booted)
        self.query_one(Legend).show(booted)
        panel = self.query_one(CommandPanel)
        panel.show(export.render(panel.view, s), self.mask)
        self.on_cpu_grid_cursor_moved()
        self._refresh_bindings_if_changed(booted)

    def show_status(self) -> None:
        """Redraw the status bar alone (an operation's busy text)."""
        self.query_one(StatusBar).show(self.session, self.ctl.busy, self.mask)

    def _refresh_bindings_if_changed(self, booted: bool) -> None:
        """``check_action`` depends on the run state and the screen on top; the
        Footer rebuilds every key on ``refresh_bindings()``, so only then.
        (Textual itself refreshes a screen's bindings when it is resumed.)"""
        key = (booted, self.screen)
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def on_session_changed(self, message: SessionChanged) -> None:
        self._events_posted = False
        if not self.grid_mounted():
            return  # queued before the app began to close: nothing left to redraw
        events = [*self._pending_events, message.event or {}]
        self._pending_events.clear()
        for event in events:
            self._on_session_event(event)
        self.sync()

    def _on_session_event(self, event: dict[str, Any]) -> None:
        self.hotplug.on_event(event)
        if event.get("event") == "NUMATUI_DISCONNECTED":
            data = event.get("data") or {}
            stderr = str(data["stderr"]) if data.get("stderr") else None
            self.query_one(DisconnectedBanner).lost(str(data.get("reason") or "QEMU went away"), stderr)
        if event.get("event") == "NUMATUI_DISCONNECTED" and not self.ctl.told_disconnected:
            words = str(data.get("reason") or "QEMU went away")
            if stderr:
                words += f"\nQEMU said: {stderr.strip()}"
            if self.keeper.saved_path:
                words += f"\nThe plan is saved in {self.keeper.saved_path}."
            self.notify(clip(self.mask(words)), title="Disconnected", severity="error",
                        timeout=30, markup=False)

    def on_transcript_appended(self, message: TranscriptAppended) -> None:
        self._log_posted = False
        if not self.grid_mounted():
            return
        self.query_one(QmpLog).catch_up()

    def on_cpu_grid_cursor_moved(self, message: CpuGrid.CursorMoved | None = None) -> None:
        grid = self.grid
        text = cursor_text(grid.topology, grid.cursor, len(grid.selection), is_booted(self.session))
        if grid.hovered is not None and grid.hovered < len(grid.topology.slots):  # the mouse's slot
            text = hover_text(grid.topology, grid.hovered, is_booted(self.session))
        self.query_one("#cursor-info", InfoLine).show(text)

    def on_cpu_grid_dropped(self, message: CpuGrid.Dropped) -> None:
        """Slots dragged onto a node: the digit key's path (or + node, then it)."""
        if message.target == NEW_NODE:
            self.start(self.ctl.assign_to_new_node(self.grid.target_keys()))
        else:
            self.action_assign(message.target)

    # -- actions ------------------------------------------------------------------------
    # -- what the controller needs (its Face) ------------------------------------------
    def start(self, work: Coroutine[Any, Any, None], group: str = "qmp") -> None:
        self.run_worker(work, group=group)

    def deselect(self) -> None:
        """Clear the grid's selection (not Textual's ``clear_selection`` of text)."""
        self.grid.clear_selection()

    def booting(self, busy: bool) -> None:
        self.grid.loading = busy
        if not busy:
            self.grid.focus()
            # the footer rebuilt its keys while the loading indicator had the
            # focus; once the grid has it back, rebuild them with its keys
            self.call_after_refresh(self.refresh_bindings)

    async def copy(self, text: str) -> str:
        return await copy_text(self, text)

    # -- actions ------------------------------------------------------------------------
    def action_assign(self, node: int) -> None:
        self.ctl.assign(self.grid.target_keys(), node)

    def action_undo(self) -> None:
        self.start(self.ctl.undo())

    def action_redo(self) -> None:
        self.start(self.ctl.undo(redo=True))

    def action_relaunch(self) -> None:
        self.start(self.ctl.relaunch_or_reconnect())

    def action_copy_needed_plan(self) -> None:
        plan = self.ctl.needed_plan or self.keeper.history.current
        self.start(self.ctl.copy(plan.to_json()), group="copy")

    def action_hotplug(self) -> None:
        self.hotplug.plug(self.grid.target_keys())

    def action_unplug(self) -> None:
        self.hotplug.unplug(self.grid.target_keys())

    def action_distances(self) -> None:
        self.push_screen(DistanceEditor(self.vm, step=self.ctl.step, on_change=self.sync))

    def action_hmat(self) -> None:
        self.push_screen(HmatEditor(self.vm, step=self.ctl.step, on_change=self.sync))

    def action_memory(self) -> None:
        self.push_screen(MemoryEditor(self.vm, step=self.ctl.step, on_change=self.sync))

    def action_add_node(self) -> None:
        self.start(self.ctl.add_node())

    def action_copy(self) -> None:
        panel = self.query_one(CommandPanel)
        text = self.vm.quit_text() if panel.view == "compact" else panel.text
        self.start(self.ctl.copy(self.mask(text)), group="copy")

    def on_command_panel_copy_requested(self) -> None:
        self.action_copy()

    def on_command_panel_view_requested(self) -> None:
        self.action_next_view()

    def action_next_view(self) -> None:
        self.query_one(CommandPanel).next_view()
        self.sync()

    def action_exit_preconfig(self) -> None:
        try:
            findings = self.vm.preflight()
        except ActionRefused as exc:
            self.notify(str(exc), severity="warning")
            return
        except SessionError as exc:
            self.notify(f"Preflight checks unavailable: {exc}", severity="warning", markup=False)
            findings = []
        self.push_screen(ExitDialog(findings), self._boot_chosen)

    def _boot_chosen(self, force: bool | None) -> None:
        if force is not None:
            self.start(self.ctl.boot(force))

    def action_toggle_log(self) -> None:
        """The log takes the command-line panel's place (room at 80x24)."""
        shown = self._log_shown = self.query_one(QmpLog).toggle()
        self.query_one(CommandPanel).display = not shown

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """What :data:`numatui.core.actions.ACTIONS` allows now: under a dialog only
        help and quit; after boot, not what only preconfig allows (the digits
        stay, to explain why)."""
        state = State(booted=is_booted(self.session), dialog=len(self.screen_stack) > 1)
        return available(action, state)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.exit(self.vm.quit_text())

    @staticmethod
    def _call(target: DOMNode, action: str) -> Any:
        """Run ``action`` on ``target`` directly (a palette entry: no check_action)."""
        _, name, params = parse(action)
        return getattr(target, f"action_{name}")(*params)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from numatui_commands(self.vm, lambda a: self._call(self, a),
                                    lambda a: self._call(self.grid, a))
        yield from super().get_system_commands(screen)


async def run_async(
    session: Session, *, mask: Mapping[str, str] | None = None, keeper: Keeper | None = None,
    **options: Any
) -> str:
    """Run the app on the running event loop (the session's); return the
    compact ``-numa`` options for the caller to print once the screen is back.
    ``options`` go to ``App.run_async`` (``headless``, ``size``, ``auto_pilot``)."""
    app = NumaApp(session, mask=mask, keeper=keeper)
    await app.run_async(**options)
    result = app.return_value
    return result if result is not None else app.vm.quit_text()


@contextlib.contextmanager
def _terminal_as_stdout() -> Iterator[None]:
    """``numatui launch > numa.args``: Textual draws on stderr but measures the
    terminal through stdout (shutil.get_terminal_size), so a redirected stdout
    means a fixed 80x24.  Point fd 1 at the terminal while the app runs."""
    if os.isatty(1) or not os.isatty(2):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


async def run_tui(session: Session, *, keeper: Keeper | None = None, **options: Any) -> int:
    """The CLI seam (``numatui launch`` / ``connect``): run the app, then print
    the ``-numa`` options to stdout after the screen is restored.  Returns 0."""
    with _terminal_as_stdout():
        text = await run_async(session, keeper=keeper, **options)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
