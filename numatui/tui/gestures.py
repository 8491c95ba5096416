"""Mouse gestures on the CPU grid as pure functions: no Textual, no QEMU.

The grid (:mod:`numatui.tui.grid`) turns mouse events into calls here and
draws the result; everything that can be decided from the layout alone is
decided here, so it is unit-tested without a terminal.

Rules (the help screen says the same):

- **click** a slot: the cursor goes there and the selection is that slot;
- **ctrl+click** (or alt+click) adds the slot to the selection or removes it;
- **shift+click** selects every slot from the cursor (the last clicked slot)
  to the clicked one *in topology order*, the order QEMU numbers them
  (socket, die, cluster, core, thread), on top of what was selected before
  the first shift+click: the same rule as shift+arrows;
- **click a group label** (socket/die header, core label): the group's slots
  become the selection (with ctrl or shift: added, or removed when all of
  them were selected already);
- **press on empty space and drag**: a rubber band; the slots whose cells it
  touches are selected (with ctrl or shift: added to the selection);
- **press on a slot and drag** (preconfig only): the selection travels with
  the pointer and is assigned to the node it is released on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from numatui.model.topology import SlotKey
from numatui.tui.grid_layout import GridLayout

#: The "new node" drop target: add a node live, then assign to it.
NEW_NODE: Literal["new"] = "new"
#: A node-id, or :data:`NEW_NODE`.
DropTarget = int | Literal["new"]

Point = tuple[int, int]  # (x, y)


@dataclass(frozen=True)
class Band:
    """A rubber-band rectangle in grid coordinates (column, line), inclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def spanning(cls, a: Point, b: Point) -> Band:
        """The rectangle with corners ``a`` and ``b``, in any order."""
        (x0, y0), (x1, y1) = a, b
        return cls(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def clamp(self, width: int, height: int) -> Band:
        """Keep the band inside a ``width`` x ``height`` area (the pointer may leave it)."""
        def fit(v: int, size: int) -> int:
            return min(max(v, 0), max(size - 1, 0))

        return Band(fit(self.left, width), fit(self.top, height),
                    fit(self.right, width), fit(self.bottom, height))

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1


def band_slots(layout: GridLayout, band: Band) -> frozenset[int]:
    """The slots whose cells the band touches (a cell's last column is a gap)."""
    body = max(layout.cell_width - 1, 1)
    found: set[int] = set()
    for line in range(max(band.top, 0), min(band.bottom, layout.height - 1) + 1):
        for cell in layout.rows[line].cells:
            if cell.x <= band.right and band.left <= cell.x + body - 1:
                found.add(cell.slot)
    return frozenset(found)


@dataclass(frozen=True)
class Pick:
    """The grid's selection state after a click."""

    selection: frozenset[int]
    cursor: int
    anchor: int | None  # where shift+click ranges start (None: at the cursor)
    base: frozenset[int]  # what a shift range is added to


def click_slot(selection: Iterable[int], cursor: int, anchor: int | None, base: Iterable[int], slot: int,
               *, toggle: bool = False, extend: bool = False) -> Pick:
    """A click on ``slot``; ``toggle`` is ctrl/alt, ``extend`` is shift (wins over toggle)."""
    current = frozenset(selection)
    if extend:
        if anchor is None:
            anchor, base = cursor, current
        low, high = sorted((anchor, slot))
        return Pick(frozenset(base) | frozenset(range(low, high + 1)), slot, anchor, frozenset(base))
    return Pick(current ^ {slot} if toggle else frozenset({slot}), slot, None, frozenset())


def group_slots(keys: Sequence[SlotKey], group: SlotKey) -> list[int]:
    """Indexes of the slots inside ``group`` (a key prefix such as socket 1's)."""
    depth = len(group)
    return [i for i, key in enumerate(keys) if key[:depth] == group]


def click_group(selection: Iterable[int], members: Sequence[int], *, add: bool = False) -> frozenset[int]:
    """A click on a group label: the group alone; with ``add``, toggled into the selection."""
    current, group = frozenset(selection), frozenset(members)
    if not add:
        return group
    return current - group if group <= current else current | group


@dataclass
class Gesture:
    """One press of the mouse button on the grid, until it is released.

    ``kind`` says what was pressed.  The gesture stays a ``"press"`` until the
    pointer moves to another cell; it then becomes a ``"move"`` (pressed on a
    slot while slots can still be assigned) or a ``"band"``.
    """

    kind: Literal["slot", "group", "space"]
    origin: Point  # grid coordinates of the press
    screen_origin: Point
    slot: int | None = None
    group: SlotKey | None = None
    additive: bool = False  # ctrl or shift held: add to the selection
    base: frozenset[int] = frozenset()  # the selection when the press started
    mode: Literal["press", "band", "move"] = "press"
    target: DropTarget | None = None  # the drop target under the pointer (move)

    def moved(self, screen: Point, *, can_move: bool) -> bool:
        """Note the pointer at ``screen``; True when this turned the press into a drag."""
        if self.mode != "press" or screen == self.screen_origin:
            return False
        self.mode = "move" if self.kind == "slot" and can_move and not self.additive else "band"
        return True


def ghost_text(count: int, target: DropTarget | None) -> str:
    """What the drag ghost says: how many slots, and where they would go."""
    where = ("· drop on a node" if target is None
             else "→ new node" if target == NEW_NODE else f"→ node {target}")
    return f" ⠿ {count} slot{'' if count == 1 else 's'} {where} "
