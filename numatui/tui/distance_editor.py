"""The distance matrix editor: node x node, sent live with set-numa-node type dist.

A node's distance to itself is fixed at 10.  Editing a cell sets its
mirror too unless the pair is unlinked (``u``); ``f`` fills every unset
pair with 20 (and the missing direction of a one-way pair with its mirror).
Values QEMU would refuse (< 10, > 255) are refused here with the reason;
what QEMU itself refuses is shown verbatim.  Cells: bold = given, dim = the
mirror of the other direction (QEMU completes it), ``·`` = unset, ``~`` =
the pair is unlinked.  Once any distance is given QEMU needs every pair:
the bottom line says what is still missing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from numatui.model.distances import DEFAULT_REMOTE_DISTANCE, CellKind, DistanceMatrix, parse_distance
from numatui.model.errors import NumaError
from numatui.model.plan import Distance
from numatui.tui.editing import MatrixEditor, MessageLine

CELL_WIDTH = 5


class DistanceEditor(MatrixEditor[tuple[int, int]]):
    """Edit the NUMA distance matrix of ``vm`` live (see the module docstring)."""

    DEFAULT_CSS = """
    DistanceEditor > Vertical { width: auto; min-width: 78; }
    DistanceEditor #dist-table { max-height: 20; width: auto; }
    DistanceEditor #dist-cell, DistanceEditor #dist-status { height: auto; padding: 0 1; }
    DistanceEditor #dist-status { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", "Edit", show=True),
        Binding("u", "toggle_link", "Link/unlink"),
        Binding("f", "fill", f"Fill unset with {DEFAULT_REMOTE_DISTANCE}"),
        Binding("escape", "close", "Close"),
    ]
    PREFIX = "dist"
    box_title = "NUMA distances (set-numa-node type dist)"
    TAKES = "distances"

    def setup(self) -> None:
        self._drawn: tuple[int, ...] = ()  # the nodes the table has rows for
        given = self.matrix.given  # the pairs (a, b), a < b, unlinked: at first those different each way
        self.unlinked = {(a, b) for a, b in self.matrix.pairs()
                         if (a, b) in given and (b, a) in given and given[(a, b)] != given[(b, a)]}

    # -- state --------------------------------------------------------------------
    @property
    def matrix(self) -> DistanceMatrix:
        return DistanceMatrix.of([n.id for n in self.session.nodes], self.session.distances)

    def linked(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) not in self.unlinked

    def axes(self) -> tuple[Sequence[int], Sequence[int]]:
        nodes = self.matrix.nodes
        return nodes, nodes

    # -- drawing ------------------------------------------------------------------
    def body(self) -> ComposeResult:
        yield Static("Rows are from, columns to. Type a distance or press enter on a cell. "
                     "10 = local; 20 = the usual remote distance.", id="dist-help")
        yield self.new_table("cell")
        yield Static("", id="dist-cell")
        yield Input(placeholder="distance 10..255, enter to send, esc to cancel", id="dist-input",
                    restrict=r"[0-9]*", max_length=3, select_on_focus=False)
        yield MessageLine("", id="dist-message")
        yield Static("", id="dist-status")

    def _cell(self, matrix: DistanceMatrix, a: int, b: int) -> Text:
        kind = matrix.kind(a, b)
        value = matrix.value(a, b)
        mark = "" if a == b or self.linked(a, b) else "~"
        text = "\u00b7" if value is None else str(value)
        style = {CellKind.LOCAL: "dim italic", CellKind.GIVEN: "bold", CellKind.MIRROR: "dim",
                 CellKind.UNSET: "dim"}[kind]
        return Text(f"{text}{mark}", style=style)

    def redraw(self, pairs: Collection[tuple[int, int]] | None = None) -> None:
        """Redraw the table: only the cells of ``pairs`` (and their mirrors)
        when given and the nodes are the same, else all of it."""
        matrix = self.matrix
        if pairs is not None and matrix.nodes == self._drawn:
            for x, y in {p for a, b in pairs for p in ((a, b), (b, a))}:
                self.table.update_cell(str(x), str(y), self._cell(matrix, x, y))
        else:
            self._drawn = matrix.nodes
            self.fill_table("", CELL_WIDTH, partial(self._cell, matrix))
        self.describe_cursor()
        self.query_one("#dist-status", Static).update(Text(self.status_text(matrix)))

    def status_text(self, matrix: DistanceMatrix) -> str:
        if not matrix.nodes:
            return "No nodes are known: add one first (n)."
        if not matrix.used:
            return ("No distance given: QEMU gives the guest none (no SLIT). Once any is set, "
                    "every pair needs one.")
        problems = matrix.problems()
        if problems:
            return f"Incomplete, QEMU would not boot: {problems[0]}. Press f to fill."
        return "Complete: QEMU will boot with this matrix."

    def pair_words(self, a: int, b: int) -> str:
        if a == b:
            return f"node {a} \u2192 itself: 10, fixed"
        matrix = self.matrix
        value = matrix.value(a, b)
        shown = "unset" if value is None else f"{value} ({matrix.kind(a, b).value})"
        link = "linked: sets both ways" if self.linked(a, b) else "unlinked: one way only"
        return f"node {a} \u2192 node {b}: {shown} \u00b7 {link} (u)"

    # -- editing ------------------------------------------------------------------
    def start_edit(self, first: str) -> None:
        pair = self.cursor_pair()
        if pair is None or self.refused():
            return
        a, b = pair
        if a == b:
            self.message.say(f"The distance of node {a} to itself is fixed at 10 (QEMU requires it).",
                             "error")
            return
        value = self.matrix.value(a, b)
        self.open_input(pair, first or ("" if value is None else str(value)), f"node {a} \u2192 node {b}")

    def submit(self, editing: tuple[int, int], text: str) -> None:
        a, b = editing
        try:
            val = parse_distance(text)
            edits = self.matrix.edits(a, b, val, linked=self.linked(a, b))
        except NumaError as exc:
            self.message.say(f"Refused: {exc}", "error")
            return
        self.close_input()
        self.run(self.send(edits, f"node {a} \u2192 node {b} = {val}"
                           + (" (and back)" if len(edits) > 1 else "")), "distances")

    def action_toggle_link(self) -> None:
        pair = self.cursor_pair()
        if pair is None or pair[0] == pair[1]:
            return
        key = (min(pair), max(pair))
        self.unlinked.symmetric_difference_update({key})
        self.message.say(f"Nodes {key[0]} and {key[1]} are {'linked' if self.linked(*key) else 'unlinked'}.")
        self.redraw([key])

    def action_fill(self) -> None:
        if self.refused():
            return
        edits = self.matrix.fill()
        if not edits:
            self.message.say("Every pair already has a distance.")
            return
        self.run(self.send(edits, f"{len(edits)} missing distance(s) filled"), "distances")

    # -- sending ------------------------------------------------------------------
    async def send(self, edits: list[Distance], what: str) -> None:
        """set-numa-node type dist for the edits, as one batch (QEMU's first refusal is said)."""
        async with self.sending(f"setting distances ({what})", f"Sent: {what}."):
            await self.vm.set_distances(edits, what)
        self.changed(partial(self.redraw, [(d.src, d.dst) for d in edits]))
