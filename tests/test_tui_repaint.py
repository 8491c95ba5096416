"""Panels update only when their text changes and ask Textual for a layout
pass (which re-arranges and repaints the whole screen) only when their box
must change: numatui.tui.show.update_static."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static

from numatui.tui.paint import update_static


class Panels(App[None]):
    CSS = """
    ScrollableContainer { height: 5; }
    #filled { width: auto; min-width: 100%; min-height: 100%; }
    #auto { height: auto; }
    """

    def compose(self) -> ComposeResult:
        with ScrollableContainer():
            yield Static("one", id="filled")
        yield Static("one", id="auto")


def layouts_asked(widget: Static) -> list[bool]:
    """Record the ``layout`` of every refresh ``widget`` asks for."""
    asked: list[bool] = []
    refresh = widget.refresh

    def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append(bool(kwargs.get("layout")))
        return refresh(*args, **kwargs)

    widget.refresh = recording  # type: ignore[method-assign]
    return asked


async def test_a_layout_pass_only_when_the_box_changes() -> None:
    app = Panels()
    async with app.run_test(size=(40, 12)) as pilot:
        filled, auto = app.query_one("#filled", Static), app.query_one("#auto", Static)
        filled_asked, auto_asked = layouts_asked(filled), layouts_asked(auto)

        assert not update_static(filled, "one")  # the same text: nothing at all
        assert filled_asked == []

        assert update_static(filled, "one\ntwo\nthree")  # grows within its 5 visible lines
        assert filled_asked == [False]
        await pilot.pause()
        assert "three" in str(filled.render())

        assert update_static(filled, "\n".join(map(str, range(9))))  # beyond them: the box grows
        assert filled_asked[-1] is True
        assert update_static(filled, "x" * 60)  # wider than the box (width: auto): grows too
        assert filled_asked[-1] is True

        assert update_static(auto, "two")  # same height: no layout
        assert auto_asked == [False]
        assert update_static(auto, "two\nlines")  # the content alone sets its height
        assert auto_asked[-1] is True
        await pilot.pause()
        assert auto.region.height == 2
