"""The legend: what a cell in the grid means, with a sample of every node.

Compact (five lines before boot) so that it stays visible beside the nodes
panel at 80x24.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from numatui.core.vm import Vm
from numatui.tui import colours
from numatui.tui.paint import FollowsVm, update_static


def legend_text(booted: bool, nodes: Sequence[int] = (0,), *, launched: bool = False,
                width: int = 26) -> Text:
    """The legend for the nodes ``nodes``; ``launched``: numatui started QEMU
    (a set slot moves by relaunching it)."""
    out = Text.assemble(("Legend\n", "bold"))
    nodes = list(nodes) or [0]
    first = nodes[0]
    # one sample per node, as many as fit on a line (each is 3 columns)
    fit = max(1, width // 3)
    for node in nodes[:fit]:
        out.append(f"{node:>2}" if booted else f"{node:>2}{colours.LOCK_MARK}", colours.node_style(node))
    if len(nodes) > fit:
        out.append("…")
    out.append("\n")

    def row(sample: str, style: Style, words: str) -> None:
        out.append(sample, style=style)
        out.append(f" {words}\n")

    if booted:
        mark = colours.node_mark(first)
        row(f" 3{mark}", colours.node_style(first), f"cpu-index 3, node {first} (i)")
        row(f" +{mark}", colours.empty_style(first), "empty slot, pluggable")
        row(" 3~", colours.node_style(first), "unplug requested")
    else:
        row(f" N{colours.LOCK_MARK}", colours.node_style(first),
            "set on node N" + (" (a move relaunches QEMU)" if launched else ""))
        row(" " + colours.UNASSIGNED_TEXT + " ", colours.node_style(None), "unassigned")
    out.append(colours.SELECTED_MARK + colours.UNASSIGNED_TEXT + " ",
               style=colours.node_style(None) + Style(underline=True))
    out.append(" selected  ")
    cursor = f"{first:>2}" + ("" if booted else colours.LOCK_MARK)
    out.append(cursor if not booted else cursor + " ", style=colours.node_style(first) + Style(reverse=True))
    out.append(" cursor")
    return out


class Legend(Static, FollowsVm):
    DEFAULT_CSS = "Legend { height: auto; padding: 0 1; }"

    def __init__(self, vm: Vm, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vm = vm

    def redraw(self) -> None:
        s = self.vm.session
        nodes = sorted({n.id for n in s.nodes}.union(x.node_id for x in s.topology.slots
                                                     if x.node_id is not None))
        update_static(self, legend_text(self.vm.booted, nodes, launched=self.vm.launcher is not None,
                                        width=self.content_region.width or 26))
