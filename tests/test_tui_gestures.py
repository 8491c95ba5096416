"""Mouse gesture rules of the CPU grid (pure: no Textual app, no QEMU)."""

from __future__ import annotations

import subprocess
import sys

from conftest import load_data
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from numatui.model.topology import SlotKey, Topology
from numatui.tui.drag import overlay_band
from numatui.tui.gestures import (
    NEW_NODE,
    Band,
    Gesture,
    band_slots,
    click_group,
    click_slot,
    ghost_text,
    group_slots,
)
from numatui.tui.grid_layout import GridLayout, cell_width_for, compute_layout


def q35_layout(width: int = 60) -> tuple[tuple[SlotKey, ...], GridLayout]:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    keys = tuple(s.key for s in topo.slots)
    return keys, compute_layout(keys, width, cell_width_for(len(keys)))


def test_gestures_and_layout_need_no_textual() -> None:
    code = (
        "import sys, numatui.tui.gestures, numatui.tui.grid_layout\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_band_is_normalised_and_clamped() -> None:
    band = Band.spanning((30, 5), (2, 1))
    assert band == Band(left=2, top=1, right=30, bottom=5)
    assert (band.width, band.height) == (29, 5)
    assert Band.spanning((-4, -1), (90, 99)).clamp(40, 5) == Band(0, 0, 39, 4)


def test_band_selects_the_cells_it_touches() -> None:
    _, layout = q35_layout()
    # rows: 0 "socket 0", 1 cells 0-3, 2 blank, 3 "socket 1", 4 cells 4-7
    (row0, x0), (_, x1) = layout.position[0], layout.position[1]
    assert band_slots(layout, Band(0, 0, layout.width, layout.height - 1)) == frozenset(range(8))
    assert band_slots(layout, Band(0, 0, layout.width, 2)) == frozenset(range(4))
    # one column inside cell 0 only
    assert band_slots(layout, Band(x0 + 1, row0, x0 + 1, row0)) == {0}
    # the gap column after cell 0 touches nothing; its neighbour does
    gap = x0 + layout.cell_width - 1
    assert band_slots(layout, Band(gap, row0, gap, row0)) == frozenset()
    assert band_slots(layout, Band(gap, row0, x1, row0)) == {1}
    # a column across both sockets picks the same position in each
    assert band_slots(layout, Band(x1, 0, x1, layout.height - 1)) == {1, 5}
    # header and blank lines hold no slots
    assert band_slots(layout, Band(0, 2, layout.width, 3)) == frozenset()


def test_click_rules() -> None:
    plain = click_slot({1, 2}, 0, None, (), 5)
    assert (plain.selection, plain.cursor, plain.anchor) == ({5}, 5, None)
    toggled = click_slot({1, 2}, 0, None, (), 2, toggle=True)
    assert (toggled.selection, toggled.cursor) == ({1}, 2)
    added = click_slot({1}, 0, None, (), 6, toggle=True)
    assert added.selection == {1, 6}
    # shift: from the cursor to the slot, in topology order, over what was selected
    ranged = click_slot({7}, 2, None, (), 4, extend=True)
    assert (ranged.selection, ranged.cursor, ranged.anchor, ranged.base) == ({2, 3, 4, 7}, 4, 2, {7})
    # a second shift+click re-ranges from the same anchor (backwards too)
    again = click_slot(ranged.selection, ranged.cursor, ranged.anchor, ranged.base, 0, extend=True)
    assert again.selection == {0, 1, 2, 7}
    # shift wins over ctrl
    assert click_slot(set(), 3, None, (), 1, toggle=True, extend=True).selection == {1, 2, 3}


def test_group_clicks() -> None:
    keys, _ = q35_layout()
    socket1 = (("socket-id", 1),)
    core = (("socket-id", 0), ("core-id", 1))
    assert group_slots(keys, socket1) == [4, 5, 6, 7]
    assert group_slots(keys, core) == [2, 3]
    assert click_group({0}, [2, 3]) == {2, 3}
    assert click_group({0}, [2, 3], add=True) == {0, 2, 3}
    assert click_group({0, 2, 3}, [2, 3], add=True) == {0}


def test_gesture_becomes_a_drag_only_when_the_pointer_moves() -> None:
    press = Gesture(kind="slot", origin=(5, 1), screen_origin=(5, 3), slot=0)
    assert not press.moved((5, 3), can_move=True)
    assert press.mode == "press"
    assert press.moved((6, 3), can_move=True)
    assert press.mode == "move"
    assert not press.moved((9, 9), can_move=True)  # already a drag
    after_boot = Gesture(kind="slot", origin=(5, 1), screen_origin=(5, 3), slot=0)
    after_boot.moved((7, 4), can_move=False)
    assert after_boot.mode == "band"  # after boot: selection only
    with_ctrl = Gesture(kind="slot", origin=(5, 1), screen_origin=(5, 3), slot=0, additive=True)
    with_ctrl.moved((7, 4), can_move=True)
    assert with_ctrl.mode == "band"
    space = Gesture(kind="space", origin=(40, 0), screen_origin=(40, 2))
    space.moved((1, 2), can_move=True)
    assert space.mode == "band"


def test_ghost_text() -> None:
    assert ghost_text(1, None) == " ⠿ 1 slot · drop on a node "
    assert ghost_text(4, 1) == " ⠿ 4 slots → node 1 "
    assert ghost_text(2, NEW_NODE) == " ⠿ 2 slots → new node "


def test_band_overlay_keeps_cells_and_draws_edges() -> None:
    cell = Style(bgcolor="#3b82f6") + Style.from_meta({"slot": 0})
    strip = Strip([Segment("   ", Style()), Segment("01 ", cell), Segment("   ", Style())])
    band = Band(1, 0, 7, 2)
    top = overlay_band(strip, 0, band)
    assert top.text == " ┌─01 ─┐ "  # the cell's text is kept
    assert overlay_band(strip, 1, band).text == " │ 01  │ "
    assert overlay_band(strip, 2, band).text == " └─01 ─┘ "
    assert overlay_band(strip, 3, band) is strip  # outside the band
    assert overlay_band(strip, 0, Band(0, 0, 8, 0)).text == "[  01   ]"
