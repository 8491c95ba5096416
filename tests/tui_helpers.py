"""Helpers shared by the tests that drive the whole app with a pilot."""

from __future__ import annotations

from typing import Any

from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.nodes import node_lines


class Notes:
    """Records what the app notifies (and still shows it).

    With ``inert``, every notification that could be parsed as markup (it is
    marked up and holds ``[`` or an escape) fails the test on the spot.
    """

    def __init__(self, app: NumaApp, *, inert: bool = False) -> None:
        self.messages: list[tuple[str, str]] = []
        original = app.notify

        def notify(message: str, *, title: str = "", severity: Any = "information",
                   timeout: float | None = None, markup: bool = True) -> None:
            if inert:
                assert not (markup and ("[" in message or "\x1b" in message)), f"markup: {message[:80]!r}"
            self.messages.append((str(severity), message))
            original(message, title=title, severity=severity, timeout=timeout, markup=markup)

        app.notify = notify  # type: ignore[method-assign]

    def text(self) -> str:
        return "\n".join(m for _, m in self.messages)


async def settle(app: NumaApp, pilot: Any) -> None:
    """Let the queued work and the app's workers finish and the screen catch up."""
    await app.settled()
    await pilot.pause()


def warned(session: Any, text: str) -> str:
    """``text`` as ``q`` prints it and the command-line views show it: after
    one ``# warning:`` comment line per thing numatui cannot know (an
    attached QEMU with no record has one)."""
    return "".join(f"# warning: {u}\n" for u in session.unknowns) + text


def nodes_text(session: Session, booted: bool) -> str:
    """The nodes panel's lines for ``session`` (numatui.tui.nodes.node_lines), as text."""
    return "\n".join(text.plain for text, _ in node_lines(session, booted))
