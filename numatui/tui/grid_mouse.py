"""The CPU grid's mouse: click, rubber band, drag onto a node, hover.

:class:`GridMouse` is owned by the grid, which forwards its mouse events
here.  The rules live in the pure :mod:`numatui.tui.gestures`; the pictures
(ghost, band, highlighted target) in :mod:`numatui.tui.drag`.  The pattern is
Textual's: ``capture_mouse()`` on the press, follow every move while our own
gesture is open (Pilot's ``hover`` reports button 0, so the button is never
read there), ``release_mouse()`` on the release.  A drop posts
:class:`CpuGrid.Dropped <numatui.tui.grid.CpuGrid.Dropped>`; the app assigns
through the same path as the digit keys.  Nothing here talks to QEMU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from textual import events

from numatui.tui.drag import DragGhost, DropZone, drop_zone_at, drop_zones
from numatui.tui.gestures import (
    Band,
    DropTarget,
    Gesture,
    Point,
    band_slots,
    click_group,
    click_slot,
    group_slots,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.app import App
    from textual.geometry import Offset, Region
    from textual.screen import Screen

    from numatui.model.topology import Topology
    from numatui.tui.grid_layout import GridLayout


class MouseGrid(Protocol):
    """What the mouse needs of the grid (:class:`numatui.tui.grid.CpuGrid`)."""

    topology: Topology
    selection: frozenset[int]
    cursor: int
    hovered: int | None
    booted: bool
    range_anchor: int | None
    range_base: frozenset[int]

    @property
    def grid_layout(self) -> GridLayout: ...
    @property
    def screen(self) -> Screen[Any]: ...
    @property
    def app(self) -> App[Any]: ...
    @property
    def scroll_offset(self) -> Offset: ...
    @property
    def scrollable_content_region(self) -> Region: ...
    def pick(self, selection: Iterable[int], cursor: int, *, anchor: int | None = None,
             base: Iterable[int] = ()) -> None: ...
    def drop(self, target: DropTarget) -> None: ...
    def capture_mouse(self, capture: bool = True) -> None: ...
    def release_mouse(self) -> None: ...
    def focus(self, scroll_visible: bool = True) -> Any: ...
    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Any: ...
    def scroll_relative(self, x: float | None = None, y: float | None = None, *,
                        animate: bool = True, immediate: bool = False) -> None: ...
    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...


class GridMouse:
    """The gesture in progress on one grid, if any."""

    def __init__(self, grid: MouseGrid) -> None:
        self.grid = grid
        self.gesture: Gesture | None = None
        self.band: Band | None = None  # drawn by the grid while a band is open
        self._ghost: DragGhost | None = None
        self._zones: list[DropZone] = []

    @property
    def dragging(self) -> bool:
        """True while a band or a drag is open (escape cancels it)."""
        return self.gesture is not None and self.gesture.mode != "press"

    def grid_point(self, x: int, y: int) -> Point:
        """Screen ``(x, y)`` in grid coordinates (column and line of the whole grid)."""
        region = self.grid.scrollable_content_region
        scroll = self.grid.scroll_offset
        return (x - region.x + scroll.x, y - region.y + scroll.y)

    # -- events -------------------------------------------------------------------------
    def down(self, event: events.MouseDown) -> None:
        grid = self.grid
        if event.button != 1 or not grid.topology.slots:
            return
        if self.gesture is not None:  # a release the terminal never reported
            self.cancel()
        meta = event.style.meta
        slot, group = meta.get("slot"), meta.get("group")
        kind: Literal["slot", "group", "space"] = (
            "slot" if slot is not None else "group" if group is not None else "space"
        )
        self.gesture = Gesture(
            kind=kind,
            origin=self.grid_point(event.screen_x, event.screen_y),
            screen_origin=(event.screen_x, event.screen_y),
            slot=slot,
            group=tuple((str(k), int(v)) for k, v in group) if group is not None else None,
            additive=event.ctrl or event.shift or event.meta,
            base=frozenset(grid.selection),
        )
        grid.capture_mouse()
        grid.focus()
        event.stop()

    def move(self, event: events.MouseMove) -> None:
        gesture = self.gesture
        if gesture is None:
            self.hover(event.style.meta.get("slot"))
            return
        at = (event.screen_x, event.screen_y)
        if gesture.moved(at, can_move=not self.grid.booted):
            self._start(gesture)
        if gesture.mode == "band":
            self._band_to(gesture, at)
        elif gesture.mode == "move":
            self._drag_to(gesture, at)
        event.stop()

    def up(self, event: events.MouseUp) -> None:
        gesture = self.gesture
        if gesture is None:
            return
        at = (event.screen_x, event.screen_y)
        if gesture.mode == "move":
            zone = drop_zone_at(self.grid.screen, *at)
            target = zone.drop_target_at(*at) if zone is not None else None
            self._finish()
            if target is None:
                self.grid.notify("Nothing changed: drop the slots on a node in the Nodes panel.",
                                 title="Drag cancelled", timeout=4)
            else:
                self.grid.drop(target)
        elif gesture.mode == "band":
            self._band_to(gesture, at)
            self._finish()
        else:
            self._finish()
            self._click(gesture, event)
        event.stop()

    def cancel(self) -> None:
        """Escape (or a lost capture): end the gesture, restore the selection it changed."""
        gesture = self.gesture
        if gesture is None:
            return
        self._finish()
        if gesture.mode != "press":
            self.grid.pick(gesture.base, self.grid.cursor)

    def hover(self, slot: int | None) -> None:
        self.grid.hovered = slot

    # -- the gestures ---------------------------------------------------------------------
    def _click(self, gesture: Gesture, event: events.MouseUp) -> None:
        grid = self.grid
        if gesture.kind == "slot" and gesture.slot is not None:
            pick = click_slot(grid.selection, grid.cursor, grid.range_anchor,
                              grid.range_base, gesture.slot,
                              toggle=event.ctrl or event.meta, extend=event.shift)
            grid.pick(pick.selection, pick.cursor, anchor=pick.anchor, base=pick.base)
        elif gesture.kind == "group" and gesture.group is not None:
            members = group_slots([s.key for s in grid.topology.slots], gesture.group)
            if members:
                chosen = click_group(grid.selection, members, add=gesture.additive)
                grid.pick(chosen, members[0])
        elif not gesture.additive:  # a click on empty space clears the selection
            grid.pick(frozenset(), grid.cursor)

    def _start(self, gesture: Gesture) -> None:
        grid = self.grid
        if gesture.mode == "move":
            assert gesture.slot is not None
            if gesture.slot not in grid.selection:  # drag what was pressed
                grid.pick(frozenset({gesture.slot}), gesture.slot)
            gesture.base = frozenset(grid.selection)
            self._zones = drop_zones(grid.screen)
            self._ghost = DragGhost()
            grid.screen.mount(self._ghost)
        self.hover(None)

    def _band_to(self, gesture: Gesture, at: Point) -> None:
        grid = self.grid
        region = grid.scrollable_content_region
        if at[1] < region.y:  # past the edge: scroll along
            grid.scroll_relative(y=-1, animate=False, immediate=True)
        elif at[1] >= region.bottom:
            grid.scroll_relative(y=1, animate=False, immediate=True)
        layout = grid.grid_layout
        width = max(layout.width, region.width + grid.scroll_offset.x)
        band = Band.spanning(gesture.origin, self.grid_point(*at)).clamp(width, layout.height)
        if band != self.band:
            self.band = band
            base = gesture.base if gesture.additive else frozenset()
            grid.pick(base | band_slots(layout, band), grid.cursor)

    def _drag_to(self, gesture: Gesture, at: Point) -> None:
        zone = drop_zone_at(self.grid.screen, *at)
        target: DropTarget | None = zone.drop_target_at(*at) if zone is not None else None
        gesture.target = target
        for each in self._zones:
            each.show_drop(True, target if each is zone else None)
        if self._ghost is not None:
            slots = self.grid.topology.slots
            nodes = {slots[i].node_id for i in self.grid.selection}
            self._ghost.show_at(*at, len(self.grid.selection), nodes, target)

    def _finish(self) -> None:
        self.gesture = None
        if self.band is not None:
            self.band = None
            self.grid.refresh()
        for zone in self._zones:
            zone.show_drop(False, None)
        self._zones = []
        if self._ghost is not None:
            self._ghost.remove()
            self._ghost = None
        if self.grid.app.mouse_captured is self.grid:  # type: ignore[comparison-overlap]
            self.grid.release_mouse()
