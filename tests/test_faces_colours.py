"""Not by colour alone (#25 item 4): the node palette for the common
colour-vision deficiencies, cell text contrast, marks, the ``i`` key, NO_COLOR,
and a Force checkbox that does not read ``X`` unticked.

The colour check is its own oracle (not numatui's functions): sRGB to linear,
Machado et al. 2009 dichromat matrices at severity 1, CIELAB (D65), CIE76
Delta E; WCAG 2 relative luminance and contrast ratio.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui import colours
from numatui.tui.app import NumaApp
from numatui.tui.exit_dialog import ExitDialog, Tick
from numatui.tui.grid import CpuGrid

#: The smallest CIE76 Delta E between any two node colours (and the unassigned
#: and empty cell greys) in normal vision and under each simulation.
MIN_DELTA_E = 20.0
MIN_CONTRAST = 4.5

NORMAL = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
DEUTERANOPIA = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                (-0.011820, 0.042940, 0.968881))
PROTANOPIA = ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
              (-0.003882, -0.048116, 1.051998))


def _linear(colour: str) -> tuple[float, ...]:
    def one(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return tuple(one(int(colour[i:i + 2], 16)) for i in (1, 3, 5))


def _lab(colour: str, sim: tuple[tuple[float, ...], ...]) -> tuple[float, float, float]:
    rgb = _linear(colour)
    r, g, b = (min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True)))) for row in sim)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _wcag(a: str, b: str) -> float:
    def lum(c: str) -> float:
        r, g, b = _linear(c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("name, sim", [("normal", NORMAL), ("deuteranopia", DEUTERANOPIA),
                                       ("protanopia", PROTANOPIA)])
def test_every_pair_of_node_colours_stays_apart(name: str, sim: Any) -> None:
    nodes, greys = list(colours.NODE_COLOURS), [colours.UNASSIGNED_BG, colours.EMPTY_BG]
    assert len(nodes) == 16 and len(set(nodes)) == 16
    pairs = [*itertools.combinations(nodes, 2), *itertools.product(nodes, greys)]
    worst = min((math.dist(_lab(a, sim), _lab(b, sim)), a, b) for a, b in pairs)
    assert worst[0] >= MIN_DELTA_E, f"{name}: {worst[1]} and {worst[2]} are {worst[0]:.1f} apart"


def test_cell_text_contrast_is_at_least_4_5_for_every_node() -> None:
    for node in range(16):
        style = colours.node_style(node)
        assert style.color is not None and style.bgcolor is not None
        text, background = style.color.triplet, style.bgcolor.triplet
        assert text is not None and background is not None
        ratio = _wcag(text.hex, background.hex)
        assert ratio >= MIN_CONTRAST, f"node {node}: {text.hex} on {background.hex} is {ratio:.2f}:1"
        assert colours.contrast(text.hex, background.hex) == pytest.approx(ratio)


def test_marks_name_every_node() -> None:
    assert [colours.node_mark(n) for n in range(16)] == list("0123456789abcdef")
    assert colours.node_mark(None) == " " and colours.node_mark(40) == "*"


def _cells(app: NumaApp) -> str:
    grid = app.query_one(CpuGrid)
    return "\n".join(grid.render_line(y).text for y in range(grid.size.height))


async def test_after_boot_cells_carry_the_node_and_i_switches_to_node_ids(qemu: Any, session: Session,
                                                                           monkeypatch: Any) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = NumaApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "1", "j", "s", "0", "X", "enter")
        await settle(app, pilot)
        assert session.state.value == "running"
        cpus = {c["cpu-index"]: c["props"]["node-id"] for c in await qemu.qmp("query-cpus-fast")}
        assert cpus == {0: 1, 1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0}
        shown = _cells(app)  # socket 0 on screen: cpu-indexes 0-3, each then node 1's mark
        assert all(f" {i}1 " in shown for i in range(4)), shown
        await pilot.press("i")
        await settle(app, pilot)
        shown = _cells(app)
        assert shown.count("  1 ") >= 4 and " 01 " not in shown, shown
        await pilot.press("i")
        await settle(app, pilot)
        assert " 01 " in _cells(app)


async def test_no_color_shows_node_ids_after_boot(qemu: Any, session: Session, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = NumaApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "1", "X", "enter")
        await settle(app, pilot)
        assert session.state.value == "running"
        assert app.query_one(CpuGrid).show_node_ids and "  1 " in _cells(app)


async def test_force_does_not_read_x_unticked(qemu: Any, session: Session) -> None:
    await session.add_node()  # node 2, and a distance for 0-1 only: the matrix is incomplete,
    await session.set_distance(0, 1, 20)  # a blocking finding, so Force is offered
    app = NumaApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        assert isinstance(app.screen, ExitDialog)
        box = app.screen.query_one(Tick)
        assert "X" not in str(box.render()) and not box.value
        await pilot.press("f")
        await settle(app, pilot)
        assert box.value and "\u2713" in str(box.render())
        await pilot.press("escape")
