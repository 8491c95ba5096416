"""Layout math of the CPU grid (pure, no Textual, no QEMU)."""

from __future__ import annotations

from conftest import load_data

from numatui.model.topology import Topology
from numatui.tui.grid_layout import GridLayout, cell_width_for, compute_layout, header_label, unit_label


def keys_of(topology: Topology) -> tuple:
    return tuple(s.key for s in topology.slots)


def slot_at(layout: GridLayout, row: int, x: int) -> int | None:
    """The slot whose cell is drawn at ``(row, x)``, or None."""
    if not 0 <= row < len(layout.rows):
        return None
    for cell in layout.rows[row].cells:
        if cell.x <= x < cell.x + layout.cell_width:
            return cell.slot
    return None


def test_q35_default_rows() -> None:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    layout = compute_layout(keys_of(topo), 60, cell_width_for(len(topo)))
    kinds = [r.kind for r in layout.rows]
    assert kinds == ["header", "cells", "blank", "header", "cells"]
    assert [r.text for r in layout.rows if r.kind == "header"] == ["socket 0", "socket 1"]
    assert [lab.text.strip() for lab in layout.rows[1].labels] == ["c0", "c1"]
    assert [c.slot for c in layout.rows[1].cells] == [0, 1, 2, 3]
    # every slot is drawn once, at the position recorded for it
    for index, (row, x) in enumerate(layout.position):
        assert slot_at(layout, row, x) == index
        assert slot_at(layout, row, x + layout.cell_width - 1) == index
    assert slot_at(layout, 0, 0) is None


def test_vertical_moves_keep_the_column() -> None:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    layout = compute_layout(keys_of(topo), 60, cell_width_for(len(topo)))
    assert layout.vertical(1, 1) == 5
    assert layout.vertical(5, -1) == 1
    assert layout.vertical(5, 1) == 5  # clamps at the last row
    assert layout.vertical(2, -1) == 2
    assert layout.vertical(0, 100) == 4


def test_dies_get_their_own_headers() -> None:
    data = load_data("q35-dies-threads.json")
    topo = Topology.from_hotpluggable(data["query-hotpluggable-cpus"])
    layout = compute_layout(keys_of(topo), 80, cell_width_for(len(topo)))
    headers = [(r.depth, r.text) for r in layout.rows if r.kind == "header"]
    assert headers[0] == (0, "socket 0")
    assert headers[1] == (1, "die 0")
    assert all(r.depth == 2 for r in layout.rows if r.kind == "cells")


def test_single_level_board_draws_each_slot_as_a_unit() -> None:
    topo = Topology.from_hotpluggable(load_data("pseries.json")["query-hotpluggable-cpus"])
    layout = compute_layout(keys_of(topo), 80, cell_width_for(len(topo)))
    labels = [lab.text.strip() for r in layout.rows for lab in r.labels]
    assert labels == [unit_label(s.key) for s in topo.slots]
    assert all(r.kind == "cells" for r in layout.rows)


def test_4096_slots_layout_is_complete_and_fits() -> None:
    """(Its speed is the benchmark's render_scaling, not a timed test.)"""
    smp = {"sockets": 16, "cores": 128, "threads": 2, "maxcpus": 4096}
    topo = Topology.from_smp(smp, ("socket-id", "core-id", "thread-id"))
    keys = keys_of(topo)
    width = 78
    layout = compute_layout(keys, width, cell_width_for(len(keys)))
    assert len(layout.position) == 4096
    assert layout.cell_width == 4 + 3  # "4095" is the widest cpu-index
    assert layout.width <= width
    assert len({p for p in layout.position}) == 4096  # no two slots share a place
    assert sum(r.kind == "header" for r in layout.rows) == 16
    assert header_label(keys[-1][:1]) == "socket 15"
    # rows are in topology order: reading the grid left-right, top-down is slot order
    drawn = [c.slot for r in layout.rows for c in r.cells]
    assert drawn == list(range(4096))
    # moving down from the first slot and back up returns to it; a page moves ~a page
    down = layout.vertical(0, 1)
    assert layout.row_of(down) > layout.row_of(0)
    assert layout.vertical(down, -1) == 0
    assert layout.row_of(layout.vertical(0, 20)) >= 19
    assert compute_layout(keys, width, layout.cell_width) is layout  # cached


def test_slots_on_rows_is_the_range_a_screenful_shows() -> None:
    topo = Topology.from_hotpluggable(load_data("q35-default.json")["query-hotpluggable-cpus"])
    layout = compute_layout(keys_of(topo), 60, cell_width_for(len(topo)))
    # rows: header, cells 0-3, blank, header, cells 4-7
    assert layout.slots_on_rows(0, 5) == range(8)
    assert layout.slots_on_rows(0, 2) == range(4)
    assert layout.slots_on_rows(1, 4) == range(4)
    assert layout.slots_on_rows(3, 40) == range(4, 8)
    assert layout.slots_on_rows(2, 4) == range(0)  # a blank and a header: no slot
    assert layout.slots_on_rows(9, 12) == range(0)  # below the last row
