"""Node colours and cell looks shared by the grid, the nodes panel and the legend.

Fixed colours (not theme colours) so a node has the same colour everywhere,
in every theme and in every screenshot.  Cells also carry the node-id as
text, so nothing depends on telling colours apart.
"""

from __future__ import annotations

from rich.style import Style

NODE_COLOURS: tuple[str, ...] = (
    "#3b82f6",  # blue
    "#f59e0b",  # amber
    "#10b981",  # green
    "#ef4444",  # red
    "#a855f7",  # purple
    "#06b6d4",  # cyan
    "#ec4899",  # pink
    "#84cc16",  # lime
    "#f97316",  # orange
    "#94a3b8",  # slate
    "#fde047",  # yellow
    "#92400e",  # brown
    "#1e3a8a",  # navy
    "#166534",  # dark green
    "#f9a8d4",  # light pink
    "#7f1d1d",  # maroon
)
#: The dark ones carry white text (the rest black).
DARK_COLOURS = frozenset({"#92400e", "#1e3a8a", "#166534", "#7f1d1d"})
UNASSIGNED_BG = "#3a3a3a"
UNASSIGNED_FG = "#a0a0a0"
EMPTY_BG = "#1c1c1c"

LOCK_MARK = "•"  # the slot's node is set in QEMU (moving it means a relaunch)
UNASSIGNED_TEXT = "·"
EMPTY_TEXT = "+"  # after boot: a hot-pluggable slot with no CPU in it
SELECTED_MARK = "›"
PENDING_MARK = "~"  # unplug requested, waiting for DEVICE_DELETED


def node_colour(node_id: int) -> str:
    return NODE_COLOURS[node_id % len(NODE_COLOURS)]


def node_style(node_id: int | None) -> Style:
    """Solid cell style of a node (or of an unassigned slot)."""
    if node_id is None:
        return Style(color=UNASSIGNED_FG, bgcolor=UNASSIGNED_BG)
    colour = node_colour(node_id)
    text = "#ffffff" if colour in DARK_COLOURS else "#000000"
    return Style(color=text, bgcolor=colour, bold=True)


def empty_style(node_id: int | None) -> Style:
    """After boot, an empty slot: its node's colour as text on a dark cell."""
    colour = UNASSIGNED_FG if node_id is None else node_colour(node_id)
    return Style(color=colour, bgcolor=EMPTY_BG)


def swatch(node_id: int | None) -> Style:
    """The colour block shown beside a node's name."""
    colour = UNASSIGNED_BG if node_id is None else node_colour(node_id)
    return Style(color=colour)
