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

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from numatui.model.distances import DEFAULT_REMOTE_DISTANCE, CellKind, DistanceMatrix, parse_distance
from numatui.model.errors import NumaError
from numatui.model.plan import Distance
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

CELL_WIDTH = 5


class DistanceEditor(ModalScreen[None]):
    """Edit the NUMA distance matrix of ``vm`` live (see the module docstring)."""

    DEFAULT_CSS = """
    DistanceEditor { align: center middle; }
    DistanceEditor > Vertical {
        width: auto; min-width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    DistanceEditor #dist-table { height: auto; max-height: 20; width: auto; margin: 1 0 0 0; }
    DistanceEditor #dist-cell, DistanceEditor #dist-status { height: auto; padding: 0 1; }
    DistanceEditor #dist-status { color: $text-muted; }
    DistanceEditor #dist-input { display: none; width: 40; }
    DistanceEditor #dist-input.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", "Edit", show=True),
        Binding("u", "toggle_link", "Link/unlink"),
        Binding("f", "fill", f"Fill unset with {DEFAULT_REMOTE_DISTANCE}"),
        Binding("escape", "close", "Close"),
        *digit_bindings(),
    ]

    def __init__(self, vm: Vm, *, step: Step | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.vm = vm
        self.session = vm.session
        self.step = step or local_step()
        self.on_change = on_change
        self.unlinked: set[tuple[int, int]] = set()  # pairs (a, b), a < b
        self.editing: tuple[int, int] | None = None
        self._drawn: tuple[int, ...] = ()  # the nodes the table has rows for
        matrix = self.matrix
        for a, b in matrix.pairs():  # a pair already different each way starts unlinked
            if {(a, b), (b, a)} <= set(matrix.given) and matrix.given[(a, b)] != matrix.given[(b, a)]:
                self.unlinked.add((a, b))

    # -- state --------------------------------------------------------------------
    @property
    def matrix(self) -> DistanceMatrix:
        return DistanceMatrix.of([n.id for n in self.session.nodes], self.session.distances)

    @property
    def read_only(self) -> str | None:
        if self.session.state is RunState.DISCONNECTED:
            return "QEMU is gone: nothing can be sent."
        if self.session.state is not RunState.PRECONFIG:
            return "The VM is running: QEMU takes distances only in preconfig (shown read-only)."
        return None

    def linked(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) not in self.unlinked

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#dist-table", DataTable)

    @property
    def message(self) -> MessageLine:
        return self.query_one("#dist-message", MessageLine)

    def cursor_pair(self) -> tuple[int, int] | None:
        nodes = self.matrix.nodes
        row, col = self.table.cursor_coordinate
        if not nodes or row >= len(nodes) or col >= len(nodes):
            return None
        return nodes[row], nodes[col]

    # -- drawing ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "NUMA distances (set-numa-node type dist)"
            yield Static("Rows are from, columns to. Type a distance or press enter on a cell. "
                         "10 = local; 20 = the usual remote distance.", id="dist-help")
            table: DataTable[Text] = DataTable(id="dist-table", cursor_type="cell", zebra_stripes=False)
            table.show_row_labels = True
            yield table
            yield Static("", id="dist-cell")
            yield Input(placeholder="distance 10..255, enter to send, esc to cancel", id="dist-input",
                        restrict=r"[0-9]*", max_length=3, select_on_focus=False)
            yield MessageLine("", id="dist-message")
            yield Static("", id="dist-status")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()
        self.table.focus()
        if self.read_only:
            self.message.say(self.read_only)

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
        table = self.table
        matrix = self.matrix
        if pairs is not None and matrix.nodes == self._drawn:
            cells = {p for a, b in pairs for p in ((a, b), (b, a))}
            for a, b in cells:
                table.update_cell(str(a), str(b), self._cell(matrix, a, b))
            self.describe_cursor()
            self.query_one("#dist-status", Static).update(Text(self.status_text(matrix)))
            return
        self._drawn = matrix.nodes
        where = table.cursor_coordinate
        table.clear(columns=True)
        for b in matrix.nodes:
            table.add_column(Text(str(b), style="bold"), key=str(b), width=CELL_WIDTH)
        for a in matrix.nodes:
            table.add_row(*(self._cell(matrix, a, b) for b in matrix.nodes), key=str(a),
                          label=Text(f"node {a}", style="bold"))
        if matrix.nodes:
            table.cursor_coordinate = Coordinate(min(where.row, len(matrix.nodes) - 1),
                                                 min(where.column, len(matrix.nodes) - 1))
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

    def describe_cursor(self) -> None:
        pair = self.cursor_pair()
        cell = self.query_one("#dist-cell", Static)
        if pair is None:
            cell.update("")
            return
        a, b = pair
        matrix = self.matrix
        value = matrix.value(a, b)
        kind = matrix.kind(a, b)
        if a == b:
            words = f"node {a} \u2192 itself: 10, fixed"
        else:
            shown = "unset" if value is None else f"{value} ({kind.value})"
            link = "linked: sets both ways" if self.linked(a, b) else "unlinked: one way only"
            words = f"node {a} \u2192 node {b}: {shown} \u00b7 {link} (u)"
        cell.update(Text(words))

    @on(DataTable.CellHighlighted)
    def _highlighted(self) -> None:
        self.describe_cursor()

    # -- editing ------------------------------------------------------------------
    def action_edit(self, first: str = "") -> None:
        field = self.query_one("#dist-input", Input)
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
        a, b = pair
        if a == b:
            self.message.say(f"The distance of node {a} to itself is fixed at 10 (QEMU requires it).",
                             "error")
            return
        self.editing = pair
        value = self.matrix.value(a, b)
        open_input(self.query_one("#dist-input", Input), first or ("" if value is None else str(value)),
                   f"node {a} \u2192 node {b}")

    @on(DataTable.CellSelected)
    def _selected(self) -> None:
        self.action_edit()

    def close_input(self) -> None:
        field = self.query_one("#dist-input", Input)
        field.remove_class("shown")
        field.value = ""
        self.editing = None
        self.table.focus()

    @on(Input.Submitted, "#dist-input")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.editing is None:
            return
        a, b = self.editing
        try:
            val = parse_distance(event.value)
            edits = self.matrix.edits(a, b, val, linked=self.linked(a, b))
        except NumaError as exc:
            self.message.say(f"Refused: {exc}", "error")
            return  # the input stays open to correct
        self.close_input()
        self.send(edits, f"node {a} \u2192 node {b} = {val}"
                  + (" (and back)" if len(edits) > 1 else ""))

    def action_toggle_link(self) -> None:
        pair = self.cursor_pair()
        if pair is None or pair[0] == pair[1]:
            return
        key = (min(pair), max(pair))
        self.unlinked.symmetric_difference_update({key})
        self.message.say(f"Nodes {key[0]} and {key[1]} are {'linked' if self.linked(*key) else 'unlinked'}.")
        self.redraw([key])

    def action_fill(self) -> None:
        if self.read_only:
            self.message.say(self.read_only, "error")
            return
        edits = self.matrix.fill()
        if not edits:
            self.message.say("Every pair already has a distance.")
            return
        self.send(edits, f"{len(edits)} missing distance(s) filled")

    def action_close(self) -> None:
        if self.query_one("#dist-input", Input).has_class("shown"):
            self.close_input()
            return
        self.dismiss(None)

    # -- sending ------------------------------------------------------------------
    @work(group="distances", exclusive=False)
    async def send(self, edits: list[Distance], what: str) -> None:
        """set-numa-node type dist for each edit, in order; stop at QEMU's first refusal."""
        sent = 0
        gone: Disconnected | None = None
        async with self.step(f"setting distances ({what})"):
            try:
                for d in edits:
                    await self.vm.set_distance(d.src, d.dst, d.val)
                    sent += 1
            except Disconnected as exc:
                self.message.say(error_words(exc), "error")
                gone = exc
            except SessionError as exc:
                done = f" ({sent} of {len(edits)} sent before)" if sent else ""
                self.message.say(f"{error_words(exc)}{done}", "error")
            else:
                self.message.say(f"Sent: {what}.", "ok")
            if gone is not None:
                raise gone  # the app's step reports QEMU going away too
        if self.is_attached:
            self.redraw([(d.src, d.dst) for d in edits])
        if self.on_change is not None:
            self.on_change()
