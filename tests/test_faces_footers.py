"""Footers fit the moment (#25 item 6): after boot ``u`` stands beside ``p``;
while QEMU is gone the footer offers ``R``, not ``0-9``/``X``."""

from __future__ import annotations

from typing import Any

from conftest import until
from test_tui_panel import footer_keys
from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp


async def test_after_boot_unplug_stands_beside_plug(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "0", "j", "s", "1", "X", "enter")
        await settle(app, pilot)
        assert (await qemu.qmp("query-status"))["status"] == "running"
        keys = footer_keys(app.screen)
        assert keys.index("Unplug") == keys.index("Plug") + 1, keys
        assert "Node" not in keys and "Relaunch" not in keys


async def test_while_qemu_is_gone_the_footer_offers_r(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        before = footer_keys(app.screen)
        assert "Node" in before and "Boot" in before and "Relaunch" not in before
        qemu.kill()
        await until(lambda: session.state.value == "disconnected", 20, "QEMU going away")
        await settle(app, pilot)
        await until(lambda: "Relaunch" in footer_keys(app.screen), 10, "R in the footer")
        keys = footer_keys(app.screen)
        assert "Node" not in keys and "Boot" not in keys, keys


async def test_the_preset_chooser_footer_has_its_own_keys(qemu: Any, session: Session) -> None:
    from numatui.tui.preset_chooser import PresetChooser

    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("P")
        await settle(app, pilot)
        assert isinstance(app.screen, PresetChooser)
        assert footer_keys(app.screen) == ["Onto N nodes", "Cancel"]
        await pilot.press("enter")  # the highlighted preset (one socket per node) applied
        await settle(app, pilot)
        assert not isinstance(app.screen, PresetChooser)
        assert set((await qemu.nodes()).values()) == {0, 1}


async def test_a_wide_footer_shows_the_editors_presets_host_and_view(qemu: Any, session: Session) -> None:
    """P, d, m, t, H, v, y in the footer from 140 columns (their keys work at any width)."""
    from numatui.tui.preset_chooser import PresetChooser

    wide = ["Distances", "Memory", "HMAT", "Copy", "View", "Host", "+Node"]
    app = NumaApp(session)
    async with app.run_test(size=(150, 40)) as pilot:
        await settle(app, pilot)
        keys = footer_keys(app.screen)
        assert all(k in keys for k in wide) and "Node" in keys, keys
        await pilot.press("P")  # one chooser, not two (the key has two bindings)
        await settle(app, pilot)
        assert isinstance(app.screen, PresetChooser) and len(app.screen_stack) == 2
        await pilot.press("escape")
        await settle(app, pilot)
    app = NumaApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert not any(k in footer_keys(app.screen) for k in wide)
        await pilot.press("P")
        await settle(app, pilot)
        assert isinstance(app.screen, PresetChooser)
