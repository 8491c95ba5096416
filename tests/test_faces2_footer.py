"""The footer at 80 columns (#25 item 6): the whole-machine path ``P`` and
``? Help`` are whole in it, beside space, s, 0-9, X and q, none under the
palette hint; ``?`` lists the keys the footer has no room for (d, m, t, H,
v, y, n), and ``P`` typed in the same burst opens the chooser, whose enter
maps the machine in QEMU."""

from __future__ import annotations

from typing import Any

from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.help import HelpScreen
from numatui.tui.preset_chooser import PresetChooser


async def test_p_and_help_fit_the_footer_at_80_columns(qemu: Any, session: Session) -> None:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    app = NumaApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        footer = app.screen.query_one(Footer)
        keys = {k.description: k for k in footer.query(FooterKey)}
        palette = keys.pop("palette")  # the ^p hint, docked right
        assert list(keys) == ["Select", "Socket", "Node", "Preset", "Boot", "Help", "Quit"]
        right = palette.region.x
        for name, key in keys.items():
            assert key.region.width and key.region.right <= right, (name, key.region, right)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for key, what in (("d", "edit the distances"), ("m", "edit the node memory"),
                          ("t", "edit memory tiers"), ("H", "the host's NUMA nodes"),
                          ("v", "-numa options, command line"), ("y", "copy what the panel shows"),
                          ("n", "add a node"), ("P", "map the whole machine")):
            assert any(line.strip().startswith(key) and what in line for line in text.splitlines()), key
        await pilot.press("escape", "P", "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, PresetChooser)
        assert set((await qemu.nodes()).values()) == {0, 1}
