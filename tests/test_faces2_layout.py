"""Layout at 80x24 (#25 item 8), read from what the widgets draw: the status
bar's two lines are cut (…), never wrapped; the cursor line keeps its start
(props spelt short when long); the nodes panel folds a line between fields,
never inside ``256 MiB``; after boot the overview shows every socket, above
the legend; an inapplicable preset's reason wraps inside the chooser."""

from __future__ import annotations

import pytest
from conftest import until
from test_numa_nodes_tui import press
from textual.widget import Widget
from textual.widgets import OptionList

from numatui.session.launcher import Launcher
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.info_line import InfoLine
from numatui.tui.nodes import NodesPanel
from numatui.tui.overview import Overview
from numatui.tui.preset_chooser import PresetChooser
from numatui.tui.status import StatusBar

ARGS = ["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "64,sockets=8,cores=4,threads=2",
        "-m", "512M"]


def drawn(widget: Widget) -> list[str]:
    """The widget's lines as the screen shows them."""
    return ["".join(seg.text for seg in widget.render_line(y)).rstrip()
            for y in range(widget.content_region.height)]


@pytest.mark.qemu
async def test_the_main_screen_fits_80x24_before_and_after_boot() -> None:
    launcher = Launcher(extra_args=ARGS, nodes=2)
    await launcher.start()
    session = await Session.connect(launcher.address, launcher=launcher)
    app = NumaApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await press(app, pilot, "s", "0")
            status = drawn(app.query_one(StatusBar))
            assert len(status) == 2 and status[0].startswith("numatui  preconfig")
            assert status[0].endswith("\u2026") and status[1].startswith("launched by numatui")
            await press(app, pilot, "P")  # an inapplicable preset's reason wraps inside the box
            chooser = app.screen
            assert isinstance(chooser, PresetChooser)
            options = chooser.query_one(OptionList)
            assert options.region.right <= 80
            shown = " ".join(" ".join(drawn(options)).split())
            assert "this board has no die level (its CPU slots are named by socket, core, thread)" in shown
            await press(app, pilot, "escape")
            await session.exit_preconfig(force=True)
            app.sync()  # the line under the grid follows after the frame that repaints the grid
            expected = "socket 0 core 0 thread 0 · node 0 · cpu-index 0"
            await until(lambda: drawn(app.query_one(InfoLine))[0] == expected, 10,
                        f"the line under the grid saying {expected!r}")
            lines = drawn(app.query_one(NodesPanel))
            assert "   256 MiB" in lines, lines  # folded whole, under the node id
            assert not any(line.endswith(" 256") or line.lstrip().startswith("MiB") for line in lines)
            overview, side = app.query_one(Overview), app.query_one("#side")
            assert overview.display
            assert [line.split()[0] for line in drawn(overview)] == [f"s{i}" for i in range(8)]
            assert overview.region.bottom <= side.region.bottom  # in sight without scrolling
    finally:
        await session.close()
        await launcher.stop()
