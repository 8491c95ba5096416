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
hmat=on`` (``numatui launch --hmat``).  A memory-only node's ``initiator``
is set when the node is added (QEMU takes it only then: the memory editor's
``i``); the status line names the nodes that lack one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from numatui.core.errors import ActionRefused
from numatui.model import hmat
from numatui.model.errors import NumaError
from numatui.model.hmat import HmatCache, HmatLb
from numatui.model.numbers import UINT64_MAX, parse_int
from numatui.model.units import human_size, qemu_strtosz
from numatui.session.errors import SessionError
from numatui.tui.editing import MatrixEditor, MessageLine

CELL_WIDTH = 10


def parse_value(text: str, latency: bool) -> int:
    """A latency (ns, a whole number) or a bandwidth (bytes/s, suffixes K M G T)."""
    text = text.strip()
    if not text:
        raise NumaError("type a value")
    return (parse_int(text, "latency (ns)", hi=UINT64_MAX) if latency
            else qemu_strtosz(text, "B", what="bandwidth"))


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


class HmatEditor(MatrixEditor[tuple[str, int, int]]):
    """Edit the HMAT of ``vm`` live (see the module docstring)."""

    DEFAULT_CSS = """
    HmatEditor > Vertical { width: auto; min-width: 78; }
    HmatEditor #hmat-table { max-height: 14; width: auto; }
    HmatEditor #hmat-which, HmatEditor #hmat-cell, HmatEditor #hmat-caches,
    HmatEditor #hmat-status { height: auto; padding: 0 1; }
    HmatEditor #hmat-status { color: $text-muted; }
    HmatEditor #hmat-input { width: 60; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", "Edit", show=True),
        Binding("t", "next_type", "Data type"),
        Binding("h", "next_hierarchy", "Level"),
        Binding("c", "add_cache", "Cache"),
        Binding("escape", "close", "Close"),
    ]
    PREFIX = "hmat"
    box_title = "HMAT (set-numa-node types hmat-lb, hmat-cache)"
    TAKES = "HMAT"

    hierarchy = hmat.HIERARCHIES[0]  # the table shown (h and t switch); the input
    data_type = hmat.DATA_TYPES[0]  # edits ("lb", initiator, target) or ("cache", node, 0)

    # -- state --------------------------------------------------------------------
    @property
    def initiators(self) -> list[int]:
        return sorted({s.node_id for s in self.session.topology.slots if s.node_id is not None})

    @property
    def targets(self) -> list[int]:
        return sorted({n.id for n in self.session.nodes} | set(self.initiators))

    def axes(self) -> tuple[Sequence[int], Sequence[int]]:
        return self.initiators, self.targets

    @property
    def latency(self) -> bool:
        return self.data_type in hmat.LATENCY_TYPES

    def value(self, initiator: int, target: int) -> HmatLb | None:
        key = (self.hierarchy, self.data_type, initiator, target)
        return next((lb for lb in self.session.hmat_lb if lb.key == key), None)

    @property
    def read_only(self) -> str | None:
        if (why := super().read_only) is not None:
            return why
        if self.session.info.hmat is False:
            return "QEMU runs without hmat=on: start it with numatui launch --hmat (read-only)."
        return None

    # -- drawing ------------------------------------------------------------------
    def body(self) -> ComposeResult:
        yield Static("", id="hmat-which")
        yield self.new_table("cell")
        yield Static("", id="hmat-cell")
        yield Input(placeholder="", id="hmat-input", select_on_focus=False)
        yield Static("", id="hmat-caches")
        yield MessageLine("", id="hmat-message")
        yield Static("", id="hmat-status")

    def _cell(self, i: int, t: int) -> Text:
        lb = self.value(i, t)
        return Text("\u00b7", style="dim") if lb is None else Text(hmat.format_value(lb), style="bold")

    def redraw(self) -> None:
        unit = "ns" if self.latency else "bytes/s"
        self.query_one("#hmat-which", Static).update(Text.assemble(
            ("Rows: initiators (nodes with CPUs) \u00b7 columns: targets\n", ""),
            (f"{self.data_type} ({unit})", "bold"), (" \u00b7 level ", ""), (self.hierarchy, "bold"),
            ("   t: data type  h: level  c: cache", "dim")))
        self.fill_table("node ", CELL_WIDTH, self._cell)
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
        if lacking := gaps.get((self.hierarchy, self.data_type)):
            status = (f"{len(lacking)} pair(s) unset in this table: QEMU boots and tells the "
                      "guest 0 (not provided) for them.")
        elif (self.hierarchy, self.data_type) not in {(lb.hierarchy, lb.data_type)
                                                      for lb in self.session.hmat_lb}:
            status = "This table is empty: QEMU writes no such table."
        else:
            status = "This table is complete."
        return status + self.initiator_hint()

    def initiator_hint(self) -> str:
        """Memory-only nodes without an ``initiator`` (the preflight warns): QEMU
        takes one only in the command that adds the node, so the memory editor
        sets it on a new node (m, n, i)."""
        lacking = [n.id for n in self.session.nodes
                   if n.size and n.initiator is None and n.id not in self.initiators]
        if not lacking:
            return ""
        return (f" Memory-only node {', '.join(map(str, lacking))} has no initiator; QEMU takes one "
                "only when a node is added: m, n (size), i.")

    def pair_words(self, i: int, t: int) -> str:
        lb = self.value(i, t)
        shown = "unset" if lb is None else f"{hmat.format_value(lb)} (fixed: QEMU cannot change it)"
        return f"node {i} \u2192 node {t}: {shown}"

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
    def start_edit(self, first: str) -> None:
        pair = self.cursor_pair()
        if pair is None or self.refused():
            return
        i, t = pair
        if self.value(i, t) is not None:
            self.message.say(f"node {i} \u2192 node {t} is set already: QEMU cannot change it "
                             "(\u201cDuplicate configuration\u201d).", "error")
            return
        self.field.placeholder = ("latency in ns" if self.latency
                                  else "bandwidth in bytes/s, e.g. 20G (a multiple of 1M)")
        self.open_input(("lb", i, t), first, f"{self.data_type} node {i} \u2192 node {t}")

    def action_add_cache(self) -> None:
        pair = self.cursor_pair()
        if pair is None or self.field.has_class("shown") or self.refused():
            return
        self.field.placeholder = ("LEVEL SIZE [ASSOCIATIVITY [POLICY [LINE]]]  "
                                  "e.g. 1 256M direct write-back 64")
        self.open_input(("cache", pair[1], 0), "", f"memory-side cache of node {pair[1]}")

    def submit(self, editing: tuple[str, int, int], text: str) -> None:
        kind, a, b = editing
        try:
            item: HmatLb | HmatCache
            if kind == "lb":
                item = HmatLb(a, b, self.hierarchy, self.data_type, parse_value(text, self.latency))
                self.vm.check_hmat(lbs=[item])
            else:
                item = parse_cache(a, text)
                self.vm.check_hmat(caches=[item])
        except (NumaError, SessionError, ActionRefused) as exc:
            self.message.say(f"Refused: {exc}{self.fill_first(a) if kind == 'cache' else ''}", "error")
            return
        self.close_input()
        self.run(self.send(item), "hmat")

    def fill_first(self, node: int) -> str:
        """What a cache of ``node`` needs first: QEMU wants a non-zero latency and
        bandwidth to it (memory level, any initiator) before its caches."""
        lacking = {"latency", "bandwidth"} - set(hmat.provided(self.session.hmat_lb).get(node, ()))
        if not lacking:
            return ""
        what = " and ".join(f"a {k} (t: access-{k})" for k in sorted(lacking, reverse=True))
        return f". Fill first {what} from an initiator to node {node}, level memory (h)"

    # -- sending ------------------------------------------------------------------
    async def send(self, item: HmatLb | HmatCache) -> None:
        what = item.option()
        async with self.sending(f"setting {what}", f"Sent: {what}"):
            if isinstance(item, HmatLb):
                await self.vm.set_hmat_lb(item)
            else:
                await self.vm.set_hmat_cache(item)
        self.changed()
