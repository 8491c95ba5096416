"""The HMAT editor: initiator x target latency/bandwidth, and memory-side caches.

One table at a time: a memory hierarchy level (``h`` cycles memory,
first-level, second-level, third-level) and a data type (``t`` cycles
access/read/write latency, access/read/write bandwidth).  Rows are the
initiators (nodes with CPUs: QEMU refuses others), columns every node.
Enter or a digit on a cell types its value: latency in ns, bandwidth in
bytes per second with an optional suffix (``20G`` = 20 GiB/s; QEMU needs a
multiple of 1 MiB).  ``c`` adds a memory-side cache level to the cursor's
column node: ``LEVEL SIZE [ASSOCIATIVITY [POLICY [LINE]]]``.  Each value is
sent live (``set-numa-node`` types hmat-lb / hmat-cache) after numatui's own
check of QEMU's rules (:mod:`numatui.model.hmat`); QEMU cannot change a
value once given, so a set cell is read-only.  Everything needs ``-machine
hmat=on`` (``numatui launch --hmat``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from numatui.model import hmat
from numatui.model.errors import NumaError
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.units import human_size, qemu_strtosz
from numatui.session.errors import Disconnected, SessionError
from numatui.session.machine import RunState
from numatui.tui.editing import (
    MessageLine,
    Step,
    digit_bindings,
    error_words,
    local_step,
    open_input,
    type_into,
)

if TYPE_CHECKING:
    from numatui.core.vm import Vm

CELL_WIDTH = 10


def parse_value(text: str, latency: bool) -> int:
    """A latency (ns, a whole number) or a bandwidth (bytes/s, suffixes K M G T)."""
    text = text.strip()
    if not text:
        raise NumaError("type a value")
    if latency:
        if not text.isdigit():
            raise NumaError(f"latency {text!r} must be a whole number of nanoseconds")
        return int(text)
    return qemu_strtosz(text, "B", what="bandwidth")


def parse_cache(node: int, text: str) -> HmatCache:
    """``LEVEL SIZE [ASSOCIATIVITY [POLICY [LINE]]]`` for ``node``."""
    words = text.split()
    if len(words) < 2:
        raise NumaError("type LEVEL SIZE [ASSOCIATIVITY [POLICY [LINE]]], e.g. 1 256M direct write-back 64")
    raw = {"node-id": node, "level": words[0], "size": qemu_strtosz(words[1], "B", what="size"),
           "associativity": words[2] if len(words) > 2 else "none",
           "policy": words[3] if len(words) > 3 else "none",
           "line": words[4] if len(words) > 4 else "0"}
    return hmat.cache_from_args("cache", raw)


class HmatEditor(ModalScreen[None]):
    """Edit the HMAT of ``vm`` live (see the module docstring)."""

    DEFAULT_CSS = """
    HmatEditor { align: center middle; }
    HmatEditor > Vertical {
        width: auto; min-width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HmatEditor #hmat-table { height: auto; max-height: 14; width: auto; margin: 1 0 0 0; }
    HmatEditor #hmat-which, HmatEditor #hmat-cell, HmatEditor #hmat-caches,
    HmatEditor #hmat-status { height: auto; padding: 0 1; }
    HmatEditor #hmat-status { color: $text-muted; }
    HmatEditor #hmat-input { display: none; width: 60; }
    HmatEditor #hmat-input.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", "Edit", show=True),
        Binding("t", "next_type", "Data type"),
        Binding("h", "next_hierarchy", "Level"),
        Binding("c", "add_cache", "Cache"),
        Binding("escape", "close", "Close"),
        *digit_bindings(),  # a digit starts an edit with it: keys act in the order typed
    ]

    def __init__(self, vm: Vm, *, step: Step | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.vm = vm
        self.session = vm.session
        self.step = step or local_step()
        self.on_change = on_change
        self.hierarchy = hmat.HIERARCHIES[0]
        self.data_type = hmat.DATA_TYPES[0]
        self.editing: tuple[str, int, int] | None = None  # ("lb", initiator, target) / ("cache", node, 0)

    # -- state --------------------------------------------------------------------
    @property
    def initiators(self) -> list[int]:
        return sorted({s.node_id for s in self.session.topology.slots if s.node_id is not None})

    @property
    def targets(self) -> list[int]:
        return sorted({n.id for n in self.session.nodes} | set(self.initiators))

    @property
    def latency(self) -> bool:
        return self.data_type in hmat.LATENCY_TYPES

    def value(self, initiator: int, target: int) -> HmatLb | None:
        for lb in self.session.hmat_lb:
            if lb.key == (self.hierarchy, self.data_type, initiator, target):
                return lb
        return None

    @property
    def read_only(self) -> str | None:
        if self.session.state is RunState.DISCONNECTED:
            return "QEMU is gone: nothing can be sent."
        if self.session.state is not RunState.PRECONFIG:
            return "The VM is running: QEMU takes HMAT only in preconfig (shown read-only)."
        if self.session.info.hmat is False:
            return "QEMU runs without hmat=on: start it with numatui launch --hmat (read-only)."
        return None

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#hmat-table", DataTable)

    @property
    def message(self) -> MessageLine:
        return self.query_one("#hmat-message", MessageLine)

    def cursor_pair(self) -> tuple[int, int] | None:
        rows, cols = self.initiators, self.targets
        row, col = self.table.cursor_coordinate
        if not rows or row >= len(rows) or col >= len(cols):
            return None
        return rows[row], cols[col]

    # -- drawing ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "HMAT (set-numa-node types hmat-lb, hmat-cache)"
            yield Static("", id="hmat-which")
            table: DataTable[Text] = DataTable(id="hmat-table", cursor_type="cell", zebra_stripes=False)
            table.show_row_labels = True
            yield table
            yield Static("", id="hmat-cell")
            yield Input(placeholder="", id="hmat-input", select_on_focus=False)
            yield Static("", id="hmat-caches")
            yield MessageLine("", id="hmat-message")
            yield Static("", id="hmat-status")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()
        self.table.focus()
        if self.read_only:
            self.message.say(self.read_only)

    def redraw(self) -> None:
        unit = "ns" if self.latency else "bytes/s"
        self.query_one("#hmat-which", Static).update(Text.assemble(
            ("Rows: initiators (nodes with CPUs) \u00b7 columns: targets\n", ""),
            (f"{self.data_type} ({unit})", "bold"), (" \u00b7 level ", ""), (self.hierarchy, "bold"),
            ("   t: data type  h: level  c: cache", "dim")))
        table = self.table
        where = table.cursor_coordinate
        table.clear(columns=True)
        for t in self.targets:
            table.add_column(Text(f"node {t}", style="bold"), key=str(t), width=CELL_WIDTH)
        for i in self.initiators:
            cells = []
            for t in self.targets:
                lb = self.value(i, t)
                cells.append(Text("\u00b7", style="dim") if lb is None
                             else Text(hmat.format_value(lb), style="bold"))
            table.add_row(*cells, key=str(i), label=Text(f"node {i}", style="bold"))
        if self.initiators and self.targets:
            table.cursor_coordinate = Coordinate(min(where.row, len(self.initiators) - 1),
                                                 min(where.column, len(self.targets) - 1))
        self.describe_cursor()
        self.query_one("#hmat-caches", Static).update(Text(self.caches_text()))
        self.query_one("#hmat-status", Static).update(Text(self.status_text()))

    def caches_text(self) -> str:
        if not self.session.hmat_cache:
            return "Memory-side caches: none (c adds one to the cursor's column node)."
        parts = [f"node {c.node_id} L{c.level} {human_size(c.size)} {c.associativity} {c.policy} "
                 f"line {c.line}"
                 for c in sorted(self.session.hmat_cache, key=lambda c: (c.node_id, c.level))]
        return "Memory-side caches: " + "; ".join(parts)

    def status_text(self) -> str:
        if self.session.info.hmat is False:
            return "hmat=off: QEMU refuses every HMAT option."
        if not self.initiators:
            return "No node has CPUs yet: map CPUs first (an initiator needs them)."
        gaps = hmat.missing_pairs(self.session.hmat_lb, self.initiators, self.targets)
        lacking = gaps.get((self.hierarchy, self.data_type))
        if lacking:
            return (f"{len(lacking)} pair(s) unset in this table: QEMU boots and tells the "
                    "guest 0 (not provided) for them.")
        if (self.hierarchy, self.data_type) not in {(lb.hierarchy, lb.data_type)
                                                    for lb in self.session.hmat_lb}:
            return "This table is empty: QEMU writes no such table."
        return "This table is complete."

    def describe_cursor(self) -> None:
        pair = self.cursor_pair()
        cell = self.query_one("#hmat-cell", Static)
        if pair is None:
            cell.update("")
            return
        i, t = pair
        lb = self.value(i, t)
        shown = "unset" if lb is None else f"{hmat.format_value(lb)} (fixed: QEMU cannot change it)"
        cell.update(Text(f"node {i} \u2192 node {t}: {shown}"))

    @on(DataTable.CellHighlighted)
    def _highlighted(self) -> None:
        self.describe_cursor()

    # -- switching tables -----------------------------------------------------------
    def action_next_type(self) -> None:
        types = hmat.DATA_TYPES
        self.data_type = types[(types.index(self.data_type) + 1) % len(types)]
        self.redraw()

    def action_next_hierarchy(self) -> None:
        levels = hmat.HIERARCHIES
        self.hierarchy = levels[(levels.index(self.hierarchy) + 1) % len(levels)]
        self.redraw()

    # -- editing ------------------------------------------------------------------
    def _input(self) -> Input:
        return self.query_one("#hmat-input", Input)

    def action_edit(self, first: str = "") -> None:
        field = self._input()
        if field.has_class("shown"):  # typed before the field had the focus
            if first:
                type_into(field, first)
            elif self.editing is not None:  # enter
                self._submitted(Input.Submitted(field, field.value))
            return
        pair = self.cursor_pair()
        if pair is None:
            return
        if self.read_only:
            self.message.say(self.read_only, "error")
            return
        i, t = pair
        if self.value(i, t) is not None:
            self.message.say(f"node {i} \u2192 node {t} is set already: QEMU cannot change it "
                             "(\u201cDuplicate configuration\u201d).", "error")
            return
        self.editing = ("lb", i, t)
        field = self._input()
        field.placeholder = ("latency in ns" if self.latency
                             else "bandwidth in bytes/s, e.g. 20G (a multiple of 1M)")
        open_input(field, first, f"{self.data_type} node {i} \u2192 node {t}")

    @on(DataTable.CellSelected)
    def _selected(self) -> None:
        self.action_edit()

    def action_add_cache(self) -> None:
        pair = self.cursor_pair()
        if pair is None or self._input().has_class("shown"):
            return
        if self.read_only:
            self.message.say(self.read_only, "error")
            return
        self.editing = ("cache", pair[1], 0)
        field = self._input()
        field.placeholder = "LEVEL SIZE [ASSOCIATIVITY [POLICY [LINE]]]  e.g. 1 256M direct write-back 64"
        open_input(field, "", f"memory-side cache of node {pair[1]}")

    def close_input(self) -> None:
        field = self._input()
        field.remove_class("shown")
        field.value = ""
        self.editing = None
        self.table.focus()

    @on(Input.Submitted, "#hmat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.editing is None:
            return
        kind, a, b = self.editing
        try:
            item: HmatLb | HmatCache
            if kind == "lb":
                value = parse_value(event.value, self.latency)
                lb = HmatLb(a, b, self.hierarchy, self.data_type, value)
                self.vm.check_hmat(lbs=[lb])
                item = lb
            else:
                cache = parse_cache(a, event.value)
                self.vm.check_hmat(caches=[cache])
                item = cache
        except (NumaError, SessionError) as exc:
            self.message.say(f"Refused: {exc}", "error")
            return  # the input stays open to correct
        self.close_input()
        self.send(item)

    def action_close(self) -> None:
        if self._input().has_class("shown"):
            self.close_input()
            return
        self.dismiss(None)

    # -- sending ------------------------------------------------------------------
    @work(group="hmat", exclusive=False)
    async def send(self, item: HmatLb | HmatCache) -> None:
        what = item.option()
        gone: Disconnected | None = None
        async with self.step(f"setting {what}"):
            try:
                if isinstance(item, HmatLb):
                    await self.vm.set_hmat_lb(item)
                else:
                    await self.vm.set_hmat_cache(item)
            except Disconnected as exc:
                self.message.say(error_words(exc), "error")
                gone = exc
            except SessionError as exc:
                self.message.say(error_words(exc), "error")
            else:
                self.message.say(f"Sent: {what}", "ok")
            if gone is not None:
                raise gone
        if self.is_attached:
            self.redraw()
        if self.on_change is not None:
            self.on_change()
