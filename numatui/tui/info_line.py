"""One line of plain text under the grid (the cursor's or the pointer's slot).

A Line-API widget: the text is drawn as one segment, literally (QEMU's CPU
type names are never parsed as markup), and a change repaints that one line
without the Content formatting a Static goes through on every key press.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.strip import Strip

from numatui.model.sanitise import one_line
from numatui.tui.paint import LinePainter
from numatui.tui.status import cursor_text, hover_text

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.tui.grid import CpuGrid


class InfoLine(LinePainter):
    """A single line of text; ``show(text)`` replaces it; its start cut with "…" when too long."""

    DEFAULT_CSS = "InfoLine { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""

    def follow(self, grid: CpuGrid, vm: Vm) -> None:
        """The props, node and state of the grid's cursor slot (of the mouse's, while it hovers one)."""
        slots, booted = grid.topology.slots, vm.booted
        if grid.hovered is not None and grid.hovered < len(slots):
            self.show(hover_text(grid.topology, grid.hovered, booted))
        else:
            pin = vm.pin_text(slots[grid.cursor].key) if booted and vm.pinned and slots else None
            boot_cpus = None if booted else vm.session.boot_cpus()
            self.show(cursor_text(grid.topology, grid.cursor, len(grid.selection), booted, boot_cpus, pin,
                                  self.content_region.width or None))

    def show(self, text: str) -> None:
        """Show ``text`` (one line; repaints only when it changed)."""
        text = one_line(text, None)  # QEMU's type names: controls visible, never emitted
        if text != self.text:
            self.text = text
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width
        style = self.base_style
        if y or not self.text:
            return Strip.blank(width, style)
        text = self.text
        if cell_len(text) > width > 1:  # cut the start, say so: the node, cpu-index and state
            text = "…" + set_cell_size(text[::-1], width - 1)[::-1]  # are at the end; the grid shows props
        return Strip([Segment(text, style)]).crop_extend(0, width, style)
