"""Node colours and cell looks shared by the grid, the nodes panel and the legend.

Fixed colours (not theme colours) so a node has the same colour everywhere,
in every theme and in every screenshot.  Nothing depends on telling colours
apart: before boot a cell shows its node-id; after boot its cpu-index and the
node's mark (``0``-``9``, ``a``-``f``), or the node-id (``i`` switches; the
node-id by default under ``NO_COLOR``).

The palette is chosen for the common colour-vision deficiencies: picked
greedily from a 512-colour sRGB grid to keep every pair of node colours (and
the unassigned and empty cell greys) at least 20 apart in CIELAB (CIE76
Delta E) for normal vision and under simulated deuteranopia and protanopia
(Machado et al. 2009, severity 1), each with its cell text (black or white,
whichever contrasts more) at a WCAG contrast of at least 4.5:1.
``tests/test_faces_colours.py`` recomputes both.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style

NODE_COLOURS: tuple[str, ...] = (
    "#3b82f6",  # blue
    "#f59e0b",  # amber
    "#ffffff",  # white
    "#000055",  # midnight
    "#0000ff",  # pure blue
    "#dd9977",  # tan
    "#7799bb",  # steel
    "#335500",  # olive
    "#ffff99",  # cream
    "#335599",  # denim
    "#000099",  # navy
    "#ffff00",  # yellow
    "#997777",  # mauve
    "#003355",  # deep teal
    "#bbbbbb",  # silver
    "#99ddff",  # sky
)
#: A node's mark in a cell beside the cpu-index (node ids above 15 share ``*``).
NODE_MARKS = "0123456789abcdef"
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


def node_mark(node_id: int | None) -> str:
    """The one-character mark of a node in a cell (`` `` for none)."""
    if node_id is None:
        return " "
    return NODE_MARKS[node_id] if node_id < len(NODE_MARKS) else "*"


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    return "#000000" if contrast(background, "#000000") >= contrast(background, "#ffffff") else "#ffffff"


@lru_cache(maxsize=256)  # drawn for every cell of every row repainted
def node_style(node_id: int | None) -> Style:
    """Solid cell style of a node (or of an unassigned slot)."""
    if node_id is None:
        return Style(color=UNASSIGNED_FG, bgcolor=UNASSIGNED_BG)
    colour = node_colour(node_id)
    return Style(color=text_on(colour), bgcolor=colour, bold=True)


@lru_cache(maxsize=256)  # drawn for every cell of every row repainted
def empty_style(node_id: int | None) -> Style:
    """After boot, an empty slot: its node's colour as text on a dark cell
    (grey where that colour would not read on it: the cell's mark names the node)."""
    colour = UNASSIGNED_FG if node_id is None else node_colour(node_id)
    if contrast(colour, EMPTY_BG) < 4.5:
        colour = UNASSIGNED_FG
    return Style(color=colour, bgcolor=EMPTY_BG)


def swatch(node_id: int | None) -> Style:
    """The colour block shown beside a node's name."""
    colour = UNASSIGNED_BG if node_id is None else node_colour(node_id)
    return Style(color=colour)
