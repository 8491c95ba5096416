"""The numatui app: the CPU grid over a live QEMU session.

The app receives the run's :class:`numatui.core.vm.Vm` (the CLI's, over a
connected session); every user action goes through it, put on the one work
queue of :mod:`numatui.tui.controller` (the path of a key is drawn there)
and run by the app's one worker on its own event loop, one at a time, with
the status bar saying what is going on; afterwards every panel is redrawn
from what QEMU reports.

The CLI runs it with ``await run_tui(vm)``, which prints the ``-numa``
options once the screen is restored (``run_async`` returns them instead).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from functools import partialmethod
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual import events, work
from textual.actions import parse
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from numatui.core import export
from numatui.core.actions import WIDE_FOOTER, State, available
from numatui.core.domain import DomainTarget
from numatui.core.errors import ActionRefused
from numatui.core.keeper import Keeper
from numatui.core.presets import choices
from numatui.core.vm import Vm, is_booted, run_state
from numatui.model import sanitise
from numatui.session.errors import SessionError
from numatui.tui.banner import DisconnectedBanner
from numatui.tui.clipboard import copy_text
from numatui.tui.cmdline import LOG_BESIDE_WIDTH, SMALL_HEIGHT, CommandPanel
from numatui.tui.commands import bindings, numatui_commands
from numatui.tui.confirm import apply_saved_dialog, stop_guest_dialog
from numatui.tui.controller import Controller
from numatui.tui.dialog import ButtonDialog
from numatui.tui.distance_editor import DistanceEditor
from numatui.tui.domain_save import save_domain, unsaved_dialog
from numatui.tui.editing import VmDialog, route_editor_key
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.gestures import NEW_NODE
from numatui.tui.grid import CpuGrid
from numatui.tui.help import HelpScreen
from numatui.tui.hmat_editor import HmatEditor
from numatui.tui.host_panel import HostPanel
from numatui.tui.hotplug import Hotplug
from numatui.tui.info_line import InfoLine
from numatui.tui.legend import Legend
from numatui.tui.log_panel import QmpLog
from numatui.tui.memory_editor import MemoryEditor
from numatui.tui.messages import SessionChanged, SessionFeed, TranscriptAppended
from numatui.tui.nodes import NodesPanel
from numatui.tui.notices import MAX_NOTICE, Notice, Notices, clip
from numatui.tui.overview import Overview
from numatui.tui.preset_chooser import PresetChooser, PresetPick
from numatui.tui.screenshot import save_screenshot
from numatui.tui.smp_editor import SmpEditor
from numatui.tui.status import StatusBar

if TYPE_CHECKING:
    from numatui.session.session import Session


W = TypeVar("W", bound=Widget)


class NumaApp(App[str]):
    """Map QEMU guest vCPUs to NUMA nodes, live."""

    TITLE = "numatui"
    CSS = """
    #main { height: 1fr; }
    #grid-box { width: 1fr; }
    #cursor-info { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    #side { width: 30; border-left: solid $primary; }
    /* the command-line panel: smallest on short terminals, two fifths of taller ones
       (numatui.tui.cmdline.SMALL_HEIGHT); the QMP log beside it on wide ones */
    #bottom { height: 6; }
    Screen.-tall #bottom { height: 40%; }
    Screen.-narrow.-log #cmdline { display: none; }
    Screen.-wide QmpLog.shown { border-left: solid $primary; }
    /* notices at the top right, below the status bar: never over the command-line panel */
    ToastRack { dock: top; align: right top; margin: 2 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(grid=False)  # from core.actions
    # App declares these as instance variables (mypy refuses a ClassVar here)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SMALL_HEIGHT, "-tall")]  # noqa: RUF012
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (LOG_BESIDE_WIDTH, "-wide")]  # noqa: RUF012

    revision: var[int] = var(0, init=False)
    """QEMU's state as the panels show it: moved once after the frame that
    repainted the grid's rows, however many syncs came in it (:meth:`sync`);
    the banner, nodes, legend, host and command-line panels watch it."""

    def __init__(self, vm: Vm | Session, *, mask: Mapping[str, str] | None = None,
                 keeper: Keeper | None = None, host_root: str = "/",
                 keymap: Mapping[str, str] | None = None, config_notes: Iterable[str] = (),
                 domain: DomainTarget | None = None) -> None:
        """``vm``: the run's Vm (a bare Session gets one of its own: tests, benches).
        ``mask`` replaces strings (socket paths, pids) wherever they are shown:
        for screenshots and snapshot tests.  ``keeper`` holds the undo history
        and autosave (the CLI gives one that saves; default: history only).
        ``keymap``: the user's keys (binding id -> keys, :mod:`numatui.tui.keymap`);
        ``config_notes``: what was refused in the config, shown at start."""
        super().__init__()
        self.keymap = dict(keymap or {})
        self._config_notes = list(config_notes)
        self.vm = vm if isinstance(vm, Vm) else Vm(vm, keeper, host_root=host_root)
        self.session = session = self.vm.session
        self.keeper = self.vm.keeper
        self.domain = domain  # numatui domain: Save to domain, and q asks when unsaved
        if domain is not None:
            domain.saved = session.plan()
        self._masks = dict(mask or {})
        self._parts: dict[type[Widget], Widget] = {}  # see part()
        self._bindings_key: tuple[bool, Screen[Any], bool, bool] | None = None  # the footer's last
        self.ctl = Controller(self, self.vm)
        self.notices = Notices(self._toast, self.clear_notifications, self.NOTIFICATION_TIMEOUT)
        self.hotplug = Hotplug(self.ctl)
        self.feed = SessionFeed(self.post_message)  # the session's callbacks as messages
        self._panels_due = False  # sync's panel redraw is scheduled for after the frame

    def mask(self, text: str) -> str:
        """``text`` as shown: masked strings replaced, controls made visible (the sanitiser)."""
        for old, new in self._masks.items():
            text = text.replace(old, new)
        return sanitise.multi_line(text, limit=None)

    def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
        """Every notification through the sanitiser (no control character from
        QEMU reaches the terminal, whoever calls this), replacing the one shown
        (numatui.tui.notices)."""
        self.notices.post(sanitise.multi_line(message, MAX_NOTICE), title=sanitise.one_line(title, 200),
                          **kwargs)

    def _toast(self, notice: Notice, seconds: float) -> None:
        super().notify(notice.message, title=notice.title, severity=notice.severity, timeout=seconds,
                       markup=notice.markup)

    def compose(self) -> ComposeResult:
        # the session and every module live as long as the app: out of the
        # collector's passes during the first paint (one full pass took 10 ms
        # of it), and again with what the first paint made (on_mount)
        gc.freeze()
        yield StatusBar(id="status")
        yield DisconnectedBanner(self.vm, self.mask, id="disconnected")
        with Horizontal(id="main"):
            with Vertical(id="grid-box"):
                yield CpuGrid(self.session.topology, id="grid")
                yield InfoLine(id="cursor-info")
            with VerticalScroll(id="side"):
                yield NodesPanel(self.vm, id="nodes")
                yield Overview(id="overview")  # above the legend: every socket stays in sight
                yield Legend(self.vm, id="legend")
                yield HostPanel(self.vm, id="host")
        with Horizontal(id="bottom"):
            yield CommandPanel(self.vm, self.mask, keymap=self.keymap, id="cmdline")
            yield QmpLog(self.session.transcript, self.mask, id="log")
        yield Footer()

    def grid_mounted(self) -> bool:
        """False once the app's widgets are gone (closing), when a queued message may still come."""
        grid = self._parts.get(CpuGrid)
        return grid.is_attached if grid is not None else bool(self.query(CpuGrid))

    def part(self, kind: type[W]) -> W:
        """The main screen's one ``kind`` widget, looked up once (they live as
        long as the app; a DOM query per redraw showed in the keypress bench)."""
        widget = self._parts.get(kind)
        if widget is None:
            widget = self._parts[kind] = self.query_one(kind)
        return cast(W, widget)

    @property
    def grid(self) -> CpuGrid:
        return self.part(CpuGrid)

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        for note in self._config_notes:
            self.notify(note, severity="warning", timeout=10)
        self.feed.attach(self.session, self.notices.drop_errors)
        self._serve_queue()
        self.grid.focus()
        self.query_one("#cmd-save").display = self.domain is not None
        self.sync()
        # what exists at the first paint lives as long as the app: kept out of
        # the collector's full passes (one took 44 ms inside a key press)
        self.call_after_refresh(gc.freeze)

    def on_unmount(self) -> None:
        gc.unfreeze()  # the app's objects may be collected again once it is gone
        self.hotplug.stop()
        self.feed.detach()

    # -- redrawing from the session -------------------------------------------------
    def sync(self) -> None:
        """Redraw from what the session (QEMU) says now (nothing once the app's
        widgets are gone: a step may end while the app closes): the grid and
        the status bar at once, the other panels after that frame, once however
        many syncs came in it (a key's grid rows do not wait for the
        command-line panel's text)."""
        if not self.grid_mounted():
            return
        s = self.session
        if not self.ctl.queued:  # every queued assignment ran: QEMU's answer is in the topology
            self.grid.queued.clear()
        self.grid.set_topology(s.topology, booted=is_booted(s), pending=s.pending_unplug)
        self.show_status()
        if not self._panels_due:
            self._panels_due = True
            self.call_after_refresh(self._sync_panels)

    def _sync_panels(self) -> None:
        self._panels_due = False
        if self.grid_mounted():
            self.revision += 1  # the panels watching it redraw from the Vm
            self.on_cpu_grid_cursor_moved()
            self._refresh_bindings_if_changed(is_booted(self.session))

    def show_status(self) -> None:
        """Redraw the status bar alone (an operation's busy text)."""
        ctl = self.ctl
        self.part(StatusBar).show(self.session, ctl.busy, self.mask, time.monotonic() - ctl.busy_since,
                                  self.keeper.resumed, ctl.progress)

    def _refresh_bindings_if_changed(self, booted: bool) -> None:
        """``check_action`` depends on the run state and the screen on top; the
        Footer rebuilds every key on ``refresh_bindings()``, so only then.
        (Textual itself refreshes a screen's bindings when it is resumed.)"""
        key = (booted, self.screen, run_state(self.session) == "disconnected",
               self.size.width >= WIDE_FOOTER)
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def on_session_changed(self, message: SessionChanged) -> None:
        events = self.feed.events(message)
        if not self.grid_mounted():
            return  # queued before the app began to close: nothing left to redraw
        for event in events:
            self._on_session_event(event)
        self.sync()

    def _on_session_event(self, event: dict[str, Any]) -> None:
        self.hotplug.on_event(event)
        if event.get("event") != "NUMATUI_DISCONNECTED":
            return
        data = event.get("data") or {}
        words = str(data.get("reason") or "QEMU went away")
        stderr = str(data["stderr"]) if data.get("stderr") else None
        self.part(DisconnectedBanner).lost(words, stderr)
        if not self.ctl.told_disconnected:
            if stderr:
                words += f"\nQEMU said: {stderr.strip()}"
            if self.keeper.saved_path:
                words += f"\nThe plan is saved in {self.keeper.saved_path}."
            self.notify(clip(self.mask(words)), title="Disconnected", severity="error",
                        timeout=30, markup=False)

    def on_transcript_appended(self, message: TranscriptAppended) -> None:
        self.feed.log_read()
        if self.grid_mounted():
            self.part(QmpLog).catch_up()

    def on_cpu_grid_cursor_moved(self, message: CpuGrid.CursorMoved | None = None) -> None:
        self.part(InfoLine).follow(self.grid, self.vm)
        self.part(Overview).follow(self.grid)

    def on_cpu_grid_resized(self, message: CpuGrid.Resized) -> None:
        if message.grid.is_attached and message.grid.is_mounted:  # not while closing
            self.part(Overview).follow(message.grid)

    def action_overview(self) -> None:
        overview = self.part(Overview)
        overview.display = True
        overview.show(self.grid.topology, self.grid.cursor)
        overview.focus()

    def on_overview_jump(self, message: Overview.Jump) -> None:
        if message.slot is not None:
            self.grid.go_to(message.slot)
        self.grid.focus()
        self.part(Overview).follow(self.grid)

    def on_cpu_grid_dropped(self, message: CpuGrid.Dropped) -> None:
        """Slots dragged onto a node: the digit key's path (or + node, then it)."""
        if message.target == NEW_NODE:
            self.start(self.ctl.assign_to_new_node(*self.grid.take_targets()))
        else:
            self.action_assign(message.target)

    # -- the work queue, and what the controller needs (its Face) -------------------------
    @work(exclusive=True, group="qmp")
    async def _serve_queue(self) -> None:
        """The app's one worker: every QMP job, in the order asked (numatui.tui.controller)."""
        await self.ctl.serve()

    async def settled(self) -> None:
        """Until every queued job and every other worker is done, or the queue
        waits for the user's answer (tests and benches wait here: the queue's
        worker never completes)."""
        while True:
            await self.ctl.idle()
            others = [w for w in self.workers if w.node is not self or w.name != "_serve_queue"]
            if all(w.is_finished for w in others):
                await self.ctl.idle()
                return
            await self.workers.wait_for_complete(others)

    def booting(self, busy: bool) -> None:
        self.grid.loading = busy
        if not busy:
            self.grid.focus()
            # the footer rebuilt its keys while the loading indicator had the
            # focus; once the grid has it back, rebuild them with its keys
            self.call_after_refresh(self.refresh_bindings)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """QMP work waits its turn behind every earlier key's (the controller's queue)."""
        self.ctl.enqueue(work)

    def copy(self, text: str) -> None:
        """Copy ``text`` at once (no QMP: it does not wait behind the queue)."""
        async def copy() -> None:
            self.notify(await copy_text(self, text), title="Copy", markup=False)

        self.run_worker(copy(), group="copy")

    # -- actions ------------------------------------------------------------------------
    def action_assign(self, node: int) -> None:
        """The targets are taken (and the selection cleared) now, as the key
        comes; the assignment runs after every earlier key's."""
        keys, restore = self.grid.take_targets()
        self.grid.queued.update(keys)
        self.start(self.ctl.assign(keys, node, restore))

    def action_assign_refused(self) -> None:
        """A digit after boot or with QEMU gone: the refusal says why."""
        self.start(self.ctl.assign(self.grid.target_keys(), 0))

    def action_undo(self, redo: bool = False) -> None:
        self.start(self.ctl.undo(redo))

    action_redo = partialmethod(action_undo, True)

    def action_relaunch(self) -> None:
        self.start(self._relaunch())

    async def _relaunch(self) -> None:
        """R; attached, once reconnected to a QEMU that lacks the saved plan, offer it."""
        plan = self.keeper.history.current
        attached = not self.vm.can_relaunch
        await self.ctl.relaunch_or_reconnect()
        if run_state(self.session) == "disconnected":
            return
        self.notices.drop_errors()  # errors go once something succeeds
        if attached and not is_booted(self.session) and plan.cpus and self.session.plan() != plan:
            self.push_screen(apply_saved_dialog(plan, self.mask(str(self.keeper.saved_path or "memory"))),
                             lambda yes: self.start(self.ctl.apply_saved(plan)) if yes else None)

    def action_copy_needed_plan(self) -> None:
        plan = self.ctl.needed_plan or self.keeper.history.current
        self.copy(plan.to_json())

    def action_hotplug(self) -> None:
        self.start(self.hotplug.run(True, *self.grid.take_targets()))

    def action_unplug(self) -> None:
        self.start(self.hotplug.run(False, *self.grid.take_targets()))

    def _edit(self, editor: type[VmDialog]) -> None:
        self.push_screen(editor(self.vm, step=self.ctl.step, enqueue=self.ctl.enqueue, on_change=self.sync))

    action_distances = partialmethod(_edit, DistanceEditor)
    action_hmat = partialmethod(_edit, HmatEditor)
    action_memory = partialmethod(_edit, MemoryEditor)
    action_smp = partialmethod(_edit, SmpEditor)

    def action_presets(self) -> None:
        """``P``: the preset chooser; what it picks runs after every earlier key."""
        host = self.vm.host.get()

        def recheck(name: str, into: int) -> Any:
            return next(c for c in choices(self.session, host, into) if c.name == name)

        def chosen(pick: PresetPick | None) -> None:
            if pick is not None:
                self.start(self.ctl.apply_preset(pick.name, pick.into, pick.add_nodes))

        self.push_screen(PresetChooser(choices(self.session, host), len(self.session.nodes), recheck), chosen)

    def action_apply_preset(self, name: str) -> None:
        """A palette entry: preset ``name`` over every node QEMU has (adding none)."""
        self.start(self.ctl.apply_preset(name))

    def action_add_node(self) -> None:
        self.start(self.ctl.add_node())

    def action_copy(self) -> None:
        panel = self.part(CommandPanel)
        text = self.vm.quit_text() if panel.view == "compact" else panel.text
        self.copy(self.mask(text))

    def action_next_view(self) -> None:
        self.part(CommandPanel).next_view()

    def action_exit_preconfig(self) -> None:
        if self.ctl.boot_requested is not None:  # keys typed meanwhile queue; a second boot cannot be
            asked = time.monotonic() - self.ctl.boot_requested
            self.notify(f"The VM is booting (asked {asked:.0f} s ago): after the work asked before it, "
                        "QEMU builds every vCPU; a big VM takes minutes.", title="Booting",
                        severity="warning")
            return
        self.ctl.boot_requested = time.monotonic()
        self.start(self._ask_boot())

    async def _ask_boot(self) -> None:
        """After every earlier key's job: the one preflight, shown in the
        dialog; the boot chosen there goes by these findings (not a second
        preflight).  The queue waits for the answer, so the keys typed after X
        act after it, on the VM it leaves."""
        try:
            try:
                findings = self.vm.preflight()
            except ActionRefused as exc:
                self.notify(str(exc), severity="warning")
                return
            except SessionError as exc:
                self.notify(f"Preflight checks unavailable: {exc}", severity="warning", markup=False)
                findings = []
            self.ctl.asking.set()
            answer = self.push_screen(ExitDialog(findings), wait_for_dismiss=True)
            answer.add_done_callback(lambda _: self.ctl.asking.clear())
            force = await answer
            if force is not None:
                await self.ctl.boot(force, findings)
        finally:
            self.ctl.boot_requested = None

    def action_toggle_log(self) -> None:
        """The log beside the command-line panel on a wide terminal, in its place otherwise."""
        self.feed.log_shown = self.part(QmpLog).toggle()
        self.screen.set_class(self.feed.log_shown, "-log")

    def action_toggle_host(self) -> None:
        """The host panel (#18): host nodes, their CPUs, memory and bound guest nodes."""
        self.part(HostPanel).toggle()

    async def on_key(self, event: events.Key) -> None:
        """An open editor cell takes every key, in the order typed (numatui.tui.editing)."""
        await route_editor_key(self, event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """What :data:`numatui.core.actions.ACTIONS` allows now: under a dialog only
        help and quit; after boot, not what only preconfig allows (the digits
        stay, to explain why)."""
        if isinstance(self.screen, ButtonDialog):  # their footer: their own keys only
            return False
        state = State(booted=is_booted(self.session), dialog=len(self.screen_stack) > 1,
                      domain=self.domain is not None, gone=run_state(self.session) == "disconnected",
                      wide=self.size.width >= WIDE_FOOTER)
        return available(action, state, parameters)

    def action_wide(self, action: str) -> None:
        """The footer's entry of a wide action, on a wide terminal: the action itself."""
        self._call(self, action)

    def on_resize(self) -> None:
        self._refresh_bindings_if_changed(is_booted(self.session))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    def action_save_domain(self) -> None:
        self.start(save_domain(self.domain, self.vm, self.notify))

    async def action_quit(self) -> None:
        """Quit; first ask when that would stop a running guest numatui launched,
        or leave a domain's layout unsaved."""
        dialog = (unsaved_dialog() if self.domain is not None and self.domain.unsaved(self.session)
                  else stop_guest_dialog(self.vm))
        if dialog is None:
            self._quit_chosen(True)
        else:
            self.push_screen(dialog, self._quit_chosen)

    def _quit_chosen(self, quit: bool | None) -> None:
        """Quit, printing a domain saved to stdout, else the -numa options."""
        if quit:
            self.exit((self.domain and self.domain.printed) or self.vm.quit_text())

    def action_save_screenshot(self) -> None:
        """The palette's Screenshot: an SVG in numatui's state directory (else the
        current directory), named in the notification."""
        try:
            path = save_screenshot(self.export_screenshot())
        except OSError as exc:
            self.notify(f"Could not save a screenshot: {exc}", severity="error", markup=False)
            return
        self.notify(f"Screenshot saved to {path}", title="Screenshot", markup=False)

    @staticmethod
    def _call(target: DOMNode, action: str) -> Any:
        """Run ``action`` on ``target`` directly (a palette entry: no check_action)."""
        _, name, params = parse(action)
        return getattr(target, f"action_{name}")(*params)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from numatui_commands(self.vm, lambda a: self._call(self, a),
                                    lambda a: self._call(self.grid, a))
        yield SystemCommand("Screenshot", "Save an SVG of the screen in numatui's state directory",
                            self.action_save_screenshot)
        for command in super().get_system_commands(screen):  # numatui's own Quit, Screenshot
            if command.title not in ("Quit", "Screenshot"):
                yield command


@contextlib.contextmanager
def terminal_as_stdout() -> Iterator[None]:
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


async def run_async(vm: Vm | Session, *, mask: Mapping[str, str] | None = None, keeper: Keeper | None = None,
                    domain: DomainTarget | None = None, **options: Any) -> str:
    """Run the app on the running event loop (the session's); return the
    compact ``-numa`` options for the caller to print once the screen is back.
    ``options`` go to ``App.run_async`` (``headless``, ``size``, ``auto_pilot``)."""
    from numatui.tui.keymap import load_keymap

    keymap, notes = load_keymap()
    app = NumaApp(vm, mask=mask, keeper=keeper, keymap=keymap, config_notes=notes, domain=domain)
    await app.run_async(**options)
    result = app.return_value
    return result if result is not None else app.vm.quit_text()


async def run_tui(vm: Vm, **options: Any) -> int:
    """The CLI seam (``numatui launch`` / ``connect``): run the app, then print
    the ``-numa`` options to stdout after the screen is restored.  Returns 0."""
    with terminal_as_stdout():
        text = await run_async(vm, **options)
    for note in export.quit_notes(vm.session):
        sys.stderr.write(f"numatui: {note}\n")
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
