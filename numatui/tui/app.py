"""The numatui app: the CPU grid over a live QEMU session.

The app receives a connected :class:`~numatui.session.session.Session` and
talks only to it.  Every QMP call runs as an async worker on the app's own
event loop, one at a time (a lock), with the status bar saying what is going
on; afterwards every panel is redrawn from what QEMU reports.

The CLI runs it with ``await run_tui(session)``, which prints the ``-numa``
options once the screen is restored (``run_async`` returns them instead).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from numatui.model import sanitise
from numatui.session.errors import SessionError
from numatui.session.replay import Keeper
from numatui.tui import exports, resilience
from numatui.tui.cmdline import CommandPanel
from numatui.tui.commands import numatui_commands
from numatui.tui.distance_editor import DistanceEditor
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.gestures import NEW_NODE
from numatui.tui.grid import CpuGrid
from numatui.tui.help import HelpScreen
from numatui.tui.hotplug import Hotplug
from numatui.tui.info_line import InfoLine
from numatui.tui.legend import Legend
from numatui.tui.log_panel import QmpLog
from numatui.tui.memory_editor import MemoryEditor
from numatui.tui.messages import SessionChanged, TranscriptAppended
from numatui.tui.nodes import NodesPanel
from numatui.tui.operations import Operations
from numatui.tui.resilience import MAX_NOTICE, DisconnectedBanner, clip
from numatui.tui.status import StatusBar, cursor_text, hover_text, is_booted

if TYPE_CHECKING:
    from numatui.model.plan import Plan
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
    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(str(n), f"assign({n})", "Assign", show=n == 1, key_display="0-9")
          for n in range(10)],
        Binding("n", "add_node", "+Node", tooltip="Add a memoryless NUMA node"),
        Binding("d", "distances", "Distances", show=False),  # help and palette say it
        Binding("m", "memory", "Memory", show=False),  # help and palette say it
        Binding("y", "copy", "Copy", show=False),  # the Copy (y) button shows it
        Binding("v", "next_view", "View", show=False),
        Binding("X", "exit_preconfig", "Boot", key_display="X"),
        Binding("p", "hotplug", "Plug", tooltip="Hot-plug CPUs into the selected empty slots"),
        Binding("u", "unplug", "Unplug", show=False,  # no room at 80 columns: help, palette
                tooltip="Ask the guest to eject hot-plugged CPUs"),
        Binding("l", "toggle_log", "Log", show=False),  # help, palette and the log title say it
        Binding("ctrl+z", "undo", "Undo", show=False, tooltip="Undo the last change (relaunches QEMU)"),
        Binding("ctrl+y", "redo", "Redo", show=False, tooltip="Redo (relaunches QEMU)"),
        Binding("R", "relaunch", "Relaunch", show=False, key_display="R",
                tooltip="After QEMU went away: relaunch it with the plan, or reconnect"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: Session, *, mask: Mapping[str, str] | None = None,
                 keeper: Keeper | None = None) -> None:
        """``mask`` replaces strings (socket paths, pids) wherever they are shown:
        for screenshots and snapshot tests.  ``keeper`` holds the undo history
        and autosave (the CLI gives one that saves; default: history only)."""
        super().__init__()
        self.session = session
        self.keeper = keeper if keeper is not None else Keeper(session)
        #: the plan a refused move on an attached QEMU would need (palette: copy it)
        self.needed_plan: Plan | None = None
        self._masks = dict(mask or {})
        self._bindings_key: tuple[bool, Screen[Any]] | None = None  # what the footer last showed
        self._log_shown = False
        self.ops = Operations(self)
        self.hotplug = Hotplug(self)
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
        self.query_one(DisconnectedBanner).show(s, self.keeper, self.mask)
        self.query_one(NodesPanel).show(s, booted)
        self.query_one(Legend).show(booted)
        panel = self.query_one(CommandPanel)
        panel.show(exports.render(panel.view, s), self.mask)
        self.on_cpu_grid_cursor_moved()
        self._refresh_bindings_if_changed(booted)

    def show_status(self) -> None:
        """Redraw the status bar alone (an operation's busy text)."""
        self.query_one(StatusBar).show(self.session, self.ops.busy, self.mask)

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
        if event.get("event") == "NUMATUI_DISCONNECTED" and not self.ops.told_disconnected:
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
            self.run_worker(self.ops.assign_to_new_node(self.grid.target_keys()), group="qmp")
        else:
            self.action_assign(message.target)

    # -- actions ------------------------------------------------------------------------
    def action_assign(self, node: int) -> None:
        if is_booted(self.session):
            self.notify("The VM is running: QEMU fixed every CPU's node at boot.",
                        severity="warning")
            return
        known = {n.id for n in self.session.nodes}
        if known and node not in known:
            self.notify(f"Node {node} does not exist (nodes: {', '.join(map(str, sorted(known)))})."
                        " Press n to add a node.", severity="warning")
            return
        if not self.session.connected:
            what = "relaunch it with the plan" if self.keeper.can_relaunch else "reconnect"
            self.notify(f"QEMU is disconnected: press R to {what}.", severity="warning")
            return
        keys = self.grid.target_keys()
        if resilience.needs_move(self.session, keys, node):  # QEMU cannot: relaunch or explain
            self.run_worker(resilience.move(self, keys, node), group="qmp")
            return
        self.run_worker(self.ops.assign(keys, node), group="qmp")

    def action_undo(self) -> None:
        self.run_worker(resilience.undo(self), group="qmp")

    def action_redo(self) -> None:
        self.run_worker(resilience.undo(self, redo=True), group="qmp")

    def action_relaunch(self) -> None:
        self.run_worker(resilience.relaunch_or_reconnect(self), group="qmp")

    def action_copy_needed_plan(self) -> None:
        plan = self.needed_plan or self.keeper.history.current
        self.run_worker(self.ops.copy(plan.to_json()), group="copy")

    def action_hotplug(self) -> None:
        self.hotplug.plug(self.grid.target_keys())

    def action_unplug(self) -> None:
        self.hotplug.unplug(self.grid.target_keys())

    def action_distances(self) -> None:
        self.push_screen(DistanceEditor(self.session, step=self.ops.step, on_change=self.sync))

    def action_memory(self) -> None:
        # an undo keeper (if the app has one) must learn the new launcher too
        self.push_screen(MemoryEditor(self.session, step=self.ops.step, on_change=self.sync,
                                      holder=getattr(self, "keeper", None)))

    def action_add_node(self) -> None:
        self.run_worker(self.ops.add_node(), group="qmp")

    def action_copy(self) -> None:
        panel = self.query_one(CommandPanel)
        text = exports.compact_text(self.session) if panel.view == "compact" else panel.text
        self.run_worker(self.ops.copy(self.mask(text)), group="copy")

    def on_command_panel_copy_requested(self) -> None:
        self.action_copy()

    def on_command_panel_view_requested(self) -> None:
        self.action_next_view()

    def action_next_view(self) -> None:
        self.query_one(CommandPanel).next_view()
        self.sync()

    def action_exit_preconfig(self) -> None:
        if is_booted(self.session):
            self.notify("The VM is already running.", severity="warning")
            return
        try:
            findings = self.session.preflight()
        except (ImportError, SessionError) as exc:
            self.notify(f"Preflight checks unavailable: {exc}", severity="warning", markup=False)
            findings = []
        self.push_screen(ExitDialog(findings), self._boot_chosen)

    def _boot_chosen(self, force: bool | None) -> None:
        if force is not None:
            self.run_worker(self.ops.boot(force), group="qmp")

    def action_toggle_log(self) -> None:
        """The log takes the command-line panel's place (room at 80x24)."""
        shown = self._log_shown = self.query_one(QmpLog).toggle()
        self.query_one(CommandPanel).display = not shown

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog only help and quit; after boot, hide what only preconfig
        allows (the digits stay, to explain why)."""
        if len(self.screen_stack) > 1 and action not in ("quit", "help", "command_palette"):
            return False
        if action in ("hotplug", "unplug"):
            return is_booted(self.session)
        return not (action in ("add_node", "exit_preconfig") and is_booted(self.session))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.exit(exports.compact_text(self.session))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from numatui_commands(self)
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
    return result if result is not None else exports.compact_text(session)


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
