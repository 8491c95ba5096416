"""The nodes panel: each NUMA node with its colour, CPUs, memory and, after
boot, how many of its CPUs are present.

During a drag from the CPU grid the panel is a drop zone: the node under the
pointer is highlighted and a "new node" line appears (preconfig only).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip

from numatui.model.guest_numbering import guest_labels
from numatui.model.units import human_size
from numatui.tui import colours
from numatui.tui.gestures import NEW_NODE, DropTarget
from numatui.tui.paint import FollowsVm, LinePainter

if TYPE_CHECKING:
    from numatui.core.vm import Vm
    from numatui.session.session import Session

DROP_STYLE = "reverse bold"
INDENT = "   "  # a folded line's continuation starts under the node id


def node_lines(session: Session, booted: bool, *, dragging: bool = False,
               drop: DropTarget | None = None) -> list[tuple[Text, DropTarget | None]]:
    """The panel's lines, each with the drop target it is (a node-id, NEW_NODE or None)."""
    cpus: Counter[int | None] = Counter()
    present: Counter[int | None] = Counter()
    boot_cpus = None if booted else session.boot_cpus()  # -smp cpus < maxcpus
    indexes = session.topology.cpu_indexes() if boot_cpus is not None else {}
    for s in session.topology.slots:
        cpus[s.node_id] += s.vcpus_count
        if s.present or (boot_cpus is not None and indexes[s.key].start < boot_cpus):
            present[s.node_id] += s.vcpus_count
    known = {n.id: n for n in session.nodes}
    ids = sorted(set(known) | {n for n in cpus if n is not None})
    # Linux's own node ids, when they differ from QEMU's (numatui.model.guest_numbering)
    guest = guest_labels(session.topology, session.nodes, session.info.machine_type)
    lines: list[tuple[Text, DropTarget | None]] = [(Text("Nodes", style="bold"), None)]
    if not ids:
        lines.append((Text("(none known: press n to add one)", style="italic"), None))
    for node_id in ids:
        out = Text.assemble(("██", colours.swatch(node_id)), f" {node_id:<3}")
        out.append(f"{cpus[node_id]:>3} CPUs" if not booted and boot_cpus is None else
                   f"{present[node_id]}/{cpus[node_id]} {'present' if booted else 'at boot'}")
        node = known.get(node_id)
        if node is not None and node.size is not None:
            out.append(f"  {human_size(node.size)}")
        elif node is not None and not booted:
            out.append("  no memory", style="italic")
        if node_id in guest:
            out.append(f"  {guest[node_id]}", style="italic")
        if dragging and drop == node_id:
            out.stylize(DROP_STYLE, 2)
            out.append(" ◀", style="bold")
        lines.append((out, node_id))
    if cpus[None]:
        lines.append((Text.assemble(("░░", colours.swatch(None)), f" unassigned {cpus[None]}"), None))
    if dragging and not booted:
        out = Text("+ new node", style="bold" if drop == NEW_NODE else "italic")
        if drop == NEW_NODE:
            out.stylize(DROP_STYLE)
            out.append(" ◀", style="bold")
        lines.append((out, NEW_NODE))
    return lines


def fold(text: Text, width: int) -> list[Text]:
    """``text`` in lines of ``width``, broken only between its fields (two or
    more spaces apart), so ``256 MiB`` or ``4 CPUs`` never splits; a field
    wider than the panel is cut with ….  Later lines are indented under the id."""
    cuts = [m.end() for m in re.finditer(r"  +", text.plain)]
    lines: list[Text] = []
    line = Text()
    for piece in text.divide(cuts):
        if line.cell_len and line.cell_len + len(piece.plain.rstrip()) > width:
            lines.append(line)
            line = Text(INDENT)
        line.append_text(piece)
    lines.append(line)
    for part in lines:
        part.rstrip()
        part.truncate(width, overflow="ellipsis")
    return lines


class NodesPanel(LinePainter, FollowsVm):
    """The nodes, and a drop zone for slots dragged from the CPU grid.

    Line API: each line is drawn from its rich Text (wrapped at the panel's
    width) and kept until that line changes, so a key press that changes one
    node's count repaints that line; a layout pass only when the number of
    lines changes.
    """

    DEFAULT_CSS = "NodesPanel { height: auto; padding: 0 1; }"

    def __init__(self, vm: Vm, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vm = vm
        self._dragging = False
        self._drop: DropTarget | None = None
        self._lines: list[tuple[Text, DropTarget | None]] = []
        self._wrapped: tuple[int, list[tuple[Text, DropTarget | None]]] | None = None
        self._strips: dict[int, tuple[Text, Style, int, Strip]] = {}  # y -> what was drawn there

    def redraw(self) -> None:
        lines = node_lines(self.vm.session, self.vm.booted, dragging=self._dragging, drop=self._drop)
        if lines == self._lines:
            return
        before = len(self._lines_at(self.content_region.width))
        self._lines, self._wrapped = lines, None
        self.refresh(layout=len(self._lines_at(self.content_region.width)) != before)

    def text(self) -> str:
        """The panel's text, one line per node (what the screen shows, unwrapped)."""
        return "\n".join(text.plain for text, _ in self._lines)

    def _lines_at(self, width: int) -> list[tuple[Text, DropTarget | None]]:
        """The lines wrapped at ``width``, each with its line's drop target."""
        if self._wrapped is not None and self._wrapped[0] == width:
            return self._wrapped[1]
        wrapped: list[tuple[Text, DropTarget | None]] = []
        for text, target in self._lines:
            fits = width <= 0 or text.cell_len <= width
            wrapped += [(part, target) for part in ([text] if fits else fold(text, width))]
        self._wrapped = (width, wrapped)
        return wrapped

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines_at(width))

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width
        base = self.base_style
        lines = self._lines_at(width)
        if y >= len(lines):
            return Strip.blank(width, base)
        text = lines[y][0]
        drawn = self._strips.get(y)
        if drawn is None or drawn[0] != text or drawn[1] != base or drawn[2] != width:
            console = self.app.console
            style = base + console.get_style(text.style) if text.style else base  # render() leaves it out
            segments = Segment.apply_style(text.render(console), style)
            drawn = (text, base, width, Strip(segments).crop_extend(0, width, base))
            self._strips[y] = drawn
        return drawn[3]

    # -- drop zone (numatui.tui.drag.DropZone) -----------------------------------------
    def drop_target_at(self, x: int, y: int) -> DropTarget | None:
        """The node (or NEW_NODE) on the panel line at screen ``(x, y)``."""
        region = self.content_region
        line = y - region.y
        lines = self._lines_at(region.width)
        return lines[line][1] if x in range(region.x, region.right) and 0 <= line < len(lines) else None

    def show_drop(self, dragging: bool, target: DropTarget | None) -> None:
        """Show (or stop showing) a drag in progress, ``target`` highlighted."""
        if (dragging, target) != (self._dragging, self._drop):
            self._dragging, self._drop = dragging, target
            self.redraw()
