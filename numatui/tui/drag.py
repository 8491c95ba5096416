"""What a drag looks like: the ghost that follows the pointer, the rubber band
drawn over the grid, and finding the drop target under the pointer.

Textual has no drag and drop; the grid captures the mouse on a press
(``capture_mouse``), follows it here, and releases it on the button's release.
Drop targets are widgets with a ``drop_target_at(x, y)`` method (screen
coordinates), which answers a node-id, :data:`~numatui.tui.gestures.NEW_NODE`
or None; the nodes panel is one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rich.segment import Segment
from rich.style import Style
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Static

from numatui.tui import colours
from numatui.tui.gestures import NEW_NODE, Band, DropTarget, ghost_text

BAND_EDGE = Style(color="#facc15", bold=True)
BAND_FILL = Style(bgcolor="#1e3a5f")
MIXED_COLOUR = "#e5e7eb"  # the ghost of slots on several nodes


@runtime_checkable
class DropZone(Protocol):
    def drop_target_at(self, x: int, y: int) -> DropTarget | None: ...

    def show_drop(self, dragging: bool, target: DropTarget | None) -> None: ...


def drop_zone_at(screen: Screen[object], x: int, y: int) -> DropZone | None:
    """The drop zone under screen point ``(x, y)`` (the ghost is looked through)."""
    for widget, _region in screen.get_widgets_at(x, y):
        if not isinstance(widget, DragGhost):
            return next((n for n in widget.ancestors_with_self if isinstance(n, DropZone)), None)
    return None


def drop_zones(screen: Screen[object]) -> list[DropZone]:
    return [w for w in screen.query("*") if isinstance(w, DropZone)]


class DragGhost(Static):
    """The dragged slots, as a label beside the pointer: count, colour, target."""

    DEFAULT_CSS = """
    DragGhost {
        position: absolute; overlay: screen; constrain: inside inside;
        width: auto; height: 1; text-style: bold;
    }
    """

    def show_at(self, x: int, y: int, count: int, nodes: set[int | None],
                target: DropTarget | None) -> None:
        """Put the ghost just below and right of the pointer at ``(x, y)``."""
        if isinstance(target, int):
            colour = colours.node_colour(target)
        elif len(nodes) == 1:
            (node,) = nodes
            colour = colours.UNASSIGNED_BG if node is None else colours.node_colour(node)
        else:
            colour = MIXED_COLOUR
        text = ghost_text(count, target)
        self.styles.background = colour
        self.styles.color = "#ffffff" if colour == colours.UNASSIGNED_BG else "#000000"
        self.styles.border_left = ("outer", "#ffffff") if target == NEW_NODE else None
        self.update(text)
        width = self.app.size.width
        left = x + 2 if x + 2 + len(text) <= width else max(x - len(text) - 1, 0)
        self.styles.offset = (left, y + 1)


def overlay_band(strip: Strip, line: int, band: Band) -> Strip:
    """Draw ``band`` on the grid line ``line`` (grid coordinates, before scrolling).

    Cells keep their text and colours (they show as selected already); the
    space around them is tinted and the edges drawn where there is room.
    """
    if not band.top <= line <= band.bottom:
        return strip
    strip = strip.extend_cell_length(band.right + 1)
    before = strip.crop(0, band.left)
    inside = strip.crop(band.left, band.right + 1)
    after = strip.crop(band.right + 1, strip.cell_length)
    edge_row = line in (band.top, band.bottom) and band.height > 1
    segments: list[Segment] = []
    column = band.left
    for text, style, _control in inside:
        meta = style.meta if style is not None else {}
        for char in text:
            if "slot" in meta:
                segments.append(Segment(char, style))
            elif char == " ":
                mark = _edge(column, line, band, edge_row)
                fill = (style or Style()) + BAND_FILL
                segments.append(Segment(mark, fill + BAND_EDGE if mark != " " else fill))
            else:
                segments.append(Segment(char, (style or Style()) + BAND_FILL))
            column += 1
    return Strip([*before, *Segment.simplify(segments), *after])


def _edge(x: int, y: int, band: Band, edge_row: bool) -> str:
    left, right = x == band.left, x == band.right
    if band.height == 1:
        return "[" if left else "]" if right else " "
    if edge_row:
        top = y == band.top
        if left:
            return "┌" if top else "└"
        if right:
            return "┐" if top else "┘"
        return "─"
    return "│" if left or right else " "
