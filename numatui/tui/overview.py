"""The overview: the whole machine at a glance when the grid does not fit.

One line per socket (per top-level group), its cores as cells coloured by
node (``█`` one node, ``▒`` a cell whose slots are on several, ``·`` none);
a socket with more cores than fit is drawn in chunks of whole cores.  The
grid's cursor is marked (``◆``).  ``o`` focuses it (arrows move its own
cursor, enter or a click moves the grid's cursor there and gives the grid
the focus back; ``o``/escape go back without moving).

:func:`overview_cells` is the pure layout; the widget only draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.message import Message
from textual.strip import Strip

from numatui.model.topology import SlotKey, Topology
from numatui.tui import colours
from numatui.tui.commands import bindings
from numatui.tui.grid_layout import unit_label
from numatui.tui.paint import LinePainter

if TYPE_CHECKING:
    from numatui.tui.grid import CpuGrid

LABEL = 5  # columns of a line's label ("s12 ")


@dataclass(frozen=True)
class Line:
    """One socket: its label and its cells (each a range of slot indexes)."""

    label: str
    cells: tuple[range, ...]


@lru_cache(maxsize=8)
def overview_cells(keys: tuple[SlotKey, ...], width: int) -> tuple[Line, ...]:
    """Lines of cells for slots ``keys`` (topology order), ``width`` columns."""
    if not keys:
        return ()
    depth = max(len(k) for k in keys)
    unit = max(depth - 1, 1)  # a core: the key less its thread
    lines: list[Line] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i < len(keys) and keys[i][:1] == keys[start][:1]:
            continue
        units: list[range] = []
        u0 = start
        for j in range(start + 1, i + 1):
            if j == i or keys[j][:unit] != keys[u0][:unit]:
                units.append(range(u0, j))
                u0 = j
        room = max(width - LABEL, 4)
        per = -(-len(units) // room)  # whole cores per cell
        cells = tuple(range(units[c].start, units[min(c + per, len(units)) - 1].stop)
                      for c in range(0, len(units), per))
        lines.append(Line(unit_label(keys[start][:1]), cells))
        start = i
    return tuple(lines)


_DIM = Style(dim=True)
_MARK = Style(bold=True, bgcolor="#ffffff")
_REVERSE = Style(reverse=True)


@lru_cache(maxsize=256)
def _cell_look(nodes: frozenset[int | None]) -> tuple[str, Style]:
    """A cell's glyph and style: one node's colour, ``▒`` in the lowest node's
    colour when its slots are on several, or the unassigned look."""
    if len(nodes) > 1:
        first = min(x for x in nodes if x is not None)
        return "▒", Style(color=colours.node_colour(first))
    node = next(iter(nodes), None)
    if node is None:
        return colours.UNASSIGNED_TEXT, Style(color=colours.UNASSIGNED_FG)
    return "█", Style(color=colours.node_colour(node))


class Overview(LinePainter, can_focus=True):
    """Every socket in a line, coloured by node; the cursor marked."""

    DEFAULT_CSS = """
    Overview { height: auto; padding: 0 1; margin-top: 1; }
    Overview:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(overview=True)  # from core.actions

    class Jump(Message):
        """Move the grid's cursor to ``slot`` (None: only give the grid the focus back)."""

        def __init__(self, slot: int | None) -> None:
            super().__init__()
            self.slot = slot

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.topology: Topology | None = None
        self.grid_cursor = 0
        self.at = (0, 0)  # (line, cell) of the overview's own cursor
        self._shown: tuple[object, ...] | None = None
        self._strips: dict[int, tuple[object, Strip]] = {}  # y -> (what it shows, its strip)
        self._lines: tuple[tuple[SlotKey, ...], int, tuple[Line, ...]] | None = None  # see lines()

    def lines(self, width: int | None = None) -> tuple[Line, ...]:
        """The lines at ``width`` columns (default: the widget's; none before it has a size)."""
        width = self.content_region.width if width is None else width
        if self.topology is None or width <= 0:
            return ()
        keys = self.topology.slot_keys  # one tuple per shape: known by identity, not by hashing it
        if self._lines is None or self._lines[0] is not keys or self._lines[1] != width:
            self._lines = (keys, width, overview_cells(keys, width))
        return self._lines[2]

    def show(self, topology: Topology, cursor: int) -> None:
        """Redraw for ``topology`` with the grid's cursor on slot ``cursor``: only
        when the cursor's cell changed (a cell holds a core or more), or the rest."""
        self.topology, self.grid_cursor = topology, cursor
        key = (topology, self.where(cursor), self.at, self.has_focus)
        # the topology compared by identity: a re-read is a new one, and
        # comparing two slot by slot costs more than the redraw
        shown = self._shown
        if shown is not None and shown[0] is topology and shown[1:] == key[1:]:
            return
        self._shown = key
        self.refresh(layout=self.size.height != len(self.lines()) or not self.size.height)

    def follow(self, grid: CpuGrid) -> None:
        """Shown when the grid does not fit (or while it has the focus), marking the grid's cursor."""
        shown = self.has_focus or not grid.fits
        if self.display != shown:
            self.display = shown
        if shown:
            self.show(grid.topology, grid.cursor)

    def where(self, slot: int) -> tuple[int, int]:
        for n, line in enumerate(self.lines()):
            if line.cells and line.cells[0].start <= slot < line.cells[-1].stop:
                for c, cell in enumerate(line.cells):
                    if slot in cell:
                        return n, c
        return 0, 0

    def render_line(self, y: int) -> Strip:
        """Line ``y``: its label, then runs of equal cells (each run one
        segment), kept until the line looks different (a key press changes one
        line or two)."""
        width = self.content_region.width
        base = self.base_style
        lines = self.lines()
        if self.topology is None or y >= len(lines):
            return Strip.blank(width, base)
        line, slots = lines[y], self.topology.slots
        mark, at = self.where(self.grid_cursor), self.at if self.has_focus else None
        looks = tuple(
            (_cell_look(frozenset(slots[i].node_id for i in cell)), (y, c) == mark, (y, c) == at)
            for c, cell in enumerate(line.cells))
        key = (line.label, looks, base, width)
        drawn = self._strips.get(y)
        if drawn is None or drawn[0] != key:
            segments = [Segment(f"{line.label:<{LABEL - 1}} ", base + _DIM)]
            for (glyph, style), marked, cursor in looks:
                if marked:
                    glyph, style = "◆", style + _MARK
                if cursor:
                    style += _REVERSE
                style = base + style
                if segments[-1].style == style:  # equal cells side by side: one segment
                    segments[-1] = Segment(segments[-1].text + glyph, style)
                else:
                    segments.append(Segment(glyph, style))
            drawn = (key, Strip(segments).crop_extend(0, width, base))
            self._strips[y] = drawn
        return drawn[1]

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(len(self.lines(width)), 1)

    # -- keys and mouse ---------------------------------------------------------
    def on_focus(self) -> None:
        self.at = self.where(self.grid_cursor)
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_step(self, dy: int, dx: int) -> None:
        lines = self.lines()
        if not lines:
            return
        n = min(max(self.at[0] + dy, 0), len(lines) - 1)
        c = min(max(self.at[1] + dx, 0), len(lines[n].cells) - 1)
        self.at = (n, c)
        self.refresh()

    def action_go(self) -> None:
        lines = self.lines()
        if lines:
            n, c = self.at
            self.post_message(self.Jump(lines[n].cells[c].start))

    def on_click(self, event: events.Click) -> None:
        """A click on a cell: the grid's cursor goes there."""
        lines = self.lines()
        x = event.x - self.styles.padding.left - LABEL
        if 0 <= event.y < len(lines) and 0 <= x < len(lines[event.y].cells):
            event.stop()
            self.post_message(self.Jump(lines[event.y].cells[x].start))

    def action_back(self) -> None:
        self.post_message(self.Jump(None))
