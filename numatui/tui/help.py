"""The help screen (``?``): every key, and what QEMU allows."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from numatui.core.actions import ACTIONS, key_of
from numatui.tui.dialog import Dialog

#: The keys come from :data:`numatui.core.actions.ACTIONS`.
HELP = """\
[b]numatui[/b] maps the guest's CPU slots to NUMA nodes in a QEMU in preconfig.

[b]Move[/b]        arrows or h j k, PageUp PageDown Home End
            ({toggle_log} is the QMP log, not vi's right: → moves right)
[b]Select[/b]      {toggle} toggles the cursor slot; shift+arrows extend
            {socket} its socket, {core} its core, {unassigned} every unassigned slot
            {clear} clears the selection
[b]Assign[/b]      {assign} puts the selection (or the cursor slot) on that node
            {add_node} adds a node (memoryless), live
            {distances} edits the distances (live)
            {memory} edits the node memory (relaunches QEMU)
[b]Undo[/b]        {undo} / {redo} undo and redo (relaunch + replay)
            {relaunch} relaunches or reconnects after QEMU went away
[b]Mouse[/b]       click a slot: it alone; ctrl+click: add or remove it
            shift+click: every slot from the cursor to it, in
            topology order (socket, die, core, thread)
            click a socket or core label: its slots
            drag across empty space: a band selects what it touches
            drag slots onto a node (or + new node): assigned, live;
            let go elsewhere or press escape: nothing is sent
            hover: a slot's props; wheel: scroll; after boot: select only
[b]Command[/b]     {next_view} switches view (-numa options, full command line,
[b]line[/b]        JSON plan, libvirt XML); {copy} copies what is shown
            tab focuses it: arrows, PageUp/PageDown scroll it
            {toggle_log} shows the QMP log (beside it on a wide terminal)
[b]Boot[/b]        {exit_preconfig} or the Exit preconfig button: the preflight
            findings, then enter boots the VM
[b]Running[/b]     {hotplug} plugs CPUs into the selected empty slots
            {unplug} asks the guest to eject hot-plugged CPUs (~ until done)
[b]Other[/b]       ctrl+p every command, {help} this help, {quit} quits
            (the -numa options are printed when you quit)

[b]What QEMU allows[/b]
• Each assignment is sent to QEMU at once; the grid shows what QEMU
  reports.
• QEMU has no undo: a slot set on a node (marked •) cannot move there.
  When numatui launched QEMU, a move or {undo} / {redo} relaunches it and
  replays the plan; attached, export the plan, restart QEMU with
  --preconfig and apply it.
• Slots left unassigned go to node 0 at boot, with a warning from QEMU.
• After boot the nodes are fixed; present CPUs show their cpu-index.

Press escape or {help} to close.""".format(**{
    name: key_of(action) for name, action in {
        "toggle": "toggle_slot", "socket": "select_group('socket-id')",
        "core": "select_group('core-id')", "unassigned": "select_unassigned", "clear": "clear",
    }.items()} | {a.id: key_of(a.id) for a in ACTIONS if "(" not in a.id})


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = "HelpScreen > VerticalScroll { width: 90; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
