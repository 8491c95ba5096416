"""Numbers typed in the TUI's editors go through numatui's one number parser:
``²`` or ``٣`` typed in the HMAT editor is refused in its message line, and
the app and the QEMU it talks to stay (once an int() ValueError took both down)."""

from __future__ import annotations

from typing import Any

from test_hmat_tui import TIERS, press

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.hmat_editor import HmatEditor


async def test_unicode_digits_in_the_hmat_editor_are_refused_and_nothing_goes_down(
        qemu_factory: Any) -> None:
    q = qemu_factory(TIERS)
    session = await Session.connect(q.sock)
    try:
        app = NumaApp(session)
        async with app.run_test(size=(100, 34)) as pilot:
            await press(app, pilot, "t")
            editor = app.screen
            assert isinstance(editor, HmatEditor)
            await press(app, pilot, "8", "\u00b2", "enter")  # latency 8²
            assert "is not a whole number" in editor.message.text
            # one escape after a refusal leaves the editor; t opens it again
            await press(app, pilot, "escape", "t", "c", *"\u0663 256M", "enter")  # cache level ٣
            editor = app.screen
            assert isinstance(editor, HmatEditor)
            assert "level" in editor.message.text and "Refused" in editor.message.text
            await press(app, pilot, "escape", "t", "8", "0", "enter")  # the editor still works
            assert app.is_running and isinstance(app.screen, HmatEditor)
        assert [(lb.data_type, lb.value) for lb in session.hmat_lb] == [("access-latency", 80)]
        lbs = await q.qmp("query-status")
        assert lbs["status"] == "prelaunch" and q.proc.poll() is None
    finally:
        await session.close()
