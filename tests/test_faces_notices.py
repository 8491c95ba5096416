"""Notifications replace rather than stack, an error stays until something
succeeds, and no notice covers the command-line panel (#25 item 7)."""

from __future__ import annotations

from typing import Any

from conftest import until
from textual.widgets._toast import Toast
from tui_helpers import settle

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.cmdline import CommandPanel


def toasts(app: NumaApp) -> list[Toast]:
    return list(app.screen.query(Toast))


async def test_notices_replace_and_keep_clear_of_the_panel(qemu: Any, session: Session) -> None:
    app = NumaApp(session)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("n", "n", "n", "n")  # four nodes added: four notices, one after another
        await settle(app, pilot)
        assert len(session.nodes) == 6
        assert [n.message.split(" (")[0] for n in app.notices.shown] == ["Node 5 added"]
        shown = await until(lambda: toasts(app), 10, "the toast on screen")
        await pilot.pause()
        shown = toasts(app)
        assert len(shown) == 1
        panel = app.query_one(CommandPanel).region
        assert not shown[0].region.overlaps(panel), (shown[0].region, panel)
        await pilot.press("s", "0", "s", "1")  # the second is refused (attached: no relaunch)
        await settle(app, pilot)
        assert [n.severity for n in app.notices.shown] == ["error"]
        await pilot.press("y")  # a copy's notice beside the error (nothing succeeded in QEMU): it stays
        await settle(app, pilot)
        assert [n.severity for n in app.notices.shown] == ["error", "information"]
        assert len(await until(lambda: len(toasts(app)) == 2 and toasts(app), 10, "two toasts")) == 2
        await pilot.press("escape", "j", "s", "1")  # socket 1 -> node 1: QEMU takes it, the error goes
        await settle(app, pilot)
        assert "error" not in [n.severity for n in app.notices.shown]
        assert set((await qemu.nodes()).values()) == {0, 1}
