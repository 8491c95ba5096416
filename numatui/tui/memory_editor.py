"""The node-memory editor: how the guest's RAM is split across NUMA nodes.

Memory backends are fixed when QEMU starts, so a new split is applied by
starting a new QEMU with the new sizes and replaying the mapping and the
distances (:meth:`numatui.core.vm.Vm.set_memory`); only when
numatui launched QEMU and before boot.  Otherwise the sizes are shown
read-only with the reason.  The sizes must add up to ``-m``: the editor
shows the remainder as you type.

``i`` gives a new node its HMAT ``initiator`` (the node with CPUs closest to
its memory; the preflight asks for one on a memory-only node): QEMU takes it
only in the ``set-numa-node`` type node that declares the node, so it is
sent when the node is applied, and an existing node's initiator is shown, not
changed.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from numatui.model.backend import CHOICES
from numatui.model.errors import NumaError
from numatui.model.memory_split import MemorySplit, even_split, parse_node_size
from numatui.model.units import format_size, human_size
from numatui.session.memory import current_sizes, live_additions, read_only_reason
from numatui.tui.editing import Editor, MessageLine

COLUMNS = ("memdev", "CPUs", "now", "new")


class MemoryEditor(Editor[int]):
    """Edit the node memory split of ``session`` (see the module docstring)."""

    DEFAULT_CSS = """
    MemoryEditor > Vertical { width: 72; }
    MemoryEditor #mem-table { max-height: 16; }
    MemoryEditor #mem-total { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", "Edit size"),
        Binding("e", "even", "Even split"),
        Binding("r", "reset", "Reset"),
        Binding("a", "apply", "Apply (relaunch)"),
        Binding("n", "new_node", "New node"),
        Binding("b", "backend", "Backend"),
        Binding("i", "initiator", "Initiator"),
        Binding("escape", "close", "Close"),
    ]
    PREFIX = "mem"
    box_title = "Node memory (-object memory-backend-*,size=)"

    def setup(self) -> None:
        self.draft: dict[int, int] = current_sizes(self.session)
        #: the backend chosen (b) for a node QEMU does not have yet: an index into CHOICES
        self.backends: dict[int, int] = {}
        #: the HMAT initiator chosen (i) for a node QEMU does not have yet
        self.initiators: dict[int, int] = {}

    @property
    def read_only(self) -> str | None:
        reason = read_only_reason(self.session, self.vm.launcher)
        return None if reason is None else f"Read-only: {reason}."

    @property
    def split(self) -> MemorySplit:
        return MemorySplit(self.session.info.ram_size or 0, self.draft)

    def remainder_text(self) -> str:
        return self.split.remainder_text()

    def cursor_node(self) -> int | None:
        ids = sorted(self.draft)
        row = self.table.cursor_row
        return ids[row] if ids and 0 <= row < len(ids) else None

    # -- drawing ------------------------------------------------------------------
    def body(self) -> ComposeResult:
        yield Static("Type a size or press enter on a node (1G, 512M, 0 = memoryless). The sizes "
                     "must add up to -m. Applying starts a new QEMU with them and replays the "
                     "mapping and distances. b: a new node's backend (ram, memfd, file).", id="mem-help")
        yield self.new_table("row")
        yield Static("", id="mem-total")
        yield Input(placeholder="size like 1G, 512M or 0 (memoryless); enter, esc", id="mem-input",
                    select_on_focus=False)
        yield MessageLine("", id="mem-message")

    def redraw(self) -> None:
        table = self.table
        if not table.columns:
            for name in COLUMNS:
                table.add_column(name, key=name)
        row = table.cursor_row
        table.clear()
        cpus: Counter[int | None] = Counter()
        for s in self.session.topology.slots:
            cpus[s.node_id] += s.vcpus_count
        known = {n.id: n for n in self.session.nodes}
        for node_id, size in sorted(self.draft.items()):
            node = known.get(node_id)
            now = node.size if node is not None and node.size else 0
            changed = size != now
            init = self.initiators.get(node_id) if node is None else node.initiator
            table.add_row(
                Text((node.memdev if node is not None and node.memdev else
                      f"new {CHOICES[self.backends.get(node_id, 0)][0]}" if node is None else "-")
                     + (f" ←{init}" if init is not None else "")),
                Text(str(cpus[node_id])),
                Text(human_size(now) if now else "none", style="dim" if not now else ""),
                Text(human_size(size) if size else "none", style="bold" if changed else ""),
                key=str(node_id), label=Text(f"node {node_id}", style="bold"),
            )
        if self.draft:
            table.move_cursor(row=min(row, len(self.draft) - 1))
        split = self.split
        self.query_one("#mem-total", Static).update(Text.assemble(
            f"-m {human_size(split.ram)} \u00b7 nodes {human_size(split.total)} \u00b7 ",
            (split.remainder_text(), "bold" if split.remainder == 0 else "bold red")))

    # -- editing ------------------------------------------------------------------
    def start_edit(self, first: str) -> None:
        node = self.cursor_node()
        if node is None or self.refused():
            return
        size = self.draft[node]
        shown = format_size(size) if size else ""  # exact, in QEMU's spelling; a new node: empty
        self.open_input(node, first or shown, f"node {node} memory")

    def submit(self, editing: int, text: str) -> None:
        try:
            size = parse_node_size(text, what=f"node {editing} size")
        except NumaError as exc:
            self.message.say(f"Refused: {exc}", "error")
            return
        self.draft[editing] = size
        self.close_input()
        words = self.remainder_text()
        problems = self.split.problems()  # what a would refuse: say so now, not "press a"
        self.message.say(f"{words[:1].upper()}{words[1:]}. " + (f"Not applicable yet: {problems[0]}."
                         if problems else "Press a to apply."), "error" if problems else "info")
        self.redraw()

    def action_even(self) -> None:
        if self.refused() or not self.draft:
            return
        self.draft = even_split(self.split.ram, sorted(self.draft))
        self.redraw()

    def action_reset(self) -> None:
        self.draft = current_sizes(self.session)
        self.redraw()

    def action_apply(self) -> None:
        if self.refused():
            return
        if problems := self.split.problems():
            self.message.say(f"Not applied: {problems[0]}.", "error")
        elif self.draft == current_sizes(self.session):
            self.message.say("Nothing to apply: QEMU already has these sizes.")
        else:
            self.run(self.apply(), "memory")

    def action_new_node(self) -> None:
        """A row for a node QEMU does not have yet (memory given to it in
        preconfig is added live, without a relaunch)."""
        if self.refused() or self.field.has_class("shown"):
            return
        node = max([*self.draft, *(n.id for n in self.session.nodes)], default=-1) + 1
        self.draft[node] = 0
        self.redraw()
        self.table.move_cursor(row=sorted(self.draft).index(node))
        self.action_edit()

    def action_backend(self) -> None:
        """The next backend type for the cursor's new node (a node QEMU has keeps its own)."""
        node = self.cursor_node()
        if node is None or self.refused() or self.field.has_class("shown"):
            return
        if any(n.id == node for n in self.session.nodes):
            self.message.say(f"Node {node}'s backend exists already; b picks one for a new node (n).",
                             "error")
            return
        self.backends[node] = (self.backends.get(node, 0) + 1) % len(CHOICES)
        self.message.say(f"Node {node}: -object memory-backend-{CHOICES[self.backends[node]][0]}.")
        self.redraw()

    def action_initiator(self) -> None:
        """The next initiator (a node with CPUs, then none) for the cursor's new node."""
        node = self.cursor_node()
        if node is None or self.refused() or self.field.has_class("shown"):
            return
        have = {n.id: n for n in self.session.nodes}
        if node in have:
            now = have[node].initiator
            self.message.say(f"Node {node}'s initiator is {'none' if now is None else now}: QEMU takes "
                             "it only when a node is declared (-numa node,initiator=); i sets it on a "
                             "new node (n).", "error")
            return
        if self.session.info.hmat is False:
            self.message.say("QEMU runs without hmat=on: no initiator (numatui launch --hmat).", "error")
            return
        choices = sorted({s.node_id for s in self.session.topology.slots if s.node_id is not None} - {node})
        if not choices:
            self.message.say("No node has CPUs yet: map CPUs first (an initiator needs them).", "error")
            return
        now = self.initiators.get(node)
        nxt = choices[0] if now not in choices else [*choices, None][choices.index(now) + 1]
        if nxt is None:
            self.initiators.pop(node, None)
            self.message.say(f"Node {node}: no initiator.")
        else:
            self.initiators[node] = nxt
            self.message.say(f"Node {node}: initiator={nxt} (sent with the node when you apply, a).")
        self.redraw()

    async def apply(self) -> None:
        live = live_additions(self.session, self.draft)
        if live is not None:  # new nodes only: object-add + set-numa-node, no relaunch
            self.message.say("Adding the new node(s) with their memory live\u2026")
        else:
            self.message.say("Starting a new QEMU with the new split and replaying the plan\u2026")
        async with self.sending("adding node(s) with memory live" if live is not None
                                else "relaunching QEMU with the new memory split"):
            backends = {node: CHOICES[i][1] for node, i in self.backends.items()}
            new = await self.vm.set_memory(self.draft, backends, self.initiators)
            if live is not None:
                added = ", ".join(f"node {n} {human_size(size) if size else 'no memory'}" for n, size in live)
                self.message.say(f"Applied live (no relaunch): {added}.", "ok")
            else:
                self.message.say(f"Applied: a new QEMU (pid {new.pid if new is not None else '?'}) holds the "
                                 "new split and the replayed plan.", "ok")
        self.draft = current_sizes(self.session)
        self.backends = {}
        self.initiators = {}
        self.changed()
