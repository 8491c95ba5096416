"""The legend: what a cell in the grid means."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from numatui.tui import colours
from numatui.tui.paint import update_static


def legend_text(booted: bool) -> Text:
    out = Text()
    out.append("Legend\n", style="bold")

    def row(sample: str, style: Style, words: str) -> None:
        out.append(sample, style=style)
        out.append(f" {words}\n")

    if booted:
        row("  3 ", colours.node_style(0), "CPU with cpu-index 3")
        row("  + ", colours.empty_style(0), "empty slot, pluggable")
        row("  3~", colours.node_style(0), "unplug requested")
    else:
        row("  1" + colours.LOCK_MARK, colours.node_style(1), "node 1, fixed")
        row("  " + colours.UNASSIGNED_TEXT + " ", colours.node_style(None), "unassigned")
    row(colours.SELECTED_MARK + " · ", colours.node_style(None) + Style(underline=True), "selected")
    row("  · ", colours.node_style(None) + Style(reverse=True), "cursor")
    return out


class Legend(Static):
    DEFAULT_CSS = "Legend { height: auto; padding: 0 1; margin-top: 1; }"

    def show(self, booted: bool) -> None:
        update_static(self, legend_text(booted))
