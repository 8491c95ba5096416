"""The CPU grid: every possible slot in one Line-API widget.

Like Textual's DataTable, the grid draws itself line by line
(``render_line`` -> ``Strip``) and its cursor and selection are reactives
whose watchers repaint the rows of the slots they left and reached (as
DataTable's ``watch_cursor_coordinate``).  The layout comes from the pure, cached
:func:`numatui.tui.grid_layout.compute_layout`; each row's strip is cached
under the look of its cells (node, present, selected, cursor, pending), so a
key press re-renders only the rows whose look changed, and an assignment
(``set_topology``, same shape) compares only the slots on screen.  Every cell carries
``{"slot": index}`` and every label ``{"group": key}`` in its style meta, so
mouse handlers can hit-test with ``event.style.meta``.  The mouse gestures
(click, rubber band, drag onto a node, hover) live in
:mod:`numatui.tui.grid_mouse`; the grid forwards its mouse events there.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from functools import lru_cache
from itertools import compress
from operator import attrgetter, ne
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from numatui.model.errors import NumaError
from numatui.model.topology import Slot, SlotKey, Topology
from numatui.tui import colours
from numatui.tui.commands import bindings
from numatui.tui.drag import overlay_band
from numatui.tui.gestures import DropTarget
from numatui.tui.grid_layout import GridLayout, Row, cell_width_for, compute_layout, header_row_of
from numatui.tui.grid_mouse import GridMouse
from numatui.tui.paint import LinePainter

#: (node-id, present, selected, cursor, pending) of one slot.
Look = tuple[int | None, bool, bool, bool, bool]
#: (row, booted, focused, theme, looks of its cells): what a drawn row depends on.
RowKey = tuple[int, bool, bool, str, tuple[Look, ...]]

#: What a slot's look takes from the slot itself (``present`` is ``qom_path is not None``).
_SLOT_FACTS = attrgetter("node_id", "qom_path")

_UNDER, _REV, _UNDER_BOLD = Style(underline=True), Style(reverse=True), Style(bold=True, underline=True)


@lru_cache(maxsize=16384)
def _meta(name: str, value: object) -> Style:
    """``{name: value}`` as style meta (a cell's slot, a label's group), made once:
    ``Style.from_meta`` marshals the dict on every call, for every cell of a row."""
    return Style.from_meta({name: value})


#: Seconds a key's own change waits for the paint of QEMU's answer (CpuGrid._paint_soon).
LATE_PAINT = 0.05


def changed_slots(old: Sequence[Slot], new: Sequence[Slot], span: range) -> list[int]:
    """The indexes in ``span`` whose slot moved to another node or was plugged
    or unplugged between ``old`` and ``new`` (same shape).  C-speed passes over
    ``span`` only: the grid asks about the slots on screen."""
    if old is new:
        return []
    before = map(_SLOT_FACTS, old[span.start : span.stop])
    after = map(_SLOT_FACTS, new[span.start : span.stop])
    return list(compress(span, map(ne, before, after)))


class CpuGrid(ScrollView, LinePainter, can_focus=True):
    """Slots grouped socket > die > cluster > core > thread, with cursor and selection."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"cpugrid--header", "cpugrid--label"}
    DEFAULT_CSS = """
    CpuGrid { scrollbar-gutter: stable; background: $surface; }
    CpuGrid > .cpugrid--header { text-style: bold; color: $text; }
    CpuGrid > .cpugrid--label { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(grid=True)  # cursor and selection keys: core.actions

    class CursorMoved(Message):
        """The cursor, the selection or the hovered slot changed (for the
        status line); one still queued stands for the next (a key moving the
        cursor and the selection is one redraw of the status line).  Sent to the
        app, its one reader (as Resized): bubbling cost four loop turns a key."""

        def __init__(self, grid: CpuGrid) -> None:
            super().__init__()
            self.grid = grid

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CpuGrid.CursorMoved)

    class Resized(Message):
        """The grid's size changed (whether every row fits may have changed)."""

        def __init__(self, grid: CpuGrid) -> None:
            super().__init__()
            self.grid = grid

    class Dropped(Message):
        """The selection was dropped on ``target`` (a node-id, or NEW_NODE): assign it."""

        def __init__(self, grid: CpuGrid, target: DropTarget) -> None:
            super().__init__()
            self.grid = grid
            self.target = target

    cursor: var[int] = var(0)
    """The slot under the cursor."""
    selection: var[frozenset[int]] = var(frozenset())
    """The selected slots."""
    hovered: var[int | None] = var(None)
    """The slot under the mouse pointer (its props go to the status line)."""

    def __init__(self, topology: Topology, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.topology = topology
        self.booted = False
        self.pending: frozenset[SlotKey] = frozenset()
        self.range_anchor: int | None = None
        """Where a shift range starts (None: at the cursor)."""
        self.range_base: frozenset[int] = frozenset()
        """The selection a shift range is added to."""
        self._unpainted: frozenset[int] = frozenset()  # a selection cleared, painted late (_paint_soon)
        self._max_node = 0
        self._layout: GridLayout | None = None
        self._cpu_index: list[int] = []
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._drawn: dict[int, RowKey] = {}  # row -> strip key last drawn
        #: after boot, cells show the node-id instead of the cpu-index and mark (i);
        #: the default under NO_COLOR, where colours do not tell the nodes apart
        self.show_node_ids = bool(os.environ.get("NO_COLOR"))
        self._layout_args: tuple[int, int] | None = None  # (width, cell width) of _layout
        self._late_paint: asyncio.TimerHandle | None = None  # see _paint_soon
        self.queued: set[SlotKey] = set()
        """Slots an assignment still waiting in the controller's queue will set."""
        self.mouse = GridMouse(self)
        self._relayout()

    # -- state from the session ---------------------------------------------------
    def set_topology(
        self, topology: Topology, *, booted: bool = False, pending: Iterable[SlotKey] = ()
    ) -> None:
        """Show ``topology`` (QEMU's truth); keeps cursor and selection by slot key.

        The same shape again (an assignment, a hotplug: QEMU's reply parsed
        afresh) repaints only the rows on screen whose slots changed, so the
        cost follows the screen, not the slot count.  A new shape, or booting,
        lays out and repaints everything.
        """
        old, old_pending = self.topology, self.pending
        same_shape = topology.slot_keys is old.slot_keys or topology.slot_keys == old.slot_keys
        repaint_all = not same_shape or booted != self.booted
        self.topology = topology
        self.booted = booted
        self.pending = frozenset(pending)
        if not same_shape:
            self._keep_by_key(old)
        layout = self._layout
        self._relayout(same_shape)
        full = repaint_all or self._layout is not layout
        if full:
            self.refresh()
        rows = set() if full else self._rows_changed_since(old, old_pending)
        if self._late_paint is not None:  # a key's change waits for this paint: one pass for both
            self._repaint((), moved=False, rows=rows)  # the app follows a new topology after its frame
        elif rows:
            self._refresh_changed_rows(rows)

    def _keep_by_key(self, old: Topology) -> None:
        """After a change of shape: the cursor and selection back on their slot
        keys (no watcher: all is repainted, and the app redraws the status line)."""
        keep_cursor = old.slots[self.cursor].key if old.slots else None
        keep_sel = [old.slots[i].key for i in self.selection]
        index = {s.key: i for i, s in enumerate(self.topology.slots)}
        self.set_reactive(CpuGrid.cursor, index.get(keep_cursor, 0) if keep_cursor else 0)
        self.set_reactive(CpuGrid.selection, frozenset(index[k] for k in keep_sel if k in index))
        self.set_reactive(CpuGrid.hovered, None)
        self._unpainted = frozenset()
        self.range_anchor = None

    def _rows_changed_since(self, old: Topology, old_pending: frozenset[SlotKey]) -> set[int]:
        """Rows on screen that may look different from ``old`` (same shape): a
        slot there changed node or presence, or a pending unplug came or went."""
        layout = self._layout
        if layout is None:
            return set()
        top = self.scroll_offset.y
        span = layout.slots_on_rows(top, top + self.scrollable_content_region.height)
        slots = changed_slots(old.slots, self.topology.slots, span)
        for key in old_pending ^ self.pending:
            with suppress(NumaError):  # a pending key QEMU no longer lists
                slots.append(self.topology.index(key))
        return {layout.row_of(i) for i in slots}

    def _relayout(self, same_shape: bool = False) -> None:
        """Lay the slots out at the grid's width.  Not before the grid has a
        size (on_resize does it then: one layout, not three, at first paint);
        not again for the same shape, width and cell width."""
        slots = self.topology.slots
        self._max_node = max(self._max_node, self.topology.max_node or 0)
        self._cpu_index = []  # cpu-index per slot: computed when first drawn (after boot)
        width = self.scrollable_content_region.width if self.is_mounted else 0
        if not width:
            self._layout_args = None  # grid_layout lays out (at 80 columns if unsized) if asked before
            return
        args = (max(width, 20), cell_width_for(len(slots), self._max_node))
        if same_shape and args == self._layout_args and self._layout is not None:
            return
        self._use_layout(compute_layout(self.topology.slot_keys, *args), args)

    def _use_layout(self, layout: GridLayout, args: tuple[int, int]) -> None:
        if layout is not self._layout:  # cached strips are keyed on row numbers
            self._strips.clear()
            self._drawn.clear()
            self._layout = layout
        self._layout_args = args
        self.virtual_size = Size(layout.width, layout.height)

    @property
    def grid_layout(self) -> GridLayout:
        if self._layout is None or self._layout_args is None:
            width = self.scrollable_content_region.width if self.is_mounted else 0
            args = (max(width or 80, 20), cell_width_for(len(self.topology.slots), self._max_node))
            self._use_layout(compute_layout(self.topology.slot_keys, *args), args)
        assert self._layout is not None
        return self._layout

    def on_resize(self, event: Resize) -> None:
        self._relayout()
        self.scroll_to_cursor()
        self.app.post_message(self.Resized(self))  # whether the grid fits may have changed (the overview)

    @property
    def fits(self) -> bool:
        """Whether every row of the grid is on screen at once (True before it is laid out)."""
        if self._layout is None or self._layout_args is None:
            return True
        return self._layout.height <= self.scrollable_content_region.height

    # -- what the app asks ----------------------------------------------------------
    def target_indexes(self) -> list[int]:
        """The selection, or the cursor slot when nothing is selected."""
        if self.selection:
            return sorted(self.selection)
        return [self.cursor] if self.topology.slots else []

    def target_keys(self) -> list[SlotKey]:
        return [self.topology.slots[i].key for i in self.target_indexes()]

    def take_targets(self) -> tuple[list[SlotKey], Callable[[], None]]:
        """What an action acts on, taken as its key arrives: the target keys,
        and the selection cleared now (a key typed next starts afresh).  The
        callable gives the selection back (an action refused later), unless
        a new one was made in between."""
        keys = self.target_keys()
        if not self.selection:
            return keys, lambda: None
        self.clear_selection(paint_now=False)

        def restore() -> None:
            if not self.selection:
                self.select_keys(keys)

        return keys, restore

    def select_keys(self, keys: Iterable[SlotKey]) -> None:
        """Select the slots of ``keys`` that the topology still has."""
        found = set()
        for key in keys:
            with suppress(NumaError):  # gone with a new shape
                found.add(self.topology.index(key))
        self.selection = frozenset(found)
        self.range_anchor = None

    def clear_selection(self, *, paint_now: bool = True) -> None:
        """No slot selected; ``paint_now=False``: painted with QEMU's answer (:meth:`_paint_soon`)."""
        self.range_anchor = None
        if paint_now:
            self.selection = frozenset()
        elif self.selection:
            self._unpainted |= self.selection
            self.set_reactive(CpuGrid.selection, frozenset())
            self._paint_soon()

    def pick(self, selection: Iterable[int], cursor: int, *, anchor: int | None = None,
             base: Iterable[int] = ()) -> None:
        """Set selection and cursor at once (the mouse's way)."""
        self.selection = frozenset(selection)
        self.range_anchor, self.range_base = anchor, frozenset(base)
        self.cursor = cursor

    # -- actions --------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int, extend: bool = False) -> None:
        if not self.topology.slots:
            return
        if dy:
            target = self.grid_layout.vertical(self.cursor, dy)
        else:
            target = min(max(self.cursor + dx, 0), len(self.topology.slots) - 1)
        self._go(target, extend)

    def action_page(self, direction: int) -> None:
        """A screenful up or down: the view scrolls by it and the cursor moves
        with it, keeping its place on screen (not stuck on the bottom row)."""
        if self.topology.slots:
            rows = max(self.scrollable_content_region.height - 1, 1) * direction
            self.scroll_to(y=self.scroll_offset.y + rows, animate=False, immediate=True)
            self._go(self.grid_layout.vertical(self.cursor, rows), False)

    def go_to(self, slot: int) -> None:
        """Put the cursor on ``slot`` (the overview's jump), its socket header in view."""
        if 0 <= slot < len(self.topology.slots):
            self._go(slot, False)

    def action_jump(self, where: int) -> None:
        if self.topology.slots:
            self._go(where % len(self.topology.slots), False)

    def action_next_group(self, level: str, direction: int) -> None:
        """``]``/``[`` (``}``/``{``): the first slot of the next/previous socket (die)."""
        if not self.topology.slots:
            return
        if level not in self.topology.levels:
            self.notify(f"This board has no {level.removesuffix('-id')}s; its slots are "
                        f"{', '.join(self.topology.levels)}")
            return
        starts = self.group_starts(level)
        here = bisect_right(starts, self.cursor) - 1  # the cursor's group
        target = min(max(here + direction, 0), len(starts) - 1)
        self._go(starts[target], False)

    def group_starts(self, level: str) -> list[int]:
        """The index of the first slot of each group at ``level``, ascending."""
        depth = self.topology.levels.index(level) + 1
        slots = self.topology.slots
        return [i for i in range(len(slots)) if i == 0 or slots[i].key[:depth] != slots[i - 1].key[:depth]]

    def action_toggle_slot(self) -> None:
        self.selection ^= {self.cursor}
        self.range_anchor = None

    def action_select_group(self, level: str) -> None:
        """Add the cursor's socket (or core, ...) to the selection."""
        if level not in self.topology.levels:
            name = level.removesuffix("-id")
            self.notify(f"This board has no {name}-id; its slots are {', '.join(self.topology.levels)}")
            return
        self.selection |= set(self.group_indexes(self.cursor, level))
        self.range_anchor = None

    def group_indexes(self, index: int, level: str) -> list[int]:
        depth = self.topology.levels.index(level) + 1
        prefix = self.topology.slots[index].key[:depth]
        return [i for i, s in enumerate(self.topology.slots) if s.key[:depth] == prefix]

    def action_select_unassigned(self) -> None:
        """Every slot QEMU has on no node, less those an earlier key queued (``a`` after ``s 0``)."""
        queued = self.queued
        self.selection = frozenset(i for i, s in enumerate(self.topology.slots)
                                   if s.node_id is None and s.key not in queued)
        self.range_anchor = None

    def action_cell_labels(self) -> None:
        """``i``: after boot, cells show the node-id instead of the cpu-index (and back)."""
        self.show_node_ids = not self.show_node_ids
        self._strips.clear()  # the strip cache is keyed on the looks, not on this
        self._drawn.clear()
        self.refresh()

    def action_clear(self) -> None:
        if self.mouse.dragging:  # escape during a drag or band cancels only that
            self.mouse.cancel()
            return
        self.clear_selection()

    def _go(self, target: int, extend: bool) -> None:
        if extend:
            if self.range_anchor is None:
                self.range_anchor, self.range_base = self.cursor, self.selection
            low, high = sorted((self.range_anchor, target))
            self.selection = self.range_base.union(range(low, high + 1))
        else:
            self.range_anchor = None
        self.cursor = target
        self.hovered = None  # the status line follows the keys again

    def scroll_to_cursor(self) -> None:
        """Scroll the cursor into view, with its group headers (socket, die)
        above it when they fit on screen with it."""
        if not self.topology.slots or self._layout is None:
            return
        layout = self._layout
        row, x = layout.position[self.cursor]
        top = header_row_of(layout, row)
        height = self.scrollable_content_region.height
        if height and row - top < height:
            region = Region(x, top, layout.cell_width, row - top + 1)
        else:
            region = Region(x, row, layout.cell_width, 1)
        self.scroll_to_region(region, animate=False, immediate=True)

    def watch_cursor(self, old: int, new: int) -> None:
        self._repaint((old, new))
        self.scroll_to_cursor()

    def watch_selection(self, old: frozenset[int], new: frozenset[int]) -> None:
        self._repaint(old ^ new)

    def watch_hovered(self) -> None:
        self.app.post_message(self.CursorMoved(self))

    def _repaint(self, slots: Iterable[int], moved: bool = True, rows: Iterable[int] = ()) -> None:
        """Repaint the rows of ``slots`` (and of a selection cleared unpainted,
        :meth:`_paint_soon`, and ``rows``) that look different now: a cursor
        move looks at two rows, not at the whole screen.  ``moved``: tell the
        app (:class:`CursorMoved`), so that the panels following the cursor do."""
        if self._late_paint is not None:
            self._late_paint.cancel()
            self._late_paint = None
        slots, self._unpainted = self._unpainted.union(slots), frozenset()
        layout = self._layout
        self._refresh_changed_rows(None if layout is None else
                                   {*rows, *(layout.row_of(i) for i in slots if i < len(layout.position))})
        if moved:
            self.app.post_message(self.CursorMoved(self))

    def _paint_soon(self) -> None:
        """Paint a change made as a key arrives (the selection it took) with
        the redraw of QEMU's answer, or after LATE_PAINT seconds if that is
        late.  Painting it at once would hold the answer's paint back by up to
        a frame (Textual paints at most 60 times a second): half the keypress
        row of ``python -m numatui.bench``.  A loop timer: a Textual one is a task."""
        if self._late_paint is None:
            self._late_paint = asyncio.get_running_loop().call_later(LATE_PAINT, self._paint_late)

    def _paint_late(self) -> None:
        self._late_paint = None
        if self.is_attached:
            self._repaint(())

    def drop(self, target: DropTarget) -> None:
        """The mouse dropped the selection on ``target``."""
        self.post_message(self.Dropped(self, target))

    # -- drawing --------------------------------------------------------------------------
    def looks(self, indexes: Iterable[int]) -> tuple[Look, ...]:
        """The look of each slot of ``indexes`` (the reactives read once, not per cell)."""
        slots, selection, cursor, pending = self.topology.slots, self.selection, self.cursor, self.pending
        return tuple((s.node_id, s.present, i in selection, i == cursor, s.key in pending)
                     for i, s in ((i, slots[i]) for i in indexes))

    def look(self, index: int) -> Look:
        return self.looks((index,))[0]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        layout = self.grid_layout
        index = scroll_y + y
        if index >= layout.height:
            return Strip.blank(width, self.base_style)
        row = layout.rows[index]
        key = self._row_key(index, row, (self.booted, self.has_focus, self.app.theme))
        self._drawn[index] = key
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(row, key[-1])
            self._strips[key] = strip
        if self.mouse.band is not None:
            strip = overlay_band(strip, index, self.mouse.band)
        return strip.crop_extend(scroll_x, scroll_x + width, self.base_style)

    def _row_key(self, index: int, row: Row, state: tuple[bool, bool, str]) -> RowKey:
        """Everything row ``index`` looks like: the strip cache key (looks last).
        ``state`` is (booted, has_focus, theme), the same for every row."""
        return (index, *state, self.looks(c.slot for c in row.cells))

    def _refresh_changed_rows(self, rows: Iterable[int] | None = None) -> None:
        """Repaint the rows on screen whose look differs from what they show
        (like DataTable, only changed lines are refreshed).  ``rows``: the only
        ones that may have changed (None: any row on screen)."""
        layout = self._layout
        if layout is None or not self.is_mounted or self.mouse.band is not None:
            self.refresh()  # a rubber band is drawn over rows whatever they hold
            return
        state = (self.booted, self.has_focus, self.app.theme)
        top = self.scroll_offset.y
        on_screen = range(top, min(top + self.scrollable_content_region.height, layout.height))
        candidates = on_screen if rows is None else sorted(r for r in set(rows) if r in on_screen)
        for index in candidates:
            if self._drawn.get(index) != self._row_key(index, layout.rows[index], state):
                self.refresh_line(index)

    def _render_row(self, row: Row, looks: tuple[Look, ...]) -> Strip:
        base = self.base_style
        if row.kind == "header":
            style = base + self.get_component_rich_style("cpugrid--header")
            pad = " " * (row.depth * 2)
            meta = _meta("group", row.group)
            return Strip([Segment(pad, base), Segment(row.text, style + meta)])
        segments: list[Segment] = []
        x = 0
        label_style = base + self.get_component_rich_style("cpugrid--label")
        items: list[tuple[int, Segment, bool]] = [
            (lab.x, Segment(lab.text, label_style + _meta("group", lab.group)), False)
            for lab in row.labels
        ]
        items += [
            (c.x, self._cell(c.slot, look), True)
            for c, look in zip(row.cells, looks, strict=True)
        ]
        items.sort(key=lambda item: item[0])
        for at, segment, is_cell in items:
            if at > x:
                segments.append(Segment(" " * (at - x), base))
            segments.append(segment)
            x = at + segment.cell_length
            if is_cell:  # the last column of a cell is a gap in the grid's colour
                segments.append(Segment(" ", base))
                x += 1
        return Strip(segments, x)

    def _cell(self, index: int, look: Look) -> Segment:
        node, present, selected, cursor, pending = look
        inner = self.grid_layout.cell_width - 3
        if self.booted:
            mark, style = colours.node_mark(node), colours.node_style(node)
            if present and self.show_node_ids:
                text, mark = colours.UNASSIGNED_TEXT if node is None else str(node), " "
            elif present:
                if not self._cpu_index:
                    self._cpu_index = [r.start for r in self.topology.cpu_indexes().values()]
                text = str(self._cpu_index[index])
            else:
                text, style = colours.EMPTY_TEXT, colours.empty_style(node)
            if pending:
                mark = colours.PENDING_MARK
        elif node is None:
            text, mark, style = colours.UNASSIGNED_TEXT, " ", colours.node_style(None)
        else:
            text, mark, style = str(node), colours.LOCK_MARK, colours.node_style(node)
        lead = colours.SELECTED_MARK if selected else " "
        if selected:
            style += _UNDER
        if cursor:
            style += _REV if self.has_focus else _UNDER_BOLD
        return Segment(f"{lead}{text:>{inner}}{mark}", style + _meta("slot", index))

    # -- keys and mouse (numatui.tui.grid_mouse) ------------------------------------------
    def on_key(self, event: events.Key) -> None:
        """A key straight to the app, where every binding is looked up (the
        grid's own too): bubbling, it would wait a loop turn in each of the
        three containers above the grid, which take no keys."""
        event.stop()
        self.app.post_message(event)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.mouse.down(event)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.mouse.move(event)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self.mouse.up(event)

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        """The capture was taken away (another widget captured the mouse)."""
        if self.mouse.gesture is not None:
            self.mouse.cancel()

    def on_leave(self, event: events.Leave) -> None:
        if self.mouse.gesture is None:
            self.mouse.hover(None)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
