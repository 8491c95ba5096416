"""Where every CPU slot sits in the grid: pure layout math, no Textual.

The grid shows the topology tree as QEMU names it.  Levels above the last two
(socket, die, cluster, ...) get a header row each, indented by depth.  The
level just above the leaf (the *unit*: a core on x86) is drawn as a short
label followed by its slots side by side; units flow left to right and wrap
at the grid's width.  A board with a single level (ppc64 pseries: core-id
only) draws every slot as its own unit.

:func:`compute_layout` is cached: it runs once per topology shape and width,
never per frame.  Cursor movement (:meth:`GridLayout.vertical`) is answered
from precomputed rows, so it costs the same at 8 slots and at 4096.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from numatui.model.topology import LEVEL_NAMES, SlotKey

#: How a unit label abbreviates its level ("c3" is core 3).
SHORT_NAMES: dict[str, str] = {
    "drawer-id": "dr",
    "book-id": "b",
    "socket-id": "s",
    "die-id": "d",
    "module-id": "m",
    "cluster-id": "cl",
    "core-id": "c",
    "thread-id": "t",
}

INDENT = 2  # columns per header depth
UNIT_GAP = 2  # columns between two units on a row


class Cell(NamedTuple):
    """One slot drawn at column ``x`` (``cell_width`` columns wide).  A named
    tuple, as Label: a 4096-slot layout makes 4096 of them at first paint (a
    frozen dataclass costs three times as much to make)."""

    x: int
    slot: int  # index into Topology.slots


class Label(NamedTuple):
    """A unit label ("c3") at column ``x``; ``group`` is the unit's prefix key."""

    x: int
    text: str
    group: SlotKey


@dataclass(frozen=True)
class Row:
    """One line of the grid: a group header, a row of units, or a blank."""

    kind: str  # "header" | "cells" | "blank"
    depth: int = 0
    text: str = ""
    group: SlotKey = ()
    labels: tuple[Label, ...] = ()
    cells: tuple[Cell, ...] = ()


@dataclass(frozen=True)
class GridLayout:
    rows: tuple[Row, ...]
    width: int  # columns the widest row needs
    cell_width: int
    label_width: int
    position: tuple[tuple[int, int], ...]  # slot index -> (row, x)
    cell_rows: tuple[int, ...]  # indexes of rows holding cells, ascending

    @property
    def height(self) -> int:
        return len(self.rows)

    def row_of(self, slot: int) -> int:
        return self.position[slot][0]

    def slots_on_rows(self, top: int, bottom: int) -> range:
        """The slots drawn on rows ``top`` to ``bottom - 1`` (a screenful).

        Cell rows hold consecutive slots in order, so they form one range,
        found in O(log rows) whatever the slot count.
        """
        first = bisect_left(self.cell_rows, top)
        last = bisect_left(self.cell_rows, bottom) - 1
        if first > last:
            return range(0)
        return range(self.rows[self.cell_rows[first]].cells[0].slot,
                      self.rows[self.cell_rows[last]].cells[-1].slot + 1)

    def nearest_in_row(self, row: int, x: int) -> int:
        """The slot of cell row ``row`` whose column is closest to ``x``."""
        cells = self.rows[row].cells
        xs = [c.x for c in cells]
        i = bisect_left(xs, x)
        if i >= len(cells):
            return cells[-1].slot
        if i > 0 and x - xs[i - 1] < xs[i] - x:
            return cells[i - 1].slot
        return cells[i].slot

    def vertical(self, slot: int, rows: int) -> int:
        """The slot ``rows`` lines down (negative: up), keeping the column.

        Moves at least one cell row when possible, and clamps at the ends.
        """
        if not self.cell_rows:
            return slot
        row, x = self.position[slot]
        here = bisect_left(self.cell_rows, row)
        if rows > 0:
            target = bisect_left(self.cell_rows, row + rows)
            target = max(target, here + 1)
            target = min(target, len(self.cell_rows) - 1)
        else:
            target = bisect_left(self.cell_rows, row + rows + 1) - 1
            target = min(target, here - 1)
            target = max(target, 0)
        return self.nearest_in_row(self.cell_rows[target], x)


def unit_label(key: SlotKey) -> str:
    """"c3" for core 3: the short name of the key's last prop."""
    if not key:
        return ""
    prop, value = key[-1]
    return f"{SHORT_NAMES.get(prop, prop[:1])}{value}"


def header_label(key: SlotKey) -> str:
    """"socket 1" for the group with key ``(..., ("socket-id", 1))``."""
    prop, value = key[-1]
    return f"{LEVEL_NAMES.get(prop, prop)} {value}"


def cell_width_for(slots: int, max_node: int = 0) -> int:
    """Columns per cell: a pad, the widest cpu-index or node-id, a mark and a gap."""
    inner = max(2, len(str(max(slots - 1, 0))), len(str(max_node)))
    return inner + 3


@lru_cache(maxsize=16)
def compute_layout(keys: tuple[SlotKey, ...], width: int, cell_width: int) -> GridLayout:
    """Lay out slots (their keys in topology order) for a grid ``width`` columns wide."""
    depth = max((len(k) for k in keys), default=0)
    unit_depth = max(depth - 1, 0)  # units group by the key minus its leaf
    headers = max(depth - 2, 0)  # header levels above the units

    # Units: consecutive slots sharing the unit prefix.
    units: list[tuple[SlotKey, list[int]]] = []
    for i, key in enumerate(keys):
        prefix = key[:unit_depth] if depth > 1 else key
        if units and units[-1][0] == prefix:
            units[-1][1].append(i)
        else:
            units.append((prefix, [i]))
    label_width = max((len(unit_label(p)) for p, _ in units), default=0)
    per_unit = max((len(m) for _, m in units), default=1)
    unit_width = label_width + 1 + per_unit * cell_width

    indent = headers * INDENT
    avail = max(width - indent, unit_width)
    per_row = max(1, (avail + UNIT_GAP) // (unit_width + UNIT_GAP))

    rows: list[Row] = []
    position: list[tuple[int, int]] = [(0, 0)] * len(keys)
    cell_rows: list[int] = []
    widest = 0
    open_headers: tuple[SlotKey, ...] = ()
    pending: list[tuple[SlotKey, list[int]]] = []

    def flush() -> None:
        nonlocal widest
        for start in range(0, len(pending), per_row):
            chunk = pending[start : start + per_row]
            labels: list[Label] = []
            cells: list[Cell] = []
            x = indent
            row_index = len(rows)
            for prefix, members in chunk:
                text = unit_label(prefix)
                labels.append(Label(x, text.rjust(label_width), prefix))
                cx = x + label_width + 1
                for m in members:
                    cells.append(Cell(cx, m))
                    position[m] = (row_index, cx)
                    cx += cell_width
                x += unit_width + UNIT_GAP
            widest = max(widest, x - UNIT_GAP)
            cell_rows.append(row_index)
            rows.append(Row("cells", depth=headers, labels=tuple(labels), cells=tuple(cells)))
        pending.clear()

    for prefix, members in units:
        chain = tuple(prefix[: d + 1] for d in range(headers))
        if chain != open_headers:
            flush()
            same = 0
            while same < min(len(chain), len(open_headers)) and chain[same] == open_headers[same]:
                same += 1
            for d in range(same, headers):
                if d == 0 and rows:
                    rows.append(Row("blank"))
                text = header_label(chain[d])
                rows.append(Row("header", depth=d, text=text, group=chain[d]))
                widest = max(widest, d * INDENT + len(text))
            open_headers = chain
        pending.append((prefix, members))
    flush()
    return GridLayout(
        rows=tuple(rows),
        width=widest,
        cell_width=cell_width,
        label_width=label_width,
        position=tuple(position),
        cell_rows=tuple(cell_rows),
    )


def header_row_of(layout: GridLayout, row: int) -> int:
    """The first header row above ``row`` of the top-level group (socket)
    holding it (``row`` itself when there is none)."""
    top = row
    for r in range(row - 1, -1, -1):
        kind = layout.rows[r].kind
        if kind == "blank":
            break
        if kind == "header":
            top = r
            if layout.rows[r].depth == 0:
                break
    return top
